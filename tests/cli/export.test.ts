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
import { Lifecycle } from "../../src/lifecycle/lifecycle.ts";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";

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

  it("carries why each person left (bounce, complaint, one-click…) and the consent record, and round-trips through drip import", async () => {
    const store = new SqliteStore(`file:${dir}/drip.db`);
    await store.migrate();
    try {
      const at = (min: number) => new Date(NOW.getTime() - min * 60_000);
      const door = new Lifecycle({ store, sequences: { getSequence: () => undefined, defaultSequence: undefined } });
      await store.upsertSubscriber(
        { email: "ana@example.com", name: "Ana", status: "active", consentSource: "form:signup", consentAt: at(90), consentIp: "203.0.113.9" },
        at(100),
      );
      const { subscriber: bo } = await store.upsertSubscriber(
        { email: "bo@example.com", status: "active", consentSource: "form:signup", consentAt: at(80) },
        at(80),
      );
      const { subscriber: cy } = await store.upsertSubscriber({ email: "cy@example.com", status: "active", consentSource: "cli", consentAt: at(70) }, at(70));
      await store.upsertSubscriber({ email: "di@example.com", status: "active", consentSource: "cli", consentAt: at(60) }, at(60));
      await door.suppress("bo@example.com", "hard bounce", at(30));
      await door.unsubscribe(cy, at(20), "one-click");
      await door.suppress("di@example.com", "complaint", at(10));
      expect(bo.id).toBeTruthy();
    } finally {
      await store.close();
    }
    const file = join(dir, "out.csv");
    expect((await drip(["export", "-o", file])).code).toBe(0);
    const rows = parse(readFileSync(file, "utf8"), { columns: true }) as Record<string, string>[];
    const by = Object.fromEntries(rows.map((r) => [r.email, r]));
    expect(Object.keys(rows[0]!)).toEqual([
      "email",
      "name",
      "timezone",
      "tags",
      "status",
      "subscribed_at",
      "status_reason",
      "status_at",
      "consent_at",
      "consent_source",
      "consent_ip",
    ]);
    expect(by["ana@example.com"]).toMatchObject({
      status: "active",
      status_reason: "",
      status_at: "",
      consent_at: "2026-10-28T10:30:00.000Z",
      consent_source: "form:signup",
      consent_ip: "203.0.113.9",
    });
    expect(by["bo@example.com"]).toMatchObject({ status: "suppressed", status_reason: "hard bounce", status_at: "2026-10-28T11:30:00.000Z" });
    expect(by["cy@example.com"]).toMatchObject({ status: "unsubscribed", status_reason: "unsubscribed via one-click", status_at: "2026-10-28T11:40:00.000Z" });
    expect(by["di@example.com"]).toMatchObject({ status: "suppressed", status_reason: "complaint", status_at: "2026-10-28T11:50:00.000Z" });

    const other = tempDir("drip-export-c-");
    // --confirmed: the export's active people gave consent (its record is in the file); those who left stay left.
    const imp = await drip(["import", file, "--confirmed", "--json"], other);
    expect(imp.code, imp.err).toBe(0);
    expect(JSON.parse(imp.out)).toMatchObject({ imported: 4, badRows: 0 });
    const again = parse((await drip(["export"], other)).out, { columns: true }) as Record<string, string>[];
    const byEmail = (a: Record<string, string>, b: Record<string, string>) => (a.email! < b.email! ? -1 : 1);
    expect(again.sort(byEmail)).toEqual([...rows].sort(byEmail));
    // Left is left: the suppressed stay on the suppression list, and show says why.
    expect(JSON.parse((await drip(["show", "bo@example.com", "--json"], other)).out).subscriber).toMatchObject({ statusReason: "hard bounce" });
    expect(JSON.parse((await drip(["show", "cy@example.com", "--json"], other)).out).subscriber).toMatchObject({ statusReason: "unsubscribed via one-click" });
    expect(JSON.parse((await drip(["import", file, "--json"], other)).out)).toMatchObject({ imported: 0, suppressed: 2 });
  });

  it("-o somewhere it cannot write is one sentence (exit 2), not a crash", async () => {
    const r = await drip(["export", "-o", join(dir, "no-such-folder", "out.csv")]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^drip: -o \S+no-such-folder\/out\.csv: cannot write there \(ENOENT[^\n]*\)\n$/);
  });
});
