/**
 * A separate process claiming from the same SQLite file (tests/store/sqlite-store.test.ts):
 * `claim-worker.ts <dbUrl> <nowIso> <pageSize>` opens its own SqliteStore and prints "ready";
 * then for each "claim" line on stdin it runs one claimDue and prints the claimed send ids as
 * a JSON line (or {"error": …}); "quit" closes the store. The parent sends "claim" to two
 * workers at once, so their BEGIN IMMEDIATE transactions really contend for the file.
 */
import { createInterface } from "node:readline";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";

const [url, nowIso, page] = process.argv.slice(2);
const store = new SqliteStore(url!);
const now = new Date(nowIso!);
const rl = createInterface({ input: process.stdin });
rl.on("line", async (line) => {
  if (line === "quit") {
    rl.close();
    await store.close();
    return;
  }
  try {
    const claims = await store.claimDue(now, Number(page), 10 * 60_000);
    process.stdout.write(`${JSON.stringify(claims.map((c) => c.sendId))}\n`);
  } catch (err) {
    process.stdout.write(`${JSON.stringify({ error: String(err) })}\n`);
  }
});
process.stdout.write("ready\n");
