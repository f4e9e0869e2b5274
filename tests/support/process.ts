/** Small process and network helpers shared by the tests that spawn a server or a worker. */
import type { ChildProcess } from "node:child_process";
import { createServer } from "node:net";

/** A port free on 127.0.0.1 right now (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Feed a child's stdout to `onLine` a whole line at a time and its stderr to `onStderr`.
 * Returns `flush`, which hands over a last unterminated line (call it when the child closes).
 */
export function readLines(child: ChildProcess, onLine: (line: string) => void, onStderr: (chunk: string) => void): () => void {
  let pending = "";
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (chunk: string) => {
    pending += chunk;
    const parts = pending.split("\n");
    pending = parts.pop()!;
    for (const p of parts) onLine(p);
  });
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", onStderr);
  return () => {
    const last = pending;
    pending = "";
    onLine(last);
  };
}
