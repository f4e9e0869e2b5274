/**
 * Behind a reverse proxy every request comes from the proxy's address; the visitor's is in
 * X-Forwarded-For (or Forwarded). A client can write those headers too, so they are believed
 * only as far as DRIP_TRUST_PROXY says: a hop count (1 = one proxy in front) or a list of the
 * proxies' addresses/CIDRs. Off by default: with no proxy, a forged header changes nothing.
 */
import { BlockList, isIP } from "node:net";

export type TrustProxy = { kind: "hops"; hops: number; text: string } | { kind: "cidrs"; list: BlockList; text: string };

const OFF = new Set(["", "0", "false", "off", "no"]);

/** DRIP_TRUST_PROXY → a rule, null when off; a wrong value throws one sentence. */
export function parseTrustProxy(value: string | undefined): TrustProxy | null {
  const v = (value ?? "").trim();
  if (OFF.has(v.toLowerCase())) return null;
  if (/^\d+$/.test(v)) return { kind: "hops", hops: Number(v), text: v };
  const list = new BlockList();
  for (const part of v.split(",").map((p) => p.trim())) {
    const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(part);
    const addr = m ? normalize(m[1]!) : "";
    const family = isIP(addr);
    const prefix = m?.[2] === undefined ? (family === 6 ? 128 : 32) : Number(m[2]);
    if (!family || prefix > (family === 6 ? 128 : 32))
      throw new Error(
        `DRIP_TRUST_PROXY: "${part}" is not a hop count or an address/CIDR: give the number of proxies in front (e.g. 1) or their addresses (e.g. 127.0.0.1,10.0.0.0/8)`,
      );
    list.addSubnet(addr, prefix, family === 6 ? "ipv6" : "ipv4");
  }
  return { kind: "cidrs", list, text: v };
}

/** ::ffff:10.0.0.1 → 10.0.0.1; [::1] → ::1; "1.2.3.4:5678" → 1.2.3.4. */
function normalize(a: string): string {
  let s = a.trim().replace(/^"|"$/g, "");
  if (s.startsWith("[")) s = s.slice(1, s.indexOf("]") > 0 ? s.indexOf("]") : undefined);
  else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(s)) s = s.slice(0, s.lastIndexOf(":"));
  if (/^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(s)) s = s.slice(7);
  return s;
}

/** The addresses a request passed through, client first: X-Forwarded-For, else Forwarded's for=. */
function forwardedChain(xff: string | undefined, forwarded: string | undefined): string[] {
  if (xff) return xff.split(",").map(normalize).filter(Boolean);
  if (!forwarded) return [];
  return [...forwarded.matchAll(/for=("[^"]*"|[^;,\s]+)/gi)].map((m) => normalize(m[1]!)).filter(Boolean);
}

/** The client's address: the socket's, or as far back the forwarded chain as the trusted proxies vouch. */
export function clientAddress(socketIp: string, headers: { xff?: string; forwarded?: string }, trust: TrustProxy | null): string {
  const peer = normalize(socketIp);
  if (!trust) return peer;
  const chain = [...forwardedChain(headers.xff, headers.forwarded), peer];
  if (trust.kind === "hops") return chain[Math.max(0, chain.length - 1 - trust.hops)]!;
  // From the socket back: skip every address that is one of our proxies; the first that is not is the client.
  let i = chain.length - 1;
  while (i > 0 && isTrusted(trust.list, chain[i]!)) i--;
  return isTrusted(trust.list, chain[chain.length - 1]!) ? chain[i]! : peer;
}

function isTrusted(list: BlockList, addr: string): boolean {
  const family = isIP(addr);
  return family !== 0 && list.check(addr, family === 6 ? "ipv6" : "ipv4");
}
