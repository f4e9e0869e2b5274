/**
 * `drip validate` type-checks sequences and the templates they import with the TypeScript
 * compiler API, so a template reading a field that does not exist (`subscriber.firstName`)
 * or a syntax error is reported with its file, line and column and the compiler's words,
 * before any email goes out. Only problems in the given files and under the folders named
 * (sequences/, emails/) and the project files they import are reported: drip's own code
 * (src/) is checked by its own tests.
 */
import { dirname, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { SequenceIssue } from "./errors.ts";

const TSCONFIG = resolve(dirname(fileURLToPath(import.meta.url)), "../../tsconfig.json");
/** drip's own code: its type errors are drip's to fix, not the clinic's. */
const DRIP_SRC = resolve(dirname(fileURLToPath(import.meta.url)), "..") + sep;

let last: import("typescript").Program | undefined;
/** Parsed files by name and parse options, kept while their text is unchanged: React's types and drip's own are parsed once per process. */
const parsed = new Map<string, { text: string; file: import("typescript").SourceFile }>();

export async function typecheckFiles(files: readonly string[], opts: { cwd: string; dirs: readonly string[] }): Promise<SequenceIssue[]> {
  let ts: typeof import("typescript");
  try {
    ts = (await import("typescript")).default;
  } catch {
    return [{ path: "", message: "templates were not type-checked: the typescript package is not installed (run npm install)" }];
  }
  const config = ts.readConfigFile(TSCONFIG, (p) => ts.sys.readFile(p));
  const parsedConfig = ts.parseJsonConfigFileContent(config.config ?? {}, ts.sys, dirname(TSCONFIG));
  const roots = files.map((f) => resolve(opts.cwd, f));
  // The last program is reused: files that did not change (React's types, drip's own) are not parsed again.
  const options = { ...parsedConfig.options, noEmit: true };
  const host = ts.createCompilerHost(options);
  const readSource = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, languageVersion, onError, shouldCreate) => {
    const text = host.readFile(fileName);
    if (text === undefined) return readSource(fileName, languageVersion, onError, shouldCreate);
    const key = `${fileName}\0${JSON.stringify(languageVersion)}`;
    const hit = parsed.get(key);
    if (hit && hit.text === text) return hit.file;
    const file = readSource(fileName, languageVersion, onError, shouldCreate);
    if (file) parsed.set(key, { text: file.text, file });
    return file;
  };
  const program = ts.createProgram({ rootNames: roots, options, host, oldProgram: last });
  last = program;
  // The given files, the folders named, and whatever else of the project they import (templates elsewhere).
  const inScope = (file: string) => {
    const abs = resolve(file);
    if (roots.includes(abs) || opts.dirs.some((d) => abs.startsWith(resolve(d) + sep))) return true;
    return !abs.includes(`${sep}node_modules${sep}`) && !abs.startsWith(DRIP_SRC);
  };
  const issues: SequenceIssue[] = [];
  const seen = new Set<string>();
  // Only the files in scope are checked (checking drip's own code would cost seconds and say nothing new).
  const diagnostics = program
    .getSourceFiles()
    .filter((f) => !f.isDeclarationFile && inScope(f.fileName))
    .flatMap((f) => [...program.getSyntacticDiagnostics(f), ...program.getSemanticDiagnostics(f)]);
  for (const d of diagnostics) {
    if (d.category !== ts.DiagnosticCategory.Error || !d.file) continue;
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start ?? 0);
    const where = `${relative(opts.cwd, d.file.fileName) || d.file.fileName}:${line + 1}:${character + 1}`;
    const message = `${ts.flattenDiagnosticMessageText(d.messageText, " ")} (TS${d.code})`;
    const key = `${where} ${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    issues.push({ file: where, path: "", message });
  }
  return issues;
}
