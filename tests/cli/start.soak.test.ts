/**
 * `drip start` as users run it: `node bin/drip.js start` in a child process with its own
 * env and cwd. It must create/open the database, answer /healthz, tick at once (the
 * confirmed subscriber's first step lands in the outbox), and stop cleanly on SIGTERM.
 * Polling here only waits for a real server to come up or a file to appear (bounded).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { addressOf, cleanupTempDirs, rawHeader, readOutbox, runDrip, tempDir } from "../support/engine-helpers.ts";
import { freePort } from "../support/process.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
let child: ChildProcess | undefined;

/** Poll `check` every 100 ms until it returns a value, or fail after `ms`. */
async function until<T>(what: string, ms: number, check: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const health = async (port: number) => {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  } catch {
    return undefined;
  }
};

afterAll(() => {
  // If the server outlived the test (e.g. a wrapper that does not pass SIGTERM on), end its process group.
  if (child?.pid) {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      /* already gone */
    }
  }
  cleanupTempDirs();
});

describe("drip start", () => {
  it("opens the database, serves /healthz, ticks at once into the outbox, and exits 0 on SIGTERM", async () => {
    const dir = tempDir("drip-start-");
    const port = await freePort();
    const env: Record<string, string | undefined> = {
      ...process.env,
      PORT: String(port),
      DATABASE_URL: `file:${join(dir, "data", "drip.db")}`,
      OUTBOX_DIR: join(dir, "outbox"),
      NODE_ENV: "production",
      RESEND_API_KEY: undefined,
      DRIP_SECRET: undefined,
    };
    // Confirmed just now on the real clock, so the first tick at start finds the article due.
    const sub = await runDrip(["subscribe", "early@example.com", "--confirmed", "--tz", "Europe/London"], { env, cwd: dir, now: () => new Date() });
    expect(sub.code, sub.err).toBe(0);

    let stderr = "";
    child = spawn(process.execPath, [join(ROOT, "bin", "drip.js"), "start"], {
      cwd: dir,
      env: env as NodeJS.ProcessEnv,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdout?.resume();
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child!.once("exit", (code, signal) => resolve({ code, signal })),
    );

    const up = await until("GET /healthz to answer 200", 20_000, async () => {
      const h = await health(port);
      return h?.status === 200 ? h : undefined;
    }).catch((e: Error) => {
      throw new Error(`${e.message}\nserver stderr:\n${stderr}`);
    });
    expect(up.body).toMatchObject({ ok: true });
    expect(existsSync(join(dir, "data", "drip.db"))).toBe(true);

    const outbox = join(dir, "outbox");
    await until("the article in the outbox", 15_000, () => (existsSync(outbox) && readdirSync(outbox).some((f) => f.endsWith(".eml")) ? true : undefined));
    const [mail] = await readOutbox(outbox);
    expect(addressOf(mail!.mail.to)?.address).toBe("early@example.com");
    expect(rawHeader(mail!.mail, "X-Drip-Step")).toBe("article");
    expect((await health(port))?.body.lastTick).toEqual(expect.any(String));

    child.kill("SIGTERM");
    const result = await Promise.race([exited, new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 10_000))]);
    expect(result, `server stderr:\n${stderr}`).toEqual({ code: 0, signal: null });
    // And the server really stopped (not just a wrapper process).
    await until("the port to close", 5_000, async () => ((await health(port)) === undefined ? true : undefined));
    expect(stderr).toMatch(/SIGTERM: stopping/);
  }, 60_000);

  it("SIGTERM during a tick aborts it, waits for it, then closes the database: exit 0 and no error output", async () => {
    const dir = tempDir("drip-start-term-");
    const port = await freePort();
    const env: Record<string, string | undefined> = {
      ...process.env,
      PORT: String(port),
      DATABASE_URL: `file:${join(dir, "data", "drip.db")}`,
      OUTBOX_DIR: join(dir, "outbox"),
      NODE_ENV: "production",
      RESEND_API_KEY: undefined,
      DRIP_SECRET: "t".repeat(40),
    };
    // Enough readers due at once that the first tick is still rendering when SIGTERM arrives.
    const rows = ["email,name,timezone"];
    for (let i = 0; i < 1500; i++) rows.push(`reader${i}@example.com,Reader,Europe/London`);
    writeFileSync(join(dir, "list.csv"), rows.join("\n"));
    const imp = await runDrip(["import", join(dir, "list.csv"), "--confirmed"], { env, cwd: dir, now: () => new Date() });
    expect(imp.code, imp.err).toBe(0);

    let stderr = "";
    child = spawn(process.execPath, [join(ROOT, "bin", "drip.js"), "start", "--no-watch"], {
      cwd: dir,
      env: env as NodeJS.ProcessEnv,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdout?.resume();
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child!.once("exit", (code, signal) => resolve({ code, signal })),
    );

    const outbox = join(dir, "outbox");
    const count = () => (existsSync(outbox) ? readdirSync(outbox).filter((f) => f.endsWith(".eml")).length : 0);
    await until("the first tick to be under way", 30_000, () => (count() > 0 ? true : undefined)).catch((e: Error) => {
      throw new Error(`${e.message}\nserver stderr:\n${stderr}`);
    });
    child.kill("SIGTERM");
    const result = await Promise.race([exited, new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 15_000))]);
    expect(count(), "the tick was still running when SIGTERM arrived").toBeLessThan(1500);
    expect(result, `server stderr:\n${stderr}`).toEqual({ code: 0, signal: null });
    expect(stderr).toMatch(/SIGTERM: stopping/);
    expect(stderr).not.toMatch(/destroyed|tick failed|error/i);
    // The database is whole: the unsent readers are still due and a later run picks them up.
    const status = await runDrip(["status", "--json"], { env, cwd: dir, now: () => new Date() });
    expect(status.code, status.err).toBe(0);
    const s = JSON.parse(status.out) as { sends: Record<string, number> };
    expect(s.sends.sent).toBe(count());
  }, 90_000);
});
