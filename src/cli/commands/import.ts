/**
 * `drip import`: streams a CSV (email, name, timezone, tags, subscribed_at) in pages of 500
 * rows, each page one transaction: a crash can lose at most the page in flight, never leaves
 * half a row, and a second run adds nothing (emails are unique, case-insensitively).
 */
import { createReadStream, existsSync } from "node:fs";
import { stat } from "node:fs/promises";
import type { Command } from "commander";
import { parse } from "csv-parse";
import { importCsv } from "../../engine/import.ts";
import { type CliIO, UsageError, WorkError, printJson } from "../io.ts";
import { withApp } from "./app-context.ts";

export function importCommand(program: Command, io: CliIO) {
  program
    .command("import")
    .description("Import subscribers from a CSV file (email, name, timezone, tags, subscribed_at); bad rows are reported and skipped")
    .argument("<file>", "CSV file with a header row")
    .option("--sequence <id>", "enroll confirmed subscribers in this sequence (default: the first one)")
    .option("--confirmed", "the rows carry consent already: import them as active and enroll them")
    .option("--json", "print {imported, existing, suppressed, bad: [{line, reason}]}")
    .action(async (file: string, opts: { sequence?: string; confirmed?: boolean; json?: boolean }) => {
      if (!existsSync(file)) throw new UsageError(`no such file: ${file}`);
      const size = (await stat(file)).size;
      await withApp(io, async (app) => {
        const stream = createReadStream(file);
        const parser = stream.pipe(parse({ columns: (h: string[]) => h.map((c) => c.trim().toLowerCase()), skip_empty_lines: true, trim: true, relax_column_count: true, bom: true }));
        let lastDraw = 0;
        const result = await importCsv(app, parser, {
          confirmed: Boolean(opts.confirmed),
          sequenceId: opts.sequence,
          now: io.now(),
          onBadRow: (bad) => {
            if (!opts.json) io.err(`line ${bad.line}: ${bad.reason}\n`);
          },
          onProgress: (rows) => {
            if (!io.isTTY || opts.json) return;
            const t = Date.now();
            if (t - lastDraw < 100) return;
            lastDraw = t;
            const frac = Math.min(1, stream.bytesRead / Math.max(1, size));
            const bar = "#".repeat(Math.round(frac * 30)).padEnd(30, ".");
            io.err(`\r[${bar}] ${Math.round(frac * 100)}%  ${rows} rows`);
          },
        });
        if (io.isTTY && !opts.json) io.err("\n");
        if (opts.json) printJson(io, result);
        else
          io.out(
            `imported ${result.imported}, already there ${result.existing}, suppressed ${result.suppressed}, bad rows ${result.bad.length}${result.enrolled ? `, enrolled ${result.enrolled}` : ""}\n`,
          );
        if (result.bad.length > 0 && result.imported + result.existing === 0) throw new WorkError("no row could be imported");
      });
    });
}
