import type { Command } from "commander";
import { type CliIO, printJson } from "../io.ts";
import { type DeliveryPause, PAUSE_KEY } from "../../engine/batch-delivery.ts";
import { openMigratedStore, transportName } from "../../store/open.ts";
import type { PostgresStore } from "../../store/postgres/postgres-store.ts";
import { WEBHOOK_WARNING, isPostgresUrl, loadConfig, readEnv } from "../../config.ts";
import { exposureWarning } from "../../store/sqlite/file-modes.ts";
import { sqlitePath } from "../../store/sqlite/sqlite-store.ts";

export function statusCommand(program: Command, io: CliIO) {
  program
    .command("status")
    .description("Counts of subscribers, enrollments and sends by status, and the next due time")
    .option("--json", "print {subscribers, enrollments, sends, nextDueAt, transport, deliveryPaused}")
    .action(async (opts: { json?: boolean }) => {
      // The store alone: no engine, renderer or sequence is loaded to count rows.
      const config = loadConfig(readEnv(io.env, `${io.cwd}/.env`));
      const store = await openMigratedStore(config);
      try {
        const postgres = isPostgresUrl(config.databaseUrl);
        const dbPath = postgres ? ":memory:" : sqlitePath(config.databaseUrl);
        const exposed = dbPath === ":memory:" ? null : exposureWarning(dbPath);
        if (exposed) io.err(`warning: ${exposed}\n`);
        const s = await store.status();
        // A quota pause that has run out is over (the next tick clears it); this only reads.
        const raw = await store.getMeta(PAUSE_KEY);
        const paused = raw ? (JSON.parse(raw) as DeliveryPause) : null;
        const pause = paused && Date.parse(paused.until) > io.now().getTime() ? paused : null;
        // PostgreSQL: the workers sharing the database, their last heartbeat and what each holds.
        const workers = postgres
          ? await (await import("../../store/postgres/worker.ts")).listWorkers(store as PostgresStore, io.now().getTime(), config.leaseSeconds * 1000)
          : undefined;
        const out = {
          ...s,
          nextDueAt: s.nextDueAt?.toISOString() ?? null,
          transport: transportName(config),
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
        if (config.warnings.includes(WEBHOOK_WARNING)) io.out(`${"WARNING".padEnd(12)} ${WEBHOOK_WARNING}\n`);
        if (s.sends.failed > 0) io.out(`${"attention".padEnd(12)} ${s.sends.failed} send(s) failed: 'drip failures' lists them with reasons\n`);
      } finally {
        await store.close();
      }
    });
}
