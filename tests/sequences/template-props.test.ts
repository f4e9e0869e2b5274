/**
 * Template props are type-checked against the subscriber's fields: a template that needs a
 * field the subscriber does not have is a compile error (tsc runs over tests/ in `npm test`,
 * and an unused @ts-expect-error is itself an error, so this file fails the type check the
 * day that stops being an error).
 */
import { createElement as h } from "react";
import { Body, Html, Link, Text } from "react-email";
import { describe, expect, expectTypeOf, it } from "vitest";
import { buildLinks } from "../../src/render/links.ts";
import { renderStep } from "../../src/render/render.ts";
import { SAMPLE_LINKS, SAMPLE_LIST, SAMPLE_POSTAL_ADDRESS, SAMPLE_SUBSCRIBER } from "../../src/sequences/check.ts";
import { defineSequence, immediately } from "../../src/sequences/define.ts";
import type { EmailProps, ReactTemplate, StepDefinition } from "../../src/sequences/types.ts";
import { validSequence } from "../fixtures/sequences/_base.ts";

/** Needs subscriber.company, which SubscriberFields does not have. */
function NeedsCompany(props: { subscriber: { company: string }; links: EmailProps["links"] }) {
  return h(Html, null, h(Body, null, h(Text, null, `Hello ${props.subscriber.company.toUpperCase()}`)));
}

/** Reads a subset of EmailProps: fine. */
function NeedsName({ subscriber, links, sender }: Pick<EmailProps, "subscriber" | "links" | "sender">) {
  return h(
    Html,
    null,
    h(Body, null, h(Text, null, `Hello ${subscriber.name}`), h(Text, null, sender.postalAddress), h(Link, { href: links.unsubscribe }, "Unsubscribe")),
  );
}

describe("template props vs subscriber fields", () => {
  it("a template needing a field the subscriber lacks does not type-check as a step template", () => {
    expectTypeOf(NeedsCompany).not.toExtend<ReactTemplate>();
    expectTypeOf(NeedsName).toExtend<ReactTemplate>();

    const bad: StepDefinition = {
      id: "needs-company",
      schedule: immediately(),
      // @ts-expect-error -- NeedsCompany wants subscriber.company; SubscriberFields has no such field.
      template: NeedsCompany,
      subject: "Hello",
      preview: "Hello",
    };
    expect(() =>
      defineSequence({
        ...validSequence("needs-company"),
        steps: [
          {
            ...bad,
            // @ts-expect-error -- the same mistake written inline in a sequence file.
            template: NeedsCompany,
          },
        ],
      }),
    ).not.toThrow(); // the shape is fine at run time: only the type checker can catch this
  });

  it("a template reading a subset of the props type-checks and renders with the subscriber's fields", async () => {
    const sequence = defineSequence(validSequence("needs-name", [{ id: "hello", schedule: immediately(), template: NeedsName, subject: "Hi", preview: "Hi" }]));
    const step = sequence.steps[0]!;
    const links = buildLinks(SAMPLE_LINKS, "t.0", sequence.id, step.id);
    const email = await renderStep({
      sequence,
      step,
      subscriber: SAMPLE_SUBSCRIBER,
      links,
      postalAddress: SAMPLE_POSTAL_ADDRESS,
      list: SAMPLE_LIST,
      emailsDir: "/nonexistent",
    });
    expect(email.text).toContain(`Hello ${SAMPLE_SUBSCRIBER.name}`);
    expect(email.html).toContain(links.unsubscribe);
  });

  it("the subscriber type has exactly the fields templates may rely on", () => {
    expectTypeOf<EmailProps["subscriber"]>().toEqualTypeOf<{ email: string; name: string; timezone: string; tags: readonly string[] }>();
  });
});
