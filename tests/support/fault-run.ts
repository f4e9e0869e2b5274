/**
 * Checks shared by the delivery tests, and the run against a faulty, rate-limited provider
 * (the double in its own process, as the provider is another machine): every subscriber
 * exactly once at the provider, all recorded sent with the provider's ids, faults absorbed
 * by retries under the same key, never over the rate limit. The fast suite runs it small
 * (tests/delivery/delivery.test.ts), the soak suite at 5,000 sends
 * (tests/delivery/faults.soak.test.ts).
 */
import { expect } from "vitest";
import type { Store } from "../../src/store/types.ts";
import { MINUTE, T0, deliveryApp, dripStatus, maxInWindow, seedEnrolled, sendRows, tally, tickUntilSettled } from "./delivery-helpers.ts";
import { startRemoteDouble } from "./remote-double.ts";
import type { RequestLogEntry } from "./resend-double.ts";

type Logs = { requests: RequestLogEntry[] };
export const ok = (d: Logs) => d.requests.filter((r) => r.status !== 429);
export const keysOf = (d: Logs) => d.requests.map((r) => r.idempotencyKey);

export async function statusJson(env: Record<string, string>, now: Date) {
  const r = await dripStatus(env, now);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out) as { sends: Record<string, number>; transport: string } & Record<string, unknown>;
}

/** Every send row is settled: sent, or failed/in_doubt with a reason; none left claimed. */
export async function expectAllAccountedFor(store: Store, env: Record<string, string>, now: Date, total: number) {
  const rows = await sendRows(store);
  expect(rows).toHaveLength(total);
  const counts = { claimed: 0, sent: 0, skipped: 0, failed: 0, in_doubt: 0 };
  for (const r of rows) {
    counts[r.status as keyof typeof counts]++;
    if (r.status === "failed" || r.status === "in_doubt") expect(r.reason, `${r.id} ${r.status} without a reason`).toBeTruthy();
  }
  expect(counts.claimed).toBe(0);
  const status = await statusJson(env, now);
  expect(status.transport).toBe("resend");
  expect(status.sends).toEqual(counts);
  return counts;
}

export interface FaultRunOptions {
  /** due sends (a multiple of 100) */
  n: number;
  /** requests per second, at the provider and in drip */
  rate: number;
  failRate: number;
  dropRate: number;
  seed: number;
}

/** Seed `n` due sends and tick until settled against a faulty double in its own process. */
export async function faultyProviderRun(o: FaultRunOptions): Promise<void> {
  const N = o.n;
  // The provider is another machine: the double runs in its own process, so its arrival
  // times and rate-limit window are not skewed by renders blocking this event loop.
  const remote = await startRemoteDouble({ rateLimit: o.rate, latencyMs: [10, 60], failRate: o.failRate, dropRate: o.dropRate, seed: o.seed });
  const { app, env, logs } = await deliveryApp(remote.url, o.rate);
  try {
    const tSeed = performance.now();
    await seedEnrolled(app.store, app.engine, N, T0);
    const t0 = performance.now();
    const run = await tickUntilSettled(app.engine, app.store, T0, 10 * MINUTE);
    const seconds = (performance.now() - t0) / 1000;
    const seeded = (t0 - tSeed) / 1000;

    const d = await remote.snapshot();
    const status500 = d.requests.filter((r) => r.status === 500).length;
    const dropped = d.requests.filter((r) => r.status === 0).length;
    const window = maxInWindow(ok(d));
    const all = maxInWindow(d.requests);
    const r429 = d.requests.filter((r) => r.status === 429);
    console.info(
      `${N} sends: seeded in ${seeded.toFixed(1)} s, delivered in ${seconds.toFixed(1)} s, ${run.ticks} ticks, ${d.requests.length} requests ` +
        `(${status500} × 500, ${dropped} dropped, ${r429.length} × 429), max per sliding second: ${window.max} admitted / ${all.max} sent; ` +
        `warnings logged: ${logs.filter((l) => l.startsWith("warning")).length}`,
    );

    // What the provider holds: every subscriber exactly once.
    const byTo = tally(d.delivered.map((e) => e.to.join(",")));
    const duplicates = [...byTo.values()].reduce((n, c) => n + c - 1, 0);
    expect(duplicates).toBe(0);
    expect(byTo.size).toBe(N);
    expect(d.delivered).toHaveLength(N);
    // Each delivered email is the course's first step.
    expect(new Set(d.delivered.map((e) => e.subject))).toEqual(new Set(["Outer leg pain? It may start in your hip"]));

    // What drip recorded: all sent, with the provider's message id.
    const counts = await expectAllAccountedFor(app.store, env, run.last, N);
    expect(counts).toEqual({ claimed: 0, sent: N, skipped: 0, failed: 0, in_doubt: 0 });
    const rows = await sendRows(app.store);
    const ids = new Set(d.delivered.map((e) => e.id));
    for (const r of rows) expect(ids.has(r.provider_message_id ?? ""), `${r.id} has no provider id of a delivered email`).toBe(true);

    // Faults did happen, and were absorbed by retries with the same key.
    expect(status500).toBeGreaterThan(0);
    expect(dropped).toBeGreaterThan(0);
    for (const r of d.requests) expect(r.count, "batches of at most 100").toBeLessThanOrEqual(100);
    expect(new Set(keysOf(d)).size, `one key per batch: ${N / 100} batches of 100`).toBe(N / 100);

    // The rate limit: no sliding second with more than the limit of admitted requests, no 429 after the first.
    expect(window.max).toBeLessThanOrEqual(o.rate);
    expect(r429.length, `429s at ${r429.map((r) => r.at).join(", ")}`).toBeLessThanOrEqual(1);
  } finally {
    await app.close();
    await remote.close();
  }
}
