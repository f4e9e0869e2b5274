/**
 * `drip import` reads the exports of the tools a clinic leaves (Mailchimp, Kit, Substack,
 * Buttondown, listmonk) and a semicolon CSV with a BOM from European Excel, as they come:
 * every valid row with its name, tags, dates, status and consent record. Fixtures are the
 * tools' real column layouts, under tests/fixtures/imports/.
 */
import { copyFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import type { Subscriber } from "../../src/store/types.ts";
import { createApp } from "../../src/wiring.ts";
import { cleanupTempDirs, runDrip, tempDir } from "../support/engine-helpers.ts";

const FIXTURES = join(import.meta.dirname, "../fixtures/imports");
const NOW = new Date("2026-10-28T12:00:00Z");
let dir: string;
let env: Record<string, string>;
const drip = (argv: string[]) => runDrip(argv, { env, cwd: dir, now: NOW });
const fixture = (name: string) => {
  const file = join(dir, name);
  copyFileSync(join(FIXTURES, name), file);
  return file;
};

beforeEach(() => {
  dir = tempDir("drip-import-tools-");
  env = { DATABASE_URL: `file:${dir}/drip.db`, OUTBOX_DIR: `${dir}/outbox`, DRIP_SECRET: "x".repeat(40) };
});
afterEach(() => cleanupTempDirs());

/** Every subscriber as stored, by email, plus their enrollments' start. */
async function stored(): Promise<Record<string, Subscriber & { enrolledAt: string[] }>> {
  const app = await createApp(loadConfig(env));
  try {
    const out: Record<string, Subscriber & { enrolledAt: string[] }> = {};
    for (const s of await app.store.listSubscribers(null, 1000)) {
      const enrolledAt = (await app.store.listEnrollments(s.id)).map((e) => e.startedAt.toISOString());
      out[s.email] = { ...s, enrolledAt };
    }
    return out;
  } finally {
    await app.close();
  }
}

describe("real export layouts", () => {
  it("Mailchimp audience export: Email Address, First/Last Name, TAGS as quoted list, OPTIN/CONFIRM time and IP, TIMEZONE", async () => {
    const r = await drip(["import", fixture("mailchimp-subscribed.csv"), "--confirmed", "--json"]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ imported: 5, enrolled: 5, badRows: 0, bad: [] });
    expect(j.warnings).toContainEqual({ count: 1, message: '1 row: tag "Booked call" was stored as "Booked-call" (tags have no spaces)' });
    const s = await stored();
    expect(Object.keys(s).sort()).toEqual([
      "ana.silva@example.com",
      "bo.jensen@example.com",
      "cy.okafor@example.com",
      "di.novak@example.com",
      "ed.ruiz@example.com",
    ]);
    expect(s["ana.silva@example.com"]).toMatchObject({
      name: "Ana Silva",
      timezone: "Europe/London",
      tags: ["booked", "vip"],
      status: "active",
      consentSource: "import (mailchimp)",
      consentIp: "203.0.113.7",
    });
    // Consent is when they confirmed; the course starts when they opted in.
    expect(s["ana.silva@example.com"]!.consentAt?.toISOString()).toBe("2025-03-02T09:15:30.000Z");
    // Her "booked" tag also starts the post-booking sequence (an automation) at the import.
    expect(s["ana.silva@example.com"]!.enrolledAt).toEqual(["2025-03-02T09:14:07.000Z", NOW.toISOString()]);
    expect(s["cy.okafor@example.com"]).toMatchObject({ name: "Cy", tags: [], timezone: "" });
    expect(s["di.novak@example.com"]).toMatchObject({ name: "Novak", tags: ["Booked-call", "vip"], timezone: "Europe/Prague" });
    expect(s["bo.jensen@example.com"]!.tags).toEqual(["newsletter"]);
  });

  it("Kit: first_name, created_at with UTC, comma-separated tags, cancelled and inactive states", async () => {
    const r = await drip(["import", fixture("kit.csv"), "--confirmed", "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ imported: 4, enrolled: 2, badRows: 0 });
    const s = await stored();
    expect(s["fay@example.com"]).toMatchObject({ name: "Fay", tags: ["booked", "vip"], status: "active", consentSource: "import" });
    expect(s["fay@example.com"]!.consentAt?.toISOString()).toBe("2025-02-10T08:00:00.000Z");
    expect(s["gus@example.com"]).toMatchObject({ name: "Gus", tags: ["newsletter"], status: "active" });
    expect(s["hana@example.com"]).toMatchObject({ name: "Hana", status: "unsubscribed" });
    expect(s["ivo@example.com"]).toMatchObject({ name: "Ivo", status: "pending", tags: ["vip"] });
  });

  it("Substack: created_at in ISO, email_disabled means they left", async () => {
    const r = await drip(["import", fixture("substack.csv"), "--confirmed", "--json"]);
    expect(JSON.parse(r.out)).toMatchObject({ imported: 3, enrolled: 2, badRows: 0 });
    const s = await stored();
    expect(s["jo@example.com"]).toMatchObject({ status: "active", consentSource: "import (substack)" });
    expect(s["kim@example.com"]!.consentAt?.toISOString()).toBe("2025-01-06T11:30:00.000Z");
    expect(s["lou@example.com"]).toMatchObject({ status: "unsubscribed" });
  });

  it("listmonk: name, status enabled/blocklisted, timestamps with a short offset", async () => {
    const r = await drip(["import", fixture("listmonk.csv"), "--confirmed", "--json"]);
    expect(JSON.parse(r.out)).toMatchObject({ imported: 3, enrolled: 2, badRows: 0 });
    const s = await stored();
    expect(s["max@example.com"]).toMatchObject({ name: "Max Weber", status: "active", consentSource: "import (listmonk)" });
    expect(s["max@example.com"]!.consentAt?.toISOString()).toBe("2025-03-10T14:20:00.123Z");
    expect(s["nia@example.com"]!.consentAt?.toISOString()).toBe("2025-03-11T08:00:00.000Z");
    expect(s["oz@example.com"]).toMatchObject({ status: "unsubscribed" });
  });

  it("Buttondown: creation_date, Python-style tag lists, unactivated = pending", async () => {
    const r = await drip(["import", fixture("buttondown.csv"), "--confirmed", "--json"]);
    expect(JSON.parse(r.out)).toMatchObject({ imported: 2, enrolled: 1, badRows: 0 });
    const s = await stored();
    expect(s["pia@example.com"]).toMatchObject({ tags: ["booked", "vip"], status: "active", consentSource: "import (buttondown)" });
    expect(s["quinn@example.com"]).toMatchObject({ tags: [], status: "pending" });
  });

  it("European Excel: BOM, semicolons, CRLF, E-mail, a quoted cell holding a semicolon, a|b tags", async () => {
    const r = await drip(["import", fixture("excel-semicolon-bom.csv"), "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ imported: 2, badRows: 0, pending: 2 });
    const s = await stored();
    expect(s["rosa@example.com"]).toMatchObject({ name: "Rosa Müller", tags: ["vip"], status: "pending" });
    expect(s["rosa@example.com"]!.consentAt?.toISOString()).toBe("2025-05-01T00:00:00.000Z");
    expect(s["sven@example.com"]).toMatchObject({ name: "Sven Öberg; Jr", tags: ["booked", "vip"] });
  });

  it("a tab-separated file is read as such", async () => {
    const file = join(dir, "tabs.tsv");
    writeFileSync(file, "Email\tName\tTags\ntab@example.com\tTab Person\ta;b\n");
    const r = await drip(["import", file, "--json"]);
    expect(JSON.parse(r.out)).toMatchObject({ imported: 1, badRows: 0 });
    expect((await stored())["tab@example.com"]).toMatchObject({ name: "Tab Person", tags: ["a", "b"] });
  });
});

describe("the header", () => {
  it("no email column: one header-level message naming the columns seen, nothing stored", async () => {
    const file = fixture("no-email.csv");
    const r = await drip(["import", file]);
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      `drip: ${file}: no email column in the header (line 1): the columns are "Full Name", "Phone", "Signed up"; name the one with the addresses, e.g. --map email="Full Name"; nothing was imported\n`,
    );
    expect(await stored()).toEqual({});
  });

  it("--map names the columns drip does not recognise", async () => {
    const file = join(dir, "odd.csv");
    writeFileSync(file, "Adresse,Vorname,Schlagworte\nuwe@example.com,Uwe,vip\n");
    const r = await drip(["import", file, "--map", 'email=Adresse,name="Vorname",tags=Schlagworte', "--json"]);
    expect(r.code).toBe(0);
    expect((await stored())["uwe@example.com"]).toMatchObject({ name: "Uwe", tags: ["vip"] });
    const wrong = await drip(["import", file, "--map", "email=Mail"]);
    expect(wrong.code).toBe(1);
    expect(wrong.err).toBe(`drip: ${file}: --map email="Mail": the file has no column "Mail"; the columns are "Adresse", "Vorname", "Schlagworte"\n`);
    const unknown = await drip(["import", file, "--map", "colour=Adresse"]);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/^drip: --map: "colour" is not a field drip imports; the fields are email, name, first_name/);
  });
});

describe("pending rows are never left silently", () => {
  it("--send-confirmation queues one confirmation per pending row; --confirmed on a re-import confirms those still pending", async () => {
    const file = fixture("kit.csv");
    const plain = await drip(["import", file]);
    expect(plain.err).toContain("warning: 3 subscribers are pending and get no email until they confirm");
    const again = await drip(["import", file, "--send-confirmation", "--json"]);
    // fay, gus and ivo are pending (hana left): each gets a confirmation email queued.
    expect(JSON.parse(again.out)).toMatchObject({ imported: 0, existing: 4, confirmationsQueued: 3, pending: 0 });
    const tick = await drip(["tick"]);
    expect(tick.code).toBe(0);
    const emls = readdirSync(join(dir, "outbox"), { recursive: true }).filter((f) => String(f).endsWith(".eml"));
    expect(emls).toHaveLength(3);
    const confirmed = await drip(["import", file, "--confirmed", "--json"]);
    // fay and gus say active: confirmed and enrolled; ivo's row says inactive (unconfirmed): still pending.
    expect(JSON.parse(confirmed.out)).toMatchObject({ imported: 0, existing: 4, confirmed: 2, enrolled: 2 });
    const s = await stored();
    expect([s["fay@example.com"]!.status, s["gus@example.com"]!.status, s["ivo@example.com"]!.status, s["hana@example.com"]!.status]).toEqual([
      "active",
      "active",
      "pending",
      "unsubscribed",
    ]);
    expect(s["fay@example.com"]!.enrolledAt).toHaveLength(1);
  });

  it("--dry-run says what would happen and writes nothing", async () => {
    const r = await drip(["import", fixture("mailchimp-subscribed.csv"), "--confirmed", "--dry-run"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^dry run, nothing was written; columns read: email ← "Email Address", first_name ← "First Name", last_name ← "Last Name"/);
    expect(r.out).toContain("would have: imported 5, already there 0, suppressed 0, bad rows 0, enrolled 5, automations fired 1 (1 sequence started)\n");
    expect(await stored()).toEqual({});
  });
});
