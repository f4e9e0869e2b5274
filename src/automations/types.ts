/**
 * Automations: "when this happens to a subscriber, do that". Glossary:
 * - trigger: what happened (a signup through a form, a tag added, an event such as
 *   `booked`, a sequence completed, a topic joined).
 * - condition: tags the subscriber must carry (all / any) or must not carry (none), read
 *   after the change that fired the trigger.
 * - action: enroll in a sequence (optionally after a delay), add or remove a tag, exit a
 *   sequence, join or leave a topic.
 * - run: one firing of one automation for one subscriber, recorded with its cause and what
 *   it did (`drip show`, `drip stats`). A run key makes the same cause fire once.
 *
 * They are declared in typed code: a sequence's `triggers` (each enrolls in that sequence),
 * or `sequences/automations.ts` (any actions). Both become the same `Automation`.
 */

export type Trigger =
  /** A confirmed signup; with `form`, only signups through that form. */
  | { readonly on: "signup"; readonly form?: string }
  /** A tag the subscriber did not carry was added (by staff, an import, an event or another automation). */
  | { readonly on: "tag-added"; readonly tag: string }
  /** An event reported by another system, e.g. `booked` from the booking system. */
  | { readonly on: "event"; readonly name: string }
  /** The subscriber finished every step of a sequence. */
  | { readonly on: "completed"; readonly sequence: string }
  /** The subscriber joined a topic (with consent). */
  | { readonly on: "topic-joined"; readonly topic: string };

export interface Conditions {
  /** Tags the subscriber must carry, all of them / at least one of them / none of them. */
  readonly tags?: { readonly all?: readonly string[]; readonly any?: readonly string[]; readonly none?: readonly string[] };
}

export interface Delay {
  readonly days?: number;
  readonly hours?: number;
  readonly minutes?: number;
}

export type Action =
  /** Enroll in a sequence (enrolling again follows the sequence's own re-entry rule). */
  | { readonly enroll: string }
  | { readonly addTag: string }
  | { readonly removeTag: string }
  /** End the subscriber's enrollment in a sequence (a step already claimed still goes out once). */
  | { readonly exit: string }
  /** Join a topic: only for a subscriber whose consent to that topic is recorded. */
  | { readonly joinTopic: string }
  | { readonly leaveTopic: string };

/** A trigger as a sequence declares it: it enrolls in that sequence, and may do more (`also`). */
export type SequenceTrigger = Trigger & {
  /** Stable name for records and stats (default `<sequence id>.<trigger kind>`). */
  readonly id?: string;
  readonly when?: Conditions;
  /** Start the sequence this long after the trigger fired. */
  readonly delay?: Delay;
  readonly also?: readonly Action[];
};

export interface AutomationDefinition {
  /** Stable name: runs are recorded and counted under it. */
  readonly id: string;
  readonly on: Trigger;
  readonly when?: Conditions;
  /** Enrollments start this long after the trigger (other actions happen at once). */
  readonly delay?: Delay;
  readonly do: readonly Action[];
}

/** A validated automation, wherever it was declared. */
export interface Automation extends AutomationDefinition {
  /** Where it was declared, for messages: `sequences/post-booking.ts: triggers[0]`. */
  readonly source: string;
}

/** What happened, as the lifecycle door reports it to the automations. */
export type Cause =
  | { on: "signup"; form: string | null }
  | { on: "tag-added"; tag: string }
  | { on: "event"; name: string; at: Date }
  | { on: "completed"; sequence: string; round: number }
  | { on: "topic-joined"; topic: string };

/** One recorded firing. */
export interface AutomationRun {
  id: number;
  automationId: string;
  subscriberId: string;
  /** The cause in words: `event booked`, `tag-added vip`, `completed hip-pain-course`. */
  trigger: string;
  /** Identifies the cause: the same key never fires the same automation twice for one subscriber. */
  key: string;
  firedAt: Date;
  /** `done` (something changed), `unchanged` (e.g. already enrolled), `skipped` (e.g. not active). */
  outcome: "done" | "unchanged" | "skipped";
  /** What it did, in words: `enrolled in post-booking`, `already in post-booking`. */
  detail: string;
  /** The sequence this run started (a new enrollment or a re-entry), else null. */
  enrolled: string | null;
}

export interface AutomationStats {
  automationId: string;
  /** Runs recorded (every cause counted once). */
  fired: number;
  /** Runs that enrolled the subscriber (a new enrollment or a re-entry). */
  entered: number;
  /** Runs that joined the subscriber to a topic (a course's hand-off to the newsletter). */
  joined: number;
  unchanged: number;
  skipped: number;
}
