/**
 * `drip validate` catches what would go out broken: a template reading a field that does not
 * exist (type-checked with the TypeScript compiler), an MJML placeholder that is not a known
 * value (Kit's {{subscriber.first_name}}), a syntax error (the compiler's message with file,
 * line and column), a template that reads "Dear ," for a subscriber with no name; two steps
 * at the same moment are a warning. The fixtures under tests/fixtures/broken-ts/ are broken
 * on purpose (tsc and Biome skip that folder).
 */
import { describe, expect, it, vi } from "vitest";
import { fillMjml } from "../../src/render/mjml.ts";
import { drip } from "../helpers/cli.ts";

const DIR = "tests/fixtures/broken-ts";
// The type check compiles the templates and React's types: seconds, more on a loaded machine.
vi.setConfig({ testTimeout: 180_000 });

describe("drip validate exits 1 naming file and line", () => {
  it("a TSX template reading subscriber.firstName: the file, line, column and the field", async () => {
    const run = await drip(["validate", `${DIR}/first-name.ts`]);
    expect(run.code).toBe(1);
    expect(run.err).toContain(`${DIR}/first-name-template.tsx:9:87: Property 'firstName' does not exist on type 'SubscriberFields'.`);
    const json = await drip(["validate", "--json", `${DIR}/first-name.ts`]);
    const report = JSON.parse(json.out) as { ok: boolean; issues: { file: string; message: string }[] };
    expect(report.ok).toBe(false);
    expect(report.issues).toContainEqual({ file: `${DIR}/first-name-template.tsx:9:87`, path: "", message: expect.stringContaining("'firstName'") });
  });

  it("an MJML {{subscriber.first_name}}: the file, the line, the placeholder and the list of known ones", async () => {
    const run = await drip(["validate", `${DIR}/kit-placeholder.ts`]);
    expect(run.code).toBe(1);
    expect(run.err).toContain(
      `${DIR}/kit-placeholder.mjml:6: unknown placeholder {{subscriber.first_name}}: use one of {{subscriber.name}}, {{subscriber.email}}`,
    );
    expect(run.err).toContain("{{greeting}}");
  });

  it("a syntax error: the compiler's message with file:line:column", async () => {
    const run = await drip(["validate", `${DIR}/syntax-error.ts`]);
    expect(run.code).toBe(1);
    expect(run.err).toContain(`${DIR}/syntax-error.ts:7:57: ',' expected.`);
    // The loader says it too, located (it used to keep "Transform failed with 1 error:" only);
    // its wording is the transformer's (esbuild under tsx, oxc under vitest).
    expect(run.err).toMatch(new RegExp(`${DIR}/syntax-error.ts: the file could not be loaded: ${DIR}/syntax-error.ts:7:57: Expected .*found .;.`));
    expect(run.err).not.toContain("Transform failed");
  });

  it('a template that reads "Dear ," when the name is empty', async () => {
    const run = await drip(["validate", `${DIR}/empty-name.ts`]);
    expect(run.code).toBe(1);
    expect(run.err).toContain(`${DIR}/empty-name.ts: steps[1].template: with an empty subscriber name it reads "Dear ,"`);
  });

  it("the clinic's own sequence reads well without a name (validate passes)", async () => {
    const run = await drip(["validate"]);
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
  });
});

describe("warnings", () => {
  it("two steps at the same day and time: a warning, exit 0", async () => {
    const run = await drip(["validate", `${DIR}/same-moment.ts`]);
    expect(run.code).toBe(0);
    expect(run.err).toBe(
      `warning: ${DIR}/same-moment.ts: steps[2].schedule: steps "tips" and "invite" are both planned for day 2 at 09:00: they would arrive together; give one another day or time\n`,
    );
    const json = JSON.parse((await drip(["validate", "--json", `${DIR}/same-moment.ts`])).out) as { ok: boolean; warnings: unknown[] };
    expect(json.ok).toBe(true);
    expect(json.warnings).toHaveLength(1);
  });
});

describe("MJML placeholders at send time", () => {
  it("names with _ are matched (never sent literally); unknown ones are left empty, not echoed", () => {
    const values = { subscriber: { name: "Ana", email: "a@example.com", timezone: "UTC", tags: [] } } as never;
    expect(fillMjml("Hi {{ subscriber.name }} {{subscriber.first_name}}!", values)).toBe("Hi Ana !");
  });
});
