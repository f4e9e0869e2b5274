/**
 * The email checker, part two: every email drip sends (each step of each sequence in
 * sequences/, and the confirmation), as a real outbox .eml file, through SpamAssassin's local
 * rules; none may score above MAX_SPAM_SCORE (0.0). A soak file because SpamAssassin takes
 * a few seconds an email. Without `spamassassin` installed (Debian package "spamassassin";
 * `.ci/run` installs it, so CI always runs this) the tests are skipped with that reason.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { composeEml } from "../../src/delivery/outbox.ts";
import { buildCorpus, type CorpusEmail, EMAIL_NAMES } from "../support/email-corpus.ts";
import { hasSpamAssassin, MAX_SPAM_SCORE, spamAssassin } from "../support/email-checker.ts";
import { cleanupTempDirs, tempDir } from "../support/engine-helpers.ts";

const installed = hasSpamAssassin();
if (!installed) console.warn("SKIPPED: spamassassin is not installed (apt-get install spamassassin): the spam-content checks did not run");

let corpus: CorpusEmail[] = [];
beforeAll(async () => {
  if (installed) corpus = await buildCorpus(tempDir("drip-spam-"));
}, 120_000);
afterAll(() => cleanupTempDirs());

const NAMES = EMAIL_NAMES;

describe.skipIf(!installed)("SpamAssassin (local content rules) over every email", () => {
  it("covers every email: each course step and the confirmation", () => {
    expect(corpus.map((c) => c.name).sort()).toEqual([...NAMES].sort());
  });

  it.each(NAMES)(`%s: scores at most ${MAX_SPAM_SCORE}`, async (name) => {
    const email = corpus.find((c) => c.name === name)!;
    const result = await spamAssassin(email.raw);
    console.log(`spamassassin ${name}: score ${result.score} (${result.rules.join(", ")})`);
    expect(result.score, `${name}\n${result.report}`).toBeLessThanOrEqual(MAX_SPAM_SCORE);
  });

  it("the judge can fail: white hidden text and shouting score above zero", async () => {
    const { mail, html } = corpus.find((c) => c.name === "hip-pain-course/article")!;
    // MJML's old preview markup: 1px white text on the white card.
    const hidden = html.replace(
      /<div style="display:none;[^"]*" data-skip-in-text="true">/,
      '<div style="display:none;font-size:1px;color:#ffffff;line-height:1px">',
    );
    expect(hidden).not.toBe(html);
    const raw = await composeEml({
      sendId: "1.1.spammy",
      from: "David <hello@bodyhealtherapy.example>",
      to: "reader@example.com",
      subject: "FREE!!! ACT NOW!!! 100% GUARANTEED CURE",
      html: hidden,
      text: mail.text ?? "",
      headers: {},
      tags: [],
      date: mail.date ?? new Date(),
    });
    const result = await spamAssassin(raw);
    expect(result.score).toBeGreaterThan(MAX_SPAM_SCORE);
  });
});
