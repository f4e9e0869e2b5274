/**
 * `drip validate` validates newsletters too: each issue file's front matter and body (the
 * file, the key and what to do), topics.ts, and feeds.ts (its shape, a weekly digest's cadence,
 * a topic that exists). Run on a content folder set with DRIP_NEWSLETTERS_DIR.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { cleanupTempDirs, runDrip, tempDir } from "../support/engine-helpers.ts";

afterAll(cleanupTempDirs);

const src = (f: string) => JSON.stringify(pathToFileURL(join(process.cwd(), "src/newsletters", f)).href);
const topics = `import { defineTopics } from ${src("topics.ts")};\nexport default defineTopics([{ id: "weekly", name: "The weekly blog", description: "Weekly.", askAtSignup: true }]);\n`;
const feeds = (cadence: string, topic = "weekly") =>
  `import { defineFeeds } from ${src("feeds.ts")};\nexport default defineFeeds(({ feedUrl }) => [{ id: "blog", url: feedUrl, topic: ${JSON.stringify(topic)}, cadence: ${cadence}, mode: { kind: "draft" } }]);\n`;
const good =
  "---\nsubject: A good issue\npreview: It previews well.\ntopic: weekly\n---\n# Hello\n\nSome text with [a link](https://bodyhealtherapy.example/blog).\n";
const bad = "---\nsubject: A bad issue\ntopic: monthly\nblog_url: http://bodyhealtherapy.example/blog\n---\n![](https://bodyhealtherapy.example/hip.png)\n";

function content(files: Record<string, string>) {
  const dir = tempDir("drip-validate-nl-");
  const nl = join(dir, "newsletters");
  mkdirSync(nl);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(nl, name), text);
  return { dir, env: { DRIP_NEWSLETTERS_DIR: nl } };
}

describe("drip validate: newsletters", () => {
  it("names the file, the key and what to do for a bad issue file", async () => {
    const { dir, env } = content({ "topics.ts": topics, "good.md": good, "bad.md": bad });
    const r = await runDrip(["validate", "--no-typecheck"], { env, cwd: dir });
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/bad\.md: preview: preview is required/);
    expect(r.err).toMatch(/bad\.md: blog_url: blog_url must use https/);
    const json = await runDrip(["validate", "--no-typecheck", "--json"], { env, cwd: dir });
    const out = JSON.parse(json.out) as { ok: boolean; newsletters: { id: string }[]; issues: { file: string; path: string; message: string }[] };
    expect(out.ok).toBe(false);
    expect(out.newsletters.map((n) => n.id)).toEqual(["good"]);
    expect(out.issues.every((i) => i.file.endsWith("bad.md"))).toBe(true);
  });

  it("checks feeds.ts: a bad weekly digest cadence and an unknown topic are reported; a good one is listed", async () => {
    const weekday = content({ "topics.ts": topics, "feeds.ts": feeds('{ digest: "weekly", weekday: "funday" }'), "good.md": good });
    const r1 = await runDrip(["validate", "--no-typecheck"], { env: weekday.env, cwd: weekday.dir });
    expect(r1.code).not.toBe(0);
    expect(r1.err).toMatch(/feeds\.ts: feeds\[0\]\.cadence.*: cadence/);

    const topic = content({ "topics.ts": topics, "feeds.ts": feeds('{ digest: "weekly", weekday: "monday" }', "monthly"), "good.md": good });
    const r2 = await runDrip(["validate", "--no-typecheck"], { env: topic.env, cwd: topic.dir });
    expect(r2.code).not.toBe(0);
    expect(r2.err).toMatch(/feeds\.ts: feeds\[0\]\.topic: no topic "monthly" in newsletters\/topics\.ts: use one of weekly/);

    const ok = content({ "topics.ts": topics, "feeds.ts": feeds('{ digest: "weekly", weekday: "monday", at: "07:00" }'), "good.md": good });
    const r3 = await runDrip(["validate", "--no-typecheck"], { env: ok.env, cwd: ok.dir });
    expect(r3.err).toBe("");
    expect(r3.code).toBe(0);
    expect(r3.out).toContain("newsletter good (topic weekly)\n");
    expect(r3.out).toContain("ok  feed blog: topic weekly, weekly digest on monday from 07:00, drafts\n");
  });
});
