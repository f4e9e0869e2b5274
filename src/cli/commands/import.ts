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
import { type ImportField, importCsv, parseColumnMap, readCsv } from "../../lifecycle/import.ts";
import { type CliIO, UsageError, WorkError, printJson } from "../io.ts";
import { withApp } from "./app-context.ts";

/** Bad lines listed in the text summary; the rest are counted. */
const LISTED = 20;

export function importCommand(program: Command, io: CliIO) {
  program
    .command("import")
    .description(
      "Import subscribers from a CSV file: drip's own columns (email, name, timezone, tags, subscribed_at) or an export of Mailchimp, Kit, Substack, Buttondown or listmonk (, ; or tab separated); bad rows are reported and skipped",
    )
    .argument("<file>", "CSV file with a header row")
    .option("--sequence <id>", "enroll confirmed subscribers in this sequence (default: the default sequence)")
    .option("--confirmed", "the rows carry consent already: import them as active and enroll them (also confirms known subscribers still pending)")
    .option("--send-confirmation", "email every pending row a confirmation link (sent by the next tick or the running server)")
    .option("--map <fields>", 'which column holds a field, for names drip does not recognise: email="Email Address",name="First Name"')
    .option("--dry-run", "read the whole file and say what would happen; nothing is written")
    .option(
      "--json",
      "print {imported, existing, suppressed, enrolled, confirmed, confirmationsQueued, pending, dryRun, automations: {fired, entered}, badRows, bad: [{line, reason}] (the first 1,000), warnings: [{count, message}]}",
    )
    .action(
      async (file: string, opts: { sequence?: string; confirmed?: boolean; sendConfirmation?: boolean; map?: string; dryRun?: boolean; json?: boolean }) => {
        const map = opts.map !== undefined ? parseColumnMap(opts.map) : undefined;
        if (!existsSync(file)) throw new UsageError(`no such file: ${file}`);
        const info = await stat(file);
        if (!info.isFile()) throw new UsageError(`${file} is not a file: give the path of a CSV file`);
        const size = info.size;
        await withApp(io, async (app) => {
          // A wrong --sequence is refused before the file is even opened.
          if (opts.sequence !== undefined || opts.confirmed) app.lifecycle.sequenceFor(opts.sequence);
          const stream = createReadStream(file);
          let lastDraw = 0;
          let source = "import";
          let fields: Partial<Record<ImportField, string>> = {};
          const rows = readCsv(stream, {
            file,
            map,
            onHeader: (h) => {
              if (h.tool) source = `import (${h.tool})`;
              fields = h.fields;
            },
          });
          const result = await importCsv(app.lifecycle, rows, {
            confirmed: Boolean(opts.confirmed),
            sendConfirmation: Boolean(opts.sendConfirmation),
            dryRun: Boolean(opts.dryRun),
            get source() {
              return source;
            },
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
            if (result.pending > 0)
              io.err(
                `warning: ${result.pending.toLocaleString("en-US")} subscriber${result.pending === 1 ? " is" : "s are"} pending and get no email until they confirm: run the import again with --send-confirmation to email them a confirmation link, or with --confirmed if they already consented\n`,
              );
            if (opts.dryRun) {
              const cols = Object.entries(fields).map(([f, c]) => `${f} ← "${c}"`);
              io.out(`dry run, nothing was written; columns read: ${cols.join(", ")}\nwould have: `);
            }
            io.out(
              `imported ${result.imported}, already there ${result.existing}, suppressed ${result.suppressed}, bad rows ${result.badRows}${result.enrolled ? `, enrolled ${result.enrolled}` : ""}${result.confirmed ? `, confirmed ${result.confirmed}` : ""}${result.confirmationsQueued ? `, confirmation emails queued ${result.confirmationsQueued}` : ""}${result.automations.fired ? `, automations fired ${result.automations.fired} (${result.automations.entered} sequence${result.automations.entered === 1 ? "" : "s"} started)` : ""}\n`,
            );
          }
          if (result.badRows > 0 && result.imported + result.existing === 0) throw new WorkError("no row could be imported");
        });
      },
    );
}
