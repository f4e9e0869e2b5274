/**
 * The database holds the generated DRIP_SECRET (meta table) and every subscriber's address:
 * only its owner may read it. New files and directories are created private whatever the
 * umask; existing ones that others can read are reported once, with the command that fixes them.
 */
import { chmodSync, closeSync, existsSync, fchmodSync, mkdirSync, openSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";

const SIDE_FILES = ["-wal", "-shm", "-journal"];

/** Create the directories of `path` (0700) and the empty database file (0600) if missing; true if the file is new. */
export function createPrivately(path: string): boolean {
  const dir = dirname(resolve(path));
  const first = mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (first) {
    // mkdir's mode is filtered by the umask: set it on every directory this call created.
    for (let d = dir; d.length >= first.length; d = dirname(d)) {
      chmodSync(d, 0o700);
      if (d === first) break;
    }
  }
  if (existsSync(path)) return false;
  let fd: number;
  try {
    fd = openSync(path, "wx", 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false; // another process won the race
    throw err;
  }
  try {
    fchmodSync(fd, 0o600);
  } finally {
    closeSync(fd);
  }
  return true;
}

/** SQLite gives -wal/-shm the database file's mode; set them anyway in case they predate it. */
export function privateSideFiles(path: string): void {
  for (const s of SIDE_FILES) if (existsSync(path + s)) chmodSync(path + s, 0o600);
}

const warned = new Set<string>();

/**
 * One sentence when the database file, its -wal/-shm, or its directory can be read by group or
 * others (any local user could read the secret and forge unsubscribe links), once per process.
 */
export function exposureWarning(path: string): string | null {
  const file = resolve(path);
  if (warned.has(file) || !existsSync(file)) return null;
  const dir = dirname(file);
  const open = (p: string) => existsSync(p) && (statSync(p).mode & 0o044) !== 0;
  const files = [file, ...SIDE_FILES.map((s) => file + s)].filter(open);
  const dirOpen = open(dir);
  if (files.length === 0 && !dirOpen) return null;
  warned.add(file);
  const fix = [dirOpen ? `chmod 700 ${dir}` : null, files.length ? `chmod 600 ${files.join(" ")}` : null].filter(Boolean).join(" && ");
  return `the database ${file} holds the signing secret and subscribers' addresses but other local users can read ${files.length ? "it" : "its directory"}: run \`${fix}\``;
}
