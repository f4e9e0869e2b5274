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
 * What the batch's emails repeat is stored once as well: a long value an email shows twice (its
 * links, in html and in text) and the fields a step's emails share (from, subject, header values,
 * tags) are literal indexes too (tags as the index of their JSON text):
 *
 *   { …, emails: [{ from: 10, to: [...], subject: 11, html: [0, "Ann", 1, 12, …], text: [6, 12, …], headers: { "List-Id": 13, … }, tags: 14 }] }
 *
 * Payloads written before literals existed (html and text as strings) read the same way.
 */
import type { Pieces, ProviderEmail } from "../delivery/transport.ts";

export interface BatchPayload {
  sendIds: string[];
  emails: ProviderEmail[];
}

/** What the stored JSON holds for one email: html and text either whole or as pieces; a number is a literal's index. */
type StoredText = string | (string | number)[];
interface StoredEmail {
  from: string | number;
  to: string[];
  subject: string | number;
  html: StoredText;
  text: StoredText;
  headers: Record<string, string | number>;
  tags: ProviderEmail["tags"] | number;
}
interface StoredPayload {
  sendIds: string[];
  literals?: string[];
  emails: StoredEmail[];
}

/** Values shorter than this are stored where they are (an index would save little). */
const SHARED_VALUE = 24;

/** The JSON stored for a batch. */
export function storePayload(payload: BatchPayload): string {
  const index = new Map<string, number>();
  const literals: string[] = [];
  const literal = (p: string): number => {
    let n = index.get(p);
    if (n === undefined) {
      n = literals.length;
      literals.push(p);
      index.set(p, n);
    }
    return n;
  };
  // Template pieces (even positions) always; the subscriber's values (odd) when long enough to repeat.
  const stored = (pieces: readonly string[]): (string | number)[] => pieces.map((p, i) => (i % 2 === 1 && p.length < SHARED_VALUE ? p : literal(p)));
  const emails = payload.emails.map((e): StoredEmail => {
    const headers: Record<string, string | number> = {};
    for (const [k, v] of Object.entries(e.headers)) headers[k] = literal(v);
    return {
      from: literal(e.from),
      to: e.to,
      subject: literal(e.subject),
      html: e.pieces ? stored(e.pieces.html) : e.html,
      text: e.pieces ? stored(e.pieces.text) : e.text,
      headers,
      tags: literal(JSON.stringify(e.tags)),
    };
  });
  return JSON.stringify({ sendIds: payload.sendIds, literals, emails } satisfies StoredPayload);
}

/** A stored payload read back: the same emails, with their pieces when they were stored in pieces. */
export function readPayload(text: string): BatchPayload {
  const stored = JSON.parse(text) as StoredPayload;
  const literals = stored.literals ?? [];
  const at = (p: string | number): string => {
    if (typeof p === "string") return p;
    const literal = literals[p];
    if (literal === undefined) throw new Error(`stored batch payload names literal ${p}, which it does not hold`);
    return literal;
  };
  const pieces = (s: (string | number)[]): string[] => s.map(at);
  const emails = stored.emails.map((e): ProviderEmail => {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(e.headers)) headers[k] = at(v);
    const email: ProviderEmail = {
      from: at(e.from),
      to: e.to,
      subject: at(e.subject),
      html: "",
      text: "",
      headers,
      tags: typeof e.tags === "number" ? (JSON.parse(at(e.tags)) as ProviderEmail["tags"]) : e.tags,
    };
    if (typeof e.html === "string" && typeof e.text === "string") return { ...email, html: e.html, text: e.text };
    const p: Pieces = { html: typeof e.html === "string" ? [e.html] : pieces(e.html), text: typeof e.text === "string" ? [e.text] : pieces(e.text) };
    return { ...email, html: p.html.join(""), text: p.text.join(""), pieces: p };
  });
  return { sendIds: stored.sendIds, emails };
}
