import { createWriteStream } from "node:fs";
import type { Command } from "commander";
import { stringify } from "csv-stringify/sync";
import { guardCell } from "../../engine/import.ts";
import type { CliIO } from "../io.ts";
import { withApp } from "./app-context.ts";

const COLUMNS = ["email", "name", "timezone", "tags", "status", "subscribed_at"];

export function exportCommand(program: Command, io: CliIO) {
  program
    .command("export")
    .description("Write every subscriber as CSV (the same columns import reads, plus status)")
    .option("-o, --output <file>", "write to a file instead of stdout")
    .action(async (opts: { output?: string }) => {
      const file = opts.output ? createWriteStream(opts.output) : null;
      const write = (s: string) => (file ? file.write(s) : io.out(s));
      write(stringify([COLUMNS]));
      await withApp(
        io,
        async (app) => {
          let after: string | null = null;
          for (;;) {
            const page = await app.store.listSubscribers(after, 1000);
            if (page.length === 0) break;
            write(
              // Every cell the public can fill is guarded against spreadsheet formulas (import undoes it).
              stringify(page.map((s) => [...[s.email, s.name, s.timezone, s.tags.join(";")].map(guardCell), s.status, (s.consentAt ?? s.createdAt).toISOString()])),
            );
            after = page[page.length - 1]!.id;
          }
        },
        { quiet: true },
      );
      if (file) await new Promise<void>((resolve, reject) => file.end((err?: Error | null) => (err ? reject(err) : resolve())));
    });
}
