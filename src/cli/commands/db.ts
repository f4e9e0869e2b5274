/**
 * `drip db …`: database chores. `drip db backup <file>` copies the SQLite database with
 * SQLite's online backup API: consistent while `drip start` keeps writing (pages changed
 * during the copy are copied again). Further subcommands (copy, migrate) join this group.
 */
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Command } from "commander";
import { loadConfig, readEnv } from "../../config.ts";
import { sqlitePath } from "../../store/sqlite/sqlite-store.ts";
import { type CliIO, UsageError, WorkError, printJson } from "../io.ts";

/** The `db` command group; other files add subcommands with `dbGroup(program)`. */
export function dbGroup(program: Command): Command {
  return program.commands.find((c) => c.name() === "db") ?? program.command("db").description("Database chores: backup (and more)");
}

export function dbCommands(program: Command, io: CliIO) {
  dbGroup(program)
    .command("backup")
    .description("Copy the SQLite database to <file> with SQLite's online backup (consistent while drip start runs)")
    .argument("<file>", "where to write the copy (must not exist)")
    .option("--json", "print {file, bytes, pages}")
    .action(async (file: string, opts: { json?: boolean }) => {
      const config = loadConfig(readEnv(io.env, `${io.cwd}/.env`));
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
          progress: (p) => {
            pages = p.totalPages;
            return 100; // pages per step: the server keeps writing between steps
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
