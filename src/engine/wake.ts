/**
 * Wake-ups: a change that makes a send due now (a confirmation, a confirmed subscribe, an
 * import, a resume) asks for a tick at once instead of waiting for the minute's cron. The
 * tick is the same one cron runs (claim under lease, fenced record), so a wake-up is never a
 * second way to send: at worst it is a tick that finds nothing due.
 *
 * - `TickLoop` runs one tick at a time and coalesces: any number of calls while a tick runs
 *   turn into one more tick after it (a due step written mid-tick may have been past the
 *   tick's claim already, so "join the running tick" would leave it for the next minute).
 * - `Waker` is what the lifecycle door calls. In a process that runs the scheduler (`drip
 *   start`) it runs the TickLoop; elsewhere (a CLI command, `drip start --no-scheduler`) it
 *   notifies a `WakeChannel` so the process(es) that do tick hear it.
 * - `WakeChannel`: SQLite uses a file beside the database watched with inotify
 *   (`fileWakeChannel`); PostgreSQL uses LISTEN/NOTIFY (`src/store/postgres/wake.ts`: every
 *   worker listens, and a worker that ticks also tells the others, `broadcast`; whichever
 *   claims first sends, the others find nothing due).
 */

/** A cross-process "something is due now" signal. */
export interface WakeChannel {
  /** Tell the workers (best effort: the minute tick is the safety net). */
  notify(): void | Promise<void>;
  /** Hear other processes' notifications; returns the function that stops listening. */
  listen(onWake: () => void): () => void;
  /** Notify the others even when this process ticks itself (PostgreSQL: idle workers share the work). */
  broadcast?: boolean;
  /** Wait for notifications in flight (before the store closes). */
  close?(): Promise<void>;
}

/** One tick at a time; calls during a tick become exactly one more tick after it. */
export class TickLoop {
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;

  constructor(private readonly tick: () => Promise<void>) {}

  /** Ask for a tick; resolves once a tick that started after this call has finished. */
  run(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          if (this.stopped) break;
          await this.tick();
        } while (this.again);
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  /** No more ticks start; the one in hand finishes (await `idle()`). */
  stop(): void {
    this.stopped = true;
  }

  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }
}

/** What the lifecycle door calls when a change makes a send due now. */
export class Waker {
  private run: (() => Promise<unknown>) | null = null;
  private unlisten: () => void = () => {};
  /** Wake-ups asked for (for the logs and tests). */
  requested = 0;

  constructor(
    private readonly channel: WakeChannel | null = null,
    private readonly log: (line: string) => void = () => {},
  ) {}

  /** This process ticks: wake-ups (its own and other processes') call `run` (a TickLoop's run). */
  attach(run: () => Promise<unknown>): void {
    this.run = run;
    this.unlisten = this.channel?.listen(() => this.runHere()) ?? (() => {});
  }

  private runHere(): void {
    void this.run?.().catch((err) => this.log(`wake-up tick failed: ${(err as Error).message}`));
  }

  detach(): void {
    this.unlisten();
    this.unlisten = () => {};
    this.run = null;
  }

  /** Never throws and never waits: the change is committed already, and the minute tick stays. */
  wake(): void {
    this.requested++;
    if (this.run) {
      this.runHere();
      if (!this.channel?.broadcast) return;
    }
    try {
      void Promise.resolve(this.channel?.notify()).catch((err) => this.log(`wake-up not delivered: ${(err as Error).message}`));
    } catch (err) {
      this.log(`wake-up not delivered: ${(err as Error).message}`);
    }
  }
}
