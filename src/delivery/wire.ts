/**
 * When a request to the provider really leaves: Node's fetch (undici) publishes each request's
 * header block on the `undici:client:sendHeaders` diagnostics channel as it writes it to the
 * connection. A request is recognised by its Idempotency-Key header (every request drip makes
 * to the provider carries a key of its own); other requests of the process are not looked at.
 * The rate limiter counts a request from this moment (RateLimiter.sent), not from when its slot
 * was given.
 */
import { subscribe } from "node:diagnostics_channel";

const waiting = new Map<string, () => void>();
let subscribed = false;

const KEY = /\r\nidempotency-key: *([^\r\n]*)\r\n/i;

function onSendHeaders(message: unknown): void {
  if (waiting.size === 0) return;
  const headers = (message as { headers?: unknown }).headers;
  if (typeof headers !== "string") return;
  const key = KEY.exec(headers)?.[1]?.trim();
  if (key === undefined) return;
  const fn = waiting.get(key);
  if (!fn) return;
  waiting.delete(key);
  fn();
}

/**
 * Call `fn` once, when the request carrying Idempotency-Key `key` is written to its connection.
 * Returns the way to stop waiting (call it once the request is answered or has failed).
 */
export function whenSent(key: string, fn: () => void): () => void {
  if (!subscribed) {
    subscribe("undici:client:sendHeaders", onSendHeaders);
    subscribed = true;
  }
  waiting.set(key, fn);
  return () => {
    if (waiting.get(key) === fn) waiting.delete(key);
  };
}
