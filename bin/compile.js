// The CLI's own TypeScript (src/), compiled once and cached, so `drip` does not transpile and
// import ~200 modules through tsx on every start. Staff content (sequences/, emails/,
// newsletters/) is never compiled in: it is imported from source, through tsx, when a
// command needs it.
//
// src/ imports two files of emails/ statically (the default newsletter template, the theme):
// those are compiled in, so the build depends on emails/ as well.
//
// The cache lives in node_modules/.cache/drip/cli-<hash>/, where <hash> covers the content of
// every file under src/ and emails/, tsconfig.json, this file and the esbuild and Node
// versions: an edited file gives a new hash, so a stale build is never run (it is rebuilt on
// the next start).
// Built by `npm install`/`npm ci` (the prepare script) or, failing that, on first run.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const ROOT = join(here, "..");

function sourceFiles(dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else out.push(p);
  }
  return out.sort();
}

/** The hash of everything the build depends on (content, not times). */
export function fingerprint(root = ROOT) {
  const h = createHash("sha256");
  const esbuildVersion = JSON.parse(readFileSync(join(root, "node_modules/esbuild/package.json"), "utf8")).version;
  // The root too: the build writes each module's own absolute location into it (see onLoad),
  // so a copy of the project sharing this node_modules must never run another copy's build.
  h.update(`${process.version}\0${esbuildVersion}\0${root}\0`);
  const files = [join(root, "tsconfig.json"), fileURLToPath(import.meta.url), ...sourceFiles(join(root, "src")), ...sourceFiles(join(root, "emails"))];
  for (const f of files) {
    h.update(relative(root, f));
    h.update("\0");
    h.update(readFileSync(f));
    h.update("\0");
  }
  return h.digest("hex").slice(0, 20);
}

const cacheRoot = (root) => join(root, "node_modules/.cache/drip");

/** The compiled entry for the current sources, or null when it has not been built. */
export function compiledEntry(root = ROOT, hash = fingerprint(root)) {
  const entry = join(cacheRoot(root), `cli-${hash}`, "main.js");
  try {
    statSync(entry);
    return entry;
  } catch {
    return null;
  }
}

/** Build the compiled CLI for the current sources (atomically: a half-written build is never seen). */
export async function buildCompiled(root = ROOT, hash = fingerprint(root)) {
  const { build } = await import("esbuild");
  const src = join(root, "src") + sep;
  const emails = join(root, "emails") + sep;
  const compiledIn = (path) => path.startsWith(src) || path.startsWith(emails);
  const final = join(cacheRoot(root), `cli-${hash}`);
  const tmp = `${final}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  await build({
    entryPoints: { main: join(root, "src/cli/main.ts") },
    outdir: tmp,
    bundle: true,
    splitting: true, // each lazily loaded command stays its own chunk
    format: "esm",
    platform: "node",
    target: "node20",
    packages: "external", // dependencies load from node_modules, as they are
    tsconfig: join(root, "tsconfig.json"),
    logLevel: "silent",
    plugins: [
      {
        name: "drip-source",
        setup(b) {
          // Only src/ (and what it imports of emails/) is compiled in; anything else of the
          // project is imported from source at run time, which a static import cannot be (it
          // would load before tsx is registered): such a build is refused, and drip runs from source.
          b.onResolve({ filter: /^\./ }, async (args) => {
            if (args.kind === "entry-point" || !compiledIn(args.importer)) return undefined;
            const r = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir });
            if (r.errors.length > 0 || compiledIn(r.path)) return undefined;
            if (args.kind === "import-statement" && /\.[mc]?tsx?$/.test(r.path))
              return { errors: [{ text: `${relative(root, args.importer)} imports ${relative(root, r.path)} statically` }] };
            return { path: pathToFileURL(r.path).href, external: true };
          });
          // Each module keeps its own location: paths computed from import.meta.url (the
          // project root, assets, tsconfig.json) stay what they are when run from source.
          b.onLoad({ filter: /\.[mc]?tsx?$/ }, (args) => {
            if (!compiledIn(args.path)) return undefined;
            const text = readFileSync(args.path, "utf8").replace(/\bimport\.meta\.url\b/g, JSON.stringify(pathToFileURL(args.path).href));
            return { contents: text, loader: args.path.endsWith("x") ? "tsx" : "ts" };
          });
        },
      },
    ],
  });
  writeFileSync(join(tmp, "package.json"), '{"type":"module"}\n');
  try {
    renameSync(tmp, final);
  } catch {
    // Another process built the same hash meanwhile: theirs is as good.
    rmSync(tmp, { recursive: true, force: true });
  }
  // Older builds: the newest few are kept, and none younger than a week is removed (a
  // long-running `drip start`, or another copy of the project sharing this node_modules, may
  // still load a lazy chunk of the build it started from); the rest are removed. A build is
  // under a megabyte.
  const weekAgo = Date.now() - 7 * 24 * 3600_000;
  const builds = readdirSync(cacheRoot(root))
    .filter((e) => /^cli-[0-9a-f]+$/.test(e) && e !== `cli-${hash}`)
    .map((e) => ({ e, at: statSync(join(cacheRoot(root), e)).mtimeMs }))
    .sort((a, b) => b.at - a.at);
  for (const { e, at } of builds.slice(4)) if (at < weekAgo) rmSync(join(cacheRoot(root), e), { recursive: true, force: true });
  return join(final, "main.js");
}

// `node bin/compile.js` (the prepare script): build now; never fail an install over it.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    const hash = fingerprint();
    if (!compiledEntry(ROOT, hash)) await buildCompiled(ROOT, hash);
  } catch (err) {
    console.error(`drip: the CLI was not precompiled (${err instanceof Error ? err.message : err}); it compiles on first run`);
  }
}
