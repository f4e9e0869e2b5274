/**
 * From declarations to the automations that run: a sequence's `triggers` and the list in
 * `sequences/automations.ts` become one list of `Automation`s, checked as a whole:
 * unique ids, every sequence, form and topic they name exists, and no cycle (A's action
 * fires B whose action fires A), which `drip validate` prints with its path.
 */
import type { SequenceIssue } from "../sequences/errors.ts";
import type { Sequence } from "../sequences/types.ts";
import type { Action, Automation, AutomationDefinition, Cause, Conditions, Trigger } from "./types.ts";

/** Every automation, sequence triggers first (in sequence order), then the automations file. */
export function compileAutomations(
  sequences: readonly { file?: string; sequence: Sequence }[],
  file?: { file: string; automations: readonly AutomationDefinition[] },
): Automation[] {
  const out: Automation[] = [];
  for (const { file: where, sequence } of sequences) {
    (sequence.triggers ?? []).forEach((t, i) => {
      const { id, when, delay, also, ...on } = t;
      out.push({
        id: id ?? `${sequence.id}.${on.on}${i > 0 ? `-${i + 1}` : ""}`,
        on: on as Trigger,
        ...(when ? { when } : {}),
        ...(delay ? { delay } : {}),
        do: [{ enroll: sequence.id }, ...(also ?? [])],
        source: `${where ?? sequence.id}: triggers[${i}]`,
      });
    });
  }
  for (const [i, a] of (file?.automations ?? []).entries()) out.push({ ...a, source: `${file!.file}: [${i}]` });
  return out;
}

/** What the automations refer to, as loaded: every sequence, form and declared topic id (and where topics are declared, for messages). */
export interface Known {
  sequences: ReadonlySet<string>;
  forms: ReadonlySet<string>;
  topics: ReadonlySet<string>;
  /** Default `newsletters/topics.ts`. */
  topicsFile?: string;
}

const where = (a: Automation) => {
  const [file, path] = a.source.split(": ");
  return { file, path: path ?? "" };
};

/** Problems across the whole set (ids, references, cycles), each with the file and path of the automation. */
export function checkAutomations(automations: readonly Automation[], known: Known): SequenceIssue[] {
  const issues: SequenceIssue[] = [];
  const ids = new Map<string, Automation>();
  for (const a of automations) {
    const at = where(a);
    const other = ids.get(a.id);
    if (other) issues.push({ ...at, path: `${at.path}.id`, message: `automation id "${a.id}" is already used by ${other.source}: give one an \`id\`` });
    else ids.set(a.id, a);
    const t = a.on;
    if (t.on === "signup" && t.form !== undefined && !known.forms.has(t.form))
      issues.push({
        ...at,
        path: `${at.path}.form`,
        message: `no form "${t.form}": known forms are ${[...known.forms].join(", ") || "none"} (see \`drip form list\`)`,
      });
    if (t.on === "completed" && !known.sequences.has(t.sequence))
      issues.push({ ...at, path: `${at.path}.sequence`, message: `no sequence "${t.sequence}": known sequences are ${[...known.sequences].join(", ")}` });
    if (t.on === "topic-joined") issues.push(...topicIssue(t.topic, known, at, `${at.path}.topic`));
    a.do.forEach((x, k) => {
      const path = `${at.path}.${a.source.includes("triggers[") ? (k === 0 ? "" : `also[${k - 1}]`) : `do[${k}]`}`.replace(/\.$/, "");
      if ("enroll" in x && !known.sequences.has(x.enroll))
        issues.push({ ...at, path, message: `no sequence "${x.enroll}" to enroll in: known sequences are ${[...known.sequences].join(", ")}` });
      if ("exit" in x && !known.sequences.has(x.exit))
        issues.push({ ...at, path, message: `no sequence "${x.exit}" to exit: known sequences are ${[...known.sequences].join(", ")}` });
      if ("joinTopic" in x) issues.push(...topicIssue(x.joinTopic, known, at, path));
      if ("leaveTopic" in x) issues.push(...topicIssue(x.leaveTopic, known, at, path));
    });
  }
  const cycle = findCycle(automations);
  if (cycle) {
    const first = where(cycle[0]!);
    issues.push({
      ...first,
      message: `these automations fire each other in a loop: ${describeCycle(cycle)}: remove one of the actions or triggers so the chain ends`,
    });
  }
  return issues;
}

function topicIssue(topic: string, known: Known, at: { file: string | undefined; path: string }, path: string): SequenceIssue[] {
  if (known.topics.has(topic)) return [];
  const file = known.topicsFile ?? "newsletters/topics.ts";
  return [{ ...at, path, message: `no topic "${topic}" is declared in ${file}: known topics are ${[...known.topics].join(", ") || "none"}` }];
}

/** Does this action (when it changes something) fire this trigger? */
function fires(action: Action, trigger: Trigger): boolean {
  if ("addTag" in action) return trigger.on === "tag-added" && trigger.tag === action.addTag;
  if ("joinTopic" in action) return trigger.on === "topic-joined" && trigger.topic === action.joinTopic;
  // An enrollment fires the sequence's completion later: a loop over weeks is a loop still.
  if ("enroll" in action) return trigger.on === "completed" && trigger.sequence === action.enroll;
  return false;
}

/** The first cycle found (A → B → … → A), or null. Depth-first over "A's actions fire B". */
export function findCycle(automations: readonly Automation[]): Automation[] | null {
  const next = (a: Automation) => automations.filter((b) => a.do.some((x) => fires(x, b.on)));
  const state = new Map<Automation, "open" | "done">();
  const path: Automation[] = [];
  const visit = (a: Automation): Automation[] | null => {
    state.set(a, "open");
    path.push(a);
    for (const b of next(a)) {
      if (state.get(b) === "open") return [...path.slice(path.indexOf(b)), b];
      if (!state.has(b)) {
        const found = visit(b);
        if (found) return found;
      }
    }
    path.pop();
    state.set(a, "done");
    return null;
  };
  for (const a of automations) {
    if (state.has(a)) continue;
    const found = visit(a);
    if (found) return found;
  }
  return null;
}

export function describeTrigger(t: Trigger): string {
  switch (t.on) {
    case "signup":
      return t.form ? `signup through form ${t.form}` : "signup";
    case "tag-added":
      return `tag "${t.tag}" added`;
    case "event":
      return `event "${t.name}"`;
    case "completed":
      return `sequence ${t.sequence} completed`;
    case "topic-joined":
      return `topic ${t.topic} joined`;
  }
}

export function describeAction(x: Action): string {
  if ("enroll" in x) return `enrolls in ${x.enroll}`;
  if ("addTag" in x) return `adds tag "${x.addTag}"`;
  if ("removeTag" in x) return `removes tag "${x.removeTag}"`;
  if ("exit" in x) return `exits ${x.exit}`;
  if ("joinTopic" in x) return `joins topic ${x.joinTopic}`;
  return `leaves topic ${x.leaveTopic}`;
}

/** `a (on tag "x" added) adds tag "y" → b (on tag "y" added) adds tag "x" → a` */
export function describeCycle(cycle: readonly Automation[]): string {
  const parts: string[] = [];
  for (let i = 0; i < cycle.length - 1; i++) {
    const a = cycle[i]!;
    const b = cycle[i + 1]!;
    const via = a.do.find((x) => fires(x, b.on))!;
    parts.push(`${a.id} (on ${describeTrigger(a.on)}) ${describeAction(via)}`);
  }
  parts.push(cycle.at(-1)!.id);
  return parts.join(" → ");
}

/** Does this trigger match what happened? */
export function matches(t: Trigger, cause: Cause): boolean {
  switch (t.on) {
    case "signup":
      return cause.on === "signup" && (t.form === undefined || t.form === cause.form);
    case "tag-added":
      return cause.on === "tag-added" && cause.tag === t.tag;
    case "event":
      return cause.on === "event" && cause.name === t.name;
    case "completed":
      return cause.on === "completed" && cause.sequence === t.sequence;
    case "topic-joined":
      return cause.on === "topic-joined" && cause.topic === t.topic;
  }
}

export function conditionsHold(when: Conditions | undefined, tags: readonly string[]): boolean {
  const c = when?.tags;
  if (!c) return true;
  if (c.all && !c.all.every((t) => tags.includes(t))) return false;
  if (c.any && !c.any.some((t) => tags.includes(t))) return false;
  if (c.none?.some((t) => tags.includes(t))) return false;
  return true;
}

/** The cause in words, as runs record it. */
export function describeCause(cause: Cause): string {
  switch (cause.on) {
    case "signup":
      return cause.form ? `signup through form ${cause.form}` : "signup";
    case "tag-added":
      return `tag "${cause.tag}" added`;
    case "event":
      return `event "${cause.name}" at ${cause.at.toISOString()}`;
    case "completed":
      return `sequence ${cause.sequence} completed (round ${cause.round})`;
    case "topic-joined":
      return `topic ${cause.topic} joined`;
  }
}

/**
 * The run key: the same cause never fires an automation twice for one subscriber. A signup
 * fires once; an event once per reported instant (a duplicate delivery is the same event);
 * a completion once per round; a tag or topic once per moment it was added (it fires only
 * when it was absent).
 */
export function causeKey(cause: Cause, now: Date): string {
  switch (cause.on) {
    case "signup":
      return "signup";
    case "tag-added":
      return `tag-added:${cause.tag}@${now.getTime()}`;
    case "event":
      return `event:${cause.name}@${cause.at.getTime()}`;
    case "completed":
      return `completed:${cause.sequence}#${cause.round}`;
    case "topic-joined":
      return `topic-joined:${cause.topic}@${now.getTime()}`;
  }
}
