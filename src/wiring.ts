/**
 * Wiring, in one place: config → store, transport, sequences → engine. The engine only
 * sees interfaces; this file is the one that picks the drivers.
 */
import { randomBytes } from "node:crypto";
import { type Config, isPostgresUrl } from "./config.ts";
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
import { exposureWarning } from "./store/sqlite/file-modes.ts";
import { PostgresStore, postgresProblem } from "./store/postgres/postgres-store.ts";
import { PgRateLimiter } from "./store/postgres/rate-limit.ts";
import { PgWorker } from "./store/postgres/worker.ts";
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
  close(): Promise<void>;
  /** On PostgreSQL: this process as one of many workers (`drip start` starts it: heartbeat, duties). */
  worker?: PgWorker;
}

export function openStore(config: Config): Store {
  if (isPostgresUrl(config.databaseUrl)) return new PostgresStore(config.databaseUrl, { pool: config.dbPool });
  return new SqliteStore(config.databaseUrl);
}

/** Open and migrate the configured store; a database that cannot be reached is one sentence, not a stack. */
export async function openMigratedStore(config: Config): Promise<Store> {
  const store = openStore(config);
  try {
    await store.migrate();
  } catch (err) {
    await store.close().catch(() => {});
    if (isPostgresUrl(config.databaseUrl)) throw new DripError("failed", postgresProblem(config.databaseUrl, err));
    throw err;
  }
  return store;
}

export function makeTransport(config: Config, store?: Store): Transport {
  // One limiter for everything that calls the provider (DRIP_RATE_LIMIT): in this process on
  // SQLite, across every worker sharing the database on PostgreSQL.
  const limiter = store instanceof PostgresStore ? new PgRateLimiter(store.pool, config.rateLimit) : new RateLimiter(config.rateLimit);
  return config.transport === "resend" && config.resendApiKey
    ? new ResendTransport(config.resendApiKey, { baseUrl: config.resendBaseUrl, limiter })
    : new OutboxTransport(config.outboxDir);
}

export async function createApp(config: Config, appLog: (line: string) => void = () => {}, opts: { transport?: Transport } = {}): Promise<App> {
  const log = appLog;
  const store = await openMigratedStore(config);
  const dbPath = isPostgresUrl(config.databaseUrl) ? ":memory:" : sqlitePath(config.databaseUrl);
  const exposed = dbPath === ":memory:" ? null : exposureWarning(dbPath);
  if (exposed) log(`warning: ${exposed}`);
  // DRIP_SECRET signs link tokens; when unset, one is generated on first start and kept in the database.
  const secret = config.secret ?? (await store.initMeta("secret", randomBytes(32).toString("hex")));
  const loaded = await loadSequenceFiles(listSequenceFiles(SEQUENCES_DIR));
  for (const issue of loaded.issues) log(`warning: sequence not loaded:${formatIssue(issue)}`);
  const transport = opts.transport ?? makeTransport(config, store);
  // Many workers on PostgreSQL: short leases kept alive by the worker's heartbeat while it works.
  const worker = store instanceof PostgresStore ? new PgWorker(store, config.databaseUrl, config.leaseSeconds * 1000, log) : undefined;
  const engine = new Engine({
    store: worker ? worker.track(store) : store,
    ...(worker ? { leaseMs: worker.leaseMs, owner: worker.owner, leadsDuties: () => !worker.running || worker.leads } : {}),
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
  const lifecycle = new Lifecycle({ store, sequences: engine, log, returnConfirmEveryMs: config.returnConfirmEveryMs });
  return {
    config,
    store,
    engine,
    lifecycle,
    transport,
    secret,
    close: async () => {
      await worker?.stop();
      await store.close();
    },
    ...(worker ? { worker } : {}),
  };
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
    transport: app.transport,
    from: config.from,
    ...rest,
  };
}
