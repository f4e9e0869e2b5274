/**
 * `drip import` survives bad input: a malformed line is reported with its number and the
 * import goes on; one summary at the end (the first 20 bad lines, then "…and N more");
 * per-row warnings said once; impossible and future dates refused per row; a file without a
 * header refused up front; an unknown --sequence refused before anything is stored.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cleanupTempDirs, runDrip, tempDir } from "../support/engine-helpers.ts";

let dir: string;
let env: Record<string, string>;
const NOW = new Date("2026-10-28T12:00:00Z");
const drip = (argv: string[]) => runDrip(argv, { env, cwd: dir, now: NOW });
const json = (s: string) => JSON.parse(s) as Record<string, unknown>;
const csv = (name: string, lines: string[]) => {
  const file = join(dir, name);
  writeFileSync(file, `${lines.join("\n")}\n`);
  return file;
};
const exported = async () => parse((await drip(["export"])).out, { columns: true }) as Record<string, string>[];

beforeEach(() => {
  dir = tempDir("drip-import-");
  env = { DATABASE_URL: `file:${dir}/drip.db`, OUTBOX_DIR: `${dir}/outbox`, DRIP_SECRET: "x".repeat(40) };
});
afterEach(() => cleanupTempDirs());

describe("malformed lines", () => {
  it("a quote left open or closed early is reported with its line number, and the rows after it are imported", async () => {
    const file = csv("list.csv", [
      "email,name,timezone",
      "ana@example.com,Ana,Europe/London",
      'bad@example.com,"Ana,Europe/London',
      'odd@example.com,"Ana" Smith,Europe/London',
      "bo@example.com,Bo,Europe/London",
      'cy@example.com,"Cy ""the"" Great",Europe/London',
    ]);
    const r = await drip(["import", file]);
    expect(r.code).toBe(0);
    expect(r.err).not.toContain("unexpected");
    expect(r.out).toBe("imported 3, already there 0, suppressed 0, bad rows 2\n");
    const lines = r.err.trim().split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^line 3: malformed CSV: .*never closed/);
    expect(lines[1]).toMatch(/^line 4: malformed CSV: /);
    expect(lines[2]).toMatch(/^warning: 3 subscribers are pending and get no email until they confirm: .*--send-confirmation/);
    expect((await exported()).map((s) => [s.email, s.name]).sort()).toEqual([
      ["ana@example.com", "Ana"],
      ["bo@example.com", "Bo"],
      ["cy@example.com", 'Cy "the" Great'],
    ]);
  });

  it("lists the first 20 bad lines, then says how many more; --json has the count and the lines", async () => {
    const rows = ["email,name"];
    for (let i = 0; i < 25; i++) rows.push(`not-an-email-${i},X`);
    rows.push("ok@example.com,Ok");
    const file = csv("many.csv", rows);
    const r = await drip(["import", file]);
    expect(r.code).toBe(0);
    const lines = r.err.trim().split("\n");
    expect(lines).toHaveLength(22);
    expect(lines[0]).toMatch(/^line 2: /);
    expect(lines[19]).toMatch(/^line 21: /);
    expect(lines[20]).toBe("…and 5 more");
    expect(lines[21]).toMatch(/^warning: 1 subscriber is pending /);
    expect(r.out).toBe("imported 1, already there 0, suppressed 0, bad rows 25\n");
    const j = json((await drip(["import", file, "--json"])).out);
    expect(j).toMatchObject({ imported: 0, existing: 1, badRows: 25 });
    expect((j.bad as unknown[]).length).toBe(25);
  });
});

describe("warnings", () => {
  it("rows without a time zone are one line, not one per row; --json carries it", async () => {
    const rows = ["email,name,timezone"];
    for (let i = 0; i < 30; i++) rows.push(`r${i}@example.com,R,`);
    rows.push("z@example.com,Z,Asia/Tokyo");
    const file = csv("nozone.csv", rows);
    const r = await drip(["import", file, "--confirmed"]);
    expect(r.code).toBe(0);
    expect(r.out).toBe("imported 31, already there 0, suppressed 0, bad rows 0, enrolled 31\n");
    expect(r.err).toBe("warning: 30 rows without a time zone: the sequence's default (Europe/London) was used\n");

    const again = csv("nozone2.csv", ["email,timezone", "s1@example.com,", "s2@example.com,"]);
    const j = json((await drip(["import", again, "--confirmed", "--json"])).out);
    expect(j).toMatchObject({ imported: 2, enrolled: 2, badRows: 0, bad: [] });
    expect(j.warnings).toEqual([{ count: 2, message: "2 rows without a time zone: the sequence's default (Europe/London) was used" }]);
  });
});

describe("dates", () => {
  it("impossible dates and dates in the future are refused per row; plain dates are accepted", async () => {
    const file = csv("dates.csv", [
      "email,timezone,subscribed_at",
      "feb@example.com,UTC,2026-02-30",
      "feb2@example.com,UTC,2026-02-30T10:00:00Z",
      "future@example.com,UTC,2026-10-29T12:00:00Z",
      "later@example.com,UTC,2027-01-01",
      "plain@example.com,UTC,2026-10-01",
      "london@example.com,Europe/London,2026-10-01",
      "exact@example.com,UTC,2026-10-01T10:00:00+02:00",
    ]);
    const r = await drip(["import", file, "--json"]);
    expect(r.code).toBe(0);
    const j = json(r.out);
    expect(j).toMatchObject({ imported: 3, badRows: 4 });
    const reasons = (j.bad as { line: number; reason: string }[]).map((b) => [b.line, b.reason]);
    expect(reasons[0]).toEqual([2, expect.stringMatching(/^subscribed_at "2026-02-30" is not a date/)]);
    expect(reasons[1]).toEqual([3, expect.stringMatching(/^subscribed_at "2026-02-30T10:00:00Z" is not a date/)]);
    expect(reasons[2]).toEqual([4, expect.stringMatching(/^subscribed_at 2026-10-29T12:00:00Z is in the future/)]);
    expect(reasons[3]).toEqual([5, expect.stringMatching(/^subscribed_at 2027-01-01 is in the future/)]);
    const at = Object.fromEntries((await exported()).map((s) => [s.email, s.subscribed_at]));
    expect(at).toEqual({
      "plain@example.com": "2026-10-01T00:00:00.000Z",
      "london@example.com": "2026-09-30T23:00:00.000Z", // midnight BST
      "exact@example.com": "2026-10-01T08:00:00.000Z",
    });
  });
});

describe("refused up front", () => {
  it("a file without a header row imports nothing and says what the first line must be", async () => {
    const file = csv("nohead.csv", ["ana@example.com,Ana,Europe/London", "bo@example.com,Bo,Europe/London"]);
    const r = await drip(["import", file]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("the first line must be a header such as email,name,timezone,tags,subscribed_at");
    expect(r.err.trim().split("\n")).toHaveLength(1);
    expect(r.out).toBe("");
    expect(await exported()).toEqual([]);
  });

  it.each([[[]], [["--confirmed"]]])("--sequence nope %j exits 2 naming the known sequences and stores no one", async (extra) => {
    const file = csv("ok.csv", ["email,name", "ana@example.com,Ana"]);
    const r = await drip(["import", file, "--sequence", "nope", ...extra]);
    expect(r.code).toBe(2);
    expect(r.err).toBe('drip: no sequence "nope": known sequences are hip-pain-course, post-booking (see `drip list`)\n');
    expect(await exported()).toEqual([]);
  });

  it("a folder instead of a file is a usage error in one sentence", async () => {
    const r = await drip(["import", dir]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`drip: ${dir} is not a file: give the path of a CSV file\n`);
  });

  it("subscribe --confirmed --sequence nope exits 2 and stores no one", async () => {
    const r = await drip(["subscribe", "ana@example.com", "--confirmed", "--sequence", "nope"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('no sequence "nope": known sequences are hip-pain-course');
    expect(await exported()).toEqual([]);
  });
});

describe("streaming", () => {
  it("pages are written while the file is still being read (memory holds one page, not the file)", async () => {
    const { Readable } = await import("node:stream");
    const { createApp } = await import("../../src/wiring.ts");
    const { loadConfig } = await import("../../src/config.ts");
    const { importCsv, readCsv } = await import("../../src/lifecycle/import.ts");
    const app = await createApp(loadConfig(env));
    try {
      const storedAt: number[] = [];
      async function* lines() {
        yield "email,name\n";
        for (let i = 0; i < 2000; i++) {
          if (i === 1800) storedAt.push((await app.store.status()).subscribers.pending);
          yield `s${i}@example.com,S\n`;
        }
      }
      const result = await importCsv(app.lifecycle, readCsv(Readable.from(lines())), { confirmed: false, now: NOW });
      expect(result).toMatchObject({ imported: 2000, badRows: 0 });
      expect(storedAt).toEqual([1500]); // three pages of 500 already committed at row 1,800
    } finally {
      await app.close();
    }
  });
});
