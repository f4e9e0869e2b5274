// Module hooks registered with tsx when drip runs compiled (bin/drip.js): a project file
// loaded from source (staff content, and the src/ files it imports) that imports a package the
// build has compiled in and shares (bin/compile.js SHARED: zod) gets the build's copy. One copy
// is loaded instead of two (the build's and node_modules'), and both sides share its instance.
let root = "";
let deps = {};

export function initialize(data) {
  ({ root, deps } = data);
}

export async function resolve(specifier, context, next) {
  const url = Object.hasOwn(deps, specifier) ? deps[specifier] : undefined;
  const parent = context.parentURL ?? "";
  if (url && parent.startsWith(root) && !parent.includes("/node_modules/")) return { url, format: "module", shortCircuit: true };
  return next(specifier, context);
}
