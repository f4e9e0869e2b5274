import type { CSSProperties, ReactNode } from "react";
import { Button, Section } from "react-email";
import { colors } from "./theme.ts";

const wrap: CSSProperties = { margin: "8px 0 24px" };

// Large tap target (≥ 44px high) with white-on-teal at 6.4:1.
const button: CSSProperties = {
  backgroundColor: colors.accent,
  color: colors.onAccent,
  borderRadius: "6px",
  fontSize: "17px",
  fontWeight: 700,
  lineHeight: "24px",
  padding: "14px 28px",
  textDecoration: "none",
};

export function BookingButton({ href, children }: { href: string; children: ReactNode }) {
  return (
    <Section style={wrap}>
      <Button href={href} style={button} className="bht-button">
        {children}
      </Button>
    </Section>
  );
}
