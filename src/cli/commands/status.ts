import type { Command } from "commander";
import { type CliIO, printJson } from "../io.ts";
import { withApp } from "./app-context.ts";

export function statusCommand(program: Command, io: CliIO) {
  program
    .command("status")
    .description("Counts of subscribers, enrollments and sends by status, and the next due time")
    .option("--json", "print {subscribers, enrollments, sends, nextDueAt, transport}")
    .action(async (opts: { json?: boolean }) => {
      await withApp(
        io,
        async (app) => {
          const s = await app.store.status();
          const out = { ...s, nextDueAt: s.nextDueAt?.toISOString() ?? null, transport: app.transport.name };
          if (opts.json) return printJson(io, out);
          const line = (label: string, counts: Record<string, number>) =>
            io.out(`${label.padEnd(12)} ${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(", ")}\n`);
          line("subscribers", s.subscribers);
          line("enrollments", s.enrollments);
          line("sends", s.sends);
          io.out(`${"next due".padEnd(12)} ${out.nextDueAt ?? "nothing scheduled"}\n${"transport".padEnd(12)} ${out.transport}\n`);
        },
        { quiet: true },
      );
    });
}
