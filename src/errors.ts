/**
 * Errors that reach users are values with a fixed code. Code below the edges throws a
 * DripError with one sentence that says what is wrong and what to do; each edge converts
 * it once: the CLI maps the code to an exit status (see `exitCodeFor`), the HTTP app to a
 * status code (see `httpStatusFor`). Anything else that is thrown is a bug: the edges say
 * "unexpected error" in one line and show the stack only with DEBUG=drip.
 */

export type ErrorCode =
  /** The command or request was called wrongly (bad flag, bad argument). */
  | "usage"
  /** The input (a CSV row, a body, a file) is not valid. */
  | "invalid_input"
  /** The thing named does not exist (a subscriber, a sequence). */
  | "not_found"
  /** Configuration (environment, .env) is wrong. */
  | "config"
  /** The request contradicts the current state (already there, suppressed). */
  | "conflict"
  /** The database is busy (another process holds the write lock): try again shortly. */
  | "busy"
  /** The work was attempted and failed (delivery, validation of content). */
  | "failed";

export class DripError extends Error {
  override name = "DripError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const isDripError = (e: unknown): e is DripError => e instanceof DripError;

/** The CLI contract: 0 ok, 1 the work failed, 2 usage error. */
export function exitCodeFor(code: ErrorCode): 1 | 2 {
  return code === "usage" ? 2 : 1;
}

export function httpStatusFor(code: ErrorCode): number {
  switch (code) {
    case "usage":
    case "invalid_input":
      return 400;
    case "not_found":
      return 404;
    case "conflict":
      return 409;
    case "busy":
      return 503;
    case "config":
    case "failed":
      return 500;
  }
}

/** SQLite's "database is locked" (SQLITE_BUSY) and Postgres' lock timeouts become `busy`. */
export function coerceError(err: unknown): unknown {
  if (err instanceof DripError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (code === "SQLITE_BUSY" || code === "SQLITE_LOCKED" || code === "55P03") {
    return new DripError("busy", "the database is busy (another drip process holds the write lock): try again in a moment", { cause: err });
  }
  if (code === "SQLITE_FULL" || code === "ENOSPC") {
    return new DripError("failed", "the disk is full: free some space; nothing was changed", { cause: err });
  }
  if (code === "SQLITE_READONLY" || code === "SQLITE_CANTOPEN") {
    return new DripError("config", "the database file cannot be written: check the permissions of the data directory and DATABASE_URL", { cause: err });
  }
  return err;
}
