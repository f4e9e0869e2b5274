import type { Command } from "commander";
import { WEBHOOK_WARNING } from "../../config.ts";
import { type CliIO, printJson } from "../io.ts";
import { withApp } from "./app-context.ts";

export function statusCommand(program: Command, io: CliIO) {
  program
    .command("status")
    .description("Counts of subscribers, enrollments and sends by status, and the next due time")
    .option("--json", "print {subscribers, enrollments, sends, nextDueAt, transport, deliveryPaused}")
    .action(async (opts: { json?: boolean }) => {
      await withApp(
        io,
        async (app) => {
          const s = await app.store.status();
          const pause = await app.engine.pausedUntil(io.now());
          const out = { ...s, nextDueAt: s.nextDueAt?.toISOString() ?? null, transport: app.transport.name, deliveryPaused: pause };
          if (opts.json) return printJson(io, out);
          const line = (label: string, counts: Record<string, number>) =>
            io.out(
              `${label.padEnd(12)} ${Object.entries(counts)
                .map(([k, v]) => `${k} ${v}`)
                .join(", ")}\n`,
            );
          line("subscribers", s.subscribers);
          line("enrollments", s.enrollments);
          line("sends", s.sends);
          io.out(`${"next due".padEnd(12)} ${out.nextDueAt ?? "nothing scheduled"}\n${"transport".padEnd(12)} ${out.transport}\n`);
          if (pause) io.out(`${"delivery".padEnd(12)} PAUSED until ${pause.until}: ${pause.reason}\n`);
          if (s.sends.in_doubt > 0)
            io.out(
              `${"attention".padEnd(12)} ${s.sends.in_doubt} send(s) in doubt: the provider may or may not have sent them; check its logs ('drip failures')\n`,
            );
          if (app.config.warnings.includes(WEBHOOK_WARNING)) io.out(`${"WARNING".padEnd(12)} ${WEBHOOK_WARNING}\n`);
          if (s.sends.failed > 0) io.out(`${"attention".padEnd(12)} ${s.sends.failed} send(s) failed: 'drip failures' lists them with reasons\n`);
        },
        { quiet: true },
      );
    });
}
