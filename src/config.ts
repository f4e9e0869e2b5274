/**
 * Configuration: every environment variable of the contract (DESIGN.md), read once,
 * validated with zod, one sentence per problem. A `.env` file is honoured when present.
 * Nothing below the CLI edge reads process.env.
 */
import { existsSync, readFileSync } from "node:fs";
import { parse as parseDotenv } from "dotenv";
import { z } from "zod";
import { resolve } from "node:path";
import { DripError } from "./errors.ts";
import { EMAILS_DIR, NEWSLETTERS_DIR, SEQUENCES_DIR } from "./paths.ts";
import { type TrustProxy, parseTrustProxy } from "./http/proxy.ts";

const isLocalHost = (u: URL) => ["localhost", "127.0.0.1", "[::1]"].includes(u.hostname);

const url = (name: string, opts: { allowLocalHttp: boolean }) =>
  z
    .string()
    .trim()
    .refine((s) => URL.canParse(s), { error: `${name} must be an absolute URL such as https://example.com` })
    .refine(
      (s) => {
        if (!URL.canParse(s)) return true;
        const u = new URL(s);
        return u.protocol === "https:" || (opts.allowLocalHttp && u.protocol === "http:" && isLocalHost(u));
      },
      { error: `${name} must use https (plain http is accepted only for localhost and 127.0.0.1)` },
    );

const positiveInt = (name: string) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, { error: `${name} must be a whole number` })
    .transform(Number)
    .refine((n) => n > 0, { error: `${name} must be greater than 0` });

export const isPostgresUrl = (s: string) => s.startsWith("postgres://") || s.startsWith("postgresql://");

const EXAMPLE = {
  DRIP_FROM: "hello@bodyhealtherapy.example",
  DRIP_POSTAL_ADDRESS: "Body Heal Therapy, 1 Example Street, Example Town, EX1 2MP",
  DRIP_BOOKING_URL: "https://bodyhealtherapy.example/book",
  DRIP_SITE_URL: "https://bodyhealtherapy.example",
};

/** Said loudly at start and in `drip status`: without the webhook, bounces and complaints go unrecorded. */
export const WEBHOOK_WARNING =
  "RESEND_API_KEY is set but RESEND_WEBHOOK_SECRET is not: bounces and complaints are never recorded, so drip keeps sending to those addresses; add the webhook in Resend (README, Going live) and set its signing secret";

const schema = z.object({
  DATABASE_URL: z
    .string()
    .trim()
    .default("file:./data/drip.db")
    .refine((s) => s.startsWith("file:") || isPostgresUrl(s) || s === ":memory:", {
      error: "DATABASE_URL must be file:PATH (SQLite) or postgres://… (PostgreSQL)",
    })
    .refine((s) => !isPostgresUrl(s) || URL.canParse(s), { error: "DATABASE_URL is not a valid URL: postgres://USER:PASSWORD@HOST:5432/DATABASE" }),
  RESEND_API_KEY: z.string().trim().min(1).optional(),
  RESEND_BASE_URL: url("RESEND_BASE_URL", { allowLocalHttp: true }).optional(),
  OUTBOX_DIR: z.string().trim().min(1).default("./outbox"),
  PORT: positiveInt("PORT")
    .refine((n) => n < 65536, { error: "PORT must be below 65536" })
    .default(3000),
  DRIP_PUBLIC_URL: url("DRIP_PUBLIC_URL", { allowLocalHttp: true }).optional(),
  DRIP_SECRET: z.string().min(32, { error: "DRIP_SECRET must be at least 32 characters (e.g. `openssl rand -hex 32`)" }).optional(),
  DRIP_FROM: z.email({ error: "DRIP_FROM must be an email address such as hello@yourclinic.com" }).default(EXAMPLE.DRIP_FROM),
  DRIP_CONTACT_EMAIL: z.email({ error: "DRIP_CONTACT_EMAIL must be an email address such as care@yourclinic.com" }).optional(),
  DRIP_UNSUBSCRIBE_MAILTO: z.email({ error: "DRIP_UNSUBSCRIBE_MAILTO must be an email address such as unsubscribe@yourclinic.com" }).optional(),
  DRIP_POSTAL_ADDRESS: z.string().trim().min(5, { error: "DRIP_POSTAL_ADDRESS must be the clinic's postal address" }).default(EXAMPLE.DRIP_POSTAL_ADDRESS),
  DRIP_BOOKING_URL: url("DRIP_BOOKING_URL", { allowLocalHttp: false }).default(EXAMPLE.DRIP_BOOKING_URL),
  DRIP_SITE_URL: url("DRIP_SITE_URL", { allowLocalHttp: false }).default(EXAMPLE.DRIP_SITE_URL),
  RESEND_WEBHOOK_SECRET: z.string().trim().min(1).optional(),
  DRIP_API_KEY: z.string().min(16, { error: "DRIP_API_KEY must be at least 16 characters" }).optional(),
  DRIP_RATE_LIMIT: positiveInt("DRIP_RATE_LIMIT").default(5),
  DRIP_LATENESS_HOURS: positiveInt("DRIP_LATENESS_HOURS").default(12),
  DRIP_RETURN_CONFIRM_DAYS: positiveInt("DRIP_RETURN_CONFIRM_DAYS").default(30),
  DRIP_SEQUENCES_DIR: z.string().trim().min(1).optional(),
  DRIP_EMAILS_DIR: z.string().trim().min(1).optional(),
  DRIP_NEWSLETTERS_DIR: z.string().trim().min(1).optional(),
  DRIP_FEED_URL: url("DRIP_FEED_URL", { allowLocalHttp: true }).optional(),
  DRIP_REQUIRE_APPLY: z
    .enum(["0", "1"], { error: 'DRIP_REQUIRE_APPLY must be "1" (hold changes that move enrolled subscribers until drip apply) or "0"' })
    .default("0"),
  DRIP_FORM_ORIGINS: z
    .string()
    .trim()
    .transform((s) =>
      s
        .split(",")
        .map((o) => o.trim())
        .filter(Boolean),
    )
    .refine(
      (list) =>
        list.every((o) => URL.canParse(o) && new URL(o).origin === o.replace(/\/+$/, "") && (new URL(o).protocol === "https:" || isLocalHost(new URL(o)))),
      {
        error:
          "DRIP_FORM_ORIGINS must be a comma-separated list of origins such as https://blog.example.com (https; plain http only for localhost and 127.0.0.1), with no path",
      },
    )
    .optional(),
  DRIP_DB_POOL: positiveInt("DRIP_DB_POOL").optional(),
  DRIP_LEASE_SECONDS: positiveInt("DRIP_LEASE_SECONDS").default(60),
  DRIP_DEFAULT_SEQUENCE: z.string().trim().min(1).optional(),
  DRIP_TRUST_PROXY: z.string().trim().optional(),
  HOST: z.string().trim().min(1).optional(),
  DRIP_TICK_STALL_MINUTES: positiveInt("DRIP_TICK_STALL_MINUTES").default(5),
});

export interface Config {
  databaseUrl: string;
  resendApiKey: string | undefined;
  resendBaseUrl: string | undefined;
  transport: "outbox" | "resend";
  outboxDir: string;
  port: number;
  publicUrl: string;
  secret: string | undefined;
  from: string;
  /** The address pages give readers to write to (DRIP_CONTACT_EMAIL, default DRIP_FROM). */
  contactEmail: string;
  /** A mailbox for List-Unsubscribe's mailto: fallback (clients without one-click), if any. */
  unsubscribeMailto: string | undefined;
  postalAddress: string;
  bookingUrl: string;
  siteUrl: string;
  webhookSecret: string | undefined;
  apiKey: string | undefined;
  rateLimit: number;
  latenessMs: number;
  /** At most one confirmation email per this long to an address that unsubscribed (signups by anyone). */
  returnConfirmEveryMs: number;
  /** DRIP_REQUIRE_APPLY=1: a changed sequence that moves enrolled subscribers waits for `drip apply` (drip start keeps the last live one). */
  requireApply: boolean;
  /** Pages that may post drip's form snippets: DRIP_SITE_URL's origin and DRIP_FORM_ORIGINS. */
  formOrigins: string[];
  /** Sentences worth showing at start (placeholders in use, http on localhost). */
  warnings: string[];
  /** Content folders (absolute): DRIP_SEQUENCES_DIR, DRIP_EMAILS_DIR, DRIP_NEWSLETTERS_DIR, default the install's own. */
  sequencesDir: string;
  emailsDir: string;
  newslettersDir: string;
  /** The blog's RSS/Atom feed (DRIP_FEED_URL), for the shipped feed definition. */
  feedUrl: string | undefined;
  /** PostgreSQL connections per process (DRIP_DB_POOL; else `?pool=N` on DATABASE_URL; else 10). */
  dbPool?: number | undefined;
  /** PostgreSQL: how long a worker's claim lasts without a heartbeat (DRIP_LEASE_SECONDS, default 60). */
  leaseSeconds: number;
  /** DRIP_DEFAULT_SEQUENCE: overrides sequences/index.ts. */
  defaultSequence: string | undefined;
  /** DRIP_TRUST_PROXY: which peers' X-Forwarded-For / Forwarded is believed (off by default). */
  trustProxy: TrustProxy | null;
  /** HOST: the address to bind (default every interface). */
  host: string | undefined;
  /** /healthz answers 503 when no tick finished for this long (DRIP_TICK_STALL_MINUTES, default 5). */
  tickStallMs: number;
}

export class ConfigError extends DripError {
  constructor(readonly problems: string[]) {
    super("config", `Configuration is invalid:\n${problems.map((p) => `  - ${p}`).join("\n")}\nFix these in your environment or .env (see .env.example).`);
    this.name = "ConfigError";
  }
}

/** Read `.env` (if present) under the real environment: real variables win. */
export function readEnv(env: NodeJS.ProcessEnv = process.env, dotenvPath = ".env"): Record<string, string | undefined> {
  const fromFile = existsSync(dotenvPath) ? parseDotenv(readFileSync(dotenvPath)) : {};
  const merged: Record<string, string | undefined> = { ...fromFile, ...env };
  // An empty variable means "unset", as in most tools (FOO= in .env).
  for (const [k, v] of Object.entries(merged)) if (v === "") merged[k] = undefined;
  return merged;
}

export function loadConfig(env: Record<string, string | undefined>): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => (i.message.includes(String(i.path[0])) ? i.message : `${String(i.path[0])}: ${i.message}`)));
  }
  const e = parsed.data;
  let trustProxy: TrustProxy | null;
  try {
    trustProxy = parseTrustProxy(e.DRIP_TRUST_PROXY);
  } catch (err) {
    throw new ConfigError([(err as Error).message]);
  }
  const port = e.PORT;
  const publicUrl = (e.DRIP_PUBLIC_URL ?? `http://localhost:${port}`).replace(/\/+$/, "");
  const warnings: string[] = [];
  if (new URL(publicUrl).protocol === "http:")
    warnings.push(`DRIP_PUBLIC_URL is ${publicUrl} (plain http, for local development only): set an https URL before sending to real subscribers.`);
  // A value copied from .env.example is as good as unset: the clinic must not go live as "1 Example Street".
  const placeholders = (Object.keys(EXAMPLE) as (keyof typeof EXAMPLE)[]).filter((k) => env[k] === undefined || env[k]?.trim() === EXAMPLE[k]);
  if (placeholders.length > 0) warnings.push(`Using example values for ${placeholders.join(", ")}: set them to the clinic's real details before launch.`);
  if (e.RESEND_API_KEY && !e.RESEND_WEBHOOK_SECRET) warnings.push(WEBHOOK_WARNING);
  return {
    databaseUrl: e.DATABASE_URL,
    resendApiKey: e.RESEND_API_KEY,
    resendBaseUrl: e.RESEND_BASE_URL,
    transport: e.RESEND_API_KEY ? "resend" : "outbox",
    outboxDir: e.OUTBOX_DIR,
    port,
    publicUrl,
    secret: e.DRIP_SECRET,
    from: e.DRIP_FROM,
    contactEmail: e.DRIP_CONTACT_EMAIL ?? e.DRIP_FROM,
    unsubscribeMailto: e.DRIP_UNSUBSCRIBE_MAILTO,
    postalAddress: e.DRIP_POSTAL_ADDRESS,
    bookingUrl: e.DRIP_BOOKING_URL,
    siteUrl: e.DRIP_SITE_URL,
    webhookSecret: e.RESEND_WEBHOOK_SECRET,
    apiKey: e.DRIP_API_KEY,
    rateLimit: e.DRIP_RATE_LIMIT,
    latenessMs: e.DRIP_LATENESS_HOURS * 3_600_000,
    returnConfirmEveryMs: e.DRIP_RETURN_CONFIRM_DAYS * 24 * 3_600_000,
    requireApply: e.DRIP_REQUIRE_APPLY === "1",
    formOrigins: [...new Set([new URL(e.DRIP_SITE_URL).origin, ...(e.DRIP_FORM_ORIGINS ?? []).map((o) => new URL(o).origin)])],
    warnings,
    sequencesDir: e.DRIP_SEQUENCES_DIR ? resolve(e.DRIP_SEQUENCES_DIR) : SEQUENCES_DIR,
    emailsDir: e.DRIP_EMAILS_DIR ? resolve(e.DRIP_EMAILS_DIR) : EMAILS_DIR,
    newslettersDir: e.DRIP_NEWSLETTERS_DIR ? resolve(e.DRIP_NEWSLETTERS_DIR) : NEWSLETTERS_DIR,
    feedUrl: e.DRIP_FEED_URL,
    dbPool: e.DRIP_DB_POOL,
    leaseSeconds: e.DRIP_LEASE_SECONDS,
    defaultSequence: e.DRIP_DEFAULT_SEQUENCE,
    trustProxy,
    host: e.HOST,
    tickStallMs: e.DRIP_TICK_STALL_MINUTES * 60_000,
  };
}
