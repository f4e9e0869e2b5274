/**
 * Topics: lists a subscriber opts into (the weekly newsletter), declared as typed code in
 * newsletters/topics.ts and validated here. A topic id is permanent: consent is keyed on it.
 */
import { z } from "zod";
import { formatPath } from "../sequences/errors.ts";

export interface Topic {
  /** Permanent id (lower-case letters, digits, dashes): subscriptions and List-Id use it. */
  id: string;
  name: string;
  /** One line, shown beside the checkbox and on the preferences page. */
  description: string;
  /** Offer it on the signup page (always as its own, unticked checkbox). */
  askAtSignup: boolean;
}

const topicSchema = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, { error: "id must be lower-case letters, digits and dashes (e.g. weekly-blog)" }),
  name: z.string().trim().min(1, { error: "name must not be empty" }).max(80),
  description: z
    .string()
    .trim()
    .min(1, { error: "description must be one line" })
    .max(200)
    .refine((s) => !s.includes("\n"), { error: "description must be one line" }),
  askAtSignup: z.boolean(),
});

/** Declare the topics (newsletters/topics.ts): validated at load, ids unique. */
export function defineTopics(topics: readonly Topic[]): readonly Topic[] {
  const result = z.array(topicSchema).safeParse(topics);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new Error(`topics${formatPath(issue.path)}: ${issue.message}`);
  }
  const parsed = result.data;
  const seen = new Set<string>();
  for (const t of parsed) {
    if (seen.has(t.id)) throw new Error(`topic id "${t.id}" is declared twice`);
    seen.add(t.id);
  }
  return parsed;
}

/** The loaded topics, as callers need them. */
export interface TopicSource {
  topics(): readonly Topic[];
}

export const staticTopics = (topics: readonly Topic[]): TopicSource => ({ topics: () => topics });
