/**
 * The `drip` CLI edge: the only place that reads process.env, the wall clock and argv.
 * Exit codes: 0 ok, 1 the work failed (validation, delivery), 2 usage error.
 */
import { Command, CommanderError } from "commander";
import { DripError, coerceError, exitCodeFor } from "../errors.ts";
import { demoCommand } from "./commands/demo.ts";
import { exportCommand } from "./commands/export.ts";
import { importCommand } from "./commands/import.ts";
import { listCommand } from "./commands/list.ts";
import { reportCommands } from "./commands/reports.ts";
import { startCommand } from "./commands/start.ts";
import { statusCommand } from "./commands/status.ts";
import { subscriberCommands } from "./commands/subscribers.ts";
import { staffCommands } from "./commands/staff.ts";
import { dbCommands } from "./commands/db.ts";
import { tickCommand } from "./commands/tick.ts";
import { previewCommand } from "./commands/preview.ts";
import { simulateCommand } from "./commands/simulate.ts";
import { validateCommand } from "./commands/validate.ts";
import { type CliIO, EXIT, processIO } from "./io.ts";

export function buildProgram(io: CliIO): Command {
  const program = new Command("drip")
    .description("drip: email courses and newsletters from typed sequences, delivered through Resend")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err });
  for (const add of [
    listCommand,
    validateCommand,
    previewCommand,
    simulateCommand,
    startCommand,
    tickCommand,
    subscriberCommands,
    statusCommand,
    reportCommands,
    importCommand,
    exportCommand,
    demoCommand,
    staffCommands,
    dbCommands,
  ])
    add(program, io);
  for (const cmd of program.commands) cmd.exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err });
  return program;
}

/** Run the CLI with argv (without node and script); returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIO = processIO()): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: "user" });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version arrive here too, as "errors" with exit code 0.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    return reportError(err, io);
  }
}

/**
 * The one place where errors become what users see: a DripError (UsageError, WorkError and
 * ConfigError are DripErrors) is `drip: <sentence>` and its code's exit status; anything else
 * is a bug, said in one line, with the stack only when DEBUG contains "drip".
 */
export function reportError(thrown: unknown, io: CliIO): number {
  const err = coerceError(thrown);
  if (err instanceof DripError) {
    if (err.message) io.err(`drip: ${err.message}\n`);
    if (debugging(io) && err.cause instanceof Error && err.cause.stack) io.err(`${err.cause.stack}\n`);
    return exitCodeFor(err.code);
  }
  const message = err instanceof Error ? err.message : String(err);
  io.err(`drip: unexpected error: ${message.replace(/\s*\n\s*/g, " ")}\n`);
  if (debugging(io) && err instanceof Error && err.stack) io.err(`${err.stack}\n`);
  return EXIT.failed;
}

const debugging = (io: CliIO) => (io.env.DEBUG ?? "").includes("drip");

const isMain = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  runCli(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
