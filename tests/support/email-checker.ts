/**
 * The email checker's three judges, none of them written here, and the rules this project
 * holds its emails to (README, "Checking an email"):
 *
 * - SpamAssassin (the Debian package; `.ci/run` installs it): `spamassassin --local
 *   --test-mode` over the whole .eml file, local rules only (no DNS blocklists or Razor: a
 *   test must not depend on the network). The score must not exceed MAX_SPAM_SCORE.
 * - The caniemail data through doiuse-email, for every Gmail and Outlook client it knows:
 *   any feature one of them does not support fails, unless IGNORED_FEATURES lists it with the
 *   reason it does no harm.
 * - html-validate with its recommended rules, minus the ones that forbid what HTML email needs
 *   (HTML_VALIDATE_CONFIG says which and why).
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { doIUseEmail } from "doiuse-email";
import { type ConfigData, HtmlValidate } from "html-validate";

/**
 * The content score an email may reach: 0.0. Every email scores 0.0 today, and an email
 * course has no reason to trip any content rule; a rule that fires is a finding to fix (or,
 * should a rule ever be wrong for a good reason, to justify here with its own number).
 */
export const MAX_SPAM_SCORE = 0.0;

export const hasSpamAssassin = () => spawnSync("spamassassin", ["--version"], { stdio: "ignore" }).status === 0;

export interface SpamResult {
  score: number;
  /** The rules that fired, as SpamAssassin names them (score-0 informational ones included). */
  rules: string[];
  /** SpamAssassin's "Content analysis details" table, for the failure message. */
  report: string;
}

let home: string | undefined;

/** Run one .eml through `spamassassin --local --test-mode` and read its verdict. */
export function spamAssassin(raw: Buffer): Promise<SpamResult> {
  // Its own HOME: SpamAssassin writes a user_prefs file there on first use.
  home ??= mkdtempSync(join(tmpdir(), "drip-spamassassin-"));
  return new Promise((resolve, reject) => {
    const child = spawn("spamassassin", ["--local", "--test-mode"], { env: { PATH: process.env.PATH ?? "", HOME: home } });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => void (out += d.toString("utf8")));
    child.stderr.on("data", (d: Buffer) => void (err += d.toString("utf8")));
    child.on("error", reject);
    child.on("close", (code) => {
      const headerEnd = out.search(/\r?\n\r?\n/);
      const head = out.slice(0, headerEnd).replace(/\r?\n[ \t]+/g, " ");
      const status = /^X-Spam-Status: (.*)$/m.exec(head)?.[1];
      const score = status ? /\bscore=(-?\d+(?:\.\d+)?)/.exec(status)?.[1] : undefined;
      if (code !== 0 || !status || score === undefined) {
        reject(new Error(`spamassassin exited ${code} without a verdict: ${err.trim() || out.slice(0, 500)}`));
        return;
      }
      const tests = /\btests=(\S*)/.exec(status)?.[1] ?? "";
      const report = /Content analysis details:[\s\S]*?\n\n/.exec(out.replace(/\r/g, ""))?.[0] ?? "";
      resolve({ score: Number(score), rules: tests.split(",").filter((t) => t && t !== "none"), report });
    });
    child.stdin.end(raw);
  });
}

/** The clients whose support is checked: every Gmail and Outlook the caniemail data knows. */
export const DOIUSE_CLIENTS = ["gmail.*", "outlook.*"];

/**
 * Features some Gmail or Outlook lacks that these emails use on purpose, each harmless where
 * it is missing (the keys are doiuse-email's feature names).
 */
export const IGNORED_FEATURES: Record<string, string> = {
  // Dark mode is a progressive enhancement: the light design is inline and complete without it.
  "@media": "only the dark-mode styles sit in @media (prefers-color-scheme: dark); without them the inline light design shows",
  // The standard hidden preview text: each client hides it with one of several properties
  // (display:none, max-height:0, opacity:0, overflow:hidden); none is needed alone.
  "display:none": "one of the redundant properties that hide the preview text",
  opacity: "one of the redundant properties that hide the preview text",
  overflow: "one of the redundant properties that hide the preview text",
  "<body> element": "the clients replace <body> with a <div>; the page colour is repeated on the inner wrapper",
  "role attribute": 'role="presentation" on layout tables only helps screen readers; ignored, it changes nothing',
  "aria-label attribute": "MJML's label on the wrapper only helps screen readers; ignored, it changes nothing",
  "border-radius": "rounded corners on the card and button are decoration; Outlook for Windows draws square ones",
  "target attribute": 'React Email\'s target="_blank" on links; clients that drop it open links their own way',
  // MJML's own head styles (its responsive-column and reset rules): the one-column layout and
  // every colour and size are inline, so clients that skip these selectors show the same email.
  "Type selector": "MJML's reset styles in <style>; the layout is inline",
  "Class selector": "MJML's column-width and dark-mode classes in <style>; the layout is inline",
  "ID selector": "MJML's `#outlook a` reset for Outlook.com only",
  "Descendant combinator": "MJML's reset styles in <style>; the layout is inline",
  "Chaining selectors": "MJML's reset styles in <style>; the layout is inline",
  outline: "MJML's `img { outline: none }` reset; these emails carry no images",
  "word-break": "MJML's break-word on text cells, which only matters for very long unbroken strings",
};

export interface DoIUseFinding {
  feature: string;
  client: string;
}

/** doiuse-email's findings for the checked clients, as {feature, client}, minus the ignored features. */
export function unsupportedFeatures(html: string): { findings: DoIUseFinding[]; ignored: DoIUseFinding[] } {
  const result = doIUseEmail(html, { emailClients: DOIUSE_CLIENTS });
  const all = (result.success ? [] : result.errors).map((e) => {
    const m = /^`(.+)` is not supported by `(.+)`$/.exec(e);
    return m ? { feature: m[1]!, client: m[2]! } : { feature: e, client: "?" };
  });
  return { findings: all.filter((f) => !(f.feature in IGNORED_FEATURES)), ignored: all.filter((f) => f.feature in IGNORED_FEATURES) };
}

/**
 * html-validate's recommended rules, minus those that forbid what HTML email needs. Everything
 * else stays on: unclosed or misnested elements, duplicate ids, missing alt text or lang,
 * empty headings and links, unknown elements and attributes, invalid attribute values.
 */
export const HTML_VALIDATE_CONFIG: ConfigData = {
  extends: ["html-validate:recommended"],
  rules: {
    // Mail apps strip <style> (or parts of it): inline styles are the only reliable ones.
    "no-inline-style": "off",
    // Outlook for Windows lays tables out from align/width/cellpadding/cellspacing, not CSS.
    "no-deprecated-attr": "off",
    // <!--[if mso]> blocks are how MJML and React Email reach Outlook for Windows.
    "no-conditional-comment": "off",
    // React Email writes the XHTML 1.0 Transitional doctype, XHTML-style void elements (<br/>)
    // and React's attribute spelling (cellPadding); all are valid HTML as mail apps parse it.
    "doctype-html": "off",
    "doctype-style": "off",
    "void-style": "off",
    "attr-case": "off",
    // MJML's generated markup: indentation whitespace and role="article" on its wrapper <div>
    // (semantic HTML5 elements are what some mail apps strip).
    "no-trailing-whitespace": "off",
    "prefer-native-element": "off",
  },
};

let validator: HtmlValidate | undefined;

/** html-validate's messages for one email, as "line:column rule: message". */
export async function htmlValidate(html: string): Promise<string[]> {
  validator ??= new HtmlValidate(HTML_VALIDATE_CONFIG);
  const report = await validator.validateString(html);
  return report.results.flatMap((r) => r.messages.map((m) => `${m.line}:${m.column} ${m.ruleId}: ${m.message}`));
}
