/** Link tokens: scoped to one subscriber and one purpose, unforgeable, optionally expiring. */
import { describe, expect, it } from "vitest";
import { signToken, verifyToken } from "../src/tokens.ts";

const SECRET = "0123456789abcdef0123456789abcdef";
const NOW = new Date("2026-03-06T15:00:00Z");

describe("tokens", () => {
  it("round-trips the subscriber id", () => {
    const token = signToken(SECRET, "manage", "sub_42");
    expect(token).toMatch(/^sub_42\.[A-Za-z0-9_-]{32}$/);
    expect(verifyToken(SECRET, "manage", token, NOW)).toEqual({ ok: true, subscriberId: "sub_42", issuedAt: null, expiresAt: null });
    // Deterministic: the same inputs give the same token (rendered emails stay byte-identical).
    expect(signToken(SECRET, "manage", "sub_42")).toBe(token);
  });

  it("round-trips with an expiry in the future", () => {
    const token = signToken(SECRET, "confirm", "sub_42", new Date("2026-03-08T15:00:00Z"));
    expect(token.split(".")).toHaveLength(3);
    // What the token says: its subject, its expiry, and (a confirmation link lives 7 days) when it was issued.
    expect(verifyToken(SECRET, "confirm", token, NOW)).toEqual({
      ok: true,
      subscriberId: "sub_42",
      expiresAt: new Date("2026-03-08T15:00:00Z"),
      issuedAt: new Date("2026-03-01T15:00:00Z"),
    });
  });

  it("an altered subscriber id is forged", () => {
    const token = signToken(SECRET, "manage", "sub_42");
    expect(verifyToken(SECRET, "manage", token.replace("sub_42", "sub_43"), NOW)).toEqual({ ok: false, reason: "forged" });
  });

  it("an altered signature is forged", () => {
    const token = signToken(SECRET, "manage", "sub_42");
    const last = token.at(-1)!;
    const altered = token.slice(0, -1) + (last === "A" ? "B" : "A");
    expect(verifyToken(SECRET, "manage", altered, NOW)).toEqual({ ok: false, reason: "forged" });
    expect(verifyToken(SECRET, "manage", token.slice(0, -1), NOW)).toEqual({ ok: false, reason: "forged" });
  });

  it("an extended expiry is forged", () => {
    const token = signToken(SECRET, "confirm", "sub_42", new Date("2026-03-01T00:00:00Z"));
    const [id, , sig] = token.split(".");
    const later = Math.floor(new Date("2027-01-01T00:00:00Z").getTime() / 1000).toString(36);
    expect(verifyToken(SECRET, "confirm", `${id}.${later}.${sig}`, NOW)).toEqual({ ok: false, reason: "forged" });
  });

  it("a token for another purpose is forged (an unsubscribe link cannot confirm)", () => {
    const manage = signToken(SECRET, "manage", "sub_42");
    expect(verifyToken(SECRET, "confirm", manage, NOW)).toEqual({ ok: false, reason: "forged" });
    const confirm = signToken(SECRET, "confirm", "sub_42", new Date("2026-03-08T00:00:00Z"));
    expect(verifyToken(SECRET, "manage", confirm, NOW)).toEqual({ ok: false, reason: "forged" });
  });

  it("a token signed with another secret is forged", () => {
    const token = signToken("another-secret-another-secret-xx", "manage", "sub_42");
    expect(verifyToken(SECRET, "manage", token, NOW)).toEqual({ ok: false, reason: "forged" });
  });

  it("an expired token is expired", () => {
    const token = signToken(SECRET, "confirm", "sub_42", new Date("2026-03-06T14:59:59Z"));
    expect(verifyToken(SECRET, "confirm", token, NOW)).toEqual({ ok: false, reason: "expired" });
    // Still good up to its expiry second.
    expect(verifyToken(SECRET, "confirm", token, new Date("2026-03-06T14:59:59Z"))).toMatchObject({ ok: true, subscriberId: "sub_42" });
  });

  it.each(["", "sub_42", ".", "sub_42.", "a.b.c.d", "sub 42.abc", "sub_42.abc=", "sub_42.ab/c", "..x"])("%j is malformed", (token) => {
    expect(verifyToken(SECRET, "manage", token, NOW)).toEqual({ ok: false, reason: "malformed" });
  });
});
