/**
 * A batch's stored payload: its send ids and its emails, written before the first request so
 * recovery re-sends exactly the same emails under the same key. The emails of a compiled step
 * share their template's literal pieces (see Pieces), so the stored form holds each literal
 * once per batch, in `literals`, and each email's html and text as [literal index, value,
 * literal index, …]; an email rendered in full keeps its html and text as strings. Reading it
 * back gives the same strings (and the same pieces) byte for byte.
 *
 *   { sendIds: [...], literals: ["<!DOCTYPE…", …], emails: [{ from, to, subject, html: [0, "Ann", 1, …], text: […], headers, tags }] }
 *
 * Payloads written before literals existed (html and text as strings) read the same way.
 */
import type { Pieces, ProviderEmail } from "../delivery/transport.ts";

export interface BatchPayload {
  sendIds: string[];
  emails: ProviderEmail[];
}

/** What the stored JSON holds for one email: html and text either whole or as pieces. */
type StoredText = string | (string | number)[];
interface StoredEmail extends Omit<ProviderEmail, "html" | "text" | "pieces"> {
  html: StoredText;
  text: StoredText;
}
interface StoredPayload {
  sendIds: string[];
  literals?: string[];
  emails: StoredEmail[];
}

/** The JSON stored for a batch. */
export function storePayload(payload: BatchPayload): string {
  const index = new Map<string, number>();
  const literals: string[] = [];
  const stored = (pieces: readonly string[]): (string | number)[] =>
    pieces.map((p, i) => {
      if (i % 2 === 1) return p;
      let n = index.get(p);
      if (n === undefined) {
        n = literals.length;
        literals.push(p);
        index.set(p, n);
      }
      return n;
    });
  const emails = payload.emails.map((e): StoredEmail => {
    const { pieces, ...rest } = e;
    return pieces ? { ...rest, html: stored(pieces.html), text: stored(pieces.text) } : rest;
  });
  const out: StoredPayload = literals.length > 0 ? { sendIds: payload.sendIds, literals, emails } : { sendIds: payload.sendIds, emails };
  return JSON.stringify(out);
}

/** A stored payload read back: the same emails, with their pieces when they were stored in pieces. */
export function readPayload(text: string): BatchPayload {
  const stored = JSON.parse(text) as StoredPayload;
  const literals = stored.literals ?? [];
  const pieces = (s: (string | number)[]): string[] =>
    s.map((p) => {
      if (typeof p === "string") return p;
      const literal = literals[p];
      if (literal === undefined) throw new Error(`stored batch payload names literal ${p}, which it does not hold`);
      return literal;
    });
  const emails = stored.emails.map((e): ProviderEmail => {
    if (typeof e.html === "string" && typeof e.text === "string") return e as ProviderEmail;
    const p: Pieces = { html: typeof e.html === "string" ? [e.html] : pieces(e.html), text: typeof e.text === "string" ? [e.text] : pieces(e.text) };
    return { ...e, html: p.html.join(""), text: p.text.join(""), pieces: p };
  });
  return { sendIds: stored.sendIds, emails };
}
