/**
 * One worker process on a shared PostgreSQL database (tests/store/workers.soak.test.ts and
 * bench): `pg-worker.ts` opens the app from its environment exactly as `drip start` does
 * (createApp, then the worker's heartbeat and duties), and ticks on the real clock every
 * TICK_MS (default 200) until killed or sent SIGTERM. It prints "ready", then one JSON line per
 * tick that did something.
 */
import { loadConfig } from "../../src/config.ts";
import { createApp } from "../../src/wiring.ts";

const app = await createApp(loadConfig(process.env), (l) => process.stderr.write(`${l}\n`));
await app.worker?.start();
const every = Number(process.env.TICK_MS ?? 200);
let stopping = false;
process.once("SIGTERM", () => {
  stopping = true;
});
process.stdout.write("ready\n");
while (!stopping) {
  const s = await app.engine.tick(new Date());
  if (s.sent + s.failed + s.skipped + s.deferred > 0) process.stdout.write(`${JSON.stringify(s)}\n`);
  await new Promise((r) => setTimeout(r, every));
}
await app.close();
process.exit(0);
