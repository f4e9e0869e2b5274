/**
 * Runs the delivery worker (tests/support/delivery-worker.ts) as a child process and kills it
 * with SIGKILL where a crash test asks: after the provider double has answered the run's k-th
 * request (between the provider accepting a batch and the worker recording it), or at a
 * random moment after the app is open. Shared by the crash tests (course steps, newsletters).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readLines } from "./process.ts";
import type { ResendDouble } from "./resend-double.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const WORKER = join(ROOT, "tests/support/delivery-worker.ts");

/** Where a kill landed, from the worker's last line before it (see delivery-worker.ts). */
export const PHASE: Record<string, string> = {
  R: "opened, before the first tick",
  N: "claiming stale batches or due sends",
  K: "rendering a claimed page",
  B: "batch written, before its request",
  T: "request in flight",
  A: "answered, not yet recorded",
  C: "recorded, before the next claim",
  L: "after a log line",
};

export type Kill = { kind: "after-request"; requests: number; delayMs: number } | { kind: "random"; afterReadyMs: number } | null;

export interface RunResult {
  killed: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  lastNow: Date | null;
  done: boolean;
  stderr: string;
  logs: string[];
  /** Requests the double answered during this run. */
  requests: number;
  /** The worker's last line before the kill. */
  lastLine: string | null;
}

/** Run the worker once from `start` (its virtual clock), killed as `kill` says; `onTick` hears each tick instant. */
export function runWorker(
  o: { double: ResendDouble; env: Record<string, string>; stepMs: number; onTick?: (at: Date) => void },
  start: Date,
  kill: Kill,
): Promise<RunResult> {
  const { double, env } = o;
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", WORKER, "--start", start.toISOString(), "--step-ms", String(o.stepMs)], {
      cwd: ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const result: RunResult = { killed: false, code: null, signal: null, lastNow: null, done: false, stderr: "", logs: [], requests: 0, lastLine: null };
    const base = double.requests.length;
    let watch: NodeJS.Timeout | null = null;
    const killNow = () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        result.killed = true;
      }
    };
    if (kill?.kind === "after-request") {
      // Poll the double's log: an entry appears as it answers, so the kill lands while the
      // worker reads the answer or records it (or just after).
      watch = setInterval(() => {
        if (double.requests.length - base >= kill.requests) {
          clearInterval(watch!);
          watch = null;
          if (kill.delayMs === 0) killNow();
          else setTimeout(killNow, kill.delayMs);
        }
      }, 1);
    }
    const onLine = (text: string) => {
      if (!text) return;
      result.lastLine = text.slice(0, 40);
      const kind = text[0];
      const rest = text.slice(2);
      if (kind === "R" && kill?.kind === "random") setTimeout(killNow, kill.afterReadyMs);
      if (kind === "N") {
        result.lastNow = new Date(rest);
        o.onTick?.(result.lastNow);
      }
      if (kind === "L") result.logs.push(rest);
      if (kind === "D") result.done = true;
    };
    const flush = readLines(child, onLine, (chunk) => {
      result.stderr += chunk;
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (watch) clearInterval(watch);
      flush();
      result.code = code;
      result.signal = signal;
      result.requests = double.requests.length - base;
      resolve(result);
    });
  });
}
