/**
 * CLI start: `npx drip status` and `npx drip list` as a new user runs them on a warm install
 * (the compiled CLI built, npm's caches warm), beside `node bin/drip.js …` (drip's own part:
 * what npx adds is the difference). Each command is a whole process; wall time from spawn to
 * exit, CPU the children's user + system time (the shell's `times`). Aim: under 0.5 s each.
 *
 * Also prints whether npm trusts each install's hidden lockfile (node_modules/.package-lock.json):
 * when a directory in node_modules is newer than it, every npx reads the whole installed tree
 * instead (about a second of CPU). npm's own verdict is used (`npm ls --loglevel verbose`).
 *
 * `npm run bench -- cli` measures this checkout. Before/after, measured the same way, in turns
 * (A B A B …, so a machine getting busier affects both):
 *   npx tsx bench/cli-start.ts --project /tmp/after --vs /tmp/before
 * where each directory is an install (`git clone … && npm ci`). CLI_BENCH_RUNS sets the runs (7).
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const AIM_MS = 500;

interface Sample {
  wall: number;
  cpu: number;
  code: number;
}

/** One run of `command` in `cwd`: wall ms, the children's CPU ms (POSIX `times`), exit code. */
export function once(cwd: string, command: string, env: NodeJS.ProcessEnv): Promise<Sample> {
  return new Promise((done, fail) => {
    const t0 = performance.now();
    const child = spawn("/bin/sh", ["-c", `${command} >/dev/null 2>&1; code=$?; times; exit $code`], { cwd, env, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.on("error", fail);
    child.on("close", (code) => {
      const wall = performance.now() - t0;
      // `times`: the shell's own user/system, then its children's: "0m1.234s 0m0.120s".
      const line = out.trim().split("\n").at(-1) ?? "";
      const secs = [...line.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
      done({ wall, cpu: ((secs[0] ?? Number.NaN) + (secs[1] ?? Number.NaN)) * 1000, code: code ?? 1 });
    });
  });
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** npm's own verdict on the install's hidden lockfile (it logs why it did not use it). */
function hiddenLockfile(dir: string): string {
  const r = spawnSync("npm", ["ls", "--depth=0", "--loglevel", "verbose"], { cwd: dir, encoding: "utf8" });
  const failed = /shrinkwrap failed to load node_modules\/\.package-lock\.json (.*)/.exec(`${r.stdout}${r.stderr}`);
  return failed ? `not used (${failed[1]}): npm reads the whole installed tree` : "used";
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => r.map((v, c) => (c === 0 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join("  ");
  return [line(rows[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)].join("\n");
}

export async function benchCliStart(argv: readonly string[] = []): Promise<void> {
  const arg = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const installs: { label: string; dir: string }[] = [{ label: arg("--vs") ? "after" : "this", dir: resolve(arg("--project") ?? ROOT) }];
  if (arg("--vs")) installs.push({ label: "before", dir: resolve(arg("--vs")!) });
  const runs = Number(process.env.CLI_BENCH_RUNS ?? 7);
  const data = mkdtempSync(join(tmpdir(), "drip-bench-cli-"));
  // `npx --version` is npm's own floor: what any `npx <command>` costs before the command starts.
  const commands = ["npx drip status", "npx drip list", "node bin/drip.js status", "node bin/drip.js list", "npx --version"];
  const load = () =>
    loadavg()
      .map((l) => l.toFixed(2))
      .join(", ");
  console.log(`CLI start (${runs} runs each after one warm-up, in turns; load average ${load()})`);
  for (const { label, dir } of installs) console.log(`  ${label.padEnd(6)} ${dir}: npm's hidden lockfile ${hiddenLockfile(dir)}`);

  const samples = new Map<string, Sample[]>();
  try {
    for (const [i, { dir }] of installs.entries()) {
      // Each install its own database (a first run creates and migrates it: the warm-up does).
      const env = {
        ...process.env,
        DATABASE_URL: `file:${join(data, `drip-${i}.db`)}`,
        OUTBOX_DIR: join(data, `outbox-${i}`),
        NODE_ENV: undefined,
        npm_config_update_notifier: "false",
      };
      for (const command of commands) await once(dir, command, env);
    }
    for (let r = 0; r < runs; r++)
      for (const command of commands)
        for (const [i, { label, dir }] of installs.entries()) {
          const env = {
            ...process.env,
            DATABASE_URL: `file:${join(data, `drip-${i}.db`)}`,
            OUTBOX_DIR: join(data, `outbox-${i}`),
            NODE_ENV: undefined,
            npm_config_update_notifier: "false",
          };
          const s = await once(dir, command, env);
          if (s.code !== 0) throw new Error(`${command} in ${dir} exited with ${s.code}`);
          const key = `${label}\0${command}`;
          samples.set(key, [...(samples.get(key) ?? []), s]);
        }
  } finally {
    rmSync(data, { recursive: true, force: true });
  }

  const rows = [["command", "install", "wall p50 ms", "wall min ms", "cpu p50 ms", `aim < ${AIM_MS} ms`]];
  for (const command of commands)
    for (const { label } of installs) {
      const s = samples.get(`${label}\0${command}`)!;
      const wall = median(s.map((x) => x.wall));
      rows.push([
        command,
        label,
        wall.toFixed(0),
        Math.min(...s.map((x) => x.wall)).toFixed(0),
        median(s.map((x) => x.cpu)).toFixed(0),
        command.startsWith("npx drip") ? (wall < AIM_MS ? "yes" : "no") : "",
      ]);
    }
  if (installs.length === 2)
    for (const command of commands) {
      const ratio = (get: (x: Sample) => number) =>
        median(samples.get(`after\0${command}`)!.map((x, i) => get(x) / get(samples.get(`before\0${command}`)![i]!))).toFixed(2);
      rows.push([command, "after/before", ratio((x) => x.wall), "", ratio((x) => x.cpu), ""]);
    }
  console.log(table(rows));
  console.log(`(load average after: ${load()})`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await benchCliStart(process.argv.slice(2));
