/**
 * Newsletter issues as content files: `newsletters/<slug>.md`, front matter (YAML) then
 * Markdown. The slug (file name) is the issue id and its archive URL. Front matter is
 * validated with zod; a bad file is reported with the file, the key and what to do, as
 * `drip validate` reports sequences.
 *
 *   ---
 *   subject: Two ways to ease outer hip pain at home
 *   preview: A recap of the two self-release techniques
 *   topic: weekly
 *   blog_url: https://bodyhealtherapy.example/blog/outer-hip   # the "Read on the blog" button
 *   audience:                       # optional: narrows the topic's members
 *     tags: { all: [], any: [], none: [booked] }
 *     course: { sequence: hip-pain-course, state: completed }   # completed | in_progress | not_started
 *     signed_up_after: 2026-01-01
 *     signed_up_before: 2027-01-01
 *   template: newsletter.tsx        # optional: a React Email component in emails/
 *   ---
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import type { SequenceIssue } from "../sequences/errors.ts";
import { formatPath } from "../sequences/errors.ts";
import type { AudienceFilter } from "../store/types.ts";
import { blogButtonHtml, markdownParts, markdownToHtml } from "./markdown.ts";
import type { Topic } from "./topics.ts";

export const SLUG = /^[a-z0-9][a-z0-9-]{0,79}$/;

const https = (what: string) =>
  z.url({ error: `${what} must be an absolute https URL` }).refine((u) => u.startsWith("https://"), { error: `${what} must use https` });
const day = (what: string) => z.iso.date({ error: `${what} must be a date written YYYY-MM-DD` });
const tagList = z.array(z.string().regex(/^[\w:.-]{1,64}$/, { error: "each tag must be 1–64 letters, digits, _ : . or -" }), {
  error: "must be a list of tags, e.g. [booked]",
});

export const frontMatterSchema = z
  .object({
    subject: z
      .string({ error: "subject is required: the email's subject line" })
      .trim()
      .min(1, { error: "subject must not be empty" })
      .max(150, { error: "subject must be at most 150 characters" }),
    preview: z
      .string({ error: "preview is required: the inbox snippet shown after the subject" })
      .trim()
      .min(1, { error: "preview must not be empty" })
      .max(200, { error: "preview must be at most 200 characters" }),
    topic: z.string({ error: "topic is required: the id of a topic in newsletters/topics.ts" }),
    blog_url: https("blog_url").optional(),
    template: z
      .string()
      .regex(/^[\w-]+\.tsx$/, { error: "template must name a React Email file in emails/, e.g. newsletter.tsx" })
      .optional(),
    audience: z
      .object(
        {
          tags: z.object({ all: tagList.optional(), any: tagList.optional(), none: tagList.optional() }).strict().optional(),
          course: z
            .object({
              sequence: z.string().min(1),
              state: z.enum(["completed", "in_progress", "not_started"], { error: "state must be completed, in_progress or not_started" }),
            })
            .strict()
            .optional(),
          signed_up_after: day("signed_up_after").optional(),
          signed_up_before: day("signed_up_before").optional(),
        },
        { error: "audience must be a map (tags, course, signed_up_after, signed_up_before)" },
      )
      .strict()
      .optional(),
  })
  .strict();

export type FrontMatter = z.infer<typeof frontMatterSchema>;

export interface IssueFile {
  id: string;
  file: string;
  subject: string;
  preview: string;
  topicId: string;
  blogUrl: string | null;
  template: string | null;
  audience: AudienceFilter;
  markdown: string;
  /** The Markdown body as email-safe HTML (for nobody in particular). */
  bodyHtml: string;
}

/** Split `---\nyaml\n---\nbody`; null when the file has no front matter. */
function splitFrontMatter(text: string): { yaml: string; body: string } | null {
  const m = /^\uFEFF?---\r?\n([\s\S]*?)\r?\n---[ \t]*(?:\r?\n|$)([\s\S]*)$/.exec(text);
  return m ? { yaml: m[1]!, body: m[2]! } : null;
}

/** Parse and validate one issue file's text. Problems come back as issues (file, key, what to do). */
export function parseIssue(file: string, text: string, topics: readonly Topic[]): { issue: IssueFile | null; issues: SequenceIssue[] } {
  const id = basename(file).replace(/\.md$/, "");
  const issues: SequenceIssue[] = [];
  const fail = (path: string, message: string) => {
    issues.push({ file, path, message });
    return { issue: null, issues };
  };
  if (!SLUG.test(id)) return fail("", `the file name "${basename(file)}" becomes the archive URL: use lower-case letters, digits and dashes`);
  const parts = splitFrontMatter(text);
  if (!parts) return fail("", "the file must start with front matter between two --- lines (subject, preview, topic)");
  let data: unknown;
  try {
    data = parseYaml(parts.yaml) ?? {};
  } catch (err) {
    return fail("", `the front matter is not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  const parsed = frontMatterSchema.safeParse(data);
  if (!parsed.success) {
    for (const i of parsed.error.issues) {
      const unknown = i.code === "unrecognized_keys" ? `unknown key${i.keys.length > 1 ? "s" : ""} ${i.keys.join(", ")}: remove or fix the spelling` : null;
      issues.push({ file, path: formatPath(i.path), message: unknown ?? i.message });
    }
    return { issue: null, issues };
  }
  const fm = parsed.data;
  if (!topics.some((t) => t.id === fm.topic))
    issues.push({
      file,
      path: "topic",
      message: `no topic "${fm.topic}": use one of ${topics.map((t) => t.id).join(", ") || "(none declared in newsletters/topics.ts)"}`,
    });
  const markdown = parts.body.trim();
  if (!markdown) issues.push({ file, path: "body", message: "the issue has no text after the front matter" });
  const { links, images } = markdownParts(markdown);
  for (const href of links)
    if (!/^(https:\/\/|mailto:)/.test(href)) issues.push({ file, path: "body", message: `link "${href}" must be an absolute https URL` });
  for (const img of images) {
    if (!img.alt) issues.push({ file, path: "body", message: `image "${img.src}" needs alt text: write ![what it shows](${img.src})` });
    if (!img.src.startsWith("https://")) issues.push({ file, path: "body", message: `image "${img.src}" must be an absolute https URL` });
  }
  if (issues.length) return { issue: null, issues };
  const a = fm.audience;
  const audience: AudienceFilter = {
    topicId: fm.topic,
    ...(a?.tags ? { tags: a.tags } : {}),
    ...(a?.course ? { course: a.course } : {}),
    ...(a?.signed_up_after || a?.signed_up_before
      ? {
          signedUp: {
            ...(a.signed_up_after ? { after: new Date(`${a.signed_up_after}T00:00:00Z`) } : {}),
            ...(a.signed_up_before ? { before: new Date(`${a.signed_up_before}T00:00:00Z`) } : {}),
          },
        }
      : {}),
  };
  return {
    issue: {
      id,
      file,
      subject: fm.subject,
      preview: fm.preview,
      topicId: fm.topic,
      blogUrl: fm.blog_url ?? null,
      template: fm.template ?? null,
      audience,
      markdown,
      bodyHtml: markdownToHtml(markdown) + (fm.blog_url ? blogButtonHtml(fm.blog_url) : ""),
    },
    issues,
  };
}

/** Every `*.md` issue file in the newsletters folder, by name. */
export function listIssueFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".md") && f !== "README.md")
    .sort()
    .map((f) => join(dir, f));
}

export function loadIssueFiles(dir: string, topics: readonly Topic[]): { issues: IssueFile[]; problems: SequenceIssue[] } {
  const out: IssueFile[] = [];
  const problems: SequenceIssue[] = [];
  for (const file of listIssueFiles(dir)) {
    const r = parseIssue(file, readFileSync(file, "utf8"), topics);
    if (r.issue) out.push(r.issue);
    problems.push(...r.issues);
  }
  return { issues: out, problems };
}
