/**
 * `drip validate` type-checks sequences and the templates they import with the TypeScript
 * compiler API, so a template reading a field that does not exist (`subscriber.firstName`)
 * or a syntax error is reported with its file, line and column and the compiler's words,
 * before any email goes out. Only problems in the given files and under the folders named
 * (sequences/, emails/) and the project files they import are reported: drip's own code
 * (src/) is checked by its own tests.
 *
 * Repeated runs are fast, and never stale. Two records per set of root files (and compiler
 * options, TypeScript version, this file's own code) in node_modules/.cache/drip/:
 * - `typecheck-<key>.json`: the last answer, with every question the compiler asked the file
 *   system (each file it read, by the hash of its text; each path it looked for, found or not;
 *   each real path). When every answer is still the same, the compiler would build the same
 *   program and say the same: the answer is reused without loading TypeScript.
 * - `typecheck-<key>.tsbuildinfo`: TypeScript's own incremental build state. Otherwise every file
 *   is read and parsed again, and only files whose text changed, or that import a file whose
 *   shape changed (a template, a sequence, drip's own types, a type package after an upgrade),
 *   are checked again.
 * A record that cannot be read, fails its checksum or cannot be written means a full check
 * (one line under DEBUG=drip), never an error.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { SequenceIssue } from "./errors.ts";

type TS = typeof import("typescript");
type SourceFile = import("typescript").SourceFile;

const SELF = fileURLToPath(import.meta.url);
const ROOT = resolve(dirname(SELF), "../..");
const TSCONFIG = join(ROOT, "tsconfig.json");
/** drip's own code: its type errors are drip's to fix, not the clinic's. */
const DRIP_SRC = join(ROOT, "src") + sep;
/** Where the records live by default (beside the compiled CLI). */
export const TYPECHECK_CACHE = join(ROOT, "node_modules/.cache/drip");
/** Root sets whose records are kept; the least recently written beyond this are removed. */
const KEEP = 12;
const require = createRequire(import.meta.url);

/** Parsed files by name and parse options, kept while their text is unchanged: React's types and drip's own are parsed once per process. */
const parsed = new Map<string, { text: string; file: SourceFile }>();
/** Records written in this process, for when there is no cache folder (or it cannot be written). */
const memory = new Map<string, string>();

export interface TypecheckOptions {
  cwd: string;
  dirs: readonly string[];
  /** Folder for the records (default node_modules/.cache/drip); null: kept in this process only. */
  cacheDir?: string | null;
  /** Told one line when a record could not be used or written (the CLI prints it under DEBUG=drip); at most one per run. */
  debug?: (line: string) => void;
  /** Told how the answer was found: the last answer reused, or the files checked again (absolute paths). */
  explain?: (how: { reused: true } | { reused: false; checked: string[] }) => void;
}

/** What the compiler asked the file system, and what it was told: the program is a function of these answers. */
interface Questions {
  /** file → sha256 of the text read (BOM removed, as TypeScript does), null when it could not be read */
  read: Record<string, string | null>;
  file: Record<string, boolean>;
  dir: Record<string, boolean>;
  real: Record<string, string>;
  dirs: Record<string, string[]>;
}
interface Answer {
  key: string;
  questions: Questions;
  issues: SequenceIssue[];
}

export async function typecheckFiles(files: readonly string[], opts: TypecheckOptions): Promise<SequenceIssue[]> {
  let told = false;
  const debug = (line: string) => {
    if (!told) opts.debug?.(line);
    told = true;
  };
  const roots = files.map((f) => resolve(opts.cwd, f));
  const cacheDir = opts.cacheDir === undefined ? TYPECHECK_CACHE : opts.cacheDir;
  const key = recordKey(roots, opts);
  if (key === null) return [{ path: "", message: "templates were not type-checked: the typescript package is not installed (run npm install)" }];
  const base = join(cacheDir ?? TYPECHECK_CACHE, `typecheck-${key}`);
  const answerFile = `${base}.json`;
  const stateFile = `${base}.tsbuildinfo`;

  // 1. Nothing the compiler would look at changed: the last answer stands.
  const last = readRecord(answerFile, cacheDir, debug);
  if (last !== undefined) {
    try {
      const answer = JSON.parse(last) as Answer;
      if (answer.key === key && unchanged(answer.questions)) {
        opts.explain?.({ reused: true });
        return answer.issues;
      }
    } catch (err) {
      debug(`drip: the type-check cache ${answerFile} could not be used (${oneLine(err)}); checking again`);
    }
  }

  // 2. Check again, from TypeScript's incremental state.
  let ts: TS;
  try {
    ts = require("typescript") as TS;
  } catch {
    return [{ path: "", message: "templates were not type-checked: the typescript package is not installed (run npm install)" }];
  }
  // The compiler options only (tsconfig.json's "include" is drip's own project: not listed here).
  const config = ts.readConfigFile(TSCONFIG, (p) => ts.sys.readFile(p));
  const compilerOptions = ts.convertCompilerOptionsFromJson(
    (config.config as { compilerOptions?: unknown } | undefined)?.compilerOptions ?? {},
    dirname(TSCONFIG),
  );
  const options = { ...compilerOptions.options, noEmit: true, incremental: true, tsBuildInfoFile: stateFile };

  const host = ts.createIncrementalCompilerHost(options);
  const questions: Questions = { read: {}, file: {}, dir: {}, real: {}, dirs: {} };
  let complete = true;
  const readFile = host.readFile.bind(host);
  host.readFile = (p) => {
    const text = readFile(p);
    const hash = text === undefined ? null : sha256(text);
    // Read twice and different: the answer would not say which text it was about.
    if (p in questions.read && questions.read[p] !== hash) complete = false;
    questions.read[p] = hash;
    return text;
  };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (p) => (questions.file[p] = fileExists(p));
  const directoryExists = host.directoryExists?.bind(host);
  if (directoryExists) host.directoryExists = (p) => (questions.dir[p] = directoryExists(p));
  const realpath = host.realpath?.bind(host);
  if (realpath) host.realpath = (p) => (questions.real[p] = realpath(p));
  const getDirectories = host.getDirectories?.bind(host);
  if (getDirectories) host.getDirectories = (p) => (questions.dirs[p] = getDirectories(p));
  const readSource = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, languageVersion, onError, shouldCreate) => {
    const text = host.readFile(fileName);
    if (text === undefined) return readSource(fileName, languageVersion, onError, shouldCreate);
    const k = `${fileName}\0${JSON.stringify(languageVersion)}`;
    const hit = parsed.get(k);
    if (hit && hit.text === text) return hit.file;
    const file = readSource(fileName, languageVersion, onError, shouldCreate);
    if (file) parsed.set(k, { text: file.text, file });
    return file;
  };

  const old = readState(ts, options, stateFile, cacheDir, debug);
  let builder = ts.createEmitAndSemanticDiagnosticsBuilderProgram(roots, options, host, old);

  // The given files, the folders named, and whatever else of the project they import (templates elsewhere).
  const inScope = (file: string) => {
    const abs = resolve(file);
    if (roots.includes(abs) || opts.dirs.some((d) => abs.startsWith(resolve(d) + sep))) return true;
    return !abs.includes(`${sep}node_modules${sep}`) && !abs.startsWith(DRIP_SRC);
  };
  const checked = (f: SourceFile) => !f.isDeclarationFile && inScope(f.fileName);
  // Only the files in scope are checked (checking drip's own code would cost seconds and say nothing new).
  // First those changed since the state was saved and those importing a file whose shape changed (this
  // moves the state on, so the next run starts from here); the other files in scope answer from the state.
  const again = new Set<string>();
  const checkAffected = () => {
    // Which files the checker really visits (for `explain`): the builder's own call into the program.
    const program = builder.getProgram() as unknown as Record<string, unknown>;
    const bindAndCheck = program.getBindAndCheckDiagnostics;
    if (typeof bindAndCheck === "function")
      program.getBindAndCheckDiagnostics = (f: SourceFile, ...rest: unknown[]) => {
        again.add(resolve(f.fileName));
        return bindAndCheck.call(program, f, ...rest);
      };
    while (builder.getSemanticDiagnosticsOfNextAffectedFile(undefined, (f) => !checked(f))) {}
  };
  try {
    checkAffected();
  } catch (err) {
    // A state TypeScript read but could not use: check everything.
    if (!old) throw err;
    debug(`drip: the type-check cache ${stateFile} could not be used (${oneLine(err)}); checking everything`);
    builder = ts.createEmitAndSemanticDiagnosticsBuilderProgram(roots, options, host);
    again.clear();
    checkAffected();
  }
  const issues: SequenceIssue[] = [];
  const seen = new Set<string>();
  const diagnostics = builder
    .getProgram()
    .getSourceFiles()
    .filter(checked)
    .flatMap((f) => [...builder.getSyntacticDiagnostics(f), ...builder.getSemanticDiagnostics(f)]);
  opts.explain?.({ reused: false, checked: [...again] });
  for (const d of diagnostics) {
    if (d.category !== ts.DiagnosticCategory.Error || !d.file) continue;
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start ?? 0);
    const where = `${relative(opts.cwd, d.file.fileName) || d.file.fileName}:${line + 1}:${character + 1}`;
    const message = `${ts.flattenDiagnosticMessageText(d.messageText, " ")} (TS${d.code})`;
    const k = `${where} ${message}`;
    if (seen.has(k)) continue;
    seen.add(k);
    issues.push({ file: where, path: "", message });
  }

  let state: string | undefined;
  try {
    builder.emit(undefined, (name, data) => {
      if (resolve(name) === stateFile) state = data;
    });
  } catch (err) {
    debug(`drip: the type-check state could not be saved (${oneLine(err)})`);
  }
  if (state !== undefined) writeRecord(stateFile, state, cacheDir, debug);
  if (complete) writeRecord(answerFile, JSON.stringify({ key, questions, issues } satisfies Answer), cacheDir, debug);
  return issues;
}

/**
 * The records' key: the root files, the folders in scope, the compiler's version and place, the
 * compiler options (tsconfig.json) and this file's own code. null when TypeScript is not installed.
 */
function recordKey(roots: readonly string[], opts: TypecheckOptions): string | null {
  let tsPackage: string;
  try {
    tsPackage = require.resolve("typescript/package.json");
  } catch {
    return null;
  }
  const read = (p: string) => {
    try {
      return readFileSync(p, "utf8");
    } catch {
      return "";
    }
  };
  return createHash("sha256")
    .update(JSON.stringify([[...new Set(roots)].sort(), opts.cwd, opts.dirs.map((d) => resolve(d)), tsPackage, read(tsPackage), read(TSCONFIG), read(SELF)]))
    .digest("hex")
    .slice(0, 20);
}

/** Every question asked last time gets the same answer now (each asked the way TypeScript's own file system does). */
function unchanged(q: Questions): boolean {
  const stat = (p: string) => {
    try {
      return statSync(p, { throwIfNoEntry: false });
    } catch {
      return undefined;
    }
  };
  for (const [p, isFile] of Object.entries(q.file)) if ((stat(p)?.isFile() ?? false) !== isFile) return false;
  for (const [p, isDir] of Object.entries(q.dir)) if ((stat(p)?.isDirectory() ?? false) !== isDir) return false;
  for (const [p, real] of Object.entries(q.real)) {
    let now: string;
    try {
      now = realpathSync.native(p);
    } catch {
      now = p;
    }
    if (now !== real) return false;
  }
  for (const [p, list] of Object.entries(q.dirs)) if (JSON.stringify(directories(p)) !== JSON.stringify(list)) return false;
  for (const [p, hash] of Object.entries(q.read)) if (textHash(p) !== hash) return false;
  return true;
}

/** The hash of a file's text as TypeScript reads it (UTF-8, a byte-order mark removed); a UTF-16 file never matches. */
function textHash(p: string): string | null {
  let bytes: Buffer;
  try {
    bytes = readFileSync(p);
  } catch {
    return null;
  }
  if (bytes.length >= 2 && ((bytes[0] === 0xfe && bytes[1] === 0xff) || (bytes[0] === 0xff && bytes[1] === 0xfe))) return "utf-16";
  const bom = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
  return sha256(bytes.toString("utf8", bom ? 3 : 0));
}

/** A folder's subfolders, sorted, symbolic links followed (TypeScript's getDirectories). */
function directories(p: string): string[] {
  try {
    const out: string[] = [];
    for (const entry of readdirSync(p || ".", { withFileTypes: true })) {
      const s = entry.isSymbolicLink() ? statSync(join(p, entry.name), { throwIfNoEntry: false }) : entry;
      if (s?.isDirectory()) out.push(entry.name);
    }
    return out.sort();
  } catch {
    return [];
  }
}

/** TypeScript's state from its record, if the record is whole and TypeScript accepts it; anything else is no state. */
function readState(ts: TS, options: import("typescript").CompilerOptions, stateFile: string, cacheDir: string | null, debug: (line: string) => void) {
  // None for these root files yet: another root set's state serves as well (TypeScript compares every
  // file's hash, so only what differs is checked again): `drip validate one.ts` after `drip validate`.
  const text = readRecord(stateFile, cacheDir, debug) ?? newestState(stateFile, cacheDir, debug);
  if (text === undefined) return undefined;
  try {
    const state = ts.readBuilderProgram(options, {
      useCaseSensitiveFileNames: () => ts.sys.useCaseSensitiveFileNames,
      getCurrentDirectory: () => ts.sys.getCurrentDirectory(),
      readFile: (p) => (resolve(p) === stateFile ? text : undefined),
    });
    if (!state) debug(`drip: the type-check cache ${stateFile} is not one this TypeScript reads; checking everything`);
    return state;
  } catch (err) {
    debug(`drip: the type-check cache ${stateFile} could not be read (${oneLine(err)}); checking everything`);
    return undefined;
  }
}

/** The most recently written state of another root set, if any. */
function newestState(stateFile: string, cacheDir: string | null, debug: (line: string) => void): string | undefined {
  const others: { file: string; at: number }[] = [];
  if (cacheDir !== null) {
    try {
      for (const e of readdirSync(cacheDir))
        if (/^typecheck-[0-9a-f]+\.tsbuildinfo$/.test(e))
          others.push({ file: join(cacheDir, e), at: statSync(join(cacheDir, e), { throwIfNoEntry: false })?.mtimeMs ?? 0 });
    } catch {}
  }
  const newest = others.sort((a, b) => b.at - a.at).find((o) => o.file !== stateFile);
  if (newest) return readRecord(newest.file, cacheDir, debug);
  const inMemory = [...memory.keys()].filter((f) => f.endsWith(".tsbuildinfo") && f !== stateFile).at(-1);
  return inMemory ? readRecord(inMemory, null, debug) : undefined;
}

/** A record's text if its checksum holds: from the cache folder, else from this process's memory. */
function readRecord(file: string, cacheDir: string | null, debug: (line: string) => void): string | undefined {
  let stored: string | undefined;
  if (cacheDir !== null) {
    try {
      stored = readFileSync(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") debug(`drip: the type-check cache ${file} could not be read (${oneLine(err)}); checking again`);
    }
  }
  stored ??= memory.get(file);
  if (stored === undefined) return undefined;
  const nl = stored.indexOf("\n");
  const text = stored.slice(nl + 1);
  if (nl < 0 || stored.slice(0, nl) !== sha256(text)) {
    debug(`drip: the type-check cache ${file} is damaged (its checksum does not match); checking again`);
    return undefined;
  }
  return text;
}

/** Write a record beside its checksum, atomically (a reader sees the old one or the new one); failing only costs the next run time. */
function writeRecord(file: string, text: string, cacheDir: string | null, debug: (line: string) => void): void {
  const stored = `${sha256(text)}\n${text}`;
  memory.delete(file);
  memory.set(file, stored);
  if (cacheDir === null) return;
  try {
    ensureDir(cacheDir);
    const tmp = `${file}.${process.pid}-${randomBytes(4).toString("hex")}.tmp`;
    writeFileSync(tmp, stored);
    renameSync(tmp, file);
    // Written to disk: this process reads it from there too (memory is for when that fails).
    memory.delete(file);
    prune(cacheDir);
  } catch (err) {
    debug(`drip: the type-check cache ${file} could not be written (${oneLine(err)})`);
  }
}

/** Make the cache folder; creating node_modules/.cache sets node_modules' modification time back (see bin/compile.js ensureCacheDir). */
function ensureDir(dir: string): void {
  if (statSync(dir, { throwIfNoEntry: false })?.isDirectory()) return;
  const modules = join(ROOT, "node_modules");
  const before = dir.startsWith(modules + sep) ? statSync(modules) : undefined;
  mkdirSync(dir, { recursive: true });
  if (before) utimesSync(modules, before.atime, before.mtime);
}

/** Keep the records of the most recently checked root sets only. */
function prune(dir: string): void {
  const records = readdirSync(dir)
    .filter((e) => /^typecheck-[0-9a-f]+\.(json|tsbuildinfo)$/.test(e))
    .map((e) => ({ e, at: statSync(join(dir, e), { throwIfNoEntry: false })?.mtimeMs ?? 0 }))
    .sort((a, b) => b.at - a.at);
  for (const { e } of records.slice(2 * KEEP)) rmSync(join(dir, e), { force: true });
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
const oneLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split("\n")[0];
