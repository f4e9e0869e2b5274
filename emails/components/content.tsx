/** Small text parts the course emails share, so each email holds only its words. */
import type { CSSProperties, ReactNode } from "react";
import { Heading, Text } from "react-email";
import { greetingLine } from "../../src/render/greeting.ts";
import { colors, textStyle } from "./theme.ts";

const title: CSSProperties = { color: colors.text, fontSize: "26px", lineHeight: "34px", fontWeight: 700, margin: "16px 0 16px" };
const subheading: CSSProperties = { color: colors.text, fontSize: "20px", lineHeight: "28px", fontWeight: 700, margin: "24px 0 8px" };
const list: CSSProperties = { ...textStyle, paddingLeft: "24px" };
const item: CSSProperties = { margin: "0 0 8px" };
const note: CSSProperties = {
  ...textStyle,
  color: colors.muted,
  borderLeft: `4px solid ${colors.accent}`,
  paddingLeft: "12px",
};

export function Title({ children }: { children: ReactNode }) {
  return (
    <Heading as="h1" style={title} className="bht-heading">
      {children}
    </Heading>
  );
}

export function Subheading({ children }: { children: ReactNode }) {
  return (
    <Heading as="h2" style={subheading} className="bht-heading">
      {children}
    </Heading>
  );
}

export function Paragraph({ children }: { children: ReactNode }) {
  return (
    <Text style={textStyle} className="bht-text">
      {children}
    </Text>
  );
}

/** "Hi Sam," when we know a name, a plain "Hello," when we don't (see greetingLine). */
export function Greeting({ name }: { name: string }) {
  return <Paragraph>{greetingLine(name)}</Paragraph>;
}

/** A numbered list of steps in a technique. */
export function Steps({ items }: { items: readonly ReactNode[] }) {
  return (
    <ol style={list} className="bht-text">
      {items.map((step, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: a fixed list rendered once to static HTML; it never reorders
        <li key={i} style={item}>
          {step}
        </li>
      ))}
    </ol>
  );
}

/** The general safety note: no diagnosis, stop if it sharpens, see a professional. */
export function SafetyNote() {
  return (
    <Text style={note} className="bht-muted">
      A quick word of care: this is general information, not a diagnosis. If the pain turns sharp or gets worse, stop, and have a professional take a look.
    </Text>
  );
}

export function Signature({ organization }: { organization: string }) {
  return (
    <Text style={{ ...textStyle, marginTop: "24px" }} className="bht-text">
      Warmly,
      <br />
      David Phillips
      <br />
      Therapist, {organization}
    </Text>
  );
}
