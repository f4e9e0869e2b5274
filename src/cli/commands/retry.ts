/**
 * `drip retry <send-id>` and `drip retry --all-failed [--dry-run]`: put failed or in-doubt
 * sends back in the queue through the lifecycle door (src/lifecycle/retry.ts). The next tick
 * sends them; an in-doubt send goes out under its first idempotency key, so a provider that
 * has it does not send it twice. Refusals (claimed, unsubscribed, suppressed…) say why.
 */
import type { Command } from "commander";
import type { RetryReport } from "../../lifecycle/retry.ts";
import { type CliIO, UsageError, WorkError, printJson } from "../io.ts";
import { withApp } from "./app-context.ts";

const line = (r: RetryReport) => {
  const what = `${r.sendId}${r.email ? ` (${r.email}, ${r.sequenceId}/${r.stepId})` : ""}`;
  const with_ = r.siblings.length ? `; with ${r.siblings.length} other in-doubt send(s) of its batch: ${r.siblings.join(", ")}` : "";
  return `${r.outcome.padEnd(8)} ${what}: ${r.reason}${with_}\n`;
};

export function retryCommand(program: Command, io: CliIO) {
  program
    .command("retry")
    .description("Put a failed or in-doubt send back in the queue (never sent twice; refused, with the reason, when it cannot be)")
    .argument("[send-id]", "the send's id, as drip failures shows it")
    .option("--all-failed", "every failed and in-doubt send")
    .option("--dry-run", "with --all-failed: say what would be queued or refused, change nothing")
    .option("--json", "print [{sendId, email, sequenceId, stepId, was, outcome: queued|refused, reason, key, siblings}]")
    .addHelpText(
      "after",
      "\nThe send's enrollment goes back to that step, due now, and returns where it was once the step is recorded.\nAn in-doubt send keeps its idempotency key (the provider answers a repeat with the first result);\npast the provider's 24 h key lifetime it is refused: check the provider's logs first.\nExit 1 when a send was refused.",
    )
    .action(async (sendId: string | undefined, opts: { allFailed?: boolean; dryRun?: boolean; json?: boolean }) => {
      if (sendId !== undefined && opts.allFailed) throw new UsageError("give a send id or --all-failed, not both");
      if (sendId === undefined && !opts.allFailed) throw new UsageError("give the send id to retry (drip failures lists them), or --all-failed");
      if (opts.dryRun && !opts.allFailed) throw new UsageError("--dry-run goes with --all-failed");
      await withApp(
        io,
        async (app) => {
          const by = `the CLI (${io.env.USER ?? "staff"})`;
          if (sendId !== undefined) {
            const r = await app.lifecycle.retrySend(sendId, io.now(), by);
            if (opts.json) return printJson(io, [r]);
            return io.out(line(r));
          }
          const reports = await app.lifecycle.retryAllFailed(io.now(), by, { dryRun: opts.dryRun ?? false });
          if (opts.json) printJson(io, reports);
          else {
            if (reports.length === 0) io.out("no failed or doubtful sends\n");
            for (const r of reports) io.out(line(r).replace(/^queued {2}/, opts.dryRun ? "would queue " : "queued  "));
            const queued = reports.filter((r) => r.outcome === "queued").reduce((n, r) => n + 1 + r.siblings.length, 0);
            if (reports.length)
              io.out(
                `${opts.dryRun ? "would queue" : "queued"} ${queued}, refused ${reports.length - reports.filter((r) => r.outcome === "queued").length}${opts.dryRun ? " (dry run: nothing changed)" : ""}\n`,
              );
          }
          const refused = reports.filter((r) => r.outcome === "refused").length;
          if (refused > 0) throw new WorkError(`${refused} send(s) were not retried (the reasons are above)`);
        },
        { quiet: true },
      );
    });
}
