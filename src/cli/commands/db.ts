/**
 * `drip db …`: database chores. `drip db migrate` (apply migrations without starting),
 * `drip db copy --to postgres://…` (move a SQLite install to PostgreSQL: empty target only,
 * progress, counts verified) and `drip db backup <file>` (SQLite's online backup API: consistent
 * while `drip start` keeps writing, copied from one snapshot). On PostgreSQL, backups are pg_dump's job.
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

/** The `db` command group; other files add subcommands with `dbGroup(program)`. */
/** The most pages one backup step may copy (better-sqlite3 clamps to this): the whole database at once. */
const ALL_PAGES = 0x7fffffff;

export function dbGroup(program: Command): Command {
  return (
    program.commands.find((c) => c.name() === "db") ??
    program.command("db").description("The database: apply migrations, copy a SQLite install to PostgreSQL, back up")
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
}
