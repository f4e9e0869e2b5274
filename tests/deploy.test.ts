/**
 * deploy/: the systemd unit passes `systemd-analyze verify` (skipped where systemd's tools are
 * not installed), and the unit and proxy recipe agree on how drip runs behind the proxy.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../src/paths.ts";
import { parseTrustProxy } from "../src/http/proxy.ts";

const hasSystemd = existsSync("/usr/bin/systemd-analyze");
const unit = join(ROOT, "deploy", "drip.service");

describe("deploy/", () => {
  it.skipIf(!hasSystemd)("drip.service passes systemd-analyze verify", () => {
    // Throws (non-zero exit) on any error in the unit; warnings about this machine are not errors.
    const out = execFileSync("systemd-analyze", ["verify", unit], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    expect(out).toBe("");
  });

  it("binds localhost, trusts that proxy only, stops on SIGTERM, and the Caddyfile proxies to the same port", () => {
    const text = readFileSync(unit, "utf8");
    expect(text).toMatch(/^Environment=HOST=127\.0\.0\.1$/m);
    const trust = /^Environment=DRIP_TRUST_PROXY=(.+)$/m.exec(text)?.[1];
    expect(parseTrustProxy(trust)).toMatchObject({ kind: "cidrs" });
    expect(text).toMatch(/^KillSignal=SIGTERM$/m);
    expect(text).toMatch(/^ExecStart=\/usr\/bin\/node \/opt\/drip\/bin\/drip\.js start$/m);
    expect(readFileSync(join(ROOT, "deploy", "Caddyfile"), "utf8")).toMatch(/reverse_proxy 127\.0\.0\.1:3000/);
  });
});
