/**
 * Signup forms as typed code (`sequences/forms.ts`): each has an id, the sequence it starts
 * (and, once topics exist, the topics it subscribes to), the fields it asks, and what the
 * reader sees after posting: drip's thank-you text or a redirect to the clinic's site.
 * The hosted page at `/` is the default form; `/f/<id>` serves each one; `drip form snippet
 * <id>` prints a plain HTML form for the clinic's blog (see src/http/forms.ts).
 */
import { z } from "zod";
import { SequenceError, formatPath } from "../sequences/errors.ts";

export type FormField = "name" | "timezone";

export interface FormDefinition {
  /** Stable: the snippet's URL and token are made from it. */
  id: string;
  /** The heading of the hosted page (`/f/<id>`), e.g. the course's name. */
  title: string;
  /** One short paragraph under the heading. */
  intro?: string;
  /** The sequence a confirmed signup through this form starts (default: the default sequence). */
  sequence?: string;
  /**
   * Topics the form offers, each as its own unticked checkbox (consent must be explicit): a
   * topic id (a reader who ticks it joins it when they confirm), or `{ id, when: "after-course" }`
   * ("when the course ends, send me …": consent recorded at signup, and the reader joins when
   * an automation hands the course's finishers over, e.g. `{ on: "completed", … do: [{ joinTopic }] }`).
   */
  topics?: readonly FormTopic[];
  /** Fields besides the email address (always asked). */
  fields: readonly FormField[];
  /** The button's words. */
  button?: string;
  /** After posting: drip's page with this text, or a redirect to an https page on the clinic's site. */
  thankYou: { text: string } | { redirect: string };
}

export type FormTopic = string | { readonly id: string; readonly when: "after-course" };

export type Form = Readonly<FormDefinition>;

/** A form's topics as checkboxes: the id, and whether ticking it joins now or when the course ends. */
export const formTopics = (form: Pick<Form, "topics">): { id: string; later: boolean }[] =>
  (form.topics ?? []).map((t) => (typeof t === "string" ? { id: t, later: false } : { id: t.id, later: true }));

export interface FormsFile {
  readonly __forms: true;
  /** The form served at `/` (and used by signups that name no form). */
  readonly default: string;
  readonly forms: readonly Form[];
}

const ID = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const id = (what: string) => z.string({ error: `${what} must be a string` }).regex(ID, { error: `${what} must be kebab-case, e.g. "hip-pain"` });

const formSchema = z.strictObject({
  id: id("form id"),
  title: z.string().trim().min(1, { error: "title must not be empty" }).max(200, { error: "title must be at most 200 characters" }),
  intro: z.string().trim().max(1000, { error: "intro must be at most 1000 characters" }).optional(),
  sequence: id("sequence").optional(),
  topics: z
    .array(
      z.union([id("topic"), z.strictObject({ id: id("topic"), when: z.literal("after-course", { error: 'when must be "after-course"' }) })], {
        error: 'a topic is its id ("weekly") or { id: "weekly", when: "after-course" }',
      }),
    )
    .optional(),
  fields: z.array(z.enum(["name", "timezone"], { error: 'a field is "name" or "timezone" (the email address is always asked)' })),
  button: z.string().trim().min(1).max(60, { error: "button must be at most 60 characters" }).optional(),
  thankYou: z.union(
    [
      z.strictObject({ text: z.string().trim().min(1, { error: "thankYou.text must not be empty" }) }),
      z.strictObject({
        redirect: z.string().refine((s) => URL.canParse(s) && new URL(s).protocol === "https:", {
          error: "thankYou.redirect must be an absolute https URL on the clinic's site",
        }),
      }),
    ],
    { error: "thankYou must be { text } or { redirect: an https URL }" },
  ),
});

const fileSchema = z.strictObject({
  default: id("default"),
  forms: z.array(formSchema).min(1, { error: "list at least one form" }),
});

/** The door for `sequences/forms.ts`; throws SequenceError with paths such as `forms[1].thankYou`. */
export function defineForms(def: { default: string; forms: readonly FormDefinition[] }): FormsFile {
  const parsed = fileSchema.safeParse(def);
  if (!parsed.success) throw new SequenceError(parsed.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message })));
  const issues: { path: string; message: string }[] = [];
  const seen = new Map<string, number>();
  def.forms.forEach((f, i) => {
    const first = seen.get(f.id);
    if (first !== undefined) issues.push({ path: `forms[${i}].id`, message: `form id "${f.id}" is already used by forms[${first}]` });
    else seen.set(f.id, i);
    const ids = formTopics(f).map((t) => t.id);
    const twice = ids.find((t, k) => ids.indexOf(t) !== k);
    if (twice) issues.push({ path: `forms[${i}].topics`, message: `topic "${twice}" is listed twice: offer each topic once` });
  });
  if (!seen.has(def.default))
    issues.push({ path: "default", message: `default names form "${def.default}", which is not in forms: name one of ${[...seen.keys()].join(", ")}` });
  if (issues.length) throw new SequenceError(issues);
  return Object.freeze({ __forms: true as const, default: def.default, forms: def.forms.map((f) => Object.freeze({ ...f })) });
}

/** The forms when `sequences/forms.ts` is absent: one, as the signup page has always been. */
export function builtInForms(defaultSequence: { name: string } | undefined): FormsFile {
  return {
    __forms: true,
    default: "signup",
    forms: [
      {
        id: "signup",
        title: defaultSequence?.name ?? "Sign up",
        fields: ["name", "timezone"],
        thankYou: { text: "A confirmation link is on its way: open it and press the button to start the course." },
      },
    ],
  };
}

/** The loaded forms, as the lifecycle door and the HTTP app read them. */
export interface FormSource {
  getForm(id: string): Form | undefined;
  readonly defaultForm: Form;
  forms(): readonly Form[];
}

export function formSource(file: FormsFile): FormSource {
  const byId = new Map(file.forms.map((f) => [f.id, f]));
  return { getForm: (formId) => byId.get(formId), defaultForm: byId.get(file.default)!, forms: () => file.forms };
}

/** The consent source a signup through a form records: `signup form` (the default form) or `signup form: <id>`. */
export const formSourceLabel = (formId: string | null) => (formId ? `signup form: ${formId}` : "signup form");

/** The form a recorded consent source names (null: the default form; undefined: not a form signup). */
export function formOfSource(source: string | null): string | null | undefined {
  const m = /^signup form(?:: ([a-z0-9-]+))?$/.exec(source ?? "");
  return m ? (m[1] ?? null) : undefined;
}
