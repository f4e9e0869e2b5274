// The CLI's own TypeScript (src/), compiled once and cached, so `drip` does not transpile and
// import ~200 modules through tsx on every start. Staff content (sequences/, emails/,
// newsletters/) is never compiled in: it is imported from source, through tsx, when a
// command needs it.
//
// src/ imports two files of emails/ statically (the default newsletter template, the theme):
// those are compiled in, so the build depends on emails/ as well. Two packages made of hundreds
// of small ES modules are compiled in too (BUNDLED): Node spends most of a start loading such
// modules one by one (Kysely alone is 262 files), and a bundled chunk loads as one.
//
// The cache lives in node_modules/.cache/drip/cli-<hash>/, where <hash> covers the content of
// every file under src/ and emails/, tsconfig.json, this file, the bundled packages' and
// esbuild's versions and Node's: an edited file gives a new hash, so a stale build is never run
// (it is rebuilt on the next start). Reading every file to hash it on each start costs more
// than the rest of `drip status`, so a start only stats them: node_modules/.cache/drip/keys/
// maps what the files look like on disk (size, modification and change times, inode) to the
// content hash computed the first time they looked like that. A file cannot change without
// its change time (ctime) changing, so a key never points at a stale hash; a key that changed
// without the content changing (a checkout, a touch) finds the same build again.
// Built by `npm install`/`npm ci` (the prepare script) or, failing that, on first run.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const ROOT = join(here, "..");

/**
 * Packages compiled into the build rather than loaded from node_modules: pure ES modules in
 * many files, whose objects never cross between the build and staff content loaded from source
 * (each side validates with its own zod schemas and hands over plain data). Packages shared
 * with staff content by identity (React, temporal-polyfill) stay external, as do CommonJS and
 * native packages.
 */
export const BUNDLED = ["kysely", "zod"];

/**
 * Bundled packages that staff content (and the src/ files it imports, loaded from source) also
 * import: the build exports each as deps/<name>.js, and bin/drip.js points those imports at it
 * (bin/shared-deps.mjs), so one copy is loaded, not the build's and node_modules' both.
 */
export const SHARED = { zod: 'export * from "zod";\nexport { default } from "zod";\n' };

function sourceFiles(dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else out.push(p);
  }
  return out.sort();
}

/** Every file the build depends on, and the package.json of every package whose version it depends on. */
function inputs(root) {
  const packages = ["esbuild", ...BUNDLED].map((p) => join(root, "node_modules", p, "package.json"));
  return {
    packages,
    files: [join(root, "tsconfig.json"), fileURLToPath(import.meta.url), ...sourceFiles(join(root, "src")), ...sourceFiles(join(root, "emails"))],
  };
}

/** The hash of everything the build depends on (content, not times). */
export function fingerprint(root = ROOT) {
  const h = createHash("sha256");
  const { packages, files } = inputs(root);
  const versions = packages.map((p) => JSON.parse(readFileSync(p, "utf8")).version);
  // The root too: the build writes each module's own absolute location into it (see onLoad),
  // so a copy of the project sharing this node_modules must never run another copy's build.
  h.update(`${process.version}\0${versions.join("\0")}\0${root}\0`);
  for (const f of files) {
    h.update(relative(root, f));
    h.update("\0");
    h.update(readFileSync(f));
    h.update("\0");
  }
  return h.digest("hex").slice(0, 20);
}

/**
 * What the inputs look like on disk, without reading them: size, modification and change
 * times and inode of each. Any write to a file changes its ctime (which no tool can set back),
 * so equal keys mean unchanged files.
 */
export function diskKey(root = ROOT) {
  const h = createHash("sha256");
  h.update(`${process.version}\0${root}\0`);
  const { packages, files } = inputs(root);
  for (const f of [...packages, ...files]) {
    const s = statSync(f, { bigint: true });
    h.update(`${relative(root, f)}\0${s.size}\0${s.mtimeNs}\0${s.ctimeNs}\0${s.ino}\0`);
  }
  return h.digest("hex").slice(0, 32);
}

const cacheRoot = (root) => join(root, "node_modules/.cache/drip");

/**
 * Make node_modules/.cache/drip without leaving a trace on node_modules itself. npm trusts its
 * hidden lockfile (node_modules/.package-lock.json) only while no directory of node_modules is
 * newer than it; creating node_modules/.cache changes node_modules' modification time, and
 * `npm install`/`npm ci` run the prepare script (this build) after writing that lockfile, so
 * every `npx drip` after a fresh install would read the whole installed tree (about a second
 * and a half) instead of the lockfile. When this creates node_modules/.cache, node_modules gets
 * back the modification time it had just before: only this change is undone, and a directory
 * that was already newer than the lockfile stays so.
 */
export function ensureCacheDir(root = ROOT) {
  const dir = cacheRoot(root);
  try {
    statSync(dir);
    return dir;
  } catch {}
  mkdirInModules(root, ".cache");
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Make node_modules/<name> (if missing), setting back node_modules' modification time (see ensureCacheDir). */
function mkdirInModules(root, name) {
  const modules = join(root, "node_modules");
  const before = statSync(modules);
  let made = false;
  try {
    mkdirSync(join(modules, name));
    made = true;
  } catch (err) {
    if (err?.code !== "EEXIST") throw err;
  }
  // A Date has whole milliseconds: the time set back is never later than the one read.
  if (made) utimesSync(modules, before.atime, before.mtime);
}

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
  ensureCacheDir(root);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  await build({
    entryPoints: { main: join(root, "src/cli/main.ts"), ...Object.fromEntries(Object.keys(SHARED).map((name) => [`deps/${name}`, `drip-shared:${name}`])) },
    outdir: tmp,
    bundle: true,
    splitting: true, // each lazily loaded command stays its own chunk
    format: "esm",
    platform: "node",
    target: "node20",
    // Dependencies load from node_modules, as they are, except the BUNDLED ones.
    tsconfig: join(root, "tsconfig.json"),
    logLevel: "silent",
    plugins: [
      {
        name: "drip-source",
        setup(b) {
          const packageName = (spec) =>
            spec
              .split("/")
              .slice(0, spec.startsWith("@") ? 2 : 1)
              .join("/");
          b.onResolve({ filter: /^drip-shared:/ }, (args) => ({ path: args.path.slice("drip-shared:".length), namespace: "drip-shared" }));
          b.onLoad({ filter: /.*/, namespace: "drip-shared" }, (args) => ({ contents: SHARED[args.path], resolveDir: root, loader: "js" }));
          // zod's error messages in English only: `z.locales` carries the 40-odd other languages
          // as one namespace, which a bundler cannot leave out and which is a third of what a
          // start spends loading zod. drip writes its own messages; nothing selects another locale.
          b.onResolve({ filter: /\/locales\/index\.js$/ }, (args) =>
            /[\\/]node_modules[\\/]zod[\\/]/.test(args.importer) ? { path: join(dirname(args.importer), args.path), namespace: "zod-locales" } : undefined,
          );
          b.onLoad({ filter: /.*/, namespace: "zod-locales" }, (args) => ({
            contents: `export { default as en } from ${JSON.stringify(join(dirname(args.path), "en.js"))};\n`,
            resolveDir: dirname(args.path),
            loader: "js",
          }));
          b.onResolve({ filter: /^[^./]/ }, (args) =>
            args.kind !== "entry-point" && !BUNDLED.includes(packageName(args.path)) ? { path: args.path, external: true } : undefined,
          );
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

const keyFile = (root, key) => join(cacheRoot(root), "keys", key);

/**
 * The compiled entry for the sources as they are now, built if need be. A start whose files
 * look as they did on an earlier start only stats them (diskKey); otherwise their content is
 * hashed, and the key recorded once the files are known not to have changed meanwhile.
 */
export async function compiled(root = ROOT) {
  const key = diskKey(root);
  try {
    const entry = compiledEntry(root, readFileSync(keyFile(root, key), "utf8").trim());
    if (entry) return entry;
  } catch {}
  const hash = fingerprint(root);
  const entry = compiledEntry(root, hash) ?? (await buildCompiled(root, hash));
  if (diskKey(root) === key) {
    const keys = join(ensureCacheDir(root), "keys");
    mkdirSync(keys, { recursive: true });
    const tmp = `${keyFile(root, key)}.tmp-${process.pid}`;
    writeFileSync(tmp, `${hash}\n`);
    renameSync(tmp, keyFile(root, key));
    // Every edit of src/ leaves a key (a few bytes): the newest hundred are kept.
    const old = readdirSync(keys)
      .map((e) => ({ e, at: statSync(join(keys, e)).mtimeMs }))
      .sort((a, b) => b.at - a.at)
      .slice(100);
    for (const { e } of old) rmSync(join(keys, e), { force: true });
  }
  return entry;
}

/**
 * node_modules/.bin/drip, a link to bin/drip.js, so that `npx drip` runs it straight away.
 * npm's exec looks for a `bin` of the project's own package.json before node_modules/.bin, and
 * when it finds one it "installs" the project into its npx cache: it reads every installed
 * package (arborist) on every call, about a second before drip starts. So package.json declares
 * no `bin`; this link (made by the prepare script) is what `npx drip` finds instead, the way it
 * finds `npx vitest`. Replaces whatever is there under that name; returns the link's path.
 */
export function linkBin(root = ROOT) {
  const dir = join(root, "node_modules", ".bin");
  mkdirInModules(root, ".bin");
  const link = join(dir, "drip");
  const target = relative(dir, join(root, "bin", "drip.js"));
  try {
    if (readlinkSync(link) === target) return link;
  } catch {}
  const tmp = `${link}.tmp-${process.pid}`;
  rmSync(tmp, { force: true });
  symlinkSync(target, tmp);
  renameSync(tmp, link);
  return link;
}

// `node bin/compile.js` (the prepare script): link `npx drip`, build now; never fail an install over it.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    linkBin();
  } catch (err) {
    console.error(`drip: could not link node_modules/.bin/drip (${err instanceof Error ? err.message : err}); run drip as \`node bin/drip.js\``);
  }
  try {
    await compiled();
  } catch (err) {
    console.error(`drip: the CLI was not precompiled (${err instanceof Error ? err.message : err}); it compiles on first run`);
  }
}
