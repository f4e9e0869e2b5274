// Module hooks for `drip list`, which reads sequence definitions (ids, names, schedules,
// subjects) and renders nothing: a sequence file imported with ?drip-metadata gets its email
// templates (emails/*.tsx, *.jsx) as stubs, so React, React Email and their dependencies are
// never loaded. The mark passes to the project files it imports (shared helpers), not to src/
// or packages. A file that needs more of a template than its default export fails to link here
// and is then imported in full (src/typescript-imports.ts).
const MARK = "drip-metadata";
let root = "";
let emails = "";
let src = "";

export function initialize(data) {
  ({ root, emails, src } = data);
}

const bare = (url) => url.split("?")[0];

export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  const parent = context.parentURL ?? "";
  if (!parent.includes(`?${MARK}`) || !r.url.startsWith(root) || r.url.includes("/node_modules/")) return r;
  const url = bare(r.url);
  if (url.startsWith(emails) && /\.[jt]sx$/.test(url)) return { url: `${url}?${MARK}-stub`, format: "module", shortCircuit: true };
  if (url.startsWith(src)) return r;
  return { ...r, url: `${url}?${MARK}`, shortCircuit: true };
}

export async function load(url, context, next) {
  if (url.endsWith(`?${MARK}-stub`))
    return {
      format: "module",
      source: "export default function TemplateNotLoaded() { throw new Error('drip: this template was not loaded (sequence metadata only)'); }",
      shortCircuit: true,
    };
  return next(url, context);
}
