/** One problem in a sequence, located by its path inside the definition. */
export interface SequenceIssue {
  /** e.g. "steps[3].schedule.day"; "" for the whole definition. */
  path: string;
  /** One sentence: what is wrong and what to do. */
  message: string;
  /** The file the sequence came from, when known. */
  file?: string;
}

export class SequenceError extends Error {
  readonly issues: SequenceIssue[];
  constructor(issues: SequenceIssue[], sequenceId?: string) {
    const where = sequenceId ? `sequence "${sequenceId}"` : "sequence";
    super(`${where} is invalid:\n${issues.map(formatIssue).join("\n")}`);
    this.name = "SequenceError";
    this.issues = issues;
  }
}

/** ["steps", 3, "schedule", "day"] → "steps[3].schedule.day" */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out;
}

export function formatIssue(issue: SequenceIssue): string {
  const where = [issue.file, issue.path].filter(Boolean).join(": ");
  return `  ${where ? `${where}: ` : ""}${issue.message}`;
}
