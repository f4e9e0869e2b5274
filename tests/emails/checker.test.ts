/**
 * The email checker, part one (fast): every email drip sends (each step of each sequence in
 * sequences/, and the confirmation), as a real outbox file, against the caniemail data for
 * Gmail and Outlook (doiuse-email) and html-validate's rules for email. SpamAssassin, which
 * takes a few seconds an email, is part two: checker.soak.test.ts. README: "Checking an email".
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildCorpus, type CorpusEmail, EMAIL_NAMES } from "../support/email-corpus.ts";
import { DOIUSE_CLIENTS, htmlValidate, IGNORED_FEATURES, unsupportedFeatures } from "../support/email-checker.ts";
import { cleanupTempDirs, tempDir } from "../support/engine-helpers.ts";

let corpus: CorpusEmail[] = [];
beforeAll(async () => {
  corpus = await buildCorpus(tempDir("drip-checker-"));
}, 120_000);
afterAll(() => cleanupTempDirs());

const NAMES = EMAIL_NAMES;
const email = (name: string) => {
  const e = corpus.find((c) => c.name === name);
  if (!e) throw new Error(`no ${name} in the corpus (${corpus.map((c) => c.name).join(", ")})`);
  return e;
};

describe("the email checker", () => {
  it("covers every email: each course step and the confirmation", () => {
    expect(corpus.map((c) => c.name).sort()).toEqual([...NAMES].sort());
  });

  it.each(NAMES)("%s: no feature Gmail or Outlook lacks, beyond the ignored ones (caniemail via doiuse-email)", (name) => {
    const { findings } = unsupportedFeatures(email(name).html);
    expect(findings.map((f) => `${f.feature} in ${f.client}`)).toEqual([]);
  });

  it.each(NAMES)("%s: no html-validate errors under the email rule set", async (name) => {
    expect(await htmlValidate(email(name).html)).toEqual([]);
  });

  it.each(NAMES)("%s: has a viewport meta tag, so phones lay it out at their own width", (name) => {
    expect(email(name).html).toMatch(/<meta name="viewport" content="width=device-width, initial-scale=1"/);
  });

  it("the judges can fail: an email using flexbox, a background image and a web font, with a misnested tag", async () => {
    const bad = `<!DOCTYPE html><html lang="en"><head><title>x</title><link href="https://fonts.googleapis.com/css?family=Roboto" rel="stylesheet"></head>
<body><div style="display:flex;background-image:url(https://x.example/a.png)"><p><div>misnested</div></p><img src="https://x.example/b.png"></div></body></html>`;
    const features = unsupportedFeatures(bad).findings.map((f) => f.feature);
    expect(features).toEqual(expect.arrayContaining(["display:flex", "background-image"]));
    const messages = await htmlValidate(bad);
    expect(messages.some((m) => m.includes("wcag/h37"))).toBe(true); // the image has no alt text
    expect(messages.length).toBeGreaterThan(1);
  });

  it("ignores only named features, each with its reason, for Gmail and Outlook", () => {
    expect(DOIUSE_CLIENTS).toEqual(["gmail.*", "outlook.*"]);
    for (const [feature, reason] of Object.entries(IGNORED_FEATURES)) expect(reason.length, feature).toBeGreaterThan(20);
    expect(Object.keys(IGNORED_FEATURES)).not.toContain("display:flex");
  });
});
