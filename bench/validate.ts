/**
 * `drip validate` wall time as staff run it (`node bin/drip.js validate`, whole processes), with
 * the TypeScript type check's records (src/sequences/typecheck.ts) in node_modules/.cache/drip:
 * - cold: no records (a fresh install, or the first run after `npm install` changed nothing: a
 *   full type check);
 * - warm: the same files again (the kept answer: TypeScript is not even loaded);
 * - one file edited: a template changed (its text; TypeScript re-reads and parses the program
 *   and checks only what the change touches);
 * beside `--no-typecheck` (everything validate does but the type check: the floor).
 *
 * `npm run bench -- validate` measures this checkout; `npx tsx bench/validate.ts --project DIR`
 * another install (an older checkout prints its figures the same way: its cold, warm and edited
 * runs are all full checks). VALIDATE_BENCH_RUNS sets the runs (5).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { median, once } from "./cli-start.ts";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
/** The template edited for the "one file edited" row (a comment appended, then taken out). */
const EDITED = "emails/book.tsx";

export async function benchValidate(argv: readonly string[] = []): Promise<void> {
  const at = argv.indexOf("--project");
  const dir = resolve(at >= 0 ? argv[at + 1]! : ROOT);
  const runs = Number(process.env.VALIDATE_BENCH_RUNS ?? 5);
  const data = mkdtempSync(join(tmpdir(), "drip-bench-validate-"));
  const env = { ...process.env, DATABASE_URL: `file:${join(data, "drip.db")}`, OUTBOX_DIR: join(data, "outbox"), NODE_ENV: undefined, DEBUG: undefined };
  const cache = join(dir, "node_modules/.cache/drip");
  const forget = () => {
    for (const e of readdirSync(cache)) if (/^typecheck-/.test(e)) rmSync(join(cache, e), { force: true });
  };
  const edited = join(dir, EDITED);
  const original = readFileSync(edited, "utf8");
  const load = () =>
    loadavg()
      .map((l) => l.toFixed(2))
      .join(", ");
  console.log(`drip validate (${dir}; ${runs} runs each after one warm-up, in turns; load average ${load()})`);
  const rows: Record<string, { wall: number; cpu: number }[]> = { "--no-typecheck": [], cold: [], warm: [], "one file edited": [] };
  try {
    const check = async (name: string, args: string) => {
      const s = await once(dir, `node bin/drip.js ${args}`, env);
      if (s.code !== 0) throw new Error(`node bin/drip.js ${args} in ${dir} exited with ${s.code}`);
      rows[name]!.push(s);
    };
    // Warm-up: the compiled CLI built, the database made, the records written.
    await once(dir, "node bin/drip.js validate", env);
    for (let r = 0; r < runs; r++) {
      await check("--no-typecheck", "validate --no-typecheck");
      forget();
      await check("cold", "validate");
      await check("warm", "validate");
      writeFileSync(edited, `${original}// bench edit ${r}\n`);
      await check("one file edited", "validate");
      writeFileSync(edited, original);
    }
  } finally {
    writeFileSync(edited, original);
    rmSync(data, { recursive: true, force: true });
  }
  const table = [["drip validate", "wall p50 ms", "wall min ms", "cpu p50 ms"]];
  for (const [name, s] of Object.entries(rows))
    table.push([name, median(s.map((x) => x.wall)).toFixed(0), Math.min(...s.map((x) => x.wall)).toFixed(0), median(s.map((x) => x.cpu)).toFixed(0)]);
  const widths = table[0]!.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
  const line = (r: string[]) => r.map((v, c) => (c === 0 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join("  ");
  console.log([line(table[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...table.slice(1).map(line)].join("\n"));
  console.log(`(load average after: ${load()})`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await benchValidate(process.argv.slice(2));
