/**
 * Loading sequence files. Each file in sequences/ is imported on its own, so one broken
 * file is reported with its name and does not hide (or take down) the others: the
 * scheduler keeps running every sequence that still validates.
 */
import { readdirSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { SequenceError, type SequenceIssue } from "./errors.ts";
import type { Sequence } from "./types.ts";
import { ensureTypeScript } from "../typescript-imports.ts";

const TSCONFIG = join(dirname(fileURLToPath(import.meta.url)), "../../tsconfig.json");

export interface LoadResult {
  sequences: { file: string; sequence: Sequence }[];
  issues: SequenceIssue[];
}

/** Files beside the sequences that are not sequences: the automations and the signup forms (src/automations/load.ts). */
export const NOT_SEQUENCES: ReadonlySet<string> = new Set(["automations.ts", "forms.ts", "index.ts"]);

/** The sequence files under a folder: *.ts, not starting with "_" (shared helpers), not tests, not NOT_SEQUENCES (index.ts names the default). */
export function listSequenceFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => /\.tsx?$/.test(f) && !f.startsWith("_") && !/\.(test|d)\.tsx?$/.test(f) && !NOT_SEQUENCES.has(f))
    .sort()
    .map((f) => join(dir, f));
}

/** By shape, not instanceof: a fresh import brings its own copy of the SequenceError class. */
const isSequenceError = (e: unknown): e is SequenceError =>
  e instanceof SequenceError || (e instanceof Error && e.name === "SequenceError" && Array.isArray((e as { issues?: unknown }).issues));

const isSequence = (v: unknown): v is Sequence => typeof v === "object" && v !== null && (v as { __validated?: unknown }).__validated === true;

export type Importer = (file: string) => Promise<Record<string, unknown>>;

/** Node's import: modules are cached for the life of the process (the CLI's one-shot loads). */
export const nativeImport: Importer = async (file) => {
  await ensureTypeScript();
  return (await import(pathToFileURL(resolve(file)).href)) as Record<string, unknown>;
};

/**
 * A fresh import of a file and everything it imports (tsx loads it in a new namespace), so an
 * edited sequence or template is read anew while the process keeps running.
 */
export const freshImport: Importer = async (file) => {
  const { tsImport } = await import("tsx/esm/api");
  const mod = (await tsImport(pathToFileURL(resolve(file)).href, { parentURL: import.meta.url, tsconfig: TSCONFIG })) as Record<string, unknown>;
  // A namespaced import of an ES module arrives wrapped once more as `default` (CJS interop).
  const inner = mod.default as Record<string, unknown> | undefined;
  // (A file's own default export may have a `default` key itself, as defineForms' does: only an
  // object there is the wrapped module.)
  const wrapped = inner && typeof inner === "object" && typeof inner.default === "object" && inner.default !== null && !("__validated" in inner);
  return wrapped ? inner : mod;
};

/**
 * What went wrong loading a file, whole: esbuild's "Transform failed with 1 error:" is followed
 * by `file:line:column: ERROR: message` lines, which are what the reader needs (file paths
 * shown relative to the project).
 */
export function loadErrorDetail(err: unknown, cwd: string): string {
  const e = err as { message?: string; errors?: { text?: string; location?: { file?: string; line?: number; column?: number } | null }[] };
  if (Array.isArray(e.errors) && e.errors.length) {
    return e.errors
      .map((x) => {
        const l = x.location;
        const at = l?.file ? `${relative(cwd, resolve(l.file)) || l.file}:${l.line ?? 0}:${(l.column ?? 0) + 1}: ` : "";
        return `${at}${x.text ?? "error"}`;
      })
      .join("; ");
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: colour codes are stripped on purpose
  const text = String(e.message ?? err).replace(/\u001b\[[0-9;]*m/g, "");
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  const shown = (file: string) => relative(cwd, resolve(file)) || file;
  // esbuild: "file:line:col: ERROR: message" (its column counts from 0).
  const located = lines.flatMap((l) => {
    const m = /^(.*?):(\d+):(\d+): ERROR: (.*)$/.exec(l);
    return m ? [`${shown(m[1]!)}:${m[2]}:${Number(m[3]) + 1}: ${m[4]}`] : [];
  });
  if (located.length) return located.join("; ");
  // Other transformers: "[PARSE_ERROR] message" and a "[ file:line:col ]" frame.
  const where = /([^\s[\]()]+\.[cm]?[jt]sx?):(\d+):(\d+)/.exec(text);
  const what = lines.find((l) => /\[\w*ERROR\]|SyntaxError|Error:/.test(l) && !/^Transform failed/.test(l));
  if (where && what) return `${shown(where[1]!)}:${where[2]}:${where[3]}: ${what.replace(/^.*?(\[\w*ERROR\]|SyntaxError:|Error:)\s*/, "")}`;
  return lines.filter((l) => !/^Transform failed/.test(l)).join(" ") || text;
}

export async function loadSequenceFiles(files: readonly string[], cwd = process.cwd(), importer: Importer = nativeImport): Promise<LoadResult> {
  const result: LoadResult = { sequences: [], issues: [] };
  const ids = new Map<string, string>();
  for (const file of files) {
    const shown = relative(cwd, resolve(file)) || basename(file);
    let mod: Record<string, unknown>;
    try {
      mod = await importer(file);
    } catch (err) {
      if (isSequenceError(err)) {
        result.issues.push(...err.issues.map((i) => ({ ...i, file: shown })));
      } else {
        result.issues.push({ file: shown, path: "", message: `the file could not be loaded: ${loadErrorDetail(err, cwd)}` });
      }
      continue;
    }
    const seq = mod.default;
    if (!isSequence(seq)) {
      result.issues.push({ file: shown, path: "", message: "the file must `export default defineSequence({...})`" });
      continue;
    }
    const other = ids.get(seq.id);
    if (other) {
      result.issues.push({ file: shown, path: "id", message: `sequence id "${seq.id}" is already used by ${other}: sequence ids must be unique` });
      continue;
    }
    ids.set(seq.id, shown);
    result.sequences.push({ file: shown, sequence: seq });
  }
  return result;
}
