/**
 * `drip validate` type-checks templates at run time (src/sequences/typecheck.ts): the compiler
 * and the types the templates need must come with a production install (`npm ci --omit=dev`),
 * or validate reports every JSX element as an error on a server. Checked by hand on a pruned
 * copy (npm prune --omit=dev, then drip validate: all ok); this keeps them where they must be.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

describe("a production install validates", () => {
  it("typescript and the React types are dependencies (exact versions), not devDependencies", () => {
    for (const name of ["typescript", "@types/react"]) {
      expect(pkg.dependencies[name], name).toMatch(/^\d+\.\d+\.\d+$/);
      expect(pkg.devDependencies[name], name).toBeUndefined();
    }
  });
});
