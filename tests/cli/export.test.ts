/**
 * `drip export` neutralises spreadsheet formulas (OWASP CSV injection): a cell that comes from
 * the public and starts with = + - @ tab or CR gets a leading ', and `drip import` of the file
 * reads the real value back.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { parse } from "csv-parse/sync";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cleanupTempDirs, runDrip, tempDir } from "../support/engine-helpers.ts";

let dir: string;
const NOW = new Date("2026-10-28T12:00:00Z");
const envFor = (d: string) => ({ DATABASE_URL: `file:${d}/drip.db`, OUTBOX_DIR: `${d}/outbox`, DRIP_SECRET: "x".repeat(40) });
const drip = (argv: string[], d = dir) => runDrip(argv, { env: envFor(d), cwd: d, now: NOW });

beforeEach(() => {
  dir = tempDir("drip-export-");
});
afterEach(() => cleanupTempDirs());

describe("export", () => {
  it("prefixes formula-looking cells with ' and import round-trips the real values", async () => {
    const people = [
      ["cmd@example.com", '=HYPERLINK("http://evil.example","click")'],
      ["+44@example.com", "+1+2"],
      ["-minus@example.com", "@SUM(A1:A9)"],
      ["plain@example.com", "Ana 'the' Great"],
      ["quote@example.com", "'=already quoted"],
    ];
    for (const [email, name] of people) expect((await drip(["subscribe", `--name=${name}`, "--tz", "Europe/London", "--", email!])).code).toBe(0);
    expect((await drip(["tag", "plain@example.com", "--", "-vip"])).code).toBe(0);
    const file = join(dir, "out.csv");
    expect((await drip(["export", "-o", file])).code).toBe(0);
    const rows = parse(readFileSync(file, "utf8"), { columns: true }) as Record<string, string>[];
    const by = Object.fromEntries(rows.map((r) => [r.email, r]));
    expect(Object.keys(by).sort()).toEqual(["'+44@example.com", "'-minus@example.com", "cmd@example.com", "plain@example.com", "quote@example.com"]);
    expect(by["cmd@example.com"]!.name).toBe('\'=HYPERLINK("http://evil.example","click")');
    expect(by["'+44@example.com"]!.name).toBe("'+1+2");
    expect(by["'-minus@example.com"]!.name).toBe("'@SUM(A1:A9)");
    expect(by["plain@example.com"]).toMatchObject({ name: "Ana 'the' Great", tags: "'-vip" });
    expect(by["quote@example.com"]!.name).toBe("''=already quoted"); // guarded too, so import gives back the ' that was typed
    for (const r of rows) for (const cell of Object.values(r)) expect(cell).not.toMatch(/^[=+\-@\t\r]/);

    const other = tempDir("drip-export-b-");
    const imp = await drip(["import", file, "--json"], other);
    expect(imp.code).toBe(0);
    expect(JSON.parse(imp.out)).toMatchObject({ imported: 5, badRows: 0 });
    const raw = new Database(join(other, "drip.db"), { readonly: true });
    try {
      const stored = raw.prepare("SELECT email, name FROM subscribers ORDER BY email").all();
      expect(stored).toEqual(people.map(([email, name]) => ({ email, name })).sort((a, b) => (a.email! < b.email! ? -1 : 1)));
      expect(raw.prepare("SELECT tag FROM tags").pluck().all()).toEqual(["-vip"]);
    } finally {
      raw.close();
    }
    const sorted = (csv: string) => csv.trim().split("\n").sort();
    expect(sorted((await drip(["export"], other)).out)).toEqual(sorted(readFileSync(file, "utf8")));
  });

  it("-o somewhere it cannot write is one sentence (exit 2), not a crash", async () => {
    const r = await drip(["export", "-o", join(dir, "no-such-folder", "out.csv")]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^drip: -o \S+no-such-folder\/out\.csv: cannot write there \(ENOENT[^\n]*\)\n$/);
  });
});
