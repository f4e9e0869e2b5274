/**
 * The wake-up race (tests/engine/wake.test.ts, and with a second process in
 * tests/engine/wake.soak.test.ts): N people sign up and confirm while the ticking process's
 * loop runs as if cron fired non-stop, a second engine on the same SQLite file ticks as fast as
 * it can, wake-ups also arrive through the wake file, and (with `process`) a second process
 * ticks the same file (the crash test's tick worker, 1 ms steps from T0). Every step must be
 * handed to a transport exactly once.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { TickLoop } from "../../src/engine/wake.ts";
import { wakeFilePath } from "../../src/store/sqlite/wake-file.ts";
import { createApp } from "../../src/wiring.ts";
import { waitFor } from "./delivery-helpers.ts";
import { ScriptedTransport, tempDir } from "./engine-helpers.ts";
import { readLines } from "./process.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const WORKER = join(ROOT, "tests/support/tick-worker.ts");
export const T0 = new Date("2026-03-02T10:00:00Z"); // a Monday, 10:00 in London: inside the send window

export function envFor(dir: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? dir,
    DATABASE_URL: `file:${join(dir, "drip.db")}`,
    OUTBOX_DIR: join(dir, "outbox"),
    DRIP_SECRET: "wake-test-secret-0123456789abcdef0123456789",
    NODE_ENV: "production",
  };
}

const welcomeOf = (t: ScriptedTransport) => t.calls.map((m) => m.sendId);

/** Returns how many first emails each worker handed over (mine, the second engine, the second process). */
export async function wakeRace(N: number, opts: { process: boolean }): Promise<{ mine: number; engine: number; process: number }> {
  const dir = tempDir("drip-wake-race-");
  const env = envFor(dir);
  const mine = new ScriptedTransport();
  const other = new ScriptedTransport();
  const app = await createApp(loadConfig(env), () => {}, { transport: mine });
  // A second engine on the same SQLite file (its own worker id), ticking on its own.
  const second = await createApp(loadConfig(env), () => {}, { transport: other, wakeChannel: null });
  // A second process ticking the same file (the tick worker of the crash test): 1 ms steps from T0.
  const handed: string[] = [];
  let started = false;
  const child: ChildProcess | null = opts.process
    ? spawn(
        process.execPath,
        ["--import", "tsx", WORKER, "--start", T0.toISOString(), "--end", new Date(T0.getTime() + 60_000).toISOString(), "--step-ms", "1"],
        { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] },
      )
    : null;
  let stderr = "";
  const exited = child
    ? new Promise<void>((resolve) => {
        const flush = readLines(
          child,
          (line) => {
            if (line.startsWith("N ")) started = true;
            if (line.startsWith("T ")) handed.push(line.slice(2));
          },
          (chunk) => void (stderr += chunk),
        );
        child.on("close", () => resolve(flush()));
      })
    : Promise.resolve();
  try {
    if (child) await waitFor(() => started || child.exitCode !== null, 60_000, 10);
    expect(stderr).toBe("");
    let ticks = 0;
    const loop = new TickLoop(async () => {
      ticks++;
      await app.engine.tick(T0);
    });
    app.waker.attach(() => loop.run());
    let confirming = true;
    // The minute tick (the same loop cron runs) and the second engine, ticking as fast as they can.
    // (better-sqlite3 answers synchronously: each loop yields to the event loop between ticks.)
    const breathe = () => new Promise((r) => setImmediate(r));
    const minute = (async () => {
      while (confirming) {
        await loop.run();
        await breathe();
      }
    })();
    const rival = (async () => {
      while (confirming) {
        await second.engine.tick(T0);
        await breathe();
      }
    })();
    for (let i = 0; i < N; i++) {
      await app.lifecycle.signUp({ email: `r${i}@example.com`, name: `R ${i}`, timezone: "Europe/London", tags: [] }, { source: "test" }, T0);
      const sub = (await app.store.findSubscriberByEmail(`r${i}@example.com`))!;
      await app.lifecycle.confirm(sub.id, T0, T0);
      if (i % 7 === 0) writeFileSync(wakeFilePath(join(dir, "drip.db")), "x"); // wake-ups from "another process" too
    }
    // Let everyone race a little longer, then settle.
    await new Promise((r) => setTimeout(r, 300));
    confirming = false;
    await Promise.all([minute, rival]);
    child?.kill("SIGTERM");
    await exited;
    await loop.run();
    await second.engine.tick(T0);
    // The second process releases what it claimed but had not started when SIGTERM came, due
    // again at its own clock (up to a minute past T0, 1 ms a tick): settle at the end of its window.
    if (child) await app.engine.tick(new Date(T0.getTime() + 60_000));

    const all = [...welcomeOf(mine), ...welcomeOf(other), ...handed];
    const counts = new Map<string, number>();
    for (const id of all) counts.set(id, (counts.get(id) ?? 0) + 1);
    // Nothing handed over twice (the confirmation emails, which ticks also send, included)…
    expect([...counts.entries()].filter(([, n]) => n > 1)).toEqual([]);
    // …and every subscriber's first course email handed over once.
    expect([...counts.keys()].filter((id) => id.endsWith(".article")).length).toBe(N);
    const rows = await app.store.listSends({});
    expect(rows.filter((s) => s.status === "sent" && s.stepId === "article").length).toBe(N);
    expect(app.waker.requested).toBe(N);
    expect(ticks).toBeGreaterThan(1);
    const articles = (ids: string[]) => ids.filter((id) => id.endsWith(".article")).length;
    return { mine: articles(welcomeOf(mine)), engine: articles(welcomeOf(other)), process: articles(handed) };
  } finally {
    if (child && child.exitCode === null) child.kill("SIGKILL");
    app.waker.detach();
    await app.close();
    await second.close();
  }
}
