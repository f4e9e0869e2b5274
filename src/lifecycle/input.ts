/**
 * Validation of what people type about a subscriber (forms, CLI flags, CSV rows, API bodies):
 * one schema, used by every edge before anything is written.
 */
import { z } from "zod";
import { isValidTimeZone } from "../schedule/index.ts";

/** Control characters and line breaks would let a name inject headers: refuse them. */
const NO_CONTROL = /^[^\p{Cc}\u2028\u2029]*$/u;

export const subscriberInputSchema = z.object({
  email: z.email({ error: "is not a valid email address" }).max(254, { error: "is longer than 254 characters" }),
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
    .default(""),
  tags: z.array(z.string().trim().min(1).max(64).regex(/^[\w:.-]+$/, { error: "tags use letters, digits, _ : . and -" })).default([]),
});
export type SubscriberInputFields = z.infer<typeof subscriberInputSchema>;
