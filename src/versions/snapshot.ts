/**
 * A sequence's version: a snapshot of what a subscriber in it experiences (step ids,
 * schedules, subjects, template identity and a hash of the rendered content, the send window)
 * and a hash of that snapshot. The same definition and templates always give the same hash,
 * so the engine can stamp every send with it and `drip plan` can compare disk with the
 * version live in the database without either trusting the other's bookkeeping.
 */
import { createHash } from "node:crypto";
import { buildLinks } from "../render/links.ts";
import { isMjml, renderStep } from "../render/render.ts";
import { SAMPLE_LINKS, SAMPLE_LIST, SAMPLE_POSTAL_ADDRESS, SAMPLE_SUBSCRIBER } from "../sequences/check.ts";
import type { Schedule, SendWindow, Sequence, StepDefinition } from "../sequences/types.ts";

export interface StepSnapshot {
  id: string;
  schedule: Schedule;
  /** As rendered for the sample subscriber (a function subject is called once). */
  subject: string;
  preview: string;
  /** `mjml:<file>` or `react:<component name>`. */
  template: string;
  /** Hash of the email's HTML rendered for the sample subscriber (placeholder step in links, so a rename alone does not change it). */
  contentHash: string;
  formerly?: string[];
  backfill?: boolean;
  skipIf?: string[];
}

export interface SequenceSnapshot {
  id: string;
  /** Short hash of everything below: the version's identity. */
  hash: string;
  defaultTimezone: string;
  sendWindow: SendWindow;
  continueCompleted?: { withinDays: number };
  steps: StepSnapshot[];
}

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

/** Keys sorted, so the same content always hashes the same. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object")
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  return JSON.stringify(v);
}

export function templateIdentity(step: StepDefinition): string {
  if (isMjml(step.template)) return `mjml:${step.template.file}`;
  const t = step.template as { displayName?: string; name?: string };
  return `react:${t.displayName || t.name || "anonymous"}`;
}

const text = (v: StepDefinition["subject"]) => (typeof v === "function" ? v(SAMPLE_SUBSCRIBER) : v).trim();

async function stepSnapshot(sequence: Sequence, step: StepDefinition, emailsDir: string): Promise<StepSnapshot> {
  let contentHash: string;
  try {
    const links = buildLinks(SAMPLE_LINKS, "sample-token.0000", sequence.id, "step");
    const email = await renderStep({
      sequence,
      step,
      subscriber: SAMPLE_SUBSCRIBER,
      links,
      postalAddress: SAMPLE_POSTAL_ADDRESS,
      list: SAMPLE_LIST,
      emailsDir,
    });
    contentHash = sha(email.html).slice(0, 12);
  } catch (err) {
    // A template that does not render is reported by validation; its version still needs an identity.
    contentHash = `unrendered-${sha((err as Error).message).slice(0, 8)}`;
  }
  return {
    id: step.id,
    schedule: step.schedule.kind === "immediately" ? { kind: "immediately" } : { kind: "day", day: step.schedule.day, at: step.schedule.at },
    subject: text(step.subject),
    preview: text(step.preview),
    template: templateIdentity(step),
    contentHash,
    ...(step.formerly?.length ? { formerly: [...step.formerly] } : {}),
    ...(step.backfill ? { backfill: true } : {}),
    ...(step.skipIf ? { skipIf: [...step.skipIf.tags] } : {}),
  };
}

const cache = new WeakMap<Sequence, Promise<SequenceSnapshot>>();

/** The snapshot and version hash of a loaded definition (computed once per definition object). */
export function snapshotSequence(sequence: Sequence, emailsDir: string): Promise<SequenceSnapshot> {
  let p = cache.get(sequence);
  if (!p) {
    p = (async () => {
      const steps: StepSnapshot[] = [];
      for (const step of sequence.steps) steps.push(await stepSnapshot(sequence, step, emailsDir));
      const body = {
        id: sequence.id,
        defaultTimezone: sequence.defaultTimezone,
        sendWindow: { start: sequence.sendWindow.start, end: sequence.sendWindow.end, weekdays: [...sequence.sendWindow.weekdays] },
        ...(sequence.continueCompleted ? { continueCompleted: { withinDays: sequence.continueCompleted.withinDays } } : {}),
        steps,
      };
      return { ...body, hash: sha(canonical(body)).slice(0, 12) };
    })();
    cache.set(sequence, p);
  }
  return p;
}

/** "day 6 09:00" / "immediately". */
export const describeSchedule = (s: Schedule) => (s.kind === "immediately" ? "immediately" : `day ${s.day} ${s.at}`);

export const sameSchedule = (a: Schedule, b: Schedule) => describeSchedule(a) === describeSchedule(b);

export const sameWindow = (a: SequenceSnapshot, b: SequenceSnapshot) =>
  a.defaultTimezone === b.defaultTimezone && canonical(a.sendWindow) === canonical(b.sendWindow);
