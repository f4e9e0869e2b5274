/**
 * A tick worker for the crash test (tests/engine/crash.test.ts): a child process that opens
 * the app on DATABASE_URL / OUTBOX_DIR and runs `engine.tick(now)` in a loop over a virtual
 * clock, from --start to --end in --step-ms increments. The parent kills it with SIGKILL at
 * random moments and restarts it.
 *
 * Every line goes out with fs.writeSync(1, …), so it is in the pipe before the worker does
 * the next thing (no buffered writes lost to SIGKILL):
 *   N <iso>             a tick is about to run at this virtual instant
 *   T <sendId>          the send is about to be handed to the transport (written BEFORE the
 *                       outbox write, so a kill mid-write still counts as a transport call)
 *   S <sendId> <status> the outcome was recorded in the store
 *   D <json summary>    the run reached --end
 *
 * Usage: node --import tsx tests/support/tick-worker.ts --start <ISO> --end <ISO> --step-ms <ms>
 */
import { writeSync } from "node:fs";
import { parseArgs } from "node:util";
import { createApp } from "../../src/wiring.ts";
import { loadConfig } from "../../src/config.ts";
import { OutboxTransport } from "../../src/delivery/outbox.ts";
import type { DeliveryResult, OutgoingMessage, Transport } from "../../src/delivery/transport.ts";

const line = (s: string) => {
  writeSync(1, `${s}\n`);
};

/** The outbox transport, with one stdout line per call so the parent can count hand-overs. */
class TracingTransport implements Transport {
  readonly name = "outbox" as const;
  constructor(private readonly inner: OutboxTransport) {}
  send(message: OutgoingMessage): Promise<DeliveryResult> {
    line(`T ${message.sendId}`);
    return this.inner.send(message);
  }
}

async function main() {
  const { values } = parseArgs({
    options: { start: { type: "string" }, end: { type: "string" }, "step-ms": { type: "string" } },
  });
  const start = Date.parse(values.start ?? "");
  const end = Date.parse(values.end ?? "");
  const step = Number(values["step-ms"] ?? "3600000");
  if (Number.isNaN(start) || Number.isNaN(end) || !(step > 0)) {
    process.stderr.write("usage: tick-worker --start <ISO> --end <ISO> --step-ms <ms>\n");
    process.exit(2);
  }
  const config = loadConfig(process.env);
  const app = await createApp(config, (l) => process.stderr.write(`${l}\n`), { transport: new TracingTransport(new OutboxTransport(config.outboxDir)) });
  const total = { sent: 0, skipped: 0, failed: 0, deferred: 0 };
  // SIGTERM (the wake-up race test): finish the send in hand, release the rest, stop.
  const stopping = new AbortController();
  process.once("SIGTERM", () => stopping.abort());
  for (let t = start; !stopping.signal.aborted; t = Math.min(t + step, end)) {
    line(`N ${new Date(t).toISOString()}`);
    const summary = await app.engine.tick(new Date(t), {
      signal: stopping.signal,
      onSend: (e) => line(`S ${e.claim.sendId} ${e.status}`),
    });
    for (const k of Object.keys(total) as (keyof typeof total)[]) total[k] += summary[k];
    if (t >= end) break;
    // Let a SIGTERM in: better-sqlite3 answers synchronously, so ticks alone never yield.
    await new Promise((resolve) => setImmediate(resolve));
  }
  line(`D ${JSON.stringify(total)}`);
  await app.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
