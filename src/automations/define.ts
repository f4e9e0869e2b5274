/**
 * The shapes of triggers and automations, validated with zod like sequences: every problem
 * comes back with its path (`triggers[0].when.tags.all[1]`) and a sentence saying what to do.
 * `defineAutomations` is the door for `sequences/automations.ts`; a sequence's `triggers`
 * field is checked by defineSequence with `sequenceTriggersSchema`.
 */
import { z } from "zod";
import { SequenceError, formatPath } from "../sequences/errors.ts";
import type { AutomationDefinition } from "./types.ts";

const ID = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
/** The same rule as `drip tag` and Lifecycle.tag. */
export const TAG = /^[\w:.-]{1,64}$/;

const ref = (what: string) =>
  z.string({ error: `${what} must be a string` }).regex(ID, { error: `${what} must be kebab-case (lowercase letters, digits and single dashes)` });
const tag = (what: string) => z.string({ error: `${what} must be a string` }).regex(TAG, { error: `${what} must be 1–64 letters, digits, _ : . or -` });

const TRIGGERS = '"signup", "tag-added", "event", "completed" or "topic-joined"';

const triggerShapes = {
  signup: { on: z.literal("signup"), form: ref("form").optional() },
  "tag-added": { on: z.literal("tag-added"), tag: tag("tag") },
  event: { on: z.literal("event"), name: tag("event name") },
  completed: { on: z.literal("completed"), sequence: ref("sequence") },
  "topic-joined": { on: z.literal("topic-joined"), topic: ref("topic") },
};

/** One trigger kind per `on`, each with the given extra fields, no others (a typo is named). */
function triggerUnion<E extends z.ZodRawShape>(extra: E) {
  const opts = Object.values(triggerShapes).map((shape) => z.strictObject({ ...shape, ...extra }));
  return z.discriminatedUnion("on", opts as unknown as [(typeof opts)[number], ...(typeof opts)[number][]], {
    error: `a trigger needs \`on\`: ${TRIGGERS}`,
  });
}

export const triggerSchema = triggerUnion({});

const tagList = (what: string) => z.array(tag(`a tag in ${what}`)).min(1, { error: `${what} must list at least one tag (or leave it out)` });

export const conditionsSchema = z.strictObject(
  {
    tags: z
      .strictObject({ all: tagList("when.tags.all").optional(), any: tagList("when.tags.any").optional(), none: tagList("when.tags.none").optional() })
      .optional(),
  },
  { error: "when must be { tags: { all?, any?, none? } }" },
);

const amount = (unit: string, max: number) =>
  z
    .number({ error: `delay.${unit} must be a number` })
    .int({ error: `delay.${unit} must be a whole number` })
    .min(0, { error: `delay.${unit} must be 0 or more` })
    .max(max, { error: `delay.${unit} must be at most ${max}` });

export const delaySchema = z
  .strictObject(
    { days: amount("days", 3650).optional(), hours: amount("hours", 24 * 3650).optional(), minutes: amount("minutes", 60 * 24 * 3650).optional() },
    { error: "delay must be { days?, hours?, minutes? }" },
  )
  .refine((d) => (d.days ?? 0) + (d.hours ?? 0) + (d.minutes ?? 0) > 0, { error: "a delay must be longer than zero (or leave it out)" });

export const actionSchema = z.union(
  [
    z.strictObject({ enroll: ref("enroll") }),
    z.strictObject({ addTag: tag("addTag") }),
    z.strictObject({ removeTag: tag("removeTag") }),
    z.strictObject({ exit: ref("exit") }),
    z.strictObject({ joinTopic: ref("joinTopic") }),
    z.strictObject({ leaveTopic: ref("leaveTopic") }),
  ],
  { error: "an action is one of { enroll }, { addTag }, { removeTag }, { exit }, { joinTopic }, { leaveTopic } (one key each)" },
);

const common = { id: ref("automation id"), when: conditionsSchema.optional(), delay: delaySchema.optional() };

/** A sequence's `triggers`: each starts that sequence; `also` adds actions. */
export const sequenceTriggersSchema = z.array(
  triggerUnion({ id: common.id.optional(), when: common.when, delay: common.delay, also: z.array(actionSchema).optional() }),
  { error: 'triggers must be a list such as [{ on: "event", name: "booked" }]' },
);

export const automationSchema = z.strictObject({
  ...common,
  on: triggerSchema,
  do: z.array(actionSchema).min(1, { error: "an automation needs at least one action in `do`" }),
});

const automationsSchema = z.array(automationSchema, { error: "defineAutomations takes a list of automations" });

export const delayMs = (d: AutomationDefinition["delay"]) => ((d?.days ?? 0) * 24 * 60 + (d?.hours ?? 0) * 60 + (d?.minutes ?? 0)) * 60_000;

export interface AutomationFile {
  readonly __automations: true;
  readonly automations: readonly AutomationDefinition[];
}

/** The door for `sequences/automations.ts`: validates every automation; throws SequenceError with paths. */
export function defineAutomations(list: readonly AutomationDefinition[]): AutomationFile {
  const parsed = automationsSchema.safeParse(list);
  if (!parsed.success) throw new SequenceError(parsed.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message })));
  const issues: { path: string; message: string }[] = [];
  const seen = new Map<string, number>();
  list.forEach((a, i) => {
    const first = seen.get(a.id);
    if (first !== undefined) issues.push({ path: `[${i}].id`, message: `automation id "${a.id}" is already used by [${first}]: ids must be unique` });
    else seen.set(a.id, i);
    if (a.delay && a.do.some((x) => !("enroll" in x)))
      issues.push({ path: `[${i}].delay`, message: "a delay applies to enrolling only: put tag, exit and topic actions in an automation without a delay" });
  });
  if (issues.length) throw new SequenceError(issues);
  return Object.freeze({ __automations: true as const, automations: list });
}
