import { DripError } from "../errors.ts";

/** What a command may touch of the outside world; tests pass their own. */
export interface CliIO {
  out: (s: string) => void;
  err: (s: string) => void;
  env: Record<string, string | undefined>;
  cwd: string;
  /** The wall clock, read only here at the CLI edge. */
  now: () => Date;
  /** True when stdout/stderr is a terminal (progress bars). */
  isTTY: boolean;
}

/** `drip list | head` closes the pipe early: that is the reader's choice, not an error. */
function quietOnEpipe(stream: NodeJS.WriteStream) {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(0);
    throw err;
  });
}

export const processIO = (): CliIO => {
  quietOnEpipe(process.stdout);
  return {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
    env: process.env,
    cwd: process.cwd(),
    now: () => new Date(),
    isTTY: Boolean(process.stderr.isTTY),
  };
};

/** Exit codes of the contract: 0 ok, 1 the work failed, 2 usage error. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** The command was called wrongly: exit 2 with this message (a DripError with code "usage"). */
export class UsageError extends DripError {
  override name = "UsageError";
  constructor(message: string, options?: { cause?: unknown }) {
    super("usage", message, options);
  }
}
/** The work failed (validation, delivery): exit 1 with this message (a DripError with code "failed"). */
export class WorkError extends DripError {
  override name = "WorkError";
  constructor(message: string, options?: { cause?: unknown }) {
    super("failed", message, options);
  }
}

export const printJson = (io: CliIO, value: unknown) => io.out(`${JSON.stringify(value, null, 2)}\n`);
