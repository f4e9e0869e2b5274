/**
 * A delivery worker for the Resend crash test (tests/delivery/crash.test.ts): a child
 * process that opens the app from its environment exactly as `drip start` does
 * (RESEND_API_KEY set → the resend transport, RESEND_BASE_URL → the parent's double,
 * DRIP_RATE_LIMIT) and runs `engine.tick(now)` on a virtual clock from --start, every
 * --step-ms, until nothing is claimed and no batch is pending. The parent kills it with
 * SIGKILL at random moments and restarts it.
 *
 * Lines on stdout, written with fs.writeSync so they are in the pipe before the next step
 * (nothing buffered is lost to SIGKILL):
 *   R                 the app is open (sequences loaded, store migrated)
 *   N <iso>           a tick is about to run at this virtual instant
 *   K <n>             a page of n due sends is claimed (rendering comes next)
 *   B <batch>         a batch (composition, payload, key) is written to the store
 *   T <batch>         its request is about to leave (through the real SDK)
 *   A <batch> <kind>  its answer is in, not yet recorded (accepted, retry, unknown, …)
 *   C <batch>         its outcome is recorded (the batch is closed)
 *   L <log line>      the engine's log (warnings, pauses)
 *   D <json>          settled: the summed tick summaries of this run
 *
 * Usage: node --import tsx tests/support/delivery-worker.ts --start <ISO> --step-ms <ms>
 */
import { writeSync } from "node:fs";
import { parseArgs } from "node:util";
import { createApp } from "../../src/wiring.ts";
import { loadConfig } from "../../src/config.ts";
import { ResendTransport } from "../../src/delivery/resend.ts";
import type { BatchOutcome, DeliveryResult, OutgoingMessage, ProviderEmail, Transport } from "../../src/delivery/transport.ts";
import type { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";

const line = (s: string) => {
  writeSync(1, `${s}\n`);
};

/** The real resend transport, with a line before each request and after each answer. */
class TracingTransport implements Transport {
  readonly name = "resend" as const;
  readonly idempotent = true;
  constructor(private readonly inner: ResendTransport) {}
  send(message: OutgoingMessage): Promise<DeliveryResult> {
    return this.inner.send(message);
  }
  encode(message: OutgoingMessage): ProviderEmail {
    return this.inner.encode(message);
  }
  async sendBatch(emails: readonly ProviderEmail[], key: string): Promise<BatchOutcome> {
    line(`T ${key}`);
    const outcome = await this.inner.sendBatch(emails, key);
    line(`A ${key} ${outcome.kind}`);
    return outcome;
  }
}

async function main() {
  const { values } = parseArgs({ options: { start: { type: "string" }, "step-ms": { type: "string" }, "max-ticks": { type: "string" } } });
  const start = Date.parse(values.start ?? "");
  const step = Number(values["step-ms"]);
  const maxTicks = Number(values["max-ticks"] ?? 200);
  if (Number.isNaN(start) || !(step > 0)) {
    process.stderr.write("usage: delivery-worker --start <ISO> --step-ms <ms> [--max-ticks <n>]\n");
    process.exit(2);
  }
  const config = loadConfig(process.env);
  if (config.transport !== "resend" || !config.resendApiKey) throw new Error(`expected the resend transport, got ${config.transport}`);
  const transport = new TracingTransport(new ResendTransport(config.resendApiKey, { baseUrl: config.resendBaseUrl }));
  const app = await createApp(config, (l) => line(`L ${l.replace(/\n/g, " ")}`), { transport });
  // Trace the batch's store writes too (the engine holds this very store object).
  const { store } = app;
  const createBatch = store.createBatch.bind(store);
  const completeBatch = store.completeBatch.bind(store);
  const claimDue = store.claimDue.bind(store);
  store.claimDue = async (now, limit, leaseMs, owner) => {
    const claims = await claimDue(now, limit, leaseMs, owner);
    line(`K ${claims.length}`);
    return claims;
  };
  store.createBatch = async (batch) => {
    const res = await createBatch(batch);
    if (res.lost.length === 0) line(`B ${batch.id}`);
    return res;
  };
  // The engine writes a page's batches in one call.
  const createBatches = store.createBatches.bind(store);
  store.createBatches = async (batches) => {
    const res = await createBatches(batches);
    batches.forEach((b, i) => {
      if (res[i]!.lost.length === 0) line(`B ${b.id}`);
    });
    return res;
  };
  store.completeBatch = async (id, records, leftBehind) => {
    await completeBatch(id, records, leftBehind);
    line(`C ${id}`);
  };
  line("R");
  const total = { sent: 0, skipped: 0, failed: 0, deferred: 0 };
  const db = (app.store as SqliteStore).db;
  for (let i = 0, t = start; i < maxTicks; i++, t += step) {
    line(`N ${new Date(t).toISOString()}`);
    const summary = await app.engine.tick(new Date(t));
    for (const k of Object.keys(total) as (keyof typeof total)[]) total[k] += summary[k];
    const claimed = (await app.store.status()).sends.claimed;
    const pending = await db.selectFrom("batches").select("id").where("status", "=", "pending").execute();
    if (claimed === 0 && pending.length === 0) {
      line(`D ${JSON.stringify(total)}`);
      await app.close();
      return;
    }
  }
  throw new Error(`not settled after ${maxTicks} ticks`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
