/**
 * The one door for subscriber changes (sign up, confirm, subscribe, tag, pause, resume,
 * profile, unsubscribe, suppress, forget, booking, provider events). HTTP routes, CLI
 * commands, the importer and the dashboard call this and nothing else to change a
 * subscriber. Each operation validates everything before it writes anything, and writes in
 * one transaction. Nothing here reads the clock: `now` is an input.
 *
 * Rules that live here and nowhere else:
 * - An unsubscribed address stays unsubscribed until its owner confirms again: a new signup
 *   changes nothing and sends at most one confirmation per `returnConfirmEveryMs` (30 days).
 * - Coming back (confirming after unsubscribing) resumes the course at the first step not
 *   yet sent, in the next send window; a finished course is not sent again.
 * - A signup of a known address changes nothing about it until the address is confirmed.
 * - Re-planning (zone, resume) never touches a claim: a claimed step is re-planned by the
 *   tick once its claim is released (see Store.replanEnrollment).
 */
import type { Automation, Cause } from "../automations/types.ts";
import { DripError } from "../errors.ts";
import { type FormSource, formOfSource, formSourceLabel } from "../forms/define.ts";
import type { Sequence } from "../sequences/types.ts";
import type { Enrollment, EnrollResult, Store, Subscriber, SubscriberInput } from "../store/types.ts";
import type { SubscriberInputFields } from "./input.ts";
import { type FireContext, type FireSummary, fireAutomations } from "./automations.ts";
import { planEnrollment, replannedDue, resumeAfterReturn } from "./plans.ts";
import type { TopicSource } from "../newsletters/topics.ts";
import { type AppliedSequence, applyVersion } from "../versions/apply.ts";
import { type RetryReport, retryAllFailed, retrySend } from "./retry.ts";
import { recordImportedLeavers } from "./import-leavers.ts";

/** The loaded sequences, as the lifecycle needs them (the engine provides this). */
export interface SequenceSource {
  getSequence(id: string): Sequence | undefined;
  readonly defaultSequence: Sequence | undefined;
}

export interface LifecycleOptions {
  store: Store;
  sequences: SequenceSource;
  log?: (line: string) => void;
  /** Confirmation emails per address per 24 h, whatever is posted (default 3). */
  confirmationsPerDay?: number;
  /** At most one confirmation email per this long to an unsubscribed address (default 30 days). */
  returnConfirmEveryMs?: number;
  /** Called after a confirmation was queued (drip start sends it at once). */
  onConfirmationQueued?: () => void;
  /** The declared topics (newsletters/topics.ts); joinTopic refuses others. */
  topics?: TopicSource;
  /**
   * Called after a committed change that may have made a send due now (confirm, confirmed
   * subscribe, import with enrollment, enroll, resume): `drip start` ticks at once instead of
   * on the next minute. Never a second way to send: the tick claims as always.
   */
  onSendDue?: () => void;
  /** The automations in force (read at each change, so a reload takes effect at once). */
  automations?: () => readonly Automation[];
  /** The signup forms (a form names the sequence its confirmed signups start). */
  forms?: () => FormSource | undefined;
  /**
   * Topic membership for automations' join/leave actions. Default: the lifecycle's own, over
   * the declared topics, joining only with recorded consent (see topicActions below).
   */
  topicMembership?: FireContext["topics"];
}

const DAY = 24 * 3_600_000;

export type SignUpResult =
  /** A confirmation email is queued. */
  | "queued"
  /** The per-address cap was reached: nothing queued. */
  | "capped"
  /** Already confirmed, suppressed, or unsubscribed with a confirmation sent recently: nothing to do. */
  | "unchanged";

export type ConfirmResult =
  | { kind: "confirmed"; enrolled: EnrollResult | "no-sequence" }
  | { kind: "already" }
  /** Back after unsubscribing: the course resumes at `nextDueAt`, or null when it was finished. */
  | { kind: "returned"; nextDueAt: Date | null }
  | { kind: "gone" };

export interface SubscribeOptions {
  sequenceId?: string;
  /** Topics to join, with consent from `source` (`drip subscribe --topic`): in the same transaction, firing their automations. */
  topics?: readonly string[];
  /** Consent confirmed elsewhere (double opt-in done, or recorded by staff): active at once and enrolled. */
  confirmed: boolean;
  source: string;
  ip?: string | null;
}

export type SubscribeOutcome =
  | { kind: "suppressed" }
  | { kind: "ok"; subscriber: Subscriber; created: boolean; enrolled: EnrollResult | "not-confirmed" | "not-active" };

export interface ProviderEvent {
  id: string;
  type: string;
  createdAt: Date;
  emailId?: string;
  to?: string[];
  bounceType?: string;
  /** email.clicked: the link followed (tokens already taken out, see linkForReport). */
  link?: string | undefined;
}

/** An enrollment that starts now (its first step may be due at once). */
const isNew = (r: string) => r === "created" || r === "reentered";
export interface ImportPageOptions {
  /** Enroll active rows (new ones, and pending ones confirmed by `confirmPending`) in this sequence. */
  enrollIn: Sequence | null;
  /** A row that says active confirms a known subscriber who is still pending (`drip import --confirmed` again). */
  confirmPending?: boolean;
  /** Queue a confirmation email for every pending row (`--send-confirmation`). */
  sendConfirmation?: boolean;
  /** Do everything in the transaction, then roll it back: the counts say what would happen. */
  dryRun?: boolean;
}

export interface ImportPageResult {
  created: number;
  existing: number;
  enrolled: number;
  suppressed: number;
  /** Known pending subscribers confirmed by this page. */
  confirmed: number;
  /** Confirmation emails queued. */
  queued: number;
  /** Rows left pending with no confirmation email queued. */
  pending: number;
  warnings: string[];
  /** Automations the page's tags fired. */
  automations: FireSummary;
}

/** Thrown inside a dry run's transaction so that it rolls back; carries what would have happened. */
class DryRunRollback extends Error {
  constructor(readonly result: ImportPageResult) {
    super("dry run: rolled back");
  }
}

const open = (e: Enrollment) => e.status === "active" || e.status === "paused";

/** What a confirmation would do: nothing (gone, already), a first confirmation, or a return. */
export type ConfirmPreview = { kind: "gone" } | { kind: "already" } | { kind: "first"; email: string } | { kind: "returning"; email: string };

function confirmGate(s: Subscriber, issuedAt: Date, suppressed: boolean): ConfirmPreview {
  if (s.status === "suppressed" || suppressed) return { kind: "gone" };
  if (s.status === "active") return { kind: "already" };
  // A link sent before the reader unsubscribed must not bring them back.
  if (s.status === "unsubscribed" && s.unsubscribedAt && s.unsubscribedAt > issuedAt) return { kind: "gone" };
  return s.status === "unsubscribed" ? { kind: "returning", email: s.email } : { kind: "first", email: s.email };
}

export class Lifecycle {
  private readonly log: (line: string) => void;
  constructor(private readonly o: LifecycleOptions) {
    this.log = o.log ?? (() => {});
  }

  private get store(): Store {
    return this.o.store;
  }

  /** The sequence a caller named, or the default; refused (usage) before anything is written. */
  sequenceFor(sequenceId: string | undefined): Sequence {
    const known = () => {
      const ids = this.knownSequenceIds();
      return ids.length ? `known sequences are ${ids.join(", ")} (see \`drip list\`)` : "no sequence is loaded: add one under sequences/";
    };
    if (sequenceId === undefined) {
      const seq = this.o.sequences.defaultSequence;
      if (!seq) throw new DripError("config", "no sequence is loaded: add one under sequences/ (see drip validate)");
      return seq;
    }
    const seq = this.o.sequences.getSequence(sequenceId);
    if (!seq) throw new DripError("usage", `no sequence "${sequenceId}": ${known()}`);
    return seq;
  }

  private knownSequenceIds(): string[] {
    const src = this.o.sequences as SequenceSource & { sequenceIds?: () => string[] };
    return src.sequenceIds?.() ?? (src.defaultSequence ? [src.defaultSequence.id] : []);
  }

  /** Where a new enrollment in `sequence` starts (pure); time-zone fallbacks are logged. */
  planEnrollment(subscriber: Pick<Subscriber, "email" | "timezone">, sequence: Sequence, start: Date) {
    const plan = planEnrollment(sequence, subscriber, start);
    for (const w of plan.warnings) this.log(`warning: ${subscriber.email}: ${w}`);
    return plan;
  }

  private async enrollIn(tx: Store, subscriber: Subscriber, sequence: Sequence, now: Date): Promise<EnrollResult> {
    const plan = this.planEnrollment(subscriber, sequence, now);
    return tx.enroll({ subscriberId: subscriber.id, ...plan, allowReentry: sequence.allowReentry ?? false });
  }

  private fireContext(): FireContext {
    return {
      automations: this.o.automations?.() ?? [],
      getSequence: (id) => this.o.sequences.getSequence(id),
      enroll: (tx, s, seq, start) => this.enrollIn(tx, s, seq, start),
      topics: this.o.topicMembership ?? (this.o.topics ? this.topicActions() : undefined),
      log: this.log,
    };
  }

  /**
   * What an automation may do with topics. Consent is the rule: `joinTopic` makes a member only
   * of someone whose consent to that topic is recorded and not withdrawn, which means a
   * `consented` membership (they ticked "when the course ends, send me …" on a form, see
   * sequences/forms.ts): they join now, and the consent keeps its own time and source. A
   * member is "already"; no record, or a topic they left, is "no-consent" (the run is
   * recorded as skipped with the reason): an automation never joins anyone on its own say.
   * `leaveTopic` ends a membership or a consent for later, as the reader leaving would.
   */
  private topicActions(): NonNullable<FireContext["topics"]> {
    const declared = (id: string) => this.topicList().some((t) => t.id === id);
    return {
      join: async (tx, s, topic, _now) => {
        if (!declared(topic)) return { result: "no-consent", why: `topic ${topic} is not declared in newsletters/topics.ts` };
        // Read, then written: the subscriber's row is held first (the door usually holds it already).
        await tx.lockSubscriber(s.id);
        const m = (await tx.listTopicMemberships(s.id)).find((x) => x.topicId === topic);
        if (m?.status === "joined") return { result: "already" };
        if (m?.status === "consented") {
          await tx.setTopic(s.id, topic, { status: "joined", at: m.consentAt, source: m.consentSource });
          return { result: "joined" };
        }
        return {
          result: "no-consent",
          why: m?.status === "left" ? `they left topic ${topic} on ${m.leftAt?.toISOString() ?? "an earlier date"}` : `no recorded consent for topic ${topic}`,
        };
      },
      leave: async (tx, s, topic, now) => {
        await tx.lockSubscriber(s.id);
        const m = (await tx.listTopicMemberships(s.id)).find((x) => x.topicId === topic);
        if (m?.status !== "joined" && m?.status !== "consented") return "not-member";
        await tx.setTopic(s.id, topic, { status: "left", at: now });
        return "left";
      },
    };
  }

  /** Fire "topic-joined" for each topic (an active subscriber who just became a member), in `tx`. */
  private async fireJoined(tx: Store, subscriberId: string, topics: readonly string[], now: Date, summary?: FireSummary): Promise<void> {
    for (const topic of topics) await this.fire(tx, subscriberId, { on: "topic-joined", topic }, now, summary);
  }

  /** Fire the automations this change triggers, in the caller's transaction (see ./automations.ts). */
  private fire(tx: Store, subscriberId: string, cause: Cause, now: Date, summary?: FireSummary): Promise<FireSummary> {
    return fireAutomations(this.fireContext(), tx, subscriberId, cause, now, 0, summary);
  }

  /** The sequence a confirmed signup through this form starts: the form's, else the default. */
  private signupSequence(formId: string | null | undefined): Sequence | undefined {
    const forms = this.o.forms?.();
    const form = formId ? forms?.getForm(formId) : forms?.defaultForm;
    return form?.sequence ? this.o.sequences.getSequence(form.sequence) : this.o.sequences.defaultSequence;
  }

  /** The subscriber as stored, their row held first (Store.lockSubscriber): a concurrent change to them waits for this one. */
  private async fresh(tx: Store, subscriber: Pick<Subscriber, "id">): Promise<Subscriber> {
    await tx.lockSubscriber(subscriber.id);
    const s = await tx.getSubscriber(subscriber.id);
    if (!s) throw new DripError("not_found", "this subscriber no longer exists (erased)");
    return s;
  }

  /**
   * The public signup (form, JSON, resend-link form): consent is recorded and a confirmation
   * queued; nothing about a known address changes before it is confirmed.
   */
  async signUp(
    input: SubscriberInputFields,
    meta: { source: string; ip?: string | null; topics?: readonly string[]; topicsLater?: readonly string[]; form?: string | null },
    now: Date,
  ): Promise<SignUpResult> {
    if (await this.store.isSuppressed(input.email)) return "unchanged";
    // Topics ticked on the form (each its own, unticked checkbox): consent recorded now; mail
    // on them only starts once the address is confirmed (audiences take active subscribers),
    // and their "topic-joined" automations fire then. `topicsLater`: ticked as "when the
    // course ends": consent recorded, joined by the course's hand-off automation.
    const declared = (t: string) => this.topicList().some((x) => x.id === t);
    const topics = (meta.topics ?? []).filter(declared);
    const later = (meta.topicsLater ?? []).filter((t) => declared(t) && !topics.includes(t));
    const source = meta.form !== undefined ? formSourceLabel(meta.form) : meta.source;
    const record = async (tx: Store, id: string) => {
      for (const t of topics) await tx.setTopic(id, t, { status: "joined", at: now, source });
      for (const t of later) await tx.setTopic(id, t, { status: "consented", at: now, source: `${source} (when the course ends)` });
    };
    const result = await this.store.transaction(async (tx): Promise<SignUpResult> => {
      const found = await tx.findSubscriberByEmail(input.email);
      if (found) await tx.lockSubscriber(found.id);
      const existing = found && (await tx.getSubscriber(found.id));
      if (!existing) {
        const { subscriber } = await tx.upsertSubscriber(
          // Through a form: its id is kept in the consent source, so confirming starts what that form promised.
          {
            ...input,
            status: "pending",
            consentSource: meta.form !== undefined ? formSourceLabel(meta.form) : meta.source,
            consentAt: now,
            consentIp: meta.ip ?? null,
          },
          now,
        );
        await record(tx, subscriber.id);
        return (await this.queueConfirmation(tx, subscriber, now)) ? "queued" : "capped";
      }
      if (existing.status === "pending") {
        await record(tx, existing.id);
        return (await this.queueConfirmation(tx, existing, now)) ? "queued" : "capped";
      }
      if (existing.status === "unsubscribed") {
        // Whoever typed the address may not own it: the status stays, and the owner hears
        // from us at most once a month until they confirm.
        const every = this.o.returnConfirmEveryMs ?? 30 * DAY;
        const since = new Date(Math.max(now.getTime() - every, existing.unsubscribedAt?.getTime() ?? 0));
        return (await tx.queueConfirmation(existing.id, now, since, 1)) ? "queued" : "unchanged";
      }
      return "unchanged";
    });
    if (result === "queued") this.o.onConfirmationQueued?.();
    return result;
  }

  private queueConfirmation(tx: Store, subscriber: Subscriber, now: Date): Promise<boolean> {
    return tx.queueConfirmation(subscriber.id, now, new Date(now.getTime() - DAY), this.o.confirmationsPerDay ?? 3);
  }

  /**
   * What confirming would do, changing nothing (the confirmation page shows it before the
   * reader presses the button): the same rules as confirm().
   */
  async confirmPreview(subscriberId: string, issuedAt: Date): Promise<ConfirmPreview> {
    const s = await this.store.getSubscriber(subscriberId);
    return s ? confirmGate(s, issuedAt, await this.store.isSuppressed(s.email)) : { kind: "gone" };
  }

  /** The double opt-in link was followed (`issuedAt`: when that link was sent). Harmless twice. */
  async confirm(subscriberId: string, issuedAt: Date, now: Date, meta: { ip?: string | null } = {}): Promise<ConfirmResult> {
    const result = await this.confirmTx(subscriberId, issuedAt, now, meta);
    if ((result.kind === "confirmed" && isNew(result.enrolled)) || (result.kind === "returned" && result.nextDueAt)) this.o.onSendDue?.();
    return result;
  }

  private confirmTx(subscriberId: string, issuedAt: Date, now: Date, meta: { ip?: string | null }): Promise<ConfirmResult> {
    return this.store.transaction(async (tx): Promise<ConfirmResult> => {
      await tx.lockSubscriber(subscriberId);
      const s = await tx.getSubscriber(subscriberId);
      if (!s) return { kind: "gone" };
      const gate = confirmGate(s, issuedAt, await tx.isSuppressed(s.email));
      if (gate.kind === "gone" || gate.kind === "already") return gate;
      const returning = gate.kind === "returning";
      await tx.setSubscriberStatus(s.id, "active", now, { source: returning ? "confirmed return" : "confirmed", at: now, ip: meta.ip ?? null });
      const active = { ...s, status: "active" as const };
      if (returning) {
        const nextDueAt = await this.resumeReturning(tx, active, now);
        if (nextDueAt !== undefined) return { kind: "returned", nextDueAt };
      }
      const form = formOfSource(s.consentSource);
      const seq = returning ? this.o.sequences.defaultSequence : this.signupSequence(form);
      const enrolled = seq ? await this.enrollIn(tx, active, seq, now) : "no-sequence";
      if (returning) return { kind: "returned", nextDueAt: enrolled === "exists" ? null : now };
      // A first confirmation is the signup automations see (a return is not a new signup).
      await this.fire(tx, s.id, { on: "signup", form: form ?? this.o.forms?.()?.defaultForm.id ?? null }, now);
      // Topics ticked at signup count as joined from now (mail on them starts now, too).
      const joined = (await tx.listTopicMemberships(s.id)).filter((m) => m.status === "joined").map((m) => m.topicId);
      await this.fireJoined(tx, s.id, joined, now);
      return { kind: "confirmed", enrolled };
    });
  }

  /**
   * Enrollments ended by leaving pick up at the first step not yet sent. Returns the
   * earliest next due time, null when every course was finished, undefined when the
   * subscriber had no course to come back to.
   */
  private async resumeReturning(tx: Store, s: Subscriber, now: Date): Promise<Date | null | undefined> {
    const enrollments = await tx.listEnrollments(s.id);
    if (enrollments.length === 0) return undefined;
    let next: Date | null = null;
    for (const e of enrollments) {
      if (e.status !== "exited") continue;
      const sequence = this.o.sequences.getSequence(e.sequenceId);
      if (!sequence) continue;
      const sent = new Set(
        (await tx.listSends({ subscriberId: s.id, sequenceId: e.sequenceId }))
          .filter((x) => x.enrollmentId === e.id && x.id.startsWith(`${e.id}.${e.round}.`) && x.status === "sent")
          .map((x) => x.stepId),
      );
      const plan = resumeAfterReturn(sequence, e, sent, s.timezone, now);
      if (!plan) {
        await tx.setEnrollmentStatus(e.id, "completed", "every step was sent before leaving");
        continue;
      }
      await tx.replanEnrollment(e.id, plan.dueAt, { status: "active", reason: null, nextStepId: plan.stepId, startedAt: plan.startedAt });
      if (!next || plan.dueAt < next) next = plan.dueAt;
    }
    return next;
  }

  /**
   * Add a subscriber by hand or from a trusted system (CLI, API). With `confirmed`, active at
   * once and enrolled. The sequence is checked before anything is written.
   */
  async subscribe(input: SubscriberInputFields, opts: SubscribeOptions, now: Date): Promise<SubscribeOutcome> {
    const sequence = opts.confirmed || opts.sequenceId !== undefined ? this.sequenceFor(opts.sequenceId) : null;
    for (const t of opts.topics ?? []) this.topicFor(t); // an unknown topic is refused before anything is written
    if (await this.store.isSuppressed(input.email)) return { kind: "suppressed" };
    const outcome = await this.store.transaction(async (tx): Promise<SubscribeOutcome> => {
      const upserted = await tx.upsertSubscriber(
        { ...input, status: opts.confirmed ? "active" : "pending", consentSource: opts.source, consentAt: now, consentIp: opts.ip ?? null },
        now,
      );
      const { created } = upserted;
      // A known address: their row held first, then read as stored (a concurrent subscribe waits, then finds the topics joined).
      const subscriber = created ? upserted.subscriber : await this.fresh(tx, upserted.subscriber);
      let current = subscriber;
      const activated = opts.confirmed && (created ? subscriber.status === "active" : subscriber.status === "pending");
      if (opts.confirmed && subscriber.status === "pending") {
        await tx.setSubscriberStatus(subscriber.id, "active", now, { source: opts.source, at: now, ip: opts.ip ?? null });
        current = { ...subscriber, status: "active" };
      }
      const joined: string[] = [];
      if (current.status !== "suppressed")
        for (const t of opts.topics ?? []) {
          const before = (await tx.listTopicMemberships(current.id)).find((m) => m.topicId === t);
          if (before?.status === "joined") continue;
          await tx.setTopic(current.id, t, { status: "joined", at: now, source: opts.source });
          joined.push(t);
        }
      // A pending subscriber's topics fire their automations when they confirm.
      const fireTopics = () => (current.status === "active" ? this.fireJoined(tx, current.id, joined, now) : Promise.resolve());
      if (current.status !== "active" || !sequence) {
        await fireTopics();
        return { kind: "ok", subscriber: current, created, enrolled: opts.confirmed ? "not-active" : "not-confirmed" };
      }
      const enrolled = await this.enrollIn(tx, current, sequence, now);
      if (activated) await this.fire(tx, current.id, { on: "signup", form: null }, now);
      await fireTopics();
      return { kind: "ok", subscriber: current, created, enrolled };
    });
    if (outcome.kind === "ok" && isNew(outcome.enrolled)) this.o.onSendDue?.();
    return outcome;
  }

  /**
   * One page of an import, in one transaction: rows on the suppression list are left out,
   * known addresses are left as they are, new ones are written with their enrollment (when
   * `enrollIn` is given and the row is active). A crash loses the page whole; running the
   * import again brings it in whole. Planning warnings come back instead of being logged.
   */
  async importPage(
    rows: readonly (SubscriberInput & { startAt: Date; topics?: readonly string[]; statusReason?: string | null })[],
    opts: ImportPageOptions,
    now: Date,
  ): Promise<ImportPageResult> {
    const automations: FireSummary = { fired: 0, entered: 0 };
    // The page's new subscribers, their enrollments, their topics (the CSV's topics column,
    // consent from the import) and the automations its tags trigger commit together: an import
    // of 10,000 rows is 20 transactions of 500, never one per person.
    const work = async (tx: Store): Promise<ImportPageResult> => {
      const suppressed = await tx.suppressedAmong(rows.map((r) => r.email));
      const fresh = rows.filter((r) => !suppressed.has(r.email.trim().toLowerCase()));
      const startOf = new Map(fresh.map((r) => [r.email.trim().toLowerCase(), r.startAt]));
      const topicsOf = new Map(fresh.filter((r) => r.topics?.length).map((r) => [r.email.trim().toLowerCase(), r.topics!]));
      const warnings: string[] = [];
      const { created, existing, enrolled } = await this.importInto(tx, fresh, startOf, opts, now, warnings);
      await recordImportedLeavers(tx, created, rows, now);
      for (const sub of created)
        for (const t of topicsOf.get(sub.email.trim().toLowerCase()) ?? [])
          await tx.setTopic(sub.id, t, { status: "joined", at: sub.consentAt ?? now, source: "import" });
      // Active new members: their "topic-joined" automations fire in the page's transaction.
      if ((this.o.automations?.() ?? []).some((a) => a.on.on === "topic-joined"))
        for (const sub of created)
          if (sub.status === "active") await this.fireJoined(tx, sub.id, topicsOf.get(sub.email.trim().toLowerCase()) ?? [], now, automations);
      // A new subscriber's tags were added now: "tag-added" automations fire for active ones.
      if ((this.o.automations?.() ?? []).some((a) => a.on.on === "tag-added"))
        for (const sub of created) {
          if (sub.status !== "active") continue;
          for (const tag of sub.tags) await this.fire(tx, sub.id, { on: "tag-added", tag }, now, automations);
        }
      const result: ImportPageResult = {
        created: created.length,
        existing,
        enrolled,
        suppressed: rows.length - fresh.length,
        confirmed: 0,
        queued: 0,
        pending: 0,
        warnings,
        automations,
      };
      const isNew = new Set(created.map((c) => c.email.trim().toLowerCase()));
      for (const c of created) {
        if (c.status !== "pending") continue;
        if (opts.sendConfirmation && (await this.queueConfirmation(tx, c, now))) result.queued++;
        else result.pending++;
      }
      // Rows already known: only a pending one changes, and only when asked (--confirmed
      // vouches for consent; --send-confirmation emails the link they never got).
      for (const r of fresh) {
        if (isNew.has(r.email.trim().toLowerCase())) continue;
        const s = await tx.findSubscriberByEmail(r.email);
        if (s?.status !== "pending") continue;
        if (opts.confirmPending && r.status === "active") {
          await tx.setSubscriberStatus(s.id, "active", now, { source: r.consentSource ?? "import", at: r.consentAt ?? now, ip: r.consentIp ?? null });
          result.confirmed++;
          if (opts.enrollIn) {
            const { warnings: w, ...plan } = planEnrollment(opts.enrollIn, s, now);
            warnings.push(...w);
            if ((await tx.enroll({ subscriberId: s.id, ...plan, allowReentry: opts.enrollIn.allowReentry ?? false })) !== "exists") result.enrolled++;
          }
        } else if (opts.sendConfirmation && (await this.queueConfirmation(tx, s, now))) result.queued++;
        else result.pending++;
      }
      if (opts.dryRun) throw new DryRunRollback(result);
      return result;
    };
    try {
      const result = await this.store.transaction(work);
      if (result.enrolled > 0 || result.queued > 0 || automations.entered > 0) this.o.onSendDue?.();
      return result;
    } catch (err) {
      if (err instanceof DryRunRollback) return err.result;
      throw err;
    }
  }

  private importInto(
    tx: Store,
    fresh: readonly (SubscriberInput & { startAt: Date; topics?: readonly string[]; statusReason?: string | null })[],
    startOf: Map<string, Date>,
    opts: { enrollIn: Sequence | null },
    now: Date,
    warnings: string[],
  ) {
    return tx.importSubscribers(
      fresh.map(({ startAt: _startAt, topics: _topics, statusReason: _reason, ...input }) => input),
      now,
      (sub) => {
        if (!opts.enrollIn || sub.status !== "active") return null;
        // The course starts when they subscribed (never in the future), planned in their own zone.
        const at = startOf.get(sub.email.trim().toLowerCase()) ?? now;
        const { warnings: w, ...plan } = planEnrollment(opts.enrollIn, sub, at > now ? now : at);
        warnings.push(...w);
        return plan;
      },
    );
  }

  /** Enroll an active subscriber; enrolling again is a no-op (it never restarts a course). */
  async enroll(subscriber: Pick<Subscriber, "id">, sequenceId: string | undefined, now: Date): Promise<EnrollResult> {
    const sequence = this.sequenceFor(sequenceId);
    const result = await this.store.transaction(async (tx) => {
      const s = await this.fresh(tx, subscriber);
      if (s.status !== "active") throw new DripError("conflict", `${s.email} is ${s.status}, not active: only confirmed subscribers can be enrolled`);
      return this.enrollIn(tx, s, sequence, now);
    });
    if (isNew(result)) this.o.onSendDue?.();
    return result;
  }

  /** Add a tag; when it is new, the "tag-added" automations fire in the same transaction. */
  async tag(subscriber: Pick<Subscriber, "id">, tag: string, now: Date): Promise<"added" | "already"> {
    if (!/^[\w:.-]{1,64}$/.test(tag)) throw new DripError("usage", `tag "${tag}" must be 1–64 letters, digits, _ : . or -`);
    return this.store.transaction(async (tx) => {
      const s = await this.fresh(tx, subscriber);
      if (s.tags.includes(tag)) return "already";
      await tx.addTag(s.id, tag);
      await this.fire(tx, s.id, { on: "tag-added", tag }, now);
      return "added";
    });
  }

  async untag(subscriber: Pick<Subscriber, "id">, tag: string): Promise<void> {
    await this.store.removeTag(subscriber.id, tag);
  }

  /**
   * Fire the automations of sequences completed since the last call (the tick calls this).
   * A completion is recorded by the tick; its automations fire here, each enrollment in one
   * transaction with its mark, so a crash in between fires them on the next call, once.
   */
  async fireCompletions(now: Date, limit = 500): Promise<FireSummary> {
    const summary: FireSummary = { fired: 0, entered: 0 };
    for (;;) {
      const pending = await this.store.pendingCompletions(limit);
      for (const e of pending) {
        await this.store.transaction(async (tx) => {
          await tx.lockSubscriber(e.subscriberId);
          await this.fire(tx, e.subscriberId, { on: "completed", sequence: e.sequenceId, round: e.round }, now, summary);
          await tx.markCompletionFired(e.id, e.round);
        });
      }
      if (pending.length < limit) return summary;
    }
  }

  /** Pause running courses: nothing more is claimed (a step already claimed still goes out once). */
  async pause(subscriber: Pick<Subscriber, "id">, reason = "paused by the subscriber"): Promise<number> {
    return this.store.transaction(async (tx) => {
      await tx.lockSubscriber(subscriber.id);
      let n = 0;
      for (const e of await tx.listEnrollments(subscriber.id)) {
        if (e.status !== "active") continue;
        await tx.setEnrollmentStatus(e.id, "paused", reason);
        n++;
      }
      return n;
    });
  }

  /** Resume paused courses; the next step is re-planned (a missed one goes out in the next window). */
  async resume(subscriber: Pick<Subscriber, "id">): Promise<number> {
    const n = await this.resumeTx(subscriber);
    if (n > 0) this.o.onSendDue?.();
    return n;
  }

  private resumeTx(subscriber: Pick<Subscriber, "id">): Promise<number> {
    return this.store.transaction(async (tx) => {
      const s = await this.fresh(tx, subscriber);
      let n = 0;
      for (const e of await tx.listEnrollments(s.id)) {
        if (e.status !== "paused") continue;
        const at = replannedDue(this.o.sequences.getSequence(e.sequenceId), e, s.timezone) ?? e.nextDueAt;
        if (at) await tx.replanEnrollment(e.id, at, { status: "active", reason: null });
        else await tx.setEnrollmentStatus(e.id, "active", null);
        n++;
      }
      return n;
    });
  }

  /** Leave the course(s) but stay subscribed. */
  async leaveCourse(subscriber: Pick<Subscriber, "id">): Promise<void> {
    await this.store.exitEnrollments(subscriber.id, "left the course");
  }

  /** Change name or time zone; pending steps are re-planned in the new zone. */
  async updateProfile(subscriber: Pick<Subscriber, "id">, fields: { name?: string; timezone?: string }): Promise<void> {
    await this.store.transaction(async (tx) => {
      const s = await this.fresh(tx, subscriber);
      const changes: { name?: string; timezone?: string } = {};
      if (fields.name !== undefined && fields.name !== s.name) changes.name = fields.name;
      if (fields.timezone !== undefined && fields.timezone !== s.timezone) changes.timezone = fields.timezone;
      if (Object.keys(changes).length === 0) return;
      await tx.updateSubscriber(s.id, changes);
      if (changes.timezone === undefined) return;
      for (const e of await tx.listEnrollments(s.id)) {
        if (!open(e)) continue;
        const at = replannedDue(this.o.sequences.getSequence(e.sequenceId), e, changes.timezone);
        if (at) await tx.replanEnrollment(e.id, at);
      }
    });
  }

  /** Leave everything, at once: nothing is sent after this moment (claimed sends are re-checked). */
  async unsubscribe(subscriber: Pick<Subscriber, "id">, now: Date, via: string): Promise<"unsubscribed" | "already"> {
    return this.store.transaction(async (tx) => {
      await tx.lockSubscriber(subscriber.id);
      // One conditional write, no read first: a subscriber who left already (or is gone) is left alone.
      const left = await tx.leave(subscriber.id, "unsubscribed", "unsubscribed", now, { type: "unsubscribed", data: { via } }, { ifNotLeft: true });
      return left ? "unsubscribed" : "already";
    });
  }

  /** Never mail this address again (hard bounce, complaint, forget). */
  async suppress(email: string, reason: string, now: Date): Promise<void> {
    await this.store.transaction(async (tx) => {
      await tx.suppress(email, reason, now);
      const s = await tx.findSubscriberByEmail(email);
      if (s) await tx.leave(s.id, "suppressed", reason, now);
    });
  }

  /**
   * Erase a person: a hashed suppression entry (so an import cannot bring them back), then
   * every row about them, including their entry in any batch the provider has not yet taken.
   */
  async forget(email: string, now: Date): Promise<"erased" | "suppressed-only"> {
    return this.store.transaction(async (tx) => {
      const s = await tx.findSubscriberByEmail(email);
      await tx.suppress(email, "forgotten on request", now);
      if (!s) return "suppressed-only";
      await tx.forgetSubscriber(s.id);
      return "erased";
    });
  }

  /**
   * The booking system says this subscriber booked: tag them (booking steps skip from now on)
   * and credit the conversion to the email they last clicked, or else opened.
   */
  async recordBooking(subscriber: Pick<Subscriber, "id">, at: Date, now: Date = at): Promise<{ creditedSend: string | null; automations: FireSummary }> {
    return this.store.transaction(async (tx) => {
      const s = await this.fresh(tx, subscriber);
      const automations: FireSummary = { fired: 0, entered: 0 };
      if (!s.tags.includes("booked")) {
        await tx.addTag(s.id, "booked");
        await this.fire(tx, s.id, { on: "tag-added", tag: "booked" }, now, automations);
      }
      const creditedSend = await tx.lastEngagedSend(s.id);
      await tx.recordEvent({ subscriberId: s.id, sendId: creditedSend, type: "booked", at });
      // Sequences started by the event start when drip hears of it (`now`), not when it happened.
      await this.fire(tx, s.id, { on: "event", name: "booked", at }, now, automations);
      return { creditedSend, automations };
    });
  }

  /** A provider event, already verified. Returns what was done, for logs and tests. */
  async applyProviderEvent(event: ProviderEvent): Promise<"stored" | "suppressed" | "replayed" | "ignored"> {
    const kinds: Record<string, "delivered" | "opened" | "clicked" | "bounced" | "complained"> = {
      "email.delivered": "delivered",
      "email.opened": "opened",
      "email.clicked": "clicked",
      "email.bounced": "bounced",
      "email.complained": "complained",
    };
    const kind = Object.hasOwn(kinds, event.type) ? kinds[event.type] : undefined;
    if (!kind) return "ignored";
    return this.store.transaction(async (tx) => {
      const send = event.emailId ? await tx.findSendByProviderId(event.emailId) : null;
      const address = event.to?.[0];
      const found = send ? await tx.getSubscriber(send.subscriberId) : address ? await tx.findSubscriberByEmail(address) : null;
      if (found) await tx.lockSubscriber(found.id);
      const subscriber = found && (await tx.getSubscriber(found.id));
      const fresh = await tx.recordEvent({
        subscriberId: subscriber?.id ?? null,
        sendId: send?.id ?? null,
        type: kind,
        at: event.createdAt,
        data:
          event.bounceType || (kind === "clicked" && event.link)
            ? { ...(event.bounceType ? { bounceType: event.bounceType } : {}), ...(kind === "clicked" && event.link ? { link: event.link } : {}) }
            : undefined,
        svixId: event.id,
      });
      if (!fresh) return "replayed";
      // A hard bounce or a complaint: never mail this address again. Soft bounces are only counted.
      // The address is the one the provider's id was recorded for (by identity), else the event's.
      const hard = kind === "complained" || (kind === "bounced" && (event.bounceType ?? "").toLowerCase() === "permanent");
      const email = subscriber?.email ?? address;
      if (!hard || !email) return "stored";
      const reason = kind === "complained" ? "complaint" : "hard bounce";
      await tx.suppress(email, reason, event.createdAt);
      const s = subscriber ?? (await tx.findSubscriberByEmail(email));
      if (s) await tx.leave(s.id, "suppressed", reason, event.createdAt);
      return "suppressed";
    });
  }

  /** The declared topics (newsletters/topics.ts). */
  topicList() {
    return this.o.topics?.topics() ?? [];
  }

  /** A topic id the caller named, refused (usage) unless it is declared in newsletters/topics.ts. */
  topicFor(topicId: string) {
    const topics = this.o.topics?.topics() ?? [];
    const topic = topics.find((t) => t.id === topicId);
    if (!topic)
      throw new DripError(
        "usage",
        `no topic "${topicId}": ${topics.length ? `known topics are ${topics.map((t) => t.id).join(", ")} (see \`drip topics\`)` : "no topic is declared in newsletters/topics.ts"}`,
      );
    return topic;
  }

  /**
   * Join a topic with explicit consent (`source`: the signup checkbox, the preferences page,
   * `drip subscribe --topic`, an import column, a course hand-off). Joining again renews the
   * consent record. A suppressed address never joins anything.
   */
  async joinTopic(subscriber: Pick<Subscriber, "id">, topicId: string, consent: { source: string }, now: Date): Promise<"joined" | "already"> {
    this.topicFor(topicId);
    const result = await this.store.transaction(async (tx) => {
      const s = await this.fresh(tx, subscriber);
      if (s.status === "suppressed") throw new DripError("conflict", `${s.email} is suppressed: it cannot join a topic`);
      const before = (await tx.listTopicMemberships(s.id)).find((m) => m.topicId === topicId);
      if (before?.status === "joined") return { joined: "already" as const, entered: 0 };
      await tx.setTopic(s.id, topicId, { status: "joined", at: now, source: consent.source });
      // Its "topic-joined" automations, in this transaction (a pending subscriber's fire when they confirm).
      const fired: FireSummary = { fired: 0, entered: 0 };
      if (s.status === "active") await this.fireJoined(tx, s.id, [topicId], now, fired);
      return { joined: "joined" as const, entered: fired.entered };
    });
    if (result.entered > 0) this.o.onSendDue?.();
    return result.joined;
  }

  /**
   * Leave one topic and stay subscribed to the rest: pending deliveries of its issues end at
   * once (a claimed one is re-checked before it is sent). `sendId` credits the leave to the
   * email whose one-click link was used (per-issue "unsubscribed").
   */
  async leaveTopic(subscriber: Pick<Subscriber, "id">, topicId: string, now: Date, via: string, sendId: string | null = null): Promise<"left" | "not-joined"> {
    return this.store.transaction(async (tx) => {
      const s = await this.fresh(tx, subscriber);
      const before = (await tx.listTopicMemberships(s.id)).find((m) => m.topicId === topicId);
      // A consent for later (not yet a member) is withdrawn the same way.
      if (before?.status !== "joined" && before?.status !== "consented") return "not-joined";
      await tx.setTopic(s.id, topicId, { status: "left", at: now });
      await tx.recordEvent({ subscriberId: s.id, sendId, type: "unsubscribed", at: now, data: { via, topic: topicId } });
      return "left";
    });
  }

  /**
   * A changed sequence goes live (drip apply, drip start): its version is recorded and the
   * enrolled subscribers the change affects are re-planned by the plan's rules, in one
   * transaction (src/versions/apply.ts). A claimed step is never touched: its enrollment is
   * re-planned by the tick once the claim is released.
   */
  applyVersion(sequence: Sequence, emailsDir: string, now: Date): Promise<AppliedSequence> {
    return applyVersion(this.store, sequence, emailsDir, now);
  }

  /**
   * Put a failed or in-doubt send back in the queue (drip retry, the dashboard's Retry
   * button): refused with the reason when it is claimed, its subscriber left or is
   * suppressed, or an in-doubt send's key has expired (src/lifecycle/retry.ts). `by` names who asked.
   */
  async retrySend(sendId: string, now: Date, by: string): Promise<RetryReport> {
    const report = await retrySend(this.store, sendId, now, by);
    this.o.onSendDue?.();
    return report;
  }

  /** Every failed and in-doubt send, each retried or refused with the reason (`dryRun`: rolled back). */
  async retryAllFailed(now: Date, by: string, opts: { dryRun?: boolean } = {}): Promise<RetryReport[]> {
    const reports = await retryAllFailed(this.store, now, by, opts);
    if (!opts.dryRun && reports.some((r) => r.outcome === "queued")) this.o.onSendDue?.();
    return reports;
  }
}
