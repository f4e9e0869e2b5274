/**
 * The engine: enrollment and the tick. A tick at `now` claims what is due (under a lease),
 * re-checks conditions at send time, renders, hands to the transport, records the result
 * and advances the enrollment, page by page, so memory does not grow with what is due.
 * Nothing here reads the wall clock: `now` is an input.
 */
import { nextWindowInstant, resolveZone } from "../schedule/index.ts";
import { decide } from "../sequences/conditions.ts";
import type { Sequence, SubscriberFields } from "../sequences/types.ts";
import { buildLinks, type LinkContext } from "../render/links.ts";
import { type CompiledRenderer, compiledRenderer, piecesOf } from "../render/compiled.ts";
import { renderStep } from "../render/render.ts";
import { emailSchema } from "../lifecycle/input.ts";
import type { Clock } from "../delivery/rate-limiter.ts";
import { canBatch, type OutgoingMessage, type Transport, outgoingMessage } from "../delivery/transport.ts";
import { type Advance, type ClaimedSend, type EngineStore, issueIdOf } from "../store/types.ts";
import { deliverConfirmations } from "./confirmations.ts";
import { advanceAfter, advanceAfterRemoved, advanceFor, stepIndex } from "./advance.ts";
import { snapshotSequence } from "../versions/snapshot.ts";
import { placeAfterEdit } from "../versions/in-flight.ts";
import { BatchDelivery, type BatchResult, type DeliveryPause, PAUSE_KEY } from "./batch-delivery.ts";
import { signToken } from "../tokens.ts";
import { replannedDue } from "../lifecycle/plans.ts";
import { randomUUID } from "node:crypto";

export interface EngineOptions {
  /** The narrow store the tick needs (claims, batches, confirmations, meta). */
  store: EngineStore;
  sequences: readonly Sequence[];
  transport: Transport;
  links: LinkContext;
  secret: string;
  /** Sender address; the display name comes from the sequence. */
  from: string;
  /** DRIP_UNSUBSCRIBE_MAILTO (the List-Unsubscribe mailto: fallback). */
  unsubscribeMailto?: string | undefined;
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
  /** Waits between in-tick retries of a provider request (the wiring passes the real clock; tests a fake). */
  clock: Clock;
  /** Provider batches in flight at once (default 4). */
  concurrency?: number;
  log?: (line: string) => void;
  /**
   * Fires the automations of sequences completed since the last call (the wiring passes the
   * lifecycle door's fireCompletions): called at the start and the end of every tick.
   */
  fireCompletions?: (now: Date) => Promise<unknown>;
  /** Who holds this engine's claims (lease_owner); default a random worker-… name. */
  owner?: string;
  /** Is this worker the one that lifts an expired delivery pause (elected among many; default yes)? */
  leadsDuties?: () => boolean;
  /** Newsletter deliveries (lane 1): re-checked and rendered here, sent like course steps. */
  newsletters?: NewsletterSource;
}

/** What the engine needs to send a claimed newsletter delivery (src/newsletters/deliver.ts). */
export interface NewsletterSource {
  /** Re-check at send time and render; `skip` (with the reason) when it must not go out. */
  prepare(claim: ClaimedSend, now: Date): Promise<{ message: OutgoingMessage } | { skip: string }>;
  /** The lane's own send-time rules alone (no render), read fresh: the deliveries that must not go out, by send id, with why. */
  check(claims: readonly ClaimedSend[], now: Date): Promise<Map<string, string>>;
}

/** Why a claim must not go out after all, and where its enrollment goes instead. */
export interface Withheld {
  reason: string;
  advance: Advance;
}

export interface TickSummary {
  sent: number;
  skipped: number;
  failed: number;
  deferred: number;
}

type SendEventStatus = "sent" | "skipped" | "failed" | "deferred" | "in_doubt";
interface SendEvent {
  status: SendEventStatus;
  reason?: string;
  subject?: string;
}

/** A claim that passed its checks and is rendered, waiting for the transport. */
interface Ready {
  claim: ClaimedSend;
  message: OutgoingMessage;
  /** The enrollment's next move, computed when a single send records it (a batch computes its own). */
  advance: () => Advance;
}

export interface TickOptions {
  /** Stop claiming new pages once aborted (graceful shutdown). */
  signal?: AbortSignal;
  /** Called after each send the outbox path records (progress, demo output). */
  onSend?: (event: { claim: ClaimedSend } & SendEvent) => void;
}

const MINUTE = 60_000;

export class Engine {
  private sequences = new Map<string, Sequence>();
  private batches: BatchDelivery | null = null;
  private readonly o: Required<Omit<EngineOptions, "sequences" | "unsubscribeMailto" | "owner" | "newsletters" | "fireCompletions">> &
    Pick<EngineOptions, "unsubscribeMailto" | "newsletters" | "fireCompletions">;
  /** Who holds this engine's claims (lease_owner), for staff reading the database. */
  private readonly owner: string;
  /** Each step rendered once per shape, then filled per subscriber (byte-identical to a full render). */
  readonly renderer: CompiledRenderer;

  constructor(opts: EngineOptions) {
    this.o = {
      latenessMs: 12 * 60 * MINUTE,
      leaseMs: 5 * MINUTE,
      pageSize: 100,
      maxAttempts: 8,
      concurrency: 4,
      log: () => {},
      leadsDuties: () => true,
      ...opts,
    };
    this.owner = opts.owner ?? `worker-${randomUUID()}`;
    this.renderer = compiledRenderer({ log: this.o.log });
    this.setSequences(opts.sequences);
    // A batching provider without its own encoding would silently fall back to one request
    // per email (and a wrapper that forgets encode() would hide it): say so at once.
    const t = opts.transport;
    if (t.idempotent && t.sendBatch && !t.encode)
      throw new Error(`transport "${t.name}" sends batches but has no encode(): it must encode its own batch entries`);
  }

  /** Swap in newly validated definitions; the caller keeps the old ones when validation fails. */
  setSequences(sequences: readonly Sequence[]): void {
    this.sequences = new Map(sequences.map((s) => [s.id, s]));
    // Without a named default, the first one loaded is pinned for the life of the process:
    // a file added later (hot reload) never takes over the signup page.
    if (this.defaultId === null && (this.pinnedDefault === null || !this.sequences.has(this.pinnedDefault)))
      this.pinnedDefault = this.sequences.keys().next().value ?? null;
  }

  private defaultId: string | null = null;
  private pinnedDefault: string | null = null;
  /** Why sequence files did not load (set by whoever loads them), for /healthz's reason. */
  sequenceProblems: string[] = [];

  /** Name the default sequence (sequences/index.ts or DRIP_DEFAULT_SEQUENCE); null goes back to the first loaded. */
  setDefaultSequenceId(id: string | null): void {
    this.defaultId = id;
  }

  /** The default sequence's id as named, or as pinned. */
  get defaultSequenceId(): string | null {
    return this.defaultId ?? this.pinnedDefault;
  }

  /** Why there is no default sequence to offer (the signup page then takes signups that wait), or null. */
  defaultSequenceProblem(): string | null {
    if (this.defaultSequence) return null;
    const why = this.sequenceProblems.length ? `: ${this.sequenceProblems[0]}` : "";
    if (this.defaultId !== null) return `the default sequence "${this.defaultId}" is not loaded${why}`;
    return `no sequence is loaded${why}`;
  }

  getSequence(id: string): Sequence | undefined {
    return this.sequences.get(id);
  }

  /** The sequence the signup page offers and commands use without --sequence: named, never guessed from file order. */
  get defaultSequence(): Sequence | undefined {
    const id = this.defaultSequenceId;
    return id === null ? undefined : this.sequences.get(id);
  }

  sequenceIds(): string[] {
    return [...this.sequences.keys()];
  }

  /** Process everything due as of `now`. */
  async tick(now: Date, opts: TickOptions = {}): Promise<TickSummary> {
    const summary: TickSummary = { sent: 0, skipped: 0, failed: 0, deferred: 0 };
    const count = (status: SendEventStatus) => {
      summary[status === "in_doubt" ? "failed" : status]++;
    };
    // Nothing anywhere (the store's one probe over every lane, when it has one): done.
    if (await this.o.store.idle?.(now)) return summary;
    const batches = this.batchDelivery();
    if (batches && (await this.pausedUntil(now, { lift: this.o.leadsDuties() }))) return summary;
    await this.deliverConfirmations(now);
    await this.applyReplans(now);
    await this.o.fireCompletions?.(now);
    // First, batches a crashed or failed attempt left behind: same key, same bytes.
    if (batches) {
      for (;;) {
        if (opts.signal?.aborted) return summary;
        const stale = await this.o.store.claimStaleBatches(now, this.o.concurrency, this.o.leaseMs);
        const results = await Promise.all(stale.map((b) => batches.deliver(b, now, opts.signal)));
        for (const r of results) this.addBatch(summary, r);
        if (results.some((r) => r.pausedUntil)) return summary;
        if (stale.length < this.o.concurrency) break;
      }
    }
    // Pages overlap: while one page's batches wait on the provider's rate limit, the next
    // page is claimed and rendered. At most two pages are in flight.
    const inFlight: Promise<boolean>[] = [];
    let paused = false;
    const page = batches ? this.o.pageSize * 5 : this.o.pageSize;
    for (;;) {
      if (opts.signal?.aborted || paused) break;
      const claims = await this.o.store.claimDue(now, page, this.o.leaseMs, this.owner);
      const ready: Ready[] = [];
      for (const [i, claim] of claims.entries()) {
        // Stopping (SIGTERM): what is claimed but not started is released, due again at once.
        if (opts.signal?.aborted) {
          for (const left of claims.slice(i)) await this.o.store.retryLater(left, now, "released at shutdown");
          break;
        }
        // Rendering is synchronous: yield now and then so requests waiting on the rate
        // limiter leave on time instead of bunching up behind a page of renders.
        if (batches && i % 25 === 24) await new Promise((resolve) => setImmediate(resolve));
        const prepared = await this.prepare(claim, now);
        if ("message" in prepared) {
          if (batches) {
            ready.push(prepared);
            continue;
          }
          const r = await this.deliverOne(prepared, now);
          count(r.status);
          opts.onSend?.({ claim, ...r });
        } else {
          count(prepared.status);
          opts.onSend?.({ claim, ...prepared });
        }
      }
      if (batches && ready.length > 0) {
        inFlight.push(batches.deliverPage(ready, now, (r) => this.addBatch(summary, r), opts.signal));
        if (inFlight.length >= 2) paused = (await inFlight.shift()!) || paused;
      }
      if (claims.length < page) break;
    }
    for (const p of inFlight) paused = (await p) || paused;
    await this.o.fireCompletions?.(now);
    return summary;
  }

  /**
   * Re-plans the subscriber asked for while one of their steps was claimed (a new time zone,
   * a resume): applied once the claim is released, from the current definitions.
   */
  private async applyReplans(now: Date): Promise<void> {
    for (;;) {
      const due = await this.o.store.claimReplans(now, 500);
      for (const { enrollment, subscriber } of due) {
        const open = enrollment.status === "active" || enrollment.status === "paused";
        const sequence = this.sequences.get(enrollment.sequenceId);
        // A live edit applied while this enrollment's step was claimed: its next step may be gone or passed over.
        const moved = open && sequence ? placeAfterEdit(sequence, enrollment, subscriber.timezone, now) : null;
        if (moved) {
          await this.o.store.transaction(async (tx) => {
            await tx.applyReplan(enrollment.id, null, now);
            await tx.replanEnrollment(enrollment.id, moved.dueAt ?? now, moved.stepId ? { nextStepId: moved.stepId } : { status: "completed" });
          });
          continue;
        }
        const at = open ? replannedDue(sequence, enrollment, subscriber.timezone) : null;
        await this.o.store.applyReplan(enrollment.id, at, now);
      }
      if (due.length < 500) return;
    }
  }

  /** Send queued double opt-in emails (also called right after a signup). */
  async deliverConfirmations(now: Date): Promise<{ sent: number; failed: number }> {
    return deliverConfirmations({ ...this.o, sequence: () => this.defaultSequence }, now);
  }

  private addBatch(summary: TickSummary, r: BatchResult) {
    summary.sent += r.sent;
    summary.failed += r.failed;
    summary.skipped += r.skipped;
    summary.deferred += r.deferred;
  }

  /**
   * Is delivery paused (quota, API key) at `now`? With `lift` (the tick), a pause that has run
   * out is cleared; without it (`drip status`) this only reads.
   */
  async pausedUntil(now: Date, opts: { lift?: boolean } = {}): Promise<DeliveryPause | null> {
    const raw = await this.o.store.getMeta(PAUSE_KEY);
    if (!raw) return null;
    const pause = JSON.parse(raw) as DeliveryPause;
    if (Date.parse(pause.until) > now.getTime()) return pause;
    if (!opts.lift) return null;
    await this.o.store.setMeta(PAUSE_KEY, null);
    this.o.log(`delivery resumed (the pause until ${pause.until} is over)`);
    return null;
  }

  private batchDelivery(): BatchDelivery | null {
    const { transport } = this.o;
    if (!canBatch(transport)) return null;
    this.batches ??= new BatchDelivery({
      store: this.o.store,
      transport: { encode: transport.encode.bind(transport), sendBatch: transport.sendBatch.bind(transport) },
      clock: this.o.clock,
      maxAttempts: this.o.maxAttempts,
      triesPerTick: 4,
      leaseMs: this.o.leaseMs,
      concurrency: this.o.concurrency,
      log: this.o.log,
      advanceFor: (claim, now) =>
        issueIdOf(claim.sequenceId) !== null ? { kind: "completed" } : advanceFor(this.sequences.get(claim.sequenceId), claim, now, this.o.latenessMs),
      recheck: (claims, now) => this.recheck(claims, now),
    });
    return this.batches;
  }

  /**
   * Right before a rendered send goes to the provider (each attempt of a written batch, and the
   * one-at-a-time path): the subscribers are read again and each claim's lane runs the same
   * send-time rules as when it was claimed (laneRules): the course's (status, the sequence's
   * skip and exit conditions on tags) or the newsletter's (status, issue cancelled, topic
   * left). Claims whose subscriber is gone are withheld too. Each claim's subscriber is
   * refreshed in place. Returns what must not go out, by send id.
   */
  async recheck(claims: readonly ClaimedSend[], now: Date): Promise<Map<string, Withheld>> {
    const current = await this.o.store.currentSubscribers(claims.map((c) => c.subscriber.id));
    const out = new Map<string, Withheld>();
    const present: ClaimedSend[] = [];
    for (const c of claims) {
      const s = current.get(c.subscriber.id);
      if (s) {
        c.subscriber = s;
        present.push(c);
        continue;
      }
      c.subscriber = { ...c.subscriber, status: "unsubscribed" };
      out.set(c.sendId, { reason: "subscriber no longer exists", advance: { kind: "exited", reason: "subscriber no longer exists" } });
    }
    for (const [id, w] of await this.laneRules(present, now)) out.set(id, w);
    return out;
  }

  /**
   * Each lane's send-time rules for these claims, on the subscriber each claim carries (as
   * claimed, or as re-read by recheck): one definition for claim time and for every later attempt.
   * Course lane: the subscriber is active, and the sequence's conditions (decide) neither exit
   * nor skip the step. Newsletter lane: the subscriber is active, and the newsletter's own
   * check passes (issue not cancelled, topic still joined).
   */
  private async laneRules(claims: readonly ClaimedSend[], now: Date): Promise<Map<string, Withheld>> {
    const out = new Map<string, Withheld>();
    const exited = (reason: string): Withheld => ({ reason, advance: { kind: "exited", reason } });
    const letters: ClaimedSend[] = [];
    for (const claim of claims) {
      const sub = claim.subscriber;
      if (sub.status !== "active") {
        out.set(claim.sendId, exited(`subscriber is ${sub.status}`));
        continue;
      }
      if (issueIdOf(claim.sequenceId) !== null) {
        letters.push(claim);
        continue;
      }
      // A sequence or step no longer loaded is the claim-time path's to handle (it waits or moves on).
      const sequence = this.sequences.get(claim.sequenceId);
      const index = sequence ? stepIndex(sequence, claim.stepId) : -1;
      if (!sequence || index < 0) continue;
      const decision = decide(sequence, sequence.steps[index]!, sub.tags);
      if (decision.action === "exit") out.set(claim.sendId, exited(decision.reason));
      else if (decision.action === "skip")
        out.set(claim.sendId, { reason: decision.reason, advance: advanceAfter(sequence, index, claim, now, this.o.latenessMs) });
    }
    if (letters.length > 0 && this.o.newsletters) for (const [id, reason] of await this.o.newsletters.check(letters, now)) out.set(id, exited(reason));
    return out;
  }

  private async deliverOne(ready: Ready, now: Date): Promise<SendEvent> {
    const { store } = this.o;
    const { claim } = ready;
    // Re-read right before dispatch, through the lane's own rules: an unsubscribe (or a topic
    // left, a tag that ends the course) since the claim must win.
    const withheld = (await this.recheck([claim], now)).get(claim.sendId);
    if (withheld) {
      await store.recordOutcome(claim, { status: "skipped", at: now, reason: withheld.reason }, withheld.advance);
      return { status: "skipped", reason: withheld.reason };
    }
    const result = await this.o.transport.send(ready.message);
    if (result.ok) {
      await store.recordOutcome(claim, { status: "sent", at: now, providerMessageId: result.providerMessageId }, ready.advance());
      return { status: "sent", subject: ready.message.subject };
    }
    if (result.permanent || claim.attempts >= this.o.maxAttempts) {
      const reason = result.permanent ? result.reason : `gave up after ${claim.attempts} attempts: ${result.reason}`;
      await store.recordOutcome(claim, { status: "failed", at: now, reason }, ready.advance());
      return { status: "failed", reason };
    }
    // Exponential backoff from one minute, capped at an hour.
    const wait = Math.min(60 * MINUTE, MINUTE * 2 ** (claim.attempts - 1));
    await store.retryLater(claim, new Date(now.getTime() + wait), result.reason);
    return { status: "deferred", reason: result.reason };
  }

  /**
   * A newsletter delivery: one step, then done. The same checks as a course step (status,
   * address), then the newsletter's own (issue cancelled, topic left) and its render.
   */
  private async prepareNewsletter(claim: ClaimedSend, now: Date): Promise<Ready | SendEvent> {
    const { store } = this.o;
    const sub = claim.subscriber;
    const skip = async (reason: string): Promise<SendEvent> => {
      await store.recordOutcome(claim, { status: "skipped", at: now, reason }, { kind: "exited", reason });
      return { status: "skipped", reason };
    };
    if (!this.o.newsletters) {
      this.o.log(`warning: newsletters are not wired; delivery ${claim.sendId} waits`);
      await store.retryLater(claim, new Date(now.getTime() + 60 * MINUTE), "newsletters are not loaded");
      return { status: "deferred", reason: "newsletters not loaded" };
    }
    if (sub.status !== "active") return skip(`subscriber is ${sub.status}`);
    if (!emailSchema.safeParse(sub.email).success) {
      const reason = `${JSON.stringify(sub.email)} is not a deliverable address`;
      await store.recordOutcome(claim, { status: "failed", at: now, reason }, { kind: "completed" });
      return { status: "failed", reason };
    }
    const prepared = await this.o.newsletters.prepare(claim, now);
    if ("skip" in prepared) return skip(prepared.skip);
    return { claim, advance: () => ({ kind: "completed" }), message: prepared.message };
  }

  /** Re-check a claim at send time and render it; anything that ends here is recorded here. */
  private async prepare(claim: ClaimedSend, now: Date): Promise<Ready | SendEvent> {
    const { store } = this.o;
    if (issueIdOf(claim.sequenceId) !== null) return this.prepareNewsletter(claim, now);
    const sequence = this.sequences.get(claim.sequenceId);
    if (!sequence) {
      // Its file is missing or invalid: hold the enrollment and look again in an hour.
      this.o.log(`warning: sequence "${claim.sequenceId}" is not loaded; send ${claim.sendId} waits`);
      await store.retryLater(claim, new Date(now.getTime() + 60 * MINUTE), `sequence "${claim.sequenceId}" is not loaded`);
      return { status: "deferred", reason: "sequence not loaded" };
    }
    const index = stepIndex(sequence, claim.stepId);
    if (index < 0) {
      const reason = `step "${claim.stepId}" is no longer in the sequence`;
      await store.recordOutcome(claim, { status: "skipped", at: now, reason }, advanceAfterRemoved(sequence, claim));
      return { status: "skipped", reason };
    }
    const step = sequence.steps[index]!;
    const sub = claim.subscriber;
    // Every send records the definition it used (sequence version, template content).
    const version = await snapshotSequence(sequence, this.o.emailsDir);
    claim.version = { sequence: version.hash, template: version.steps[index]?.contentHash ?? "" };

    // Re-check at send time (the lane's rules, which every later attempt runs again): the
    // subscriber may have left, or gained a tag that skips or ends this step, since it was planned.
    const withheld = (await this.laneRules([claim], now)).get(claim.sendId);
    if (withheld) {
      await store.recordOutcome(claim, { status: "skipped", at: now, reason: withheld.reason }, withheld.advance);
      return { status: "skipped", reason: withheld.reason };
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
    // Checked up front so one bad address never holds back a provider batch.
    if (!emailSchema.safeParse(sub.email).success) {
      const reason = `${JSON.stringify(sub.email)} is not a deliverable address`;
      await store.recordOutcome(claim, { status: "failed", at: now, reason }, advanceAfter(sequence, index, claim, now, this.o.latenessMs));
      return { status: "failed", reason };
    }

    const links = buildLinks(this.o.links, signToken(this.o.secret, "manage", sub.id), sequence.id, step.id);
    const email = await this.renderer.render({
      sequence,
      step,
      subscriber: sub,
      links,
      postalAddress: this.o.postalAddress,
      list: this.o,
      emailsDir: this.o.emailsDir,
    });
    const message = outgoingMessage(claim.sendId, { name: sequence.sender.name, address: this.o.from }, sub.email, email, now);
    const pieces = piecesOf(email);
    if (pieces) message.pieces = pieces;
    return { claim, advance: () => advanceAfter(sequence, index, claim, now, this.o.latenessMs), message };
  }

  /**
   * One step rendered as `subscriber` would get it, for staff to look at (the dashboard's
   * preview): the same links and footer as a real send, with a preview token that unsubscribes nobody.
   */
  async previewStep(sequence: Sequence, stepId: string, subscriber: SubscriberFields) {
    const step = sequence.steps.find((s) => s.id === stepId);
    if (!step) return null;
    const links = buildLinks(this.o.links, "preview-token.0000", sequence.id, step.id);
    return renderStep({ sequence, step, subscriber, links, postalAddress: this.o.postalAddress, list: this.o, emailsDir: this.o.emailsDir });
  }
}
