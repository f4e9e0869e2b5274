/**
 * DRIP_TRUST_PROXY: off by default, so a forged X-Forwarded-For changes nothing (100 signups
 * from one socket are limited as one client); set to the proxy's address (or a hop count),
 * the forwarded address is the client for rate limits and the consent record.
 */
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { clientAddress, parseTrustProxy } from "../../src/http/proxy.ts";
import { cleanupTempDirs } from "../support/engine-helpers.ts";
import { type Harness, harness, json } from "./harness.ts";

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
  cleanupTempDirs();
});

const PROXY = "10.0.0.2";

async function hundredSignups(hh: Harness, headers: (i: number) => Record<string, string>): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < 100; i++) {
    const r = await hh.req("/subscribe", json({ email: `p${i}@example.com`, name: "", timezone: "" }, headers(i)), PROXY);
    statuses.push(r.status);
  }
  return statuses;
}

describe("DRIP_TRUST_PROXY", () => {
  it("unset: 100 signups from one socket with 100 forged X-Forwarded-For values are limited as one client", async () => {
    h = await harness();
    const statuses = await hundredSignups(h, (i) => ({ "x-forwarded-for": `198.51.100.${i}` }));
    expect(statuses.filter((s) => s < 300)).toHaveLength(30);
    expect(statuses.filter((s) => s === 429)).toHaveLength(70);
    const s = await h.app.store.findSubscriberByEmail("p0@example.com");
    expect(s?.consentIp).toBe(PROXY);
  });

  it("set to the proxy: 100 signups from 100 forwarded addresses pass, and consent records the visitor's address", async () => {
    h = await harness({ env: { DRIP_TRUST_PROXY: `${PROXY}/32` } });
    const statuses = await hundredSignups(h, (i) => ({ "x-forwarded-for": `198.51.100.${i}` }));
    expect(statuses.filter((s) => s >= 300)).toEqual([]);
    expect((await h.app.store.findSubscriberByEmail("p7@example.com"))?.consentIp).toBe("198.51.100.7");
  });

  it("set to the proxy: a client that forges the header still counts as itself (the proxy appends the real address)", async () => {
    h = await harness({ env: { DRIP_TRUST_PROXY: "1" } });
    const statuses = await hundredSignups(h, (i) => ({ "x-forwarded-for": `192.0.2.${i}, 203.0.113.50` }));
    expect(statuses.filter((s) => s < 300)).toHaveLength(30);
  });
});

describe("clientAddress", () => {
  it("hops, CIDR lists, Forwarded, IPv6 and mapped addresses", () => {
    const one = parseTrustProxy("1");
    expect(clientAddress("10.0.0.2", { xff: "1.1.1.1, 2.2.2.2" }, one)).toBe("2.2.2.2");
    expect(clientAddress("10.0.0.2", { xff: "1.1.1.1, 2.2.2.2" }, parseTrustProxy("2"))).toBe("1.1.1.1");
    expect(clientAddress("10.0.0.2", {}, one)).toBe("10.0.0.2");
    const cidr = parseTrustProxy("10.0.0.0/8, ::1");
    expect(clientAddress("::ffff:10.1.2.3", { xff: "7.7.7.7, 10.9.9.9" }, cidr)).toBe("7.7.7.7");
    expect(clientAddress("::1", { forwarded: 'for="[2001:db8::1]:4711";proto=https' }, cidr)).toBe("2001:db8::1");
    // Not from a trusted proxy: the header is ignored.
    expect(clientAddress("203.0.113.9", { xff: "7.7.7.7" }, cidr)).toBe("203.0.113.9");
    expect(clientAddress("10.0.0.2", { xff: "7.7.7.7" }, null)).toBe("10.0.0.2");
    expect(parseTrustProxy(undefined)).toBeNull();
    expect(parseTrustProxy("false")).toBeNull();
  });

  it("a wrong value is one sentence at start", () => {
    expect(() => loadConfig({ DRIP_TRUST_PROXY: "yes please" })).toThrow(ConfigError);
    expect(() => loadConfig({ DRIP_TRUST_PROXY: "10.0.0.0/99" })).toThrow(/DRIP_TRUST_PROXY: "10.0.0.0\/99" is not a hop count or an address\/CIDR/);
  });
});
