/** `drip staff add|list|remove|link|totp`: accounts from the terminal, one sentence per mistake. */
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cleanupTempDirs, runDrip, tempDir } from "../support/engine-helpers.ts";

afterAll(() => cleanupTempDirs());

const NOW = new Date("2026-03-09T10:00:00Z");

describe("drip staff", () => {
  it("adds, lists, links, turns on TOTP and removes; every step lands in the audit log", async () => {
    const dir = tempDir("drip-staff-cli-");
    const env = {
      DATABASE_URL: `file:${join(dir, "drip.db")}`,
      OUTBOX_DIR: join(dir, "outbox"),
      DRIP_PUBLIC_URL: "https://drip.example.com",
      DRIP_SECRET: "s".repeat(40),
    };
    const drip = (...argv: string[]) => runDrip(argv, { env, cwd: dir, now: NOW });
    expect(await drip("staff", "add", "Boss@Clinic.example", "--role", "owner", "--json")).toMatchObject({ code: 0 });
    const again = await drip("staff", "add", "boss@clinic.example", "--role", "editor");
    expect(again.out).toContain("updated Boss@Clinic.example as editor");
    const list = JSON.parse((await drip("staff", "list", "--json")).out) as { email: string; role: string; totp: boolean }[];
    expect(list).toEqual([expect.objectContaining({ email: "Boss@Clinic.example", role: "editor", totp: false })]);
    const link = JSON.parse((await drip("staff", "link", "boss@clinic.example", "--json")).out) as { url: string; expiresAt: string };
    expect(link.url).toMatch(/^https:\/\/drip\.example\.com\/admin\/signin\/[A-Za-z0-9_-]{43}$/);
    expect(link.expiresAt).toBe("2026-03-09T10:15:00.000Z");
    const totp = await drip("staff", "totp", "boss@clinic.example");
    expect(totp.out).toMatch(/^otpauth:\/\/totp\/.*secret=[A-Z2-7]+/);
    expect(JSON.parse((await drip("staff", "list", "--json")).out)[0].totp).toBe(true);
    expect((await drip("staff", "remove", "boss@clinic.example")).code).toBe(0);
    expect((await drip("staff", "list")).out).toContain("no staff accounts yet");
    const { SqliteStore } = await import("../../src/store/sqlite/sqlite-store.ts");
    const store = new SqliteStore(env.DATABASE_URL);
    try {
      expect((await store.listAudit(20)).map((e) => e.action).reverse()).toEqual(["staff.add", "staff.role", "staff.link", "staff.totp.on", "staff.remove"]);
    } finally {
      await store.close();
    }
  });

  it("says in one sentence what is wrong: a bad role, a bad address, an unknown account; --help works", async () => {
    const dir = tempDir("drip-staff-cli-");
    const env = { DATABASE_URL: `file:${join(dir, "drip.db")}`, OUTBOX_DIR: join(dir, "outbox"), DRIP_SECRET: "s".repeat(40) };
    const drip = (...argv: string[]) => runDrip(argv, { env, cwd: dir, now: NOW });
    const role = await drip("staff", "add", "a@b.example", "--role", "king");
    expect(role).toMatchObject({ code: 2, err: 'drip: --role must be one of owner, editor, viewer, not "king"\n' });
    expect((await drip("staff", "add", "not-an-address", "--role", "viewer")).err).toBe('drip: "not-an-address" is not an email address\n');
    const unknown = await drip("staff", "link", "nobody@b.example");
    expect(unknown.code).toBe(1);
    expect(unknown.err).toContain("there is no staff account for nobody@b.example");
    expect((await drip("staff", "add", "a@b.example")).code).toBe(2); // --role is required
    const help = await drip("staff", "--help");
    expect(help.code).toBe(0);
    for (const sub of ["add", "list", "remove", "link", "totp"]) expect(help.out).toContain(sub);
  });
});
