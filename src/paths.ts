import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The project root (where sequences/ and emails/ live). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const SEQUENCES_DIR = join(ROOT, "sequences");
export const EMAILS_DIR = join(ROOT, "emails");
export const NEWSLETTERS_DIR = join(ROOT, "newsletters");
