/**
 * A real clinic's launch, as processes: `drip start` from a copy of the project, with a
 * second sequence file added while it runs (hot reload must not change the signup page's
 * course); `npm start` under SIGTERM (nothing may hold the port after); a second start on a
 * port in use (one sentence, exit 1, no stack trace). Polling only waits for a real server
 * to come up or go away (bounded).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { cpSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { cleanupTempDirs, tempDir } from "../support/engine-helpers.ts";
import { freePort } from "../support/process.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) {
    try {
      if (c.pid) process.kill(-c.pid, "SIGKILL");
    } catch {
      /* already gone */
    }
  }
  cleanupTempDirs();
});

async function until<T>(what: string, ms: number, check: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect({ port, host: "127.0.0.1" });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });

/** A copy of the project (its own sequences/ folder), sharing node_modules. */
function projectCopy(): string {
  const dir = tempDir("drip-ready-");
  for (const f of ["src", "sequences", "emails", "newsletters", "bin", "package.json", "tsconfig.json"])
    cpSync(join(ROOT, f), join(dir, f), { recursive: true });
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
  return dir;
}

function start(cmd: string, args: string[], cwd: string, port: number) {
  let log = "";
  const child = spawn(cmd, args, {
    cwd,
    detached: true,
    env: {
      ...process.env,
      PORT: String(port),
      DATABASE_URL: `file:${join(cwd, "data", "drip.db")}`,
      OUTBOX_DIR: join(cwd, "outbox"),
      RESEND_API_KEY: undefined,
      DRIP_SECRET: "s".repeat(40),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  child.stdout!.on("data", (b) => (log += b));
  child.stderr!.on("data", (b) => (log += b));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, log: () => log, exited };
}

const h1 = async (port: number) => {
  try {
    return /<h1>([^<]*)<\/h1>/.exec(await (await fetch(`http://127.0.0.1:${port}/`)).text())?.[1];
  } catch {
    return undefined;
  }
};

describe("drip start, as a clinic runs it", () => {
  it("adding a second sequence file while it runs leaves the signup page's course unchanged", async () => {
    const dir = projectCopy();
    const port = await freePort();
    const s = start(process.execPath, ["bin/drip.js", "start"], dir, port);
    const before = await until("the signup page", 120_000, () => h1(port));
    expect(before).toBe("Outer hip and leg pain that isn&#39;t your IT band");
    // A one-step newsletter whose file name sorts first (it took over the page before).
    const course = readFileSync(join(dir, "sequences", "hip-pain-course.ts"), "utf8");
    writeFileSync(
      join(dir, "sequences", "a-december-newsletter.ts"),
      course.replace('id: "hip-pain-course"', 'id: "december-newsletter"').replace(/name: "Outer hip[^"]*"/, 'name: "December newsletter"'),
    );
    await until("the reload", 120_000, () => (/sequences reloaded: .*december-newsletter/.test(s.log()) ? true : undefined));
    expect(await h1(port)).toBe("Outer hip and leg pain that isn&#39;t your IT band");
    process.kill(s.child.pid!, "SIGTERM");
    expect(await s.exited).toBe(0);
  }, 300_000);

  it("npm start under SIGTERM leaves no process holding the port; a port in use is one sentence", async () => {
    const dir = projectCopy();
    const port = await freePort();
    const s = start("npm", ["start"], dir, port);
    await until("npm start listening", 120_000, async () => ((await portOpen(port)) ? true : undefined));

    // A second start on the same port: one sentence, exit 1, no stack trace.
    const second = start(process.execPath, ["bin/drip.js", "start"], dir, port);
    expect(await second.exited).toBe(1);
    expect(second.log()).toContain(`drip: port ${port} is already in use (another drip or program is listening there): stop it, or set PORT to a free port\n`);
    expect(second.log()).not.toMatch(/EADDRINUSE|\n\s+at /);
    expect(second.log()).not.toContain("drip listening");

    process.kill(s.child.pid!, "SIGTERM"); // npm itself, as a service manager or a terminal would
    await s.exited;
    await until("the port to be free", 30_000, async () => ((await portOpen(port)) ? undefined : true));
    expect(await portOpen(port)).toBe(false);
  }, 300_000);
});
