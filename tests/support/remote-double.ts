/** Start the Resend double in a child process (tests/support/double-server.ts) and drive it. */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { DeliveredEmail, RequestLogEntry, ResendDoubleOptions } from "./resend-double.ts";

const SERVER = fileURLToPath(new URL("./double-server.ts", import.meta.url));

export type DeliveredSummary = Pick<DeliveredEmail, "id" | "to" | "subject" | "idempotencyKey" | "batchIndex" | "receivedAt">;

export interface RemoteDouble {
  url: string;
  pid: number;
  set(opts: Partial<Omit<ResendDoubleOptions, "now">>): Promise<void>;
  resetQuota(): Promise<void>;
  /** The double's logs as of now (bodies left out). */
  snapshot(): Promise<{ requests: RequestLogEntry[]; delivered: DeliveredSummary[] }>;
  close(): Promise<void>;
}

export async function startRemoteDouble(opts: Omit<ResendDoubleOptions, "now"> = {}): Promise<RemoteDouble> {
  const child: ChildProcess = fork(SERVER, [], {
    execArgv: ["--import", "tsx"],
    env: { ...process.env, DOUBLE_OPTS: JSON.stringify(opts) },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const waiting = new Map<number, (m: Record<string, unknown>) => void>();
  let nextId = 1;
  const url = await new Promise<string>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`double-server exited with ${code} before it was ready`)));
    child.on("message", (m: Record<string, unknown>) => {
      if (m.type === "ready") return resolve(m.url as string);
      const done = waiting.get(m.id as number);
      waiting.delete(m.id as number);
      done?.(m);
    });
  });
  child.removeAllListeners("exit");
  const call = <T>(msg: Record<string, unknown>) =>
    new Promise<T>((resolve) => {
      const id = nextId++;
      waiting.set(id, resolve as (m: Record<string, unknown>) => void);
      child.send({ ...msg, id });
    });
  return {
    url,
    pid: child.pid!,
    set: (o) => call({ type: "set", opts: o }),
    resetQuota: () => call({ type: "resetQuota" }),
    snapshot: () => call({ type: "snapshot" }),
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.send({ type: "close", id: nextId++ });
      await exited;
    },
  };
}
