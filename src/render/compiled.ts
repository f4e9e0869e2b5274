/**
 * Compile-once rendering: a step's email differs between subscribers only in a few values
 * (name, address, their link tokens, the preview line), so each step is rendered in full once
 * per "shape" with marker values in those places, cut into literal pieces and slots, and each
 * subscriber's email is the pieces with their values filled in: HTML-escaped exactly as the
 * renderer escapes (React: & < > " ' → &amp; &lt; &gt; &quot; &#x27;; MJML: &#39;), raw in the
 * text part (which the full path derives from the HTML, decoding entities). Headers, subject
 * and tags are computed per subscriber as in the full path (they are cheap).
 *
 * The output must be byte-identical to `renderStep` (the provider's idempotency check and the
 * crash replay compare bytes), so anything placeholders cannot express renders in full:
 * - Detection: every step is rendered with four probe sets (short plain markers of odd and even
 *   length, long ones, and markers holding < & " ' a space, é and an emoji). A template whose output depends on
 *   a value other than by inserting it (a condition on the name, its length, an uppercased or
 *   URL-encoded copy) gives different pieces for different probes: the shape is marked
 *   dynamic and every email of it is rendered in full.
 * - Shape: what a template may branch on and placeholders cannot carry (an empty name or
 *   preview, the tags, the time zone, the configured sender and links) is part of the key.
 * - Values the text converter would change (whitespace runs, invisible characters) render in full.
 * - Spot checks: the first email of each compiled shape and one in `verifyEvery` after it are
 *   also rendered in full and compared; a difference marks the shape dynamic for good.
 */
import { join } from "node:path";
import type { EmailLinks, EmailProps, StepDefinition, SubscriberFields } from "../sequences/types.ts";
import { compileMjml, escapeHtml, fillMjml } from "./mjml.ts";
import { type RenderedEmail, type RenderInput, emailProps, isMjml, listHeaders, renderStep } from "./render.ts";
import { renderReactEmail } from "./react.ts";
import { htmlToText } from "./text.ts";
import type { Pieces } from "../delivery/transport.ts";

/** The per-subscriber values, in slot order. */
const SLOTS = ["name", "email", "unsubscribe", "preferences", "preview"] as const;
type Slot = (typeof SLOTS)[number];

/** Literal pieces with slot numbers between them: [lit, slot, lit, slot, …, lit]. */
type Skeleton = (string | number)[];

interface Compiled {
  /** null: this shape depends on the values in ways slots cannot express; render in full. */
  html: Skeleton | null;
  text: Skeleton | null;
  /** For MJML: the compiled file this was built from (a changed file recompiles). */
  source: string | null;
  fills: number;
}

const REACT_ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;" };
/** React DOM's escapeTextForBrowser (text and attribute values alike). */
export const escapeReact = (s: string) => s.replace(/[&<>"']/g, (c) => REACT_ESCAPES[c]!);

// biome-ignore lint/suspicious/noMisleadingCharacterClass: each invisible character is matched on its own (as in text.ts)
const INVISIBLE = /[\u200b\u200c\u200d\u034f\u2007\u00ad\ufeff]/;
/** A value the text converter passes through unchanged (it collapses whitespace and drops invisible characters). */
const textSafe = (v: string) => !INVISIBLE.test(v) && !/\s\s|[^\S ]|^\s|\s$/.test(v);

/** Four probe sets: markers unique enough never to occur in a template by chance. */
const PROBES: ((slot: number) => string)[] = [
  (i) => `Zq${i}mk`,
  (i) => `Zq${i}long${"x".repeat(91)}mk`,
  (i) => `Zq${i}<sp&c "q" 'a' é😀 ok>mk`,
  (i) => `Zq${i}mmk`, // lengths 5, 98, 27 and 6: odd and even, short and long
];

/**
 * The pieces of an email this renderer filled (html and text as [literal, value, literal, …],
 * whose concatenation they are), by the email object; none for an email rendered in full.
 */
const filled = new WeakMap<RenderedEmail, Pieces>();
export const piecesOf = (email: RenderedEmail): Pieces | undefined => filled.get(email);

export interface CompiledRenderer {
  render(input: RenderInput): Promise<RenderedEmail>;
  /** Emails filled from a compiled step / rendered in full (dynamic shapes, unsafe values, spot checks). */
  readonly stats: { filled: number; full: number; dynamic: number; verified: number; mismatches: number };
}

export function compiledRenderer(opts: { verifyEvery?: number; log?: (line: string) => void; maxShapes?: number } = {}): CompiledRenderer {
  const verifyEvery = opts.verifyEvery ?? 1000;
  const maxShapes = opts.maxShapes ?? 2000;
  const log = opts.log ?? (() => {});
  // Keyed by the step object: reloading a sequence file makes new step objects (old entries go with them).
  const byStep = new WeakMap<StepDefinition, Map<string, Compiled>>();
  const stats = { filled: 0, full: 0, dynamic: 0, verified: 0, mismatches: 0 };

  const valuesOf = (input: RenderInput, preview: string): Record<Slot, string> => ({
    name: input.subscriber.name,
    email: input.subscriber.email,
    unsubscribe: input.links.unsubscribe,
    preferences: input.links.preferences,
    preview,
  });

  const shapeKey = (input: RenderInput, preview: string, mjmlSource: string | null) =>
    JSON.stringify([
      input.subscriber.name === "",
      previewFixed(preview) ? preview : preview.length,
      input.subscriber.timezone,
      input.subscriber.tags,
      input.sequence.id,
      input.sequence.name,
      input.sequence.reason,
      input.sequence.sender,
      input.postalAddress,
      input.links.booking,
      input.links.site,
      mjmlSource === null ? 0 : mjmlSource.length,
    ]);

  /** The HTML of one step for given values, exactly as renderStep makes it. */
  const htmlFor = (input: RenderInput, mjmlSource: string | null, preview: string, subscriber: SubscriberFields, links: EmailLinks): string => {
    const props: EmailProps = emailProps({ ...input, subscriber, links }, preview);
    return mjmlSource !== null ? fillMjml(mjmlSource, props) : renderReactEmail(input.step.template as Parameters<typeof renderReactEmail>[0], props);
  };

  const compile = (input: RenderInput, mjmlSource: string | null, preview: string): Compiled => {
    const esc = mjmlSource !== null ? escapeHtml : escapeReact;
    // Slots whose real value is empty stay empty (their emptiness is part of the shape). The
    // preview's length shapes React Email's <Preview> filler: its probes have the real length,
    // and a preview too short for a marker (or cut at 200) is a fixed part of the shape.
    const real = valuesOf(input, preview);
    const fixedPreview = previewFixed(preview);
    const results = PROBES.map((probe, k) => {
      const markers = SLOTS.map((s, i) =>
        real[s] === "" || (s === "preview" && fixedPreview) ? "" : s === "preview" ? previewMarker(k, preview.length) : probe(i),
      );
      const [name, email, unsubscribe, preferences, pv] = markers as [string, string, string, string, string];
      const html = htmlFor(input, mjmlSource, fixedPreview ? preview : pv, { ...input.subscriber, name, email }, { ...input.links, unsubscribe, preferences });
      return {
        html: cut(html, markers, esc),
        text: cut(htmlToText(html), markers, (s) => s),
      };
    });
    const same = (a: Skeleton, b: Skeleton) => a.length === b.length && a.every((x, i) => x === b[i]);
    const stable = results.every((r) => same(r.html, results[0]!.html) && same(r.text, results[0]!.text));
    if (!stable) {
      log(`note: step "${input.step.id}" of "${input.sequence.id}" depends on subscriber data beyond its placeholders: rendered in full for each subscriber`);
      return { html: null, text: null, source: mjmlSource, fills: 0 };
    }
    return { html: results[0]!.html, text: results[0]!.text, source: mjmlSource, fills: 0 };
  };

  const full = async (input: RenderInput): Promise<RenderedEmail> => {
    stats.full++;
    return renderStep(input);
  };

  return {
    stats,
    async render(input) {
      const { step, subscriber } = input;
      const preview = resolveText(step.preview, subscriber);
      const values = valuesOf(input, preview);
      if (subscriber.name !== subscriber.name.trim() || !SLOTS.every((s) => textSafe(values[s]))) return full(input);
      const mjmlSource = isMjml(step.template) ? await compileMjml(join(input.emailsDir, step.template.file)) : null;
      let shapes = byStep.get(step);
      if (!shapes) byStep.set(step, (shapes = new Map()));
      const key = shapeKey(input, preview, mjmlSource);
      let compiled = shapes.get(key);
      if (!compiled || compiled.source !== mjmlSource) {
        if (shapes.size >= maxShapes) shapes.clear();
        compiled = compile(input, mjmlSource, preview);
        shapes.set(key, compiled);
      }
      if (!compiled.html || !compiled.text) {
        stats.dynamic++;
        return full(input);
      }
      const vals = SLOTS.map((s) => values[s]);
      const esc = mjmlSource !== null ? escapeHtml : escapeReact;
      const escaped = vals.map(esc);
      const htmlPieces = piecesFrom(compiled.html, escaped);
      const textPieces = piecesFrom(compiled.text, vals);
      const email: RenderedEmail = {
        subject: resolveText(step.subject, subscriber),
        preview,
        html: concat(htmlPieces),
        text: concat(textPieces),
        headers: listHeaders(input.links, input.sequence, input.list),
        tags: [
          { name: "sequence", value: input.sequence.id },
          { name: "step", value: step.id },
        ],
      };
      const n = compiled.fills++;
      if (n === 0 || (verifyEvery > 0 && n % verifyEvery === 0)) {
        stats.verified++;
        const reference = await renderStep(input);
        if (reference.html !== email.html || reference.text !== email.text) {
          stats.mismatches++;
          log(`warning: step "${step.id}" of "${input.sequence.id}" filled differently from a full render: rendered in full from now on`);
          compiled.html = null;
          compiled.text = null;
          stats.full++;
          return reference;
        }
      }
      stats.filled++;
      filled.set(email, { html: htmlPieces, text: textPieces });
      return email;
    },
  };
}

/** The preview's marker for probe `k`, exactly `length` long (40 to 199). */
const previewMarker = (k: number, length: number) => `${(k === 2 ? `Zq4<sp&c "q" 'a' é😀 ok>` : `Zq4p${k}`).padEnd(length - 2, "x")}mk`;

/** A preview the probes cannot stand in for (shorter than a marker, or beyond <Preview>'s 200 characters). */
const previewFixed = (preview: string) => preview.length < 40 || preview.length >= 200;

const resolveText = (v: StepDefinition["subject"], s: SubscriberFields) => (typeof v === "function" ? v(s) : v).trim();

/** Cut `out` at every occurrence of a value's marker form; null-free skeleton of literals and slot numbers. */
export function cut(out: string, markers: readonly string[], form: (s: string) => string): Skeleton {
  const forms = markers.map((m, i) => [m === "" ? null : form(m), i] as const).filter((f): f is readonly [string, number] => f[0] !== null);
  if (forms.length === 0) return [out];
  const re = new RegExp(forms.map(([f]) => f.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), "g");
  const slotOf = new Map(forms.map(([f, i]) => [f, i]));
  const skeleton: Skeleton = [];
  let last = 0;
  for (const m of out.matchAll(re)) {
    skeleton.push(out.slice(last, m.index), slotOf.get(m[0])!);
    last = m.index + m[0].length;
  }
  skeleton.push(out.slice(last));
  return skeleton;
}

/** The skeleton's pieces with the values in their slots: literals at even positions, values at odd ones. */
function piecesFrom(skeleton: Skeleton, values: readonly string[]): string[] {
  const out = new Array<string>(skeleton.length);
  for (let i = 0; i < skeleton.length; i++) {
    const piece = skeleton[i]!;
    out[i] = typeof piece === "number" ? values[piece]! : piece;
  }
  return out;
}

/** Joined with `+=`: V8 keeps the result as a rope of the pieces until something reads it character by character. */
function concat(pieces: readonly string[]): string {
  let out = "";
  for (const piece of pieces) out += piece;
  return out;
}
