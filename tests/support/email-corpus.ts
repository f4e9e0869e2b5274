/**
 * Every email drip sends, as real outbox files: the app from config (SQLite file, outbox
 * transport), one signup whose confirmation email is delivered, and one confirmed subscriber
 * per sequence in sequences/ walked through every step in virtual time. The email checker
 * (SpamAssassin, caniemail through doiuse-email, html-validate) and the browser tests read
 * these files back with mailparser, so a new template or sequence is checked without
 * touching the tests.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ParsedMail } from "mailparser";
import { loadConfig } from "../../src/config.ts";
import { createApp } from "../../src/wiring.ts";
import { rawHeader, readOutbox } from "./engine-helpers.ts";

export interface CorpusEmail {
  /** "<sequence>/<step>", or "<sequence>/confirm" for the confirmation email. */
  name: string;
  path: string;
  raw: Buffer;
  mail: ParsedMail;
  html: string;
}

const START = new Date("2026-10-28T14:00:00Z");
const HOUR = 3_600_000;

export async function buildCorpus(dir: string, opts: { name?: string } = {}): Promise<CorpusEmail[]> {
  const env = {
    DATABASE_URL: `file:${join(dir, "drip.db")}`,
    OUTBOX_DIR: join(dir, "outbox"),
    DRIP_SECRET: "c".repeat(40),
    DRIP_PUBLIC_URL: "https://mail.bodyhealtherapy.example",
    DRIP_FROM: "hello@bodyhealtherapy.example",
    DRIP_UNSUBSCRIBE_MAILTO: "unsubscribe@bodyhealtherapy.example",
  };
  const name = opts.name ?? "Sam Taylor";
  const app = await createApp(loadConfig(env));
  const expected: string[] = [];
  try {
    const sequences = app.engine.sequenceIds().map((id) => app.engine.getSequence(id)!);
    let lastDay = 0;
    for (const [i, sequence] of sequences.entries()) {
      const res = await app.lifecycle.subscribe(
        { email: `reader${i}@example.com`, name, timezone: "Europe/London", tags: [] },
        { confirmed: true, source: "corpus", sequenceId: sequence.id },
        START,
      );
      if (res.kind !== "ok") throw new Error(`could not enroll a reader in ${sequence.id}`);
      for (const step of sequence.steps) {
        expected.push(`${sequence.id}/${step.id}`);
        if (step.schedule.kind === "day") lastDay = Math.max(lastDay, step.schedule.day);
      }
    }
    if (app.engine.defaultSequence) {
      if ((await app.lifecycle.signUp({ email: "new@example.com", name, timezone: "Europe/London", tags: [] }, { source: "corpus" }, START)) !== "queued")
        throw new Error("the signup queued no confirmation");
      await app.engine.deliverConfirmations(START);
      expected.push(`${app.engine.defaultSequence.id}/confirm`);
    }
    for (let t = START.getTime(); t <= START.getTime() + (lastDay + 2) * 24 * HOUR; t += HOUR) await app.engine.tick(new Date(t));
  } finally {
    await app.close();
  }
  const emails = (await readOutbox(env.OUTBOX_DIR)).map(({ file, mail }) => ({
    name: `${rawHeader(mail, "X-Drip-Sequence")}/${rawHeader(mail, "X-Drip-Step")}`,
    path: join(env.OUTBOX_DIR, file),
    raw: readFileSync(join(env.OUTBOX_DIR, file)),
    mail,
    html: typeof mail.html === "string" ? mail.html : "",
  }));
  const got = emails.map((e) => e.name).sort();
  if (JSON.stringify(got) !== JSON.stringify([...expected].sort()))
    throw new Error(`the corpus should hold one email per step and a confirmation: expected ${expected.join(", ")}, got ${got.join(", ")}`);
  return emails;
}

/**
 * Every email drip sends today, by corpus name: the checks run on each, and each test file
 * also asserts the corpus is exactly this list, so an email added or removed is noticed.
 */
export const EMAIL_NAMES = [
  "hip-pain-course/article",
  "hip-pain-course/self-release",
  "hip-pain-course/dynamic-release",
  "hip-pain-course/book",
  "hip-pain-course/keep-it-away",
  "hip-pain-course/last-call",
  "hip-pain-course/confirm",
  "post-booking/thanks",
  "post-booking/follow-up",
] as const;
