/**
 * Summarise a V8 .cpuprofile (from `node --cpu-prof` or HTTP_BENCH_CPU_PROF): self time by
 * package or file, by function, and (SHOW_INCLUSIVE=N) the N largest inclusive entries.
 *   npx tsx bench/cpuprofile.ts <file.cpuprofile> [top N functions, default 40]
 */
import { readFileSync } from "node:fs";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const short = (url: string) =>
  url
    .replace(/^.*node_modules\//, "nm/")
    .replace(/^file:\/\/.*?\/(src|bench|tests)\//, "$1/")
    .replace(/\?.*$/, "");

/** A package (nm/<name>, nm/@scope/<name>), a project file, node:* module, or the (pseudo) function itself. */
function fileOf(cf: CallFrame): string {
  const url = short(cf.url);
  if (url.startsWith("nm/"))
    return url
      .split("/")
      .slice(0, url.startsWith("nm/@") ? 3 : 2)
      .join("/");
  return url || `(${cf.functionName || "native"})`;
}

export function summarise(profile: Profile, top = 40, inclusiveTop = 0): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfFn = new Map<string, number>();
  const selfFile = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  for (let i = 0; i < profile.samples.length; i++) {
    // A sample's weight is the time until the next sample.
    const d = profile.timeDeltas[i + 1] ?? 0;
    const node = byId.get(profile.samples[i]!)!;
    const cf = node.callFrame;
    total += d;
    add(selfFn, `${cf.functionName || "(anonymous)"} ${short(cf.url)}:${cf.lineNumber + 1}`, d);
    add(selfFile, fileOf(cf), d);
    if (inclusiveTop > 0) {
      const seen = new Set<string>();
      for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
        const f = byId.get(id)!.callFrame;
        const key = `${f.functionName || "(anonymous)"} ${short(f.url)}:${f.lineNumber + 1}`;
        if (!seen.has(key)) add(inclusive, key, d);
        seen.add(key);
      }
    }
  }
  const table = (m: Map<string, number>, n: number) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => `${((100 * v) / total).toFixed(1).padStart(5)}%  ${(v / 1000).toFixed(0).padStart(6)} ms  ${k}`)
      .join("\n");
  return [
    `sampled ${(total / 1000).toFixed(0)} ms`,
    "self time by package/file:",
    table(selfFile, 25),
    "self time by function:",
    table(selfFn, top),
    ...(inclusiveTop > 0 ? ["inclusive:", table(inclusive, inclusiveTop)] : []),
  ].join("\n");
}

const [file, n] = process.argv.slice(2);
if (!file) {
  console.error("usage: npx tsx bench/cpuprofile.ts <file.cpuprofile> [top]");
  process.exit(2);
}
console.log(summarise(JSON.parse(readFileSync(file, "utf8")) as Profile, Number(n ?? 40), Number(process.env.SHOW_INCLUSIVE ?? 0)));
