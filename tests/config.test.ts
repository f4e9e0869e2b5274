/** Configuration: defaults, one sentence per problem naming the variable, transport choice. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, readEnv } from "../src/config.ts";

function problems(env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`);
}

describe("loadConfig", () => {
  it("has working defaults for an empty environment", () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      databaseUrl: "file:./data/drip.db",
      resendApiKey: undefined,
      transport: "outbox",
      outboxDir: "./outbox",
      port: 3000,
      publicUrl: "http://localhost:3000",
      secret: undefined,
      rateLimit: 5,
      webhookSecret: undefined,
      apiKey: undefined,
    });
    expect(c.from).toMatch(/^[^@\s]+@[^@\s]+$/);
    expect(c.bookingUrl).toMatch(/^https:\/\//);
    expect(c.siteUrl).toMatch(/^https:\/\//);
    expect(c.postalAddress.length).toBeGreaterThan(5);
    // Placeholders and plain-http localhost are allowed, but said out loud.
    expect(c.warnings.join("\n")).toContain("DRIP_PUBLIC_URL is http://localhost:3000");
    expect(c.warnings.join("\n")).toMatch(/Using example values for DRIP_FROM, DRIP_POSTAL_ADDRESS, DRIP_BOOKING_URL/);
  });

  it("reads every variable it is given", () => {
    const c = loadConfig({
      DATABASE_URL: "file:/var/drip/drip.db",
      OUTBOX_DIR: "/var/drip/outbox",
      PORT: "8080",
      DRIP_PUBLIC_URL: "https://mail.clinic.example/",
      DRIP_SECRET: "x".repeat(32),
      DRIP_FROM: "hello@clinic.example",
      DRIP_POSTAL_ADDRESS: "2 Real Road, Town, TW1 1AA",
      DRIP_BOOKING_URL: "https://clinic.example/book",
      DRIP_SITE_URL: "https://clinic.example",
      DRIP_API_KEY: "k".repeat(16),
      RESEND_WEBHOOK_SECRET: "whsec_abc",
      DRIP_RATE_LIMIT: "10",
    });
    expect(c).toMatchObject({
      databaseUrl: "file:/var/drip/drip.db",
      outboxDir: "/var/drip/outbox",
      port: 8080,
      publicUrl: "https://mail.clinic.example",
      from: "hello@clinic.example",
      postalAddress: "2 Real Road, Town, TW1 1AA",
      rateLimit: 10,
      apiKey: "k".repeat(16),
      webhookSecret: "whsec_abc",
      transport: "outbox",
      warnings: [],
    });
  });

  it("DRIP_CONTACT_EMAIL: the address pages give readers, defaulting to the sender (DRIP_FROM)", () => {
    expect(loadConfig({}).contactEmail).toBe(loadConfig({}).from);
    expect(loadConfig({ DRIP_FROM: "hello@clinic.example" }).contactEmail).toBe("hello@clinic.example");
    expect(loadConfig({ DRIP_FROM: "hello@clinic.example", DRIP_CONTACT_EMAIL: "care@clinic.example" }).contactEmail).toBe("care@clinic.example");
    expect(problems({ DRIP_CONTACT_EMAIL: "not an address" })).toEqual([expect.stringMatching(/^DRIP_CONTACT_EMAIL must be an email address/)]);
  });

  it("DRIP_UNSUBSCRIBE_MAILTO: unset by default, an address when set, a sentence when it is not one", () => {
    expect(loadConfig({}).unsubscribeMailto).toBeUndefined();
    expect(loadConfig({ DRIP_UNSUBSCRIBE_MAILTO: "leave@clinic.example" }).unsubscribeMailto).toBe("leave@clinic.example");
    expect(() => loadConfig({ DRIP_UNSUBSCRIBE_MAILTO: "mailto:leave" })).toThrow(/DRIP_UNSUBSCRIBE_MAILTO must be an email address/);
  });

  it("RESEND_API_KEY selects the resend transport", () => {
    const c = loadConfig({ RESEND_API_KEY: "re_123", RESEND_BASE_URL: "http://127.0.0.1:4010" });
    expect(c.transport).toBe("resend");
    expect(c.resendApiKey).toBe("re_123");
    expect(c.resendBaseUrl).toBe("http://127.0.0.1:4010");
  });

  it.each([
    [{ PORT: "abc" }, "PORT must be a whole number"],
    [{ PORT: "0" }, "PORT must be greater than 0"],
    [{ PORT: "70000" }, "PORT must be below 65536"],
    [{ PORT: "80.5" }, "PORT must be a whole number"],
    [{ DRIP_RATE_LIMIT: "0" }, "DRIP_RATE_LIMIT must be greater than 0"],
    [{ DRIP_RATE_LIMIT: "-2" }, "DRIP_RATE_LIMIT must be a whole number"],
    [{ DRIP_RATE_LIMIT: "fast" }, "DRIP_RATE_LIMIT must be a whole number"],
    [{ DRIP_PUBLIC_URL: "http://mail.clinic.example" }, "DRIP_PUBLIC_URL must use https"],
    [{ DRIP_PUBLIC_URL: "mail.clinic.example" }, "DRIP_PUBLIC_URL must be an absolute URL"],
    [{ DRIP_BOOKING_URL: "http://localhost/book" }, "DRIP_BOOKING_URL must use https"],
    [{ DRIP_FROM: "not an address" }, "DRIP_FROM must be an email address"],
    [{ DRIP_FROM: "David <hello@clinic.example>" }, "DRIP_FROM must be an email address"],
    [{ DATABASE_URL: "mysql://x" }, "DATABASE_URL must be file:PATH (SQLite) or postgres://"],
    [{ DRIP_SECRET: "short" }, "DRIP_SECRET must be at least 32 characters"],
  ])("%j → one sentence naming the variable", (env, sentence) => {
    const found = problems(env);
    expect(found).toHaveLength(1);
    expect(found[0]).toContain(sentence);
    expect(found[0]).toContain(Object.keys(env)[0]!);
  });

  it("lists every problem at once, one per variable, in the error message", () => {
    let error: ConfigError | undefined;
    try {
      loadConfig({ PORT: "abc", DRIP_RATE_LIMIT: "0", DRIP_PUBLIC_URL: "http://example.com", DRIP_FROM: "nope" });
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.problems).toHaveLength(4);
    for (const name of ["PORT", "DRIP_RATE_LIMIT", "DRIP_PUBLIC_URL", "DRIP_FROM"]) {
      expect(error!.problems.filter((p) => p.includes(name))).toHaveLength(1);
      expect(error!.message).toMatch(new RegExp(`^ {2}- .*${name}`, "m"));
    }
    expect(error!.message).toContain(".env.example");
  });

  it.each(["http://localhost:3000", "http://127.0.0.1:8080/", "http://[::1]:3000"])("allows %s for local development, with a warning", (url) => {
    const c = loadConfig({ DRIP_PUBLIC_URL: url });
    expect(c.publicUrl).toBe(url.replace(/\/$/, ""));
    expect(c.warnings.some((w) => w.startsWith(`DRIP_PUBLIC_URL is ${url.replace(/\/$/, "")} (plain http`))).toBe(true);
  });
});

describe("readEnv", () => {
  it("reads .env under the real environment, and treats empty values as unset", () => {
    const dir = mkdtempSync(join(tmpdir(), "drip-env-"));
    const file = join(dir, ".env");
    writeFileSync(file, "PORT=4000\nDRIP_FROM=file@clinic.example\nDRIP_RATE_LIMIT=\n");
    const env = readEnv({ DRIP_FROM: "real@clinic.example", OUTBOX_DIR: "" }, file);
    expect(env.PORT).toBe("4000");
    expect(env.DRIP_FROM).toBe("real@clinic.example");
    expect(env.DRIP_RATE_LIMIT).toBeUndefined();
    expect(env.OUTBOX_DIR).toBeUndefined();
    expect(loadConfig(env)).toMatchObject({ port: 4000, from: "real@clinic.example", rateLimit: 5, outboxDir: "./outbox" });
  });

  it("works without a .env file", () => {
    expect(readEnv({ PORT: "1" }, join(tmpdir(), "no-such-dir-drip", ".env"))).toEqual({ PORT: "1" });
  });
});
