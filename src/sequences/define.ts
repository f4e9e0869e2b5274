/**
 * defineSequence(): the one door through which a sequence enters the system. It validates
 * the definition with zod plus the cross-field rules zod cannot express (unique step ids,
 * steps in schedule order, times inside the send window) and throws a SequenceError whose
 * issues each carry a path such as `steps[3].schedule.day` and a sentence saying what to do.
 */
import { z } from "zod";
import { sequenceTriggersSchema } from "../automations/define.ts";
import { isValidTimeZone, parseLocalTime } from "../schedule/index.ts";
import { SequenceError, type SequenceIssue, formatPath } from "./errors.ts";
import type { MjmlTemplate, Schedule, Sequence, SequenceDefinition, Weekday } from "./types.ts";

export const WEEKDAYS: readonly Weekday[] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/** Schedule helpers for sequence files. */
export const immediately = (): Schedule => ({ kind: "immediately" });
export const day = (n: number, at: string): Schedule => ({ kind: "day", day: n, at });
/** An MJML template file under emails/ (path relative to that folder). */
export const mjml = (file: string): MjmlTemplate => ({ kind: "mjml", file });

const ID = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const idSchema = (what: string) =>
  z.string({ error: `${what} must be a string` }).regex(ID, {
    error: `${what} must be kebab-case (lowercase letters, digits and single dashes), e.g. "self-release"`,
  });

const localTime = (what: string) =>
  z.string({ error: `${what} must be a "HH:MM" string` }).refine((s) => parseLocalTime(s) !== null, {
    error: (issue) => `${what} ${JSON.stringify(issue.input)} is not a valid 24-hour time: write it as "HH:MM", e.g. "09:00"`,
  });

const timeZone = z.string({ error: "time zone must be a string" }).refine(isValidTimeZone, {
  error: (issue) => `${JSON.stringify(issue.input)} is not an IANA time zone: use a name such as "Europe/London"`,
});

const textOrFn = (what: string) =>
  z.union(
    [
      z
        .string()
        .trim()
        .min(1, { error: `${what} must not be empty` }),
      z.custom<(s: unknown) => string>((v) => typeof v === "function"),
    ],
    {
      error: `${what} must be a non-empty string or a function of the subscriber returning one`,
    },
  );

const isComponent = (v: unknown) => typeof v === "function" || (typeof v === "object" && v !== null && "$$typeof" in v); // memo() / forwardRef() components

const templateSchema = z.union(
  [
    z.custom<unknown>(isComponent),
    z.object({ kind: z.literal("mjml"), file: z.string().regex(/\.mjml$/, { error: "an MJML template file must end in .mjml" }) }),
  ],
  { error: 'template must be a React Email component or mjml("file.mjml")' },
);

const scheduleSchema = z.discriminatedUnion(
  "kind",
  [
    z.object({ kind: z.literal("immediately") }),
    z.object({
      kind: z.literal("day"),
      day: z
        .number({ error: "day must be a number" })
        .int({ error: "day must be a whole number of days" })
        .min(0, { error: "day must be 0 or more (day 0 is the day the subscriber starts)" })
        .max(3650, { error: "day must be at most 3650" }),
      at: localTime("schedule time"),
    }),
  ],
  { error: 'schedule must be immediately() or day(N, "HH:MM")' },
);

const stepSchema = z.object({
  id: idSchema("step id"),
  schedule: scheduleSchema,
  template: templateSchema,
  subject: textOrFn("subject"),
  preview: textOrFn("preview text"),
  skipIf: z.object({ tags: z.array(z.string().min(1)).min(1) }).optional(),
  formerly: z.array(idSchema("a former step id")).optional(),
  backfill: z.boolean({ error: "backfill must be true or false" }).optional(),
});

const sequenceSchema = z.object({
  id: idSchema("sequence id"),
  name: z.string().trim().min(1, { error: "name must not be empty" }),
  sender: z.object({
    name: z.string().trim().min(1, { error: "sender name must not be empty" }),
    organization: z.string().trim().min(1, { error: "sender organization must not be empty" }),
  }),
  reason: z.string().trim().min(1, { error: 'reason must say why the reader gets these emails, e.g. "You signed up for ..."' }),
  defaultTimezone: timeZone,
  sendWindow: z.object({
    start: localTime("send window start"),
    end: localTime("send window end"),
    weekdays: z
      .array(z.enum(WEEKDAYS as [Weekday, ...Weekday[]], { error: `weekday must be one of ${WEEKDAYS.join(", ")}` }))
      .min(1, { error: "the send window needs at least one weekday" }),
  }),
  exitIf: z.array(z.object({ tag: z.string().min(1), reason: z.string().optional() })).optional(),
  allowReentry: z.boolean().optional(),
  steps: z.array(stepSchema).min(1, { error: "a sequence needs at least one step" }),
  continueCompleted: z
    .object({
      withinDays: z
        .number({ error: "continueCompleted.withinDays must be a number of days" })
        .int({ error: "continueCompleted.withinDays must be a whole number of days" })
        .min(0, { error: "continueCompleted.withinDays must be 0 or more" }),
    })
    .optional(),
  triggers: sequenceTriggersSchema.optional(),
});

const minutes = (hhmm: string) => {
  const t = parseLocalTime(hhmm);
  return t ? t.hour * 60 + t.minute : 0;
};

/** Rules across fields, run only once the shape is right. */
function crossCheck(def: SequenceDefinition): SequenceIssue[] {
  const issues: SequenceIssue[] = [];
  const { start, end } = def.sendWindow;
  if (minutes(start) >= minutes(end)) {
    issues.push({ path: "sendWindow", message: `send window start ${start} must be before its end ${end}` });
  }
  const seen = new Map<string, number>();
  let lastDay = -1;
  let lastAt = -1;
  def.steps.forEach((step, i) => {
    const first = seen.get(step.id);
    if (first !== undefined) {
      issues.push({ path: `steps[${i}].id`, message: `step id "${step.id}" is already used by steps[${first}]: step ids must be unique` });
    } else seen.set(step.id, i);
    const s = step.schedule;
    const d = s.kind === "immediately" ? 0 : s.day;
    const at = s.kind === "immediately" ? -1 : minutes(s.at);
    if (d < lastDay || (d === lastDay && at < lastAt)) {
      issues.push({ path: `steps[${i}].schedule`, message: `step "${step.id}" is scheduled before the step above it: list steps in the order they are sent` });
    }
    lastDay = d;
    lastAt = at;
    for (const old of step.formerly ?? []) {
      if (def.steps.some((other) => other.id === old))
        issues.push({ path: `steps[${i}].formerly`, message: `"${old}" is still a step id in this sequence: formerly lists ids that are no longer used` });
    }
    if (s.kind === "day" && (minutes(s.at) < minutes(start) || minutes(s.at) >= minutes(end))) {
      issues.push({ path: `steps[${i}].schedule.at`, message: `${s.at} is outside the send window ${start}–${end}: move the step's time or widen sendWindow` });
    }
  });
  return issues;
}

/** Validate a sequence definition; throws SequenceError listing every problem with its path. */
export function defineSequence(def: SequenceDefinition): Sequence {
  const parsed = sequenceSchema.safeParse(def);
  if (!parsed.success) {
    throw new SequenceError(
      parsed.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message })),
      typeof (def as { id?: unknown })?.id === "string" ? (def as { id: string }).id : undefined,
    );
  }
  const issues = crossCheck(def);
  if (issues.length > 0) throw new SequenceError(issues, def.id);
  // Keep the caller's objects (components, functions) as they are; zod only checked them.
  return Object.freeze({ ...def, __validated: true as const });
}
