/**
 * Config that refuses to launch wrong: values copied from .env.example count as unset (a
 * placeholder warning), a Resend key without the webhook secret is a loud warning at start and
 * in `drip status`, a DATABASE_URL whose folder does not exist is an error (a typo would look
 * like data loss) except the default data/drip.db of a fresh install, and an OUTBOX_DIR that
 * cannot be written stops `drip start` with one sentence.
 */
import { chmodSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { WEBHOOK_WARNING, loadConfig, readEnv } from "../src/config.ts";
import { ROOT } from "../src/paths.ts";
import { checkOutboxDir } from "../src/wiring.ts";
import { cleanupTempDirs, runDrip, tempDir } from "./support/engine-helpers.ts";

afterEach(() => cleanupTempDirs());
const asRoot = process.getuid?.() === 0;

describe("placeholders and warnings", () => {
  it(".env.example copied to .env still warns that the example values are in use", () => {
    const env = readEnv({}, join(ROOT, ".env.example"));
    expect(env.DRIP_POSTAL_ADDRESS).toContain("1 Example Street");
    const c = loadConfig(env);
    expect(c.warnings).toContainEqual(
      "Using example values for DRIP_FROM, DRIP_POSTAL_ADDRESS, DRIP_BOOKING_URL, DRIP_SITE_URL: set them to the clinic's real details before launch.",
    );
    expect(loadConfig({ ...env, DRIP_FROM: "hello@clinic.co.uk" }).warnings.join("\n")).toMatch(/example values for DRIP_POSTAL_ADDRESS, DRIP_BOOKING_URL/);
  });

  it("RESEND_API_KEY without RESEND_WEBHOOK_SECRET is a warning in the config and a WARNING line in drip status", async () => {
    expect(loadConfig({ RESEND_API_KEY: "re_123" }).warnings).toContain(WEBHOOK_WARNING);
    expect(loadConfig({ RESEND_API_KEY: "re_123", RESEND_WEBHOOK_SECRET: "whsec_x" }).warnings).not.toContain(WEBHOOK_WARNING);
    const dir = tempDir("drip-launch-");
    const env = { DATABASE_URL: `file:${dir}/drip.db`, RESEND_API_KEY: "re_123", DRIP_SECRET: "x".repeat(40) };
    const r = await runDrip(["status"], { env, cwd: dir });
    expect(r.code).toBe(0);
    expect(r.out).toContain(`WARNING      ${WEBHOOK_WARNING}\n`);
  });
});

describe("DATABASE_URL", () => {
  it("a folder that does not exist is one sentence, and no database is created", async () => {
    const dir = tempDir("drip-launch-");
    const url = `file:${dir}/dta/drip.db`;
    const r = await runDrip(["status"], { env: { DATABASE_URL: url, DRIP_SECRET: "x".repeat(40) }, cwd: dir });
    expect(r.code).not.toBe(0);
    expect(r.err).toBe(
      `drip: DATABASE_URL ${url}: the folder ${dir}/dta does not exist, so this would start an empty database: check the path for a typo, or create the folder for a new install\n`,
    );
    expect(existsSync(join(dir, "dta"))).toBe(false);
  });

  it("the default layout data/drip.db is created on a fresh install", async () => {
    const dir = tempDir("drip-launch-");
    const r = await runDrip(["status"], { env: { DATABASE_URL: `file:${dir}/data/drip.db`, DRIP_SECRET: "x".repeat(40) }, cwd: dir });
    expect(r.code).toBe(0);
    expect(existsSync(join(dir, "data", "drip.db"))).toBe(true);
  });

  it.skipIf(asRoot)("a folder this user cannot write is one sentence", async () => {
    const dir = tempDir("drip-launch-");
    mkdirSync(join(dir, "ro"));
    chmodSync(join(dir, "ro"), 0o500);
    const url = `file:${dir}/ro/drip.db`;
    const r = await runDrip(["status"], { env: { DATABASE_URL: url, DRIP_SECRET: "x".repeat(40) }, cwd: dir });
    chmodSync(join(dir, "ro"), 0o700);
    expect(r.err).toBe(`drip: DATABASE_URL ${url}: the folder ${dir}/ro is not writable by this user: fix its owner or permissions\n`);
  });
});

describe("OUTBOX_DIR", () => {
  it.skipIf(asRoot)("a folder that cannot be written is one sentence", () => {
    const dir = tempDir("drip-launch-");
    mkdirSync(join(dir, "out"));
    chmodSync(join(dir, "out"), 0o500);
    try {
      expect(() => checkOutboxDir(join(dir, "out"))).toThrow(`OUTBOX_DIR ${join(dir, "out")}: the folder is not writable by this user`);
      expect(() => checkOutboxDir(join(dir, "out", "sub"))).toThrow(`the folder cannot be created because ${join(dir, "out")} is not writable`);
    } finally {
      chmodSync(join(dir, "out"), 0o700);
    }
    expect(() => checkOutboxDir(join(dir, "fresh", "outbox"))).not.toThrow();
  });
});
