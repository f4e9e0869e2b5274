/**
 * The SQLite store's wake-up channel: a small file beside the database (`drip.db-wake`).
 * A process that ticks (`drip start`) watches it (inotify); a process that only changes
 * subscribers (a CLI command, `drip start --no-scheduler`) writes the time into it after its
 * transaction committed. Every watcher wakes and runs its ordinary tick, so two workers on one
 * file race for the claim as they do every minute. With nobody watching (no file yet) nothing
 * is written: the next `drip start` finds the send due anyway.
 */
import { existsSync, type FSWatcher, watch, writeFileSync } from "node:fs";
import type { WakeChannel } from "../../engine/wake.ts";

export function wakeFilePath(dbPath: string): string {
  return `${dbPath}-wake`;
}

export function fileWakeChannel(path: string): WakeChannel {
  return {
    notify() {
      if (existsSync(path)) writeFileSync(path, `${new Date().toISOString()}\n`);
    },
    listen(onWake) {
      if (!existsSync(path)) writeFileSync(path, "", { mode: 0o600 });
      let watcher: FSWatcher | null = watch(path, { persistent: false }, () => onWake());
      // A deleted or replaced file ends the watch: the minute tick still runs.
      watcher.on("error", () => {
        watcher?.close();
        watcher = null;
      });
      return () => {
        watcher?.close();
        watcher = null;
      };
    },
  };
}
