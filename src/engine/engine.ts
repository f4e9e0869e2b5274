/**
 * The engine: enrollment and the tick. A tick at `now` claims what is due (under a lease),
 * re-checks conditions at send time, renders, hands to the transport, records the result
 * and advances the enrollment, page by page, so memory does not grow with what is due.
 * Nothing here reads the wall clock: `now` is an input.
 */
import { nextWindowInstant, planStep, resolveZone } from "../schedule/index.ts";
import { decide } from "../sequences/conditions.ts";
import type { Sequence, StepDefinition } from "../sequences/types.ts";
import { buildLinks, type LinkContext } from "../render/links.ts";
import { renderStep } from "../render/render.ts";
import type { Transport } from "../delivery/transport.ts";
import type { Advance, ClaimedSend, EnrollResult, Store, Subscriber } from "../store/types.ts";
import { signToken } from "../tokens.ts";

export interface EngineOptions {
  store: Store;
  sequences: readonly Sequence[];
  transport: Transport;
  links: LinkContext;
  secret: string;
  /** Sender address; the display name comes from the sequence. */
  from: string;
  postalAddress: string;
  emailsDir: string;
  /** A step later than this is re-planned to its next send window (default 12 h). */
  latenessMs?: number;
  /** How long a claim is held before another worker may take it (default 5 min). */
  leaseMs?: number;
  /** Claims per page (default 100). */
  pageSize?: number;
  /** Attempts before a transiently failing send is recorded as failed (default 8). */
  maxAttempts?: number;
  log?: (line: string) => void;
}

export interface TickSummary {
  sent: number;
  skipped: number;
  failed: number;
  deferred: number;
}

export interface TickOptions {
  /** Stop claiming new pages once aborted (graceful shutdown). */
  signal?: AbortSignal;
  /** Called after each recorded send (progress, demo output). */
  onSend?: (event: { claim: ClaimedSend; status: "sent" | "skipped" | "failed" | "deferred"; reason?: string; subject?: string }) => void;
}

const MINUTE = 60_000;

export class Engine {
  private sequences = new Map<string, Sequence>();
  private readonly o: Required<Omit<EngineOptions, "sequences">>;

  constructor(opts: EngineOptions) {
    this.o = { latenessMs: 12 * 60 * MINUTE, leaseMs: 5 * MINUTE, pageSize: 100, maxAttempts: 8, log: () => {}, ...opts };
    this.setSequences(opts.sequences);
  }

  /** Swap in newly validated definitions; the caller keeps the old ones when validation fails. */
  setSequences(sequences: readonly Sequence[]): void {
    this.sequences = new Map(sequences.map((s) => [s.id, s]));
  }

  getSequence(id: string): Sequence | undefined {
    return this.sequences.get(id);
  }

  get defaultSequence(): Sequence | undefined {
    return this.sequences.values().next().value;
  }

  private plan(sequence: Sequence, step: StepDefinition, start: Date, timezone: string) {
    return planStep({ schedule: step.schedule, start, timezone, defaultTimezone: sequence.defaultTimezone, window: sequence.sendWindow });
  }

  /** Enroll an active subscriber; enrolling again is a no-op (it never restarts a course). */
  async enroll(subscriber: Subscriber, sequenceId: string, now: Date): Promise<EnrollResult> {
    const sequence = this.sequences.get(sequenceId);
    if (!sequence) throw new Error(`no sequence "${sequenceId}"`);
    if (subscriber.status !== "active") throw new Error(`${subscriber.email} is ${subscriber.status}, not active: only confirmed subscribers can be enrolled`);
    const first = sequence.steps[0]!;
    const plan = this.plan(sequence, first, now, subscriber.timezone);
    for (const w of plan.warnings) this.o.log(`warning: ${subscriber.email}: ${w}`);
    return this.o.store.enroll({
      subscriberId: subscriber.id,
      sequenceId,
      startedAt: now,
      firstStepId: first.id,
      firstDueAt: plan.at,
      allowReentry: sequence.allowReentry ?? false,
    });
  }

  /** Process everything due as of `now`. */
  async tick(now: Date, opts: TickOptions = {}): Promise<TickSummary> {
    const summary: TickSummary = { sent: 0, skipped: 0, failed: 0, deferred: 0 };
    for (;;) {
      if (opts.signal?.aborted) break;
      const claims = await this.o.store.claimDue(now, this.o.pageSize, this.o.leaseMs);
      for (const claim of claims) {
        // Once aborted, the claims left in this page keep their lease and come due again later.
        if (opts.signal?.aborted) break;
        const result = await this.process(claim, now);
        summary[result.status === "deferred" ? "deferred" : result.status]++;
        opts.onSend?.({ claim, ...result });
      }
      if (claims.length < this.o.pageSize) break;
    }
    return summary;
  }

  /** The advance after a step: the next step's due time in the subscriber's zone, or completed. */
  private advanceAfter(sequence: Sequence, index: number, claim: ClaimedSend): Advance {
    const next = sequence.steps[index + 1];
    if (!next) return { kind: "completed" };
    const plan = this.plan(sequence, next, claim.startedAt, claim.subscriber.timezone);
    return { kind: "next", stepId: next.id, dueAt: plan.at };
  }

  private async process(
    claim: ClaimedSend,
    now: Date,
  ): Promise<{ status: "sent" | "skipped" | "failed" | "deferred"; reason?: string; subject?: string }> {
    const { store } = this.o;
    const sequence = this.sequences.get(claim.sequenceId);
    if (!sequence) {
      // Its file is missing or invalid: hold the enrollment and look again in an hour.
      this.o.log(`warning: sequence "${claim.sequenceId}" is not loaded; send ${claim.sendId} waits`);
      await store.retryLater(claim, new Date(now.getTime() + 60 * MINUTE), `sequence "${claim.sequenceId}" is not loaded`);
      return { status: "deferred", reason: "sequence not loaded" };
    }
    const index = sequence.steps.findIndex((s) => s.id === claim.stepId);
    if (index < 0) {
      const reason = `step "${claim.stepId}" is no longer in the sequence`;
      await store.recordOutcome(claim, { status: "skipped", at: now, reason }, this.advanceAfterRemoved(sequence, claim));
      return { status: "skipped", reason };
    }
    const step = sequence.steps[index]!;
    const sub = claim.subscriber;

    // Re-check at send time: the subscriber may have left since the step was planned.
    if (sub.status !== "active") {
      const reason = `subscriber is ${sub.status}`;
      await store.recordOutcome(claim, { status: "skipped", at: now, reason }, { kind: "exited", reason });
      return { status: "skipped", reason };
    }
    const decision = decide(sequence, step, sub.tags);
    if (decision.action === "exit") {
      await store.recordOutcome(claim, { status: "skipped", at: now, reason: decision.reason }, { kind: "exited", reason: decision.reason });
      return { status: "skipped", reason: decision.reason };
    }
    if (decision.action === "skip") {
      await store.recordOutcome(claim, { status: "skipped", at: now, reason: decision.reason }, this.advanceAfter(sequence, index, claim));
      return { status: "skipped", reason: decision.reason };
    }

    // Too late (downtime): send only inside the subscriber's send window, never at 3 a.m.
    if (now.getTime() - claim.dueAt.getTime() > this.o.latenessMs) {
      const zone = resolveZone(sub.timezone, sequence.defaultTimezone).zone;
      const at = nextWindowInstant(now, zone, sequence.sendWindow);
      if (at.getTime() > now.getTime()) {
        await store.defer(claim, at);
        return { status: "deferred", reason: `late; re-planned to ${at.toISOString()}` };
      }
    }

    const links = buildLinks(this.o.links, signToken(this.o.secret, "manage", sub.id), sequence.id, step.id);
    const email = await renderStep({ sequence, step, subscriber: sub, links, postalAddress: this.o.postalAddress, emailsDir: this.o.emailsDir });
    const result = await this.o.transport.send({
      sendId: claim.sendId,
      from: `${sequence.sender.name} <${this.o.from}>`,
      to: sub.email,
      subject: email.subject,
      html: email.html,
      text: email.text,
      headers: email.headers,
      tags: email.tags,
      date: now,
    });
    if (result.ok) {
      await store.recordOutcome(claim, { status: "sent", at: now, providerMessageId: result.providerMessageId }, this.advanceAfter(sequence, index, claim));
      return { status: "sent", subject: email.subject };
    }
    if (result.permanent || claim.attempts >= this.o.maxAttempts) {
      const reason = result.permanent ? result.reason : `gave up after ${claim.attempts} attempts: ${result.reason}`;
      await store.recordOutcome(claim, { status: "failed", at: now, reason }, this.advanceAfter(sequence, index, claim));
      return { status: "failed", reason };
    }
    // Exponential backoff from one minute, capped at an hour.
    const wait = Math.min(60 * MINUTE, MINUTE * 2 ** (claim.attempts - 1));
    await store.retryLater(claim, new Date(now.getTime() + wait), result.reason);
    return { status: "deferred", reason: result.reason };
  }

  /** A removed step: continue with the first step planned after the removed one was due. */
  private advanceAfterRemoved(sequence: Sequence, claim: ClaimedSend): Advance {
    for (const step of sequence.steps) {
      const at = this.plan(sequence, step, claim.startedAt, claim.subscriber.timezone).at;
      if (at.getTime() > claim.dueAt.getTime()) return { kind: "next", stepId: step.id, dueAt: at };
    }
    return { kind: "completed" };
  }
}
