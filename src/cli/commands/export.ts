import { type WriteStream, createWriteStream } from "node:fs";
import { finished } from "node:stream/promises";
import type { Command } from "commander";
import { stringify } from "csv-stringify/sync";
import { EXPORT_COLUMNS, exportRows } from "../../lifecycle/export-rows.ts";
import { type CliIO, UsageError, WorkError } from "../io.ts";
import { withApp } from "./app-context.ts";

/** Open the -o file, or say in one sentence why it cannot be written. */
async function openOutput(path: string): Promise<WriteStream> {
  const stream = createWriteStream(path);
  await new Promise<void>((resolve, reject) => {
    stream.once("open", () => resolve());
    stream.once("error", (err) => reject(new UsageError(`-o ${path}: cannot write there (${err.message})`)));
  });
  return stream;
}

export function exportCommand(program: Command, io: CliIO) {
  program
    .command("export")
    .description(
      "Write every subscriber as CSV: the columns import reads, the status with why they left (status_reason, status_at) and the consent record (consent_at, consent_source, consent_ip)",
    )
    .option("-o, --output <file>", "write to a file instead of stdout")
    .action(async (opts: { output?: string }) => {
      let file: WriteStream | null = null;
      let failed: Error | null = null;
      const write = (s: string) => (file ? file.write(s) : io.out(s));
      await withApp(
        io,
        async (app) => {
          if (opts.output) {
            file = await openOutput(opts.output);
            file.on("error", (err) => (failed ??= err));
          }
          write(stringify([[...EXPORT_COLUMNS]]));
          let after: string | null = null;
          for (;;) {
            const page = await app.store.listSubscribers(after, 1000);
            if (page.length === 0) break;
            // Every cell the public can fill is guarded against spreadsheet formulas (import undoes it).
            write(stringify(await exportRows(app.store, page)));
            after = page[page.length - 1]!.id;
          }
        },
        { quiet: true },
      );
      const out = file as WriteStream | null;
      if (out) {
        out.end();
        await finished(out).catch((err: Error) => (failed ??= err));
      }
      if (failed) throw new WorkError(`-o ${opts.output}: the export could not be written completely (${(failed as Error).message})`);
    });
}
