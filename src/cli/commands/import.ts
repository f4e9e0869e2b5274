/**
 * `drip import`: streams a CSV (email, name, timezone, tags, subscribed_at) in pages of 500
 * rows, each page one transaction: a crash can lose at most the page in flight, never leaves
 * half a row, and a second run adds nothing (emails are unique, case-insensitively). A bad
 * line is skipped and counted; one summary at the end lists the first 20 of them and says
 * each kind of warning once.
 */
import { createReadStream, existsSync } from "node:fs";
import { stat } from "node:fs/promises";
import type { Command } from "commander";
import { importCsv, readCsv } from "../../lifecycle/import.ts";
import { type CliIO, UsageError, WorkError, printJson } from "../io.ts";
import { withApp } from "./app-context.ts";

/** Bad lines listed in the text summary; the rest are counted. */
const LISTED = 20;

export function importCommand(program: Command, io: CliIO) {
  program
    .command("import")
    .description("Import subscribers from a CSV file (email, name, timezone, tags, subscribed_at); bad rows are reported and skipped")
    .argument("<file>", "CSV file with a header row")
    .option("--sequence <id>", "enroll confirmed subscribers in this sequence (default: the first one)")
    .option("--confirmed", "the rows carry consent already: import them as active and enroll them")
    .option(
      "--json",
      "print {imported, existing, suppressed, enrolled, automations: {fired, entered}, badRows, bad: [{line, reason}] (the first 1,000), warnings: [{count, message}]}",
    )
    .action(async (file: string, opts: { sequence?: string; confirmed?: boolean; json?: boolean }) => {
      if (!existsSync(file)) throw new UsageError(`no such file: ${file}`);
      const info = await stat(file);
      if (!info.isFile()) throw new UsageError(`${file} is not a file: give the path of a CSV file`);
      const size = info.size;
      await withApp(io, async (app) => {
        // A wrong --sequence is refused before the file is even opened.
        if (opts.sequence !== undefined || opts.confirmed) app.lifecycle.sequenceFor(opts.sequence);
        const stream = createReadStream(file);
        let lastDraw = 0;
        const result = await importCsv(app.lifecycle, readCsv(stream, { file }), {
          confirmed: Boolean(opts.confirmed),
          sequenceId: opts.sequence,
          now: io.now(),
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
        else {
          for (const b of result.bad.slice(0, LISTED)) io.err(`line ${b.line}: ${b.reason}\n`);
          if (result.badRows > LISTED) io.err(`…and ${(result.badRows - LISTED).toLocaleString("en-US")} more\n`);
          for (const w of result.warnings) io.err(`warning: ${w.message}\n`);
          io.out(
            `imported ${result.imported}, already there ${result.existing}, suppressed ${result.suppressed}, bad rows ${result.badRows}${result.enrolled ? `, enrolled ${result.enrolled}` : ""}${result.automations.fired ? `, automations fired ${result.automations.fired} (${result.automations.entered} sequences started)` : ""}\n`,
          );
        }
        if (result.badRows > 0 && result.imported + result.existing === 0) throw new WorkError("no row could be imported");
      });
    });
}
