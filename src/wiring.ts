/**
 * Wiring, in one place: config → store, transport, sequences → engine. The engine only
 * sees interfaces; this file is the one that picks the drivers.
 */
import { randomBytes } from "node:crypto";
import { type AutomationSet, loadAutomationSet } from "./automations/load.ts";
import type { Automation } from "./automations/types.ts";
import { type FormSource, type FormsFile, builtInForms, formSource } from "./forms/define.ts";
import { type Config, isPostgresUrl } from "./config.ts";
import { accessSync, constants, existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { checkDatabasePath } from "./store/open.ts";
import { DripError } from "./errors.ts";
import { OutboxTransport } from "./delivery/outbox.ts";
import { RateLimiter, realClock } from "./delivery/rate-limiter.ts";
import { ResendTransport } from "./delivery/resend.ts";
import type { Transport } from "./delivery/transport.ts";
import { Engine } from "./engine/engine.ts";
import { type WakeChannel, Waker } from "./engine/wake.ts";
import type { HttpDeps } from "./http/context.ts";
import { Lifecycle } from "./lifecycle/lifecycle.ts";
import { formatIssue } from "./sequences/errors.ts";
import { listSequenceFiles, loadSequenceFiles } from "./sequences/load.ts";
import { type SequencesIndex, loadSequencesIndex } from "./sequences/site.ts";
import { exposureWarning } from "./store/sqlite/file-modes.ts";
import { openMigratedStore } from "./store/open.ts";
import { PostgresStore } from "./store/postgres/postgres-store.ts";
import { PgRateLimiter } from "./store/postgres/rate-limit.ts";
import { PgWorker } from "./store/postgres/worker.ts";
import { SqliteStore, sqlitePath } from "./store/sqlite/sqlite-store.ts";
import type { Store } from "./store/types.ts";
import { NewsletterDelivery } from "./newsletters/deliver.ts";
import { loadFeeds, loadTopics } from "./newsletters/load.ts";
import type { FeedDefinition } from "./newsletters/feeds.ts";
import { Newsletters } from "./newsletters/service.ts";
import type { Topic, TopicSource } from "./newsletters/topics.ts";
import { fileWakeChannel, wakeFilePath } from "./store/sqlite/wake-file.ts";
import { pgWakeChannel } from "./store/postgres/wake.ts";

export interface App {
  config: Config;
  store: Store;
  engine: Engine;
  /** The one door for subscriber changes. */
  lifecycle: Lifecycle;
  transport: Transport;
  secret: string;
  /** Newsletter operations (CLI, dashboard): list, preview, test, audience, schedule, send, cancel, status. */
  newsletters: Newsletters;
  topics: TopicSource;
  /** The blog feeds (newsletters/feeds.ts) that turn posts into issues. */
  feeds: FeedDefinition[];
  /** Wake-ups: the lifecycle door calls it after a change that makes a send due now. */
  waker: Waker;
  /** The automations and signup forms in force (swapped by a reload). */
  automations: AutomationRegistry;
  /** sequences/index.ts: the default sequence's id and the clinic details the pages fall back on. */
  site: SequencesIndex | null;
  close(): Promise<void>;
  /** On PostgreSQL: this process as one of many workers (`drip start` starts it: heartbeat, duties). */
  worker?: PgWorker;
}

export { openMigratedStore } from "./store/open.ts";
/** The automations and forms in force; a reload swaps them whole (only a valid set). */
export class AutomationRegistry {
  private list: readonly Automation[] = [];
  private source: FormSource;
  constructor(forms: FormsFile) {
    this.source = formSource(forms);
  }
  get automations(): readonly Automation[] {
    return this.list;
  }
  get forms(): FormSource {
    return this.source;
  }
  set(set: Pick<AutomationSet, "automations" | "forms">): void {
    this.list = set.automations;
    this.source = formSource(set.forms);
  }
}

export function openStore(config: Config): Store {
  if (isPostgresUrl(config.databaseUrl)) return new PostgresStore(config.databaseUrl, { pool: config.dbPool });
  checkDatabasePath(config.databaseUrl);
  return new SqliteStore(config.databaseUrl);
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

export function makeTransport(config: Config, store?: Store): Transport {
  // One limiter for everything that calls the provider (DRIP_RATE_LIMIT): in this process on
  // SQLite, across every worker sharing the database on PostgreSQL.
  const limiter = store instanceof PostgresStore ? new PgRateLimiter(store.pool, config.rateLimit) : new RateLimiter(config.rateLimit);
  return config.transport === "resend" && config.resendApiKey
    ? new ResendTransport(config.resendApiKey, { baseUrl: config.resendBaseUrl, limiter })
    : new OutboxTransport(config.outboxDir);
}

/**
 * How processes on one database tell each other "something is due now": a watched file beside
 * a SQLite database, LISTEN/NOTIFY on PostgreSQL (src/store/postgres/wake.ts).
 */
export function wakeChannelFor(config: Config, store?: Store, log?: (line: string) => void): WakeChannel | null {
  if (isPostgresUrl(config.databaseUrl)) return store instanceof PostgresStore ? pgWakeChannel(store.pool, config.databaseUrl, { log }) : null;
  const path = sqlitePath(config.databaseUrl);
  return path === ":memory:" ? null : fileWakeChannel(wakeFilePath(path));
}

export async function createApp(
  config: Config,
  appLog: (line: string) => void = () => {},
  opts: { transport?: Transport; wakeChannel?: WakeChannel | null } = {},
): Promise<App> {
  const log = appLog;
  const store = await openMigratedStore(config);
  const dbPath = isPostgresUrl(config.databaseUrl) ? ":memory:" : sqlitePath(config.databaseUrl);
  const exposed = dbPath === ":memory:" ? null : exposureWarning(dbPath);
  if (exposed) log(`warning: ${exposed}`);
  // DRIP_SECRET signs link tokens; when unset, one is generated on first start and kept in the database.
  const secret = config.secret ?? (await store.initMeta("secret", randomBytes(32).toString("hex")));
  const loaded = await loadSequenceFiles(listSequenceFiles(config.sequencesDir));
  for (const issue of loaded.issues) log(`warning: sequence not loaded:${formatIssue(issue)}`);
  const registry = new AutomationRegistry(builtInForms(loaded.sequences[0]?.sequence));
  // Topics first: the automations and forms that name one are checked against them.
  const topicsLoaded = await loadTopics(config.newslettersDir);
  if (topicsLoaded.problem) log(`warning: topics not loaded: ${topicsLoaded.problem}`);
  const topicList: readonly Topic[] = topicsLoaded.topics;
  const topics: TopicSource = { topics: () => topicList };
  const set = await loadAutomationSet(config.sequencesDir, loaded.sequences, {
    topics: new Set(topicList.map((t) => t.id)),
    topicsFile: join(config.newslettersDir, "topics.ts"),
  });
  if (set.issues.length > 0) {
    // Never run a set that may loop or name what is not there: no automations until it is fixed.
    for (const issue of set.issues) log(`warning: automations not loaded:${formatIssue(issue)}`);
    if (!set.issues.some((i) => i.file?.endsWith("forms.ts"))) registry.set({ automations: [], forms: set.forms });
  } else registry.set(set);
  // The engine fires completions through the lifecycle door, which is made after it.
  let door: Lifecycle | undefined;
  const transport = opts.transport ?? makeTransport(config, store);
  // Many workers on PostgreSQL: short leases kept alive by the worker's heartbeat while it works.
  const worker = store instanceof PostgresStore ? new PgWorker(store, config.databaseUrl, config.leaseSeconds * 1000, log) : undefined;
  if (store instanceof PostgresStore) store.onRetry = log;
  // Newsletters come from the courses' sender; the engine is read lazily (definitions reload).
  let sender = () => ({ name: config.from, organization: config.from });
  let defaultZone = () => "UTC";
  const delivery = new NewsletterDelivery({
    store,
    topics,
    links: config,
    secret,
    from: config.from,
    unsubscribeMailto: config.unsubscribeMailto,
    postalAddress: config.postalAddress,
    emailsDir: config.emailsDir,
    sender: () => sender(),
  });
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
    emailsDir: config.emailsDir,
    latenessMs: config.latenessMs,
    clock: realClock,
    log,
    newsletters: delivery,
    fireCompletions: (now) => door?.fireCompletions(now) ?? Promise.resolve(),
  });
  // The default is named (DRIP_DEFAULT_SEQUENCE, else sequences/index.ts), never guessed from file order.
  const { index: site, problem } = await loadSequencesIndex(config.sequencesDir);
  if (problem) log(`warning: ${problem}`);
  engine.setDefaultSequenceId(config.defaultSequence ?? site?.defaultSequence ?? null);
  engine.sequenceProblems = loaded.issues.map((i) => formatIssue(i).trim());
  const unloaded = engine.defaultSequenceProblem();
  if (unloaded) log(`warning: ${unloaded}: the signup page takes signups, which wait for it`);
  sender = () => {
    const s = engine.defaultSequence?.sender;
    return s ? { name: s.name, organization: s.organization } : { name: config.from, organization: config.from };
  };
  defaultZone = () => engine.defaultSequence?.defaultTimezone ?? "UTC";
  const wakeChannel = opts.wakeChannel === undefined ? wakeChannelFor(config, store, log) : opts.wakeChannel;
  const waker = new Waker(wakeChannel, log);
  const lifecycle = new Lifecycle({
    store,
    sequences: engine,
    log,
    returnConfirmEveryMs: config.returnConfirmEveryMs,
    topics,
    onSendDue: () => waker.wake(),
    automations: () => registry.automations,
    forms: () => registry.forms,
  });
  door = lifecycle;
  const newsletters = new Newsletters({
    store,
    topics,
    dir: config.newslettersDir,
    emailsDir: config.emailsDir,
    links: config,
    secret,
    from: config.from,
    unsubscribeMailto: config.unsubscribeMailto,
    postalAddress: config.postalAddress,
    transport,
    sender: () => sender(),
    defaultZone: () => defaultZone(),
  });
  const feedsLoaded = await loadFeeds(config.newslettersDir, config.feedUrl);
  if (feedsLoaded.problem) log(`warning: feeds not loaded: ${feedsLoaded.problem}`);
  return {
    config,
    store,
    engine,
    lifecycle,
    transport,
    secret,
    newsletters,
    topics,
    feeds: feedsLoaded.feeds,
    waker,
    automations: registry,
    site,
    close: async () => {
      await worker?.stop();
      await wakeChannel?.close?.();
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
    forms: () => app.automations.forms,
    formOrigins: config.formOrigins,
    transport: app.transport,
    from: config.from,
    site: app.site,
    trustProxy: config.trustProxy,
    newsletters: app.newsletters,
    wake: () => app.waker.wake(),
    ...rest,
  };
}
