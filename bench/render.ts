/**
 * Warm render time per email, for the React Email path and the MJML path, and what a React
 * render spends its time on (React's renderToString vs the html-to-text pass).
 * Single-threaded, so "emails/s per core" is 1000 / mean ms.
 */
import { createElement } from "react";
import { render as renderReact } from "react-email";
import course from "../sequences/hip-pain-course.ts";
import { EMAILS_DIR } from "../src/paths.ts";
import { buildLinks } from "../src/render/links.ts";
import { compileMjml, fillMjml } from "../src/render/mjml.ts";
import { renderReactEmail } from "../src/render/react.ts";
import { type RenderInput, emailProps, isMjml, renderStep } from "../src/render/render.ts";
import { htmlToText } from "../src/render/text.ts";
import { SAMPLE_LINKS, SAMPLE_LIST, SAMPLE_POSTAL_ADDRESS, SAMPLE_SUBSCRIBER } from "../src/sequences/check.ts";
import type { ReactTemplate } from "../src/sequences/types.ts";

const WARMUP = 50;
const RUNS = 500;

interface Stats {
  median: number;
  p99: number;
  mean: number;
}

async function measure(fn: () => unknown): Promise<Stats> {
  for (let i = 0; i < WARMUP; i++) await fn();
  const ms: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  const at = (q: number) => ms[Math.min(ms.length - 1, Math.ceil(q * ms.length) - 1)]!;
  return { median: at(0.5), p99: at(0.99), mean: ms.reduce((a, b) => a + b, 0) / ms.length };
}

function inputFor(stepId: string): RenderInput {
  const step = course.steps.find((s) => s.id === stepId);
  if (!step) throw new Error(`hip-pain-course has no step ${stepId}`);
  return {
    sequence: course,
    step,
    subscriber: SAMPLE_SUBSCRIBER,
    links: buildLinks(SAMPLE_LINKS, "bench-token.0000", course.id, step.id),
    postalAddress: SAMPLE_POSTAL_ADDRESS,
    list: SAMPLE_LIST,
    emailsDir: EMAILS_DIR,
  };
}

const f = (ms: number) => ms.toFixed(3);
const row = (what: string, s: Stats) => ({
  what,
  "median ms": f(s.median),
  "p99 ms": f(s.p99),
  "mean ms": f(s.mean),
  "emails/s/core": Math.round(1000 / s.mean),
});

export async function benchRender(): Promise<void> {
  const rows: ReturnType<typeof row>[] = [];

  // Whole renderStep, per email of the course (React steps and the MJML step).
  for (const step of course.steps) {
    const input = inputFor(step.id);
    const kind = isMjml(step.template) ? "MJML" : "React";
    rows.push(row(`renderStep ${step.id} (${kind})`, await measure(() => renderStep(input))));
  }

  // What dominates a React render: the React pass vs htmlToText(). renderStep uses
  // renderReactEmail (renderToStaticMarkup); React Email's own render() is timed for comparison.
  const article = inputFor("article");
  const template = article.step.template as ReactTemplate;
  const props = emailProps(article, "Sam, here is the muscle most people miss: the gluteus minimus.");
  const html = renderReactEmail(template, props);
  rows.push(row("  article: react-email render()", await measure(() => renderReact(createElement(template, props)))));
  rows.push(row("  article: renderReactEmail()", await measure(() => renderReactEmail(template, props))));
  rows.push(row("  article: htmlToText()", await measure(() => htmlToText(html))));

  // And of an MJML render (compiled once, cached): placeholder fill vs htmlToText().
  const kia = inputFor("keep-it-away");
  const compiled = await compileMjml(`${EMAILS_DIR}/keep-it-away.mjml`);
  const kiaProps = emailProps(kia, "The two techniques in one page, and when to get help.");
  const filled = fillMjml(compiled, kiaProps);
  rows.push(row("  keep-it-away: fillMjml()", await measure(() => fillMjml(compiled, kiaProps))));
  rows.push(row("  keep-it-away: htmlToText()", await measure(() => htmlToText(filled))));

  console.log(`\nrender: warm, ${RUNS} renders after ${WARMUP} warm-up, Node ${process.version}, one core`);
  console.table(rows);
}
