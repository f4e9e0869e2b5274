import type { Command } from "commander";
import type { CliIO } from "../io.ts";

/** What a command module exports: a function that adds its command(s) to the program. */
export type CommandModule = (program: Command, io: CliIO) => void;
