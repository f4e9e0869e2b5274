/** DATABASE_URL as logs and command output may show it (shared by `drip start` and `drip db`, which must not import each other). */
import { isPostgresUrl } from "../config.ts";

/** The database URL without its password, for logs. */
export function redactUrl(url: string): string {
  if (!isPostgresUrl(url) || !URL.canParse(url)) return url;
  const u = new URL(url);
  if (u.password) u.password = "***";
  return u.toString();
}
