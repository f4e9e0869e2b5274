/**
 * The `drip` CLI edge: the only place that reads process.env, the wall clock and argv.
 * Exit codes: 0 ok, 1 the work failed (validation, delivery), 2 usage error.
 */
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { DripError, coerceError, exitCodeFor } from "../errors.ts";
import type { CommandModule } from "./commands/registry.ts";
import { type CliIO, EXIT, processIO } from "./io.ts";

/**
 * Every command, by name, and the module that registers it: loaded on demand, so `drip status`
 * does not import React, MJML, the sequences or the HTTP server. One line per command (a
 * module that registers several commands is named once per command).
 */
const COMMANDS: Record<string, () => Promise<CommandModule>> = {
  list: () => import("./commands/list.ts").then((m) => m.listCommand),
  validate: () => import("./commands/validate.ts").then((m) => m.validateCommand),
  preview: () => import("./commands/preview.ts").then((m) => m.previewCommand),
  simulate: () => import("./commands/simulate.ts").then((m) => m.simulateCommand),
  start: () => import("./commands/start.ts").then((m) => m.startCommand),
  tick: () => import("./commands/tick.ts").then((m) => m.tickCommand),
  subscribe: () => import("./commands/subscribers.ts").then((m) => m.subscriberCommands),
  unsubscribe: () => import("./commands/subscribers.ts").then((m) => m.subscriberCommands),
  tag: () => import("./commands/subscribers.ts").then((m) => m.subscriberCommands),
  untag: () => import("./commands/subscribers.ts").then((m) => m.subscriberCommands),
  event: () => import("./commands/subscribers.ts").then((m) => m.subscriberCommands),
  forget: () => import("./commands/subscribers.ts").then((m) => m.subscriberCommands),
  status: () => import("./commands/status.ts").then((m) => m.statusCommand),
  stats: () => import("./commands/reports.ts").then((m) => m.reportCommands),
  failures: () => import("./commands/reports.ts").then((m) => m.reportCommands),
  import: () => import("./commands/import.ts").then((m) => m.importCommand),
  export: () => import("./commands/export.ts").then((m) => m.exportCommand),
  demo: () => import("./commands/demo.ts").then((m) => m.demoCommand),
  db: () => import("./commands/db.ts").then((m) => m.dbCommands),
  topics: () => import("./commands/newsletters.ts").then((m) => m.newsletterCommands),
  newsletter: () => import("./commands/newsletters.ts").then((m) => m.newsletterCommands),
  feed: () => import("./commands/newsletters.ts").then((m) => m.feedCommands),
  plan: () => import("./commands/versions.ts").then((m) => m.versionCommands),
  apply: () => import("./commands/versions.ts").then((m) => m.versionCommands),
  history: () => import("./commands/versions.ts").then((m) => m.versionCommands),
  form: () => import("./commands/forms.ts").then((m) => m.formCommands),
  staff: () => import("./commands/staff.ts").then((m) => m.staffCommands),
  show: () => import("./commands/one-subscriber.ts").then((m) => m.oneSubscriberCommands),
  pause: () => import("./commands/one-subscriber.ts").then((m) => m.oneSubscriberCommands),
  resume: () => import("./commands/one-subscriber.ts").then((m) => m.oneSubscriberCommands),
  update: () => import("./commands/one-subscriber.ts").then((m) => m.oneSubscriberCommands),
  retry: () => import("./commands/retry.ts").then((m) => m.retryCommand),
};

/** package.json's version (read when the program is built: one small file). */
function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: string }).version ?? "unknown";
  } catch {
    return "unknown";
  }
}

/**
 * The program with the commands `argv` needs: the one it names, or every command (for
 * `--help`, `help`, no command or an unknown one, so help and "did you mean" see them all).
 */
export async function buildProgram(io: CliIO, argv: readonly string[] = []): Promise<Command> {
  const program = new Command("drip")
    .description("drip: email courses and newsletters from typed sequences, delivered through Resend")
    .version(packageVersion(), "-V, --version", "print drip's version")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err });
  const named = argv.find((a) => !a.startsWith("-"));
  const loaders = named !== undefined && Object.hasOwn(COMMANDS, named) ? [COMMANDS[named]!] : Object.values(COMMANDS);
  const modules = new Set(await Promise.all(loaders.map((load) => load())));
  // In the table's order (help lists commands as they were added).
  for (const add of modules) add(program, io);
  for (const cmd of program.commands.flatMap((c) => [c, ...c.commands])) cmd.exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err });
  return program;
}

/** Run the CLI with argv (without node and script); returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIO = processIO()): Promise<number> {
  const program = await buildProgram(io, argv);
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
