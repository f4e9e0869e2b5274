/**
 * Glossary (see ../shared/DESIGN.md; code uses exactly these words):
 * - subscriber: one email address with a name, a time zone, tags and a status.
 * - sequence:   a typed, validated definition of ordered steps (sequences/*.ts).
 * - step:       one email of a sequence, with a stable id, a schedule, a template,
 *               a subject, preview text and conditions (skipIf, exit rules).
 * - template:   a React Email component (emails/*.tsx) or an MJML file (emails/*.mjml).
 * - enrollment: one subscriber's walk through one sequence.
 * - send:       one attempt-tracked delivery of one step to one subscriber.
 * - tick:       one scheduler pass at an instant `now`.
 */
import type { ComponentType } from "react";
import type { SequenceTrigger } from "../automations/types.ts";

/** The subscriber fields a template, subject or condition may read. */
export interface SubscriberFields {
  email: string;
  /** First name as the subscriber typed it; may be empty. */
  name: string;
  /** IANA zone, e.g. "Europe/London". */
  timezone: string;
  tags: readonly string[];
}

/** Links every email carries; built per subscriber and per step by the renderer. */
export interface EmailLinks {
  /** One-click unsubscribe page (also the List-Unsubscribe URL). */
  unsubscribe: string;
  /** Preferences page: pause, resume, leave the course, change zone. */
  preferences: string;
  /** The clinic's booking page with UTM parameters for this sequence and step. */
  booking: string;
  /** The clinic's site. */
  site: string;
}

/** Who sends, from configuration and the sequence. */
export interface EmailSender {
  /** The clinic's name, shown in every footer. */
  organization: string;
  /** Display name in the From header. */
  name: string;
  /** Postal address required in commercial email (CAN-SPAM, PECR). */
  postalAddress: string;
}

/** The props every template receives. */
export interface EmailProps {
  subscriber: SubscriberFields;
  links: EmailLinks;
  sender: EmailSender;
  /** One line: why the reader gets this email. */
  reason: string;
  /** The step's preview text (inbox snippet); the layout puts it in <Preview>. */
  preview: string;
}

/**
 * A React Email template. Its props must be satisfiable by EmailProps: a template that
 * asks for a field the subscriber does not have fails the type check.
 */
export type ReactTemplate = ComponentType<EmailProps>;

/** An MJML template file under emails/, with {{placeholders}} for EmailProps fields. */
export interface MjmlTemplate {
  readonly kind: "mjml";
  /** Path relative to the emails/ folder, e.g. "keep-it-away.mjml". */
  readonly file: string;
}

export type Template = ReactTemplate | MjmlTemplate;

/** "HH:MM", 24-hour local time. */
export type LocalTime = `${number}:${number}`;

export type Weekday = "mon" | "tue" | "wed" | "thu" | "fri" | "sat" | "sun";

export type Schedule =
  | { readonly kind: "immediately" }
  /** Day N counts calendar days in the subscriber's zone; day 0 is the start day. */
  | { readonly kind: "day"; readonly day: number; readonly at: string };

export interface SendWindow {
  /** Earliest local time a late step may be re-planned to ("HH:MM"). */
  start: string;
  /** Latest local time ("HH:MM"), exclusive. */
  end: string;
  /** Days on which steps may go out; a planned day outside them moves to the next allowed day. */
  weekdays: readonly Weekday[];
}

export type TextOrFn = string | ((subscriber: SubscriberFields) => string);

export interface ExitRule {
  /** The subscriber leaves the sequence when they carry this tag. */
  tag: string;
  /** Shown in simulate and recorded with the exit. */
  reason?: string;
}

export interface StepDefinition {
  /** Stable identity for ever: subscribers' progress is keyed on it. */
  id: string;
  schedule: Schedule;
  template: Template;
  subject: TextOrFn;
  preview: TextOrFn;
  /** Skip this step when the subscriber carries any of these tags (e.g. "booked"). */
  skipIf?: { tags: readonly string[] };
  /** Ids this step had before (a rename): progress and history carry over to it. */
  formerly?: readonly string[];
  /** Added to a live sequence: also send it (next, inside the window) to people already past it. */
  backfill?: boolean;
}

export interface SequenceDefinition {
  id: string;
  name: string;
  /** Display name in From; the address comes from DRIP_FROM. */
  sender: { name: string; organization: string };
  /** One line shown in every email: why the reader gets it. */
  reason: string;
  defaultTimezone: string;
  sendWindow: SendWindow;
  /** Tags that end the enrollment (checked at send time). */
  exitIf?: readonly ExitRule[];
  /** Whether a subscriber who completed the sequence may enroll again. */
  allowReentry?: boolean;
  steps: readonly StepDefinition[];
  /** Steps appended later reach people who completed the sequence within this many days. */
  continueCompleted?: { withinDays: number };
  /**
   * What starts this sequence besides a signup through a form that names it: e.g.
   * `{ on: "event", name: "booked" }` (see src/automations/types.ts).
   */
  triggers?: readonly SequenceTrigger[];
}

/** A validated sequence (what defineSequence returns). */
export type Sequence = Readonly<SequenceDefinition> & { readonly __validated: true };
