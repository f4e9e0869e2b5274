import type { Command } from "commander";
import { type CliIO, printJson } from "../io.ts";
import { describeSchedule, loadOrFail } from "./sequences.ts";
import { nativeImport } from "../../sequences/load.ts";
import { importWithoutTemplates } from "../../typescript-imports.ts";

export function listCommand(program: Command, io: CliIO) {
  program
    .command("list")
    .description("List sequences and their steps in order")
    .option("--json", "print [{id, name, steps: [{id, schedule, subject}]}]")
    .action(async (opts: { json?: boolean }) => {
      // Definitions only: the templates (React, React Email) are not loaded to list them.
      const { sequences } = await loadOrFail(io, undefined, (file) => importWithoutTemplates(file, nativeImport));
      const rows = sequences.map(({ sequence }) => ({
        id: sequence.id,
        name: sequence.name,
        steps: sequence.steps.map((s) => ({
          id: s.id,
          schedule: describeSchedule(s.schedule),
          subject: typeof s.subject === "function" ? "(depends on the subscriber)" : s.subject,
        })),
      }));
      if (opts.json) return printJson(io, rows);
      for (const seq of rows) {
        io.out(`${seq.id}  ${seq.name}\n`);
        const w = Math.max(...seq.steps.map((s) => s.id.length));
        const ws = Math.max(...seq.steps.map((s) => s.schedule.length));
        for (const s of seq.steps) io.out(`  ${s.id.padEnd(w)}  ${s.schedule.padEnd(ws)}  ${s.subject}\n`);
      }
    });
}
