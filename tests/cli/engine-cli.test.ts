/**
 * The engine's CLI through runCli: a temp dir per test holding the SQLite file and the
 * outbox, env passed explicitly, the clock fixed with io.now or --now/--at.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cleanupTempDirs, runDrip, tempDir } from "../support/engine-helpers.ts";

let dir: string;
let env: Record<string, string>;
const NOW = new Date("2026-10-28T12:00:00Z");
const drip = (argv: string[], e: Record<string, string | undefined> = env) => runDrip(argv, { env: e, cwd: dir, now: NOW });
const envFor = (d: string) => ({ DATABASE_URL: `file:${d}/drip.db`, OUTBOX_DIR: `${d}/outbox`, DRIP_SECRET: "x".repeat(40) });
const json = (s: string) => JSON.parse(s) as Record<string, unknown>;
const emlIn = (d: string) => (existsSync(d) ? readdirSync(d).filter((f) => f.endsWith(".eml")) : []);

beforeEach(() => {
  dir = tempDir("drip-cli-");
  env = envFor(dir);
});
afterEach(() => cleanupTempDirs());

describe("subscribe, tick, status, tag, unsubscribe", () => {
  it("walks a confirmed subscriber through the CLI in virtual time", async () => {
    const sub = await drip([
      "subscribe",
      "ana@example.com",
      "--confirmed",
      "--name",
      "Ana",
      "--tz",
      "America/New_York",
      "--at",
      "2026-10-28T14:00:00Z",
      "--json",
    ]);
    expect(sub).toMatchObject({ code: 0, err: "" });
    expect(json(sub.out)).toMatchObject({ email: "ana@example.com", status: "active", created: true, enrolled: "created" });
    expect((await drip(["subscribe", "ANA@example.com", "--confirmed", "--json"])).out).toContain('"enrolled": "exists"');

    const tick = await drip(["tick", "--now", "2026-10-28T14:00:00Z"]);
    expect(tick.code).toBe(0);
    expect(json(tick.out)).toEqual({ sent: 1, skipped: 0, failed: 0, deferred: 0 });
    expect(emlIn(join(dir, "outbox"))).toHaveLength(1);
    expect(json((await drip(["tick", "--now", "2026-10-28T14:00:00Z"])).out)).toEqual({ sent: 0, skipped: 0, failed: 0, deferred: 0 });

    const status = await drip(["status", "--json"]);
    expect(status.code).toBe(0);
    expect(json(status.out)).toEqual({
      subscribers: { pending: 0, active: 1, unsubscribed: 0, suppressed: 0 },
      enrollments: { active: 1, completed: 0, exited: 0, paused: 0 },
      sends: { claimed: 0, sent: 1, skipped: 0, failed: 0, in_doubt: 0 },
      nextDueAt: "2026-10-30T13:00:00.000Z", // day 2, 09:00 EDT
      transport: "outbox",
      deliveryPaused: null,
    });

    expect(await drip(["tag", "ana@example.com", "booked"])).toMatchObject({ code: 0, out: "tagged: ana@example.com booked\n" });
    expect((await drip(["export"])).out).toMatch(/^ana@example.com,Ana,America\/New_York,booked,active,/m);
    expect((await drip(["untag", "ana@example.com", "booked"])).code).toBe(0);
    expect((await drip(["export"])).out).toMatch(/^ana@example.com,Ana,America\/New_York,,active,/m);

    expect(await drip(["unsubscribe", "Ana@Example.com"])).toMatchObject({ code: 0, out: "unsubscribed: ana@example.com\n" });
    expect(json((await drip(["status", "--json"])).out)).toMatchObject({
      subscribers: { active: 0, unsubscribed: 1 },
      // The course, and post-booking (which the booked tag started): both ended by the unsubscribe.
      enrollments: { active: 0, exited: 2 },
      nextDueAt: null,
    });
    expect(json((await drip(["tick", "--now", "2026-11-20T14:00:00Z", "--allow-time-travel"])).out)).toEqual({ sent: 0, skipped: 0, failed: 0, deferred: 0 });
    expect(emlIn(join(dir, "outbox"))).toHaveLength(1);
  });

  it("an unknown address is a failed piece of work (exit 1); a bad address, zone, tag or instant is a usage error (exit 2)", async () => {
    for (const argv of [
      ["unsubscribe", "nobody@example.com"],
      ["tag", "nobody@example.com", "booked"],
      ["untag", "nobody@example.com", "booked"],
    ]) {
      const r = await drip(argv);
      expect([argv[0], r.code]).toEqual([argv[0], 1]);
      expect(r.err).toMatch(/no subscriber nobody@example.com/);
    }
    const bad = await drip(["subscribe", "not-an-email", "--confirmed"]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/not a valid email/);
    expect((await drip(["subscribe", "zed@example.com", "--tz", "Mars/Olympus"])).err).toMatch(/Mars\/Olympus/);
    expect((await drip(["subscribe", "zed@example.com", "--tz", "Mars/Olympus"])).code).toBe(2);
    expect((await drip(["subscribe", "zed@example.com", "--at", "tomorrow"])).code).toBe(2);
    expect((await drip(["tick", "--now", "2026-10-28T14:00:00"])).code).toBe(2); // no zone: ambiguous
    await drip(["subscribe", "ok@example.com"]);
    expect((await drip(["tag", "ok@example.com", "has space"])).code).toBe(2);
    expect(json((await drip(["status", "--json"])).out)).toMatchObject({ subscribers: { pending: 1, active: 0 } });
  });

  it("a bad config stops with exit 1 and a sentence naming the variable", async () => {
    const port = await drip(["status"], { ...env, PORT: "abc" });
    expect(port.code).toBe(1);
    expect(port.err).toMatch(/PORT must be a whole number/);
    const secret = await drip(["tick"], { ...env, DRIP_SECRET: "short" });
    expect(secret.code).toBe(1);
    expect(secret.err).toMatch(/DRIP_SECRET must be at least 32 characters/);
    expect(existsSync(join(dir, "drip.db"))).toBe(false);
  });

  it.each(["subscribe", "unsubscribe", "tag", "untag", "tick", "status", "import", "export", "demo", "start"])("%s --help exits 0 with usage", async (cmd) => {
    const r = await drip([cmd, "--help"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`Usage: drip ${cmd}`);
  });
});

const CSV = [
  "email,name,timezone,tags,subscribed_at",
  'ana@example.com,"Ana, PhD",Europe/London,vip;early,2026-10-01T10:00:00Z',
  "not-an-email,Bad,Europe/London,,",
  "zed@example.com,Zed,Mars/Olympus,,",
  "dan@example.com,Dan,Europe/London,,yesterday",
  "ANA@example.com,Dup,Europe/London,,",
  ",Nobody,Europe/London,,",
  "bo@example.com,Bo,America/New_York,,",
].join("\n");

describe("import and export", () => {
  it("imports the good rows and reports each bad one with its line number and reason; a second run adds nothing", async () => {
    writeFileSync(join(dir, "list.csv"), CSV);
    const r = await drip(["import", join(dir, "list.csv")]);
    expect(r.code).toBe(0);
    expect(r.out).toBe("imported 2, already there 0, suppressed 0, bad rows 5\n");
    const lines = r.err.trim().split("\n");
    expect(lines).toHaveLength(6);
    // Never silently pending: the summary says how to email them or vouch for them.
    expect(lines[5]).toBe(
      "warning: 2 subscribers are pending and get no email until they confirm: run the import again with --send-confirmation to email them a confirmation link, or with --confirmed if they already consented",
    );
    expect(lines[0]).toMatch(/^line 3: .*not-an-email.*not a valid email/);
    expect(lines[1]).toMatch(/^line 4: .*Mars\/Olympus.*IANA/);
    expect(lines[2]).toMatch(/^line 5: subscribed_at "yesterday" is not a date/);
    expect(lines[3]).toMatch(/^line 6: .*ANA@example.com.*earlier in the file/);
    expect(lines[4]).toMatch(/^line 7: email/);

    const again = await drip(["import", join(dir, "list.csv"), "--json"]);
    expect(again.code).toBe(0);
    expect(json(again.out)).toMatchObject({ imported: 0, existing: 2, suppressed: 0, enrolled: 0 });
    expect((json(again.out).bad as { line: number }[]).map((b) => b.line)).toEqual([3, 4, 5, 6, 7]);
    const rows = (parse((await drip(["export"])).out, { columns: true }) as Record<string, string>[]).map((x) => Object.values(x));
    expect(rows.sort()).toEqual([
      // Then why they left (nobody did) and the consent record: when (the row's date) and how (the import).
      ["ana@example.com", "Ana, PhD", "Europe/London", "early;vip", "pending", "2026-10-01T10:00:00.000Z", "", "", "2026-10-01T10:00:00.000Z", "import", ""],
      ["bo@example.com", "Bo", "America/New_York", "", "pending", NOW.toISOString(), "", "", NOW.toISOString(), "import", ""],
    ]);
  });

  it("a file without an email column imports nothing and fails (exit 1) with one header-level message", async () => {
    writeFileSync(join(dir, "noemail.csv"), "name,timezone\nAna,Europe/London\n");
    const r = await drip(["import", join(dir, "noemail.csv")]);
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      `drip: ${join(dir, "noemail.csv")}: no email column in the header (line 1): the columns are "name", "timezone"; name the one with the addresses, e.g. --map email="name"; nothing was imported\n`,
    );
    expect((await drip(["import", join(dir, "missing.csv")])).code).toBe(2);
    writeFileSync(join(dir, "status.csv"), "email,status\nx@example.com,banana\n");
    const s = await drip(["import", join(dir, "status.csv")]);
    expect(s.code).toBe(1);
    expect(s.err).toMatch(/line 2: status "banana" is not one of pending, active, unsubscribed, suppressed/);
  });

  it("--confirmed makes the rows active and enrolls them; the next tick sends each the first step", async () => {
    writeFileSync(join(dir, "ok.csv"), "email,name,timezone\ncy@example.com,Cy,Asia/Kolkata\ndi@example.com,Di,Europe/London\n");
    const r = await drip(["import", join(dir, "ok.csv"), "--confirmed"]);
    expect(r).toMatchObject({ code: 0, out: "imported 2, already there 0, suppressed 0, bad rows 0, enrolled 2\n" });
    expect(json((await drip(["status", "--json"])).out)).toMatchObject({ subscribers: { active: 2 }, enrollments: { active: 2 } });
    expect(json((await drip(["tick"])).out)).toEqual({ sent: 2, skipped: 0, failed: 0, deferred: 0 });
    expect((await drip(["import", join(dir, "ok.csv"), "--confirmed"])).out).toBe("imported 0, already there 2, suppressed 0, bad rows 0\n");
  });

  it("export round-trips: importing it into a fresh database gives the same subscribers, and never re-subscribes someone who left", async () => {
    writeFileSync(join(dir, "list.csv"), CSV);
    await drip(["import", join(dir, "list.csv")]);
    await drip(["subscribe", "cy@example.com", "--confirmed", "--name", "Cy", "--tz", "Asia/Kolkata", "--at", "2026-10-20T08:00:00Z"]);
    await drip(["tag", "cy@example.com", "vip"]);
    await drip(["unsubscribe", "bo@example.com"]);
    const exported = join(dir, "export.csv");
    expect((await drip(["export", "-o", exported])).code).toBe(0);

    const other = tempDir("drip-cli-other-");
    const envB = envFor(other);
    const imp = await drip(["import", exported, "--confirmed"], envB);
    expect(imp.code).toBe(0);
    const read = (csv: string) => (parse(csv, { columns: true }) as Record<string, string>[]).sort((a, b) => a.email!.localeCompare(b.email!));
    const before = read(readFileSync(exported, "utf8"));
    const after = read((await drip(["export"], envB)).out);
    expect(before.map((r) => r.email)).toEqual(["ana@example.com", "bo@example.com", "cy@example.com"]);
    expect(after).toEqual(before); // email, name, zone, tags, status and subscribed_at all survive
    // Only the one who was active is enrolled; the unsubscriber and the unconfirmed stay out.
    expect(json((await drip(["status", "--json"], envB)).out)).toMatchObject({
      subscribers: { pending: 1, active: 1, unsubscribed: 1 },
      enrollments: { active: 1 },
    });
  });
});

describe("demo", () => {
  it("walks a sample subscriber through the course, then the first newsletter: 7 .eml files and a line per email, the real database untouched", async () => {
    const out = join(dir, "tour");
    const r = await drip(["demo", "--start", "2026-10-28T14:00:00Z", "--outbox", out]);
    expect(r.code).toBe(0);
    expect(emlIn(out)).toHaveLength(7);
    const steps = r.out
      .split("\n")
      .map((l) => /^\s+2026-\S+\s+(\S+)\s/.exec(l)?.[1])
      .filter(Boolean);
    expect(steps).toEqual(["article", "self-release", "dynamic-release", "book", "keep-it-away", "last-call", "newsletter"]);
    expect(r.out).toMatch(/7 emails written to /);
    expect(existsSync(join(dir, "drip.db"))).toBe(false);
  });
});
