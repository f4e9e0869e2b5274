/**
 * `drip db …`: database chores. `drip db migrate` (apply migrations without starting),
 * `drip db copy --to postgres://…` (move a SQLite install to PostgreSQL: empty target only,
 * progress, counts verified) and `drip db backup <file>` (SQLite's online backup API: consistent
 * while `drip start` keeps writing, copied from one snapshot). On PostgreSQL, backups are pg_dump's job.
 * `drip db prune --events-older-than 90d` deletes old provider events in bounded batches.
 */
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Command } from "commander";
import { isPostgresUrl, loadConfig, readEnv } from "../../config.ts";
import { appliedMigrations, copySqliteToPostgres } from "../../store/postgres/copy.ts";
import { PostgresStore, postgresProblem } from "../../store/postgres/postgres-store.ts";
import { redactUrl } from "../../store/database-url.ts";
import { type SqliteStore, sqlitePath } from "../../store/sqlite/sqlite-store.ts";
import { openMigratedStore } from "../../wiring.ts";
import { type CliIO, UsageError, WorkError, printJson } from "../io.ts";
import { guardTimeTravel, instant } from "./app-context.ts";

/** The `db` command group; other files add subcommands with `dbGroup(program)`. */
/** The most pages one backup step may copy (better-sqlite3 clamps to this): the whole database at once. */
const ALL_PAGES = 0x7fffffff;

const DAY_MS = 24 * 3_600_000;
/** Rows per DELETE in `drip db prune`: one short transaction each, so workers are never held up for long. */
const PRUNE_BATCH = 5000;

/** `90d` → 90. One sentence for a missing, malformed or non-positive age. */
export function parseAgeDays(value: string | undefined): number {
  if (value === undefined)
    throw new UsageError("drip db prune needs --events-older-than <days>d, e.g. --events-older-than 180d (provider events older than that are deleted)");
  const m = /^\s*(-?\d+)\s*d\s*$/i.exec(value);
  if (!m) throw new UsageError(`--events-older-than "${value}" is not an age in days: write a whole number of days followed by d, e.g. 180d`);
  const days = Number(m[1]);
  if (!Number.isSafeInteger(days) || days < 1)
    throw new UsageError(`--events-older-than "${value}" must be at least 1d: give the age in days of the oldest events to keep, e.g. 180d`);
  return days;
}

export function dbGroup(program: Command): Command {
  return (
    program.commands.find((c) => c.name() === "db") ??
    program.command("db").description("The database: apply migrations, copy a SQLite install to PostgreSQL, back up, prune old events")
  );
}

export function dbCommands(program: Command, io: CliIO) {
  const db = dbGroup(program);

  db.command("migrate")
    .description("Apply pending migrations to DATABASE_URL and exit (workers starting together apply each once)")
    .option("--json", "print {database, before, after}")
    .action(async (opts: { json?: boolean }) => {
      const config = loadConfig(readEnv(io.env, `${io.cwd}/.env`));
      const store = await openMigratedStore(config);
      try {
        const after = await appliedMigrations((store as SqliteStore | PostgresStore).db);
        const out = { database: redactUrl(config.databaseUrl), migrations: after };
        if (opts.json) return printJson(io, out);
        io.out(`${out.database}: migrations ${after.join(", ")} applied (schema at ${after[after.length - 1] ?? 0})\n`);
      } finally {
        await store.close();
      }
    });

  db.command("copy")
    .description("Copy this SQLite store (DATABASE_URL) into an empty PostgreSQL database, with progress; verifies the counts")
    .requiredOption("--to <url>", "the target, postgres://USER:PASSWORD@HOST:5432/DATABASE (must be empty)")
    .option("--json", "print {tables: [{table, rows}]}")
    .action(async (opts: { to: string; json?: boolean }) => {
      const config = loadConfig(readEnv(io.env, `${io.cwd}/.env`));
      if (!isPostgresUrl(opts.to) || !URL.canParse(opts.to)) throw new UsageError(`--to "${redactUrl(opts.to)}" must be a postgres:// or postgresql:// URL`);
      if (isPostgresUrl(config.databaseUrl))
        throw new UsageError("DATABASE_URL is already PostgreSQL: db copy reads a SQLite store (set DATABASE_URL=file:… for the copy)");
      const source = await openMigratedStore(config);
      const target = new PostgresStore(opts.to);
      let last = "";
      try {
        await target.migrate().catch((err) => {
          throw new WorkError(postgresProblem(opts.to, err));
        });
        const counts = await copySqliteToPostgres(source as SqliteStore, target, (p) => {
          if (opts.json) return;
          const width = 30;
          const filled = p.total === 0 ? width : Math.round((p.done / p.total) * width);
          const line = `${p.table.padEnd(14)} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${p.done}/${p.total}`;
          if (io.isTTY) io.err(`\r${line}`);
          else if (p.done === p.total && line !== last) io.err(`${line}\n`);
          if (io.isTTY && p.done === p.total) io.err("\n");
          last = line;
        });
        if (opts.json) return printJson(io, { tables: counts });
        io.out(`copied ${counts.reduce((n, c) => n + c.rows, 0)} rows in ${counts.length} tables to ${redactUrl(opts.to)}; counts verified\n`);
        io.out(`next: set DATABASE_URL=${redactUrl(opts.to)} (with its password) and start the workers\n`);
      } finally {
        await target.close();
        await source.close();
      }
    });

  dbGroup(program)
    .command("backup")
    .description("Copy the SQLite database to <file> with SQLite's online backup (consistent while drip start runs)")
    .argument("<file>", "where to write the copy (must not exist)")
    .option("--json", "print {file, bytes, pages}")
    .action(async (file: string, opts: { json?: boolean }) => {
      const config = loadConfig(readEnv(io.env, `${io.cwd}/.env`));
      if (isPostgresUrl(config.databaseUrl))
        throw new UsageError('drip db backup copies SQLite databases: on PostgreSQL, back up with pg_dump (e.g. pg_dump -Fc "$DATABASE_URL" > drip.dump)');
      const source = sqlitePath(config.databaseUrl);
      if (source === ":memory:") throw new UsageError("DATABASE_URL is an in-memory database: there is nothing to back up");
      if (!config.databaseUrl.startsWith("file:")) throw new UsageError("drip db backup copies SQLite databases: DATABASE_URL is not file:…");
      if (!existsSync(source)) throw new WorkError(`no database at ${source} (DATABASE_URL): nothing to back up`);
      const target = resolve(io.cwd, file);
      if (existsSync(target)) throw new UsageError(`${file} already exists: give a new file name (a backup never overwrites)`);
      if (!existsSync(dirname(target))) throw new UsageError(`${dirname(target)} does not exist: create the folder first`);
      const { default: Database } = await import("better-sqlite3");
      const db = new Database(source, { fileMustExist: true });
      try {
        db.pragma("busy_timeout = 10000");
        let pages = 0;
        await db.backup(target, {
          // Every page in one step: the step reads one snapshot (WAL lets drip start keep writing
          // meanwhile), so the copy is consistent and cannot restart. In small steps, a write by
          // another connection between two steps restarts the copy from the first page, and a
          // busy server restarts it for ever.
          progress: (p) => {
            pages = p.totalPages;
            return ALL_PAGES;
          },
        });
        const { statSync } = await import("node:fs");
        const bytes = statSync(target).size;
        if (opts.json) printJson(io, { file: target, bytes, pages });
        else io.out(`backed up ${source} to ${target} (${bytes.toLocaleString("en-US")} bytes)\n`);
      } catch (err) {
        throw new WorkError(`the backup to ${file} failed: ${(err as Error).message}`);
      } finally {
        db.close();
      }
    });

  dbGroup(program)
    .command("prune")
    .description("Delete provider events (delivered, opened, clicked, bounced, complained) older than N days, in batches")
    .option("--events-older-than <days>d", "the age, in days, of the events to delete, e.g. 180d (required)")
    .option("--dry-run", "count what would be deleted, delete nothing")
    .option("--batch-size <rows>", `rows deleted per transaction (default ${PRUNE_BATCH})`)
    .option("--now <instant>", "measure the age from this ISO 8601 instant (default: now)")
    .option("--allow-time-travel", "accept a --now more than a day ahead of the clock")
    .option("--json", "print {before, days, dryRun, events}")
    .addHelpText(
      "after",
      `
Deleted: webhook events (delivered, opened, clicked, bounced, complained) that happened before
now minus the age. Kept whatever their age: sends, subscribers, unsubscribes and how they came
in, bookings, staff retries, consent, suppressions and the audit log.

What changes: drip stats, the dashboard and newsletter reports count delivered, opened, clicked,
bounced and complained from these events, so for sends older than the cutoff those counts drop
(to 0 once all are gone; "sent" does not change). A booking can no longer be credited to an
email opened or clicked before the cutoff, and a webhook replayed after its event was pruned
is stored again (keep at least a few days). Each batch is one short transaction, safe while
drip start runs. SQLite reuses the freed space (the file does not shrink); on PostgreSQL
autovacuum reclaims it.

Example: drip db prune --events-older-than 365d --dry-run`,
    )
    .action(async (opts: { eventsOlderThan?: string; dryRun?: boolean; batchSize?: string; now?: string; allowTimeTravel?: boolean; json?: boolean }) => {
      const days = parseAgeDays(opts.eventsOlderThan);
      const batch = opts.batchSize === undefined ? PRUNE_BATCH : Number(opts.batchSize);
      if (!Number.isSafeInteger(batch) || batch < 1 || batch > 100_000)
        throw new UsageError(`--batch-size "${opts.batchSize}" must be a whole number of rows from 1 to 100000`);
      const now = guardTimeTravel(instant(opts.now, io, "--now"), io, "--now", { allowed: opts.allowTimeTravel, direction: "future" });
      const before = new Date(now.getTime() - days * DAY_MS);
      const config = loadConfig(readEnv(io.env, `${io.cwd}/.env`));
      const store = await openMigratedStore(config);
      try {
        const total = await store.countPrunableEvents(before);
        let deleted = 0;
        if (!opts.dryRun) {
          let afterId = 0;
          // Up the primary key, one DELETE (one transaction) per batch; a short batch is the last.
          for (let full = total > 0; full; ) {
            const r = await store.pruneEvents(before, batch, afterId);
            deleted += r.deleted;
            afterId = r.lastId;
            full = r.deleted === batch;
            const line = `pruned ${deleted.toLocaleString("en-US")}/${total.toLocaleString("en-US")} events`;
            io.err(io.isTTY ? `\r${line}` : `${line}\n`);
          }
          if (io.isTTY && deleted > 0) io.err("\n");
        }
        const out = { before: before.toISOString(), days, dryRun: Boolean(opts.dryRun), events: opts.dryRun ? total : deleted };
        if (opts.json) return printJson(io, out);
        const what = `provider events older than ${days} days (before ${out.before})`;
        io.out(
          opts.dryRun
            ? `would delete ${total.toLocaleString("en-US")} ${what}; nothing deleted (--dry-run)\n`
            : `deleted ${deleted.toLocaleString("en-US")} ${what}\n`,
        );
      } finally {
        await store.close();
      }
    });
}
