/**
 * Validation of what people type about a subscriber (forms, CLI flags, CSV rows, API bodies):
 * one schema, used by every edge before anything is written.
 */
import { z } from "zod";
import { canonicalTimeZone, isValidTimeZone } from "../schedule/index.ts";

/** Control characters and line breaks would let a name inject headers: refuse them. */
const NO_CONTROL = /^[^\p{Cc}\u2028\u2029]*$/u;

/**
 * An address (RFC 5321 dot-atom local part and domain, extended by RFC 6531 to any letters,
 * marks and digits, so 用户@例子.广告 and chloé@example.fr pass): the ASCII characters zod's
 * z.email() allows plus non-ASCII letters, marks and digits. No spaces of any kind, no
 * control or format characters, no quotes or angle brackets; the domain has a dot and a
 * top-level label of letters (or an xn-- one). zod's own z.regexes.unicodeEmail is not used:
 * it lets `<b>@x` and `a@b` through.
 */
const WORD = String.raw`[\p{L}\p{M}\p{N}]`;
const LOCAL_CHAR = String.raw`[\p{L}\p{M}\p{N}_'+\-]`;
const LABEL = String.raw`${WORD}[\p{L}\p{M}\p{N}\-]*`; // as z.email(): a letter or digit first
const TLD = String.raw`(?:[\p{L}\p{M}]{2,}|[Xx][Nn]--[A-Za-z0-9\-]+)`;
export const EMAIL_PATTERN = new RegExp(String.raw`^(?:${LOCAL_CHAR}+\.)*${LOCAL_CHAR}*[\p{L}\p{M}\p{N}_+\-]@(?:${LABEL}\.)+${TLD}$`, "u");

/** SMTP's limit is on octets: 254 bytes of UTF-8 (so fewer characters when they are not ASCII). */
const MAX_OCTETS = 254;

/** The one address check: every edge (forms, JSON, CLI, imports) and the engine before a send. */
export const emailSchema = z
  .email({ pattern: EMAIL_PATTERN, error: "is not a valid email address" })
  .refine((s) => Buffer.byteLength(s, "utf8") <= MAX_OCTETS, { error: "is longer than 254 characters (bytes of UTF-8)" });

export const subscriberInputSchema = z.object({
  email: emailSchema,
  name: z
    .string()
    .trim()
    .max(100, { error: "name is longer than 100 characters" })
    .regex(NO_CONTROL, { error: "name contains line breaks or control characters" })
    .default(""),
  timezone: z
    .string()
    .trim()
    .refine((tz) => tz === "" || isValidTimeZone(tz), { error: (i) => `time zone ${JSON.stringify(i.input)} is not an IANA zone such as Europe/London` })
    // Stored under its current name, whatever the spelling: Asia/Calcutta → Asia/Kolkata.
    .transform((tz) => (tz === "" ? "" : (canonicalTimeZone(tz) ?? tz)))
    .default(""),
  tags: z
    .array(
      z
        .string()
        .trim()
        .min(1)
        .max(64)
        .regex(/^[\w:.-]+$/, { error: "tags use letters, digits, _ : . and -" }),
    )
    .default([]),
});
export type SubscriberInputFields = z.infer<typeof subscriberInputSchema>;
