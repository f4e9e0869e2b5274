import type { Command } from "commander";
import { type CliIO, printJson } from "../io.ts";
import { PostgresStore } from "../../store/postgres/postgres-store.ts";
import { listWorkers } from "../../store/postgres/worker.ts";
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
          // PostgreSQL: the workers sharing the database, their last heartbeat and what each holds.
          const workers = app.store instanceof PostgresStore ? await listWorkers(app.store, io.now().getTime(), app.config.leaseSeconds * 1000) : undefined;
          const out = {
            ...s,
            nextDueAt: s.nextDueAt?.toISOString() ?? null,
            transport: app.transport.name,
            deliveryPaused: pause,
            ...(workers ? { workers: workers.map((w) => ({ ...w, startedAt: w.startedAt.toISOString(), heartbeatAt: w.heartbeatAt.toISOString() })) } : {}),
          };
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
          if (workers) {
            const live = workers.filter((w) => w.alive);
            io.out(`${"workers".padEnd(12)} ${live.length} live${workers.length > live.length ? `, ${workers.length - live.length} silent` : ""}\n`);
            for (const w of workers)
              io.out(
                `  ${w.id}  ${w.alive ? "alive" : "SILENT"}, heartbeat ${w.heartbeatAt.toISOString()}, holds ${w.claims} claim(s)${w.duties ? `, runs the once-only duties` : ""}\n`,
              );
          }
          if (s.sends.in_doubt > 0)
            io.out(
              `${"attention".padEnd(12)} ${s.sends.in_doubt} send(s) in doubt: the provider may or may not have sent them; check its logs ('drip failures')\n`,
            );
          if (s.sends.failed > 0) io.out(`${"attention".padEnd(12)} ${s.sends.failed} send(s) failed: 'drip failures' lists them with reasons\n`);
        },
        { quiet: true },
      );
    });
}
