/**
 * Wiring, in one place: config → store, transport, sequences → engine. The engine only
 * sees interfaces; this file is the one that picks the drivers.
 */
import { randomBytes } from "node:crypto";
import { accessSync, constants, existsSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { type Config, POSTGRES_UNSUPPORTED, isPostgresUrl } from "./config.ts";
import { OutboxTransport } from "./delivery/outbox.ts";
import { RateLimiter, realClock } from "./delivery/rate-limiter.ts";
import { ResendTransport } from "./delivery/resend.ts";
import type { Transport } from "./delivery/transport.ts";
import { Engine } from "./engine/engine.ts";
import type { HttpDeps } from "./http/context.ts";
import { Lifecycle } from "./lifecycle/lifecycle.ts";
import { DripError } from "./errors.ts";
import { EMAILS_DIR, SEQUENCES_DIR } from "./paths.ts";
import { formatIssue } from "./sequences/errors.ts";
import { listSequenceFiles, loadSequenceFiles } from "./sequences/load.ts";
import { type SequencesIndex, loadSequencesIndex } from "./sequences/site.ts";
import { exposureWarning } from "./store/sqlite/file-modes.ts";
import { SqliteStore, sqlitePath } from "./store/sqlite/sqlite-store.ts";
import type { Store } from "./store/types.ts";

export interface App {
  config: Config;
  store: Store;
  engine: Engine;
  /** The one door for subscriber changes. */
  lifecycle: Lifecycle;
  transport: Transport;
  secret: string;
  /** sequences/index.ts: the default sequence's id and the clinic details the pages fall back on. */
  site: SequencesIndex | null;
  close(): Promise<void>;
}

export function openStore(config: Config): Store {
  // loadConfig refuses it already; a Config built by hand gets the same sentence.
  if (isPostgresUrl(config.databaseUrl)) throw new DripError("config", POSTGRES_UNSUPPORTED);
  checkDatabasePath(config.databaseUrl);
  return new SqliteStore(config.databaseUrl);
}

/**
 * A DATABASE_URL whose folder does not exist is a typo far more often than a wish for an
 * empty database (which would look like data loss): refused, except the default layout
 * (data/drip.db) of a fresh install. A folder or file this user cannot write is one sentence.
 */
export function checkDatabasePath(url: string): void {
  const path = sqlitePath(url);
  if (path === ":memory:") return;
  const file = resolve(path);
  const dir = dirname(file);
  if (!existsSync(dir)) {
    const freshDefault = basename(dir) === "data" && basename(file) === "drip.db" && existsSync(dirname(dir));
    if (freshDefault) return;
    throw new DripError(
      "config",
      `DATABASE_URL ${url}: the folder ${dir} does not exist, so this would start an empty database: check the path for a typo, or create the folder for a new install`,
    );
  }
  const target = existsSync(file) ? file : dir;
  try {
    accessSync(target, constants.W_OK);
  } catch {
    throw new DripError(
      "config",
      `DATABASE_URL ${url}: ${target === file ? "the database file" : "the folder"} ${target} is not writable by this user: fix its owner or permissions`,
    );
  }
}

/** OUTBOX_DIR must be writable (or creatable) before a server starts sending into it. */
export function checkOutboxDir(dir: string): void {
  const abs = resolve(dir);
  let probe = abs;
  while (!existsSync(probe) && dirname(probe) !== probe) probe = dirname(probe);
  try {
    accessSync(probe, constants.W_OK);
  } catch {
    throw new DripError(
      "config",
      `OUTBOX_DIR ${dir}: ${probe === abs ? "the folder" : `the folder cannot be created because ${probe}`} is not writable by this user: fix its owner or permissions, or set OUTBOX_DIR`,
    );
  }
}

export function makeTransport(config: Config): Transport {
  // One limiter for everything in this process that calls the provider (DRIP_RATE_LIMIT).
  return config.transport === "resend" && config.resendApiKey
    ? new ResendTransport(config.resendApiKey, { baseUrl: config.resendBaseUrl, limiter: new RateLimiter(config.rateLimit) })
    : new OutboxTransport(config.outboxDir);
}

export async function createApp(config: Config, appLog: (line: string) => void = () => {}, opts: { transport?: Transport } = {}): Promise<App> {
  const log = appLog;
  const store = openStore(config);
  await store.migrate();
  const dbPath = sqlitePath(config.databaseUrl);
  const exposed = dbPath === ":memory:" ? null : exposureWarning(dbPath);
  if (exposed) log(`warning: ${exposed}`);
  // DRIP_SECRET signs link tokens; when unset, one is generated on first start and kept in the database.
  const secret = config.secret ?? (await store.initMeta("secret", randomBytes(32).toString("hex")));
  const loaded = await loadSequenceFiles(listSequenceFiles(SEQUENCES_DIR));
  for (const issue of loaded.issues) log(`warning: sequence not loaded:${formatIssue(issue)}`);
  const transport = opts.transport ?? makeTransport(config);
  const engine = new Engine({
    store,
    sequences: loaded.sequences.map((s) => s.sequence),
    transport,
    links: config,
    secret,
    from: config.from,
    unsubscribeMailto: config.unsubscribeMailto,
    postalAddress: config.postalAddress,
    emailsDir: EMAILS_DIR,
    latenessMs: config.latenessMs,
    clock: realClock,
    log,
  });
  // The default is named (DRIP_DEFAULT_SEQUENCE, else sequences/index.ts), never guessed from file order.
  const { index: site, problem } = await loadSequencesIndex(SEQUENCES_DIR);
  if (problem) log(`warning: ${problem}`);
  engine.setDefaultSequenceId(config.defaultSequence ?? site?.defaultSequence ?? null);
  engine.sequenceProblems = loaded.issues.map((i) => formatIssue(i).trim());
  const unloaded = engine.defaultSequenceProblem();
  if (unloaded) log(`warning: ${unloaded}: the signup page takes signups, which wait for it`);
  const lifecycle = new Lifecycle({ store, sequences: engine, log, returnConfirmEveryMs: config.returnConfirmEveryMs });
  return { config, store, engine, lifecycle, transport, secret, site, close: () => store.close() };
}

/**
 * What the HTTP app needs from a wired app: its store, engine, lifecycle door, secret and the
 * configured addresses and keys. The caller adds its clock and anything of its own run.
 */
export function httpDeps(app: App, rest: Pick<HttpDeps, "now"> & Partial<HttpDeps>): HttpDeps {
  const { config } = app;
  return {
    store: app.store,
    engine: app.engine,
    lifecycle: app.lifecycle,
    secret: app.secret,
    publicUrl: config.publicUrl,
    contactEmail: config.contactEmail,
    webhookSecret: config.webhookSecret,
    apiKey: config.apiKey,
    site: app.site,
    trustProxy: config.trustProxy,
    ...rest,
  };
}
