/**
 * The frame every React email shares: the viewport tag (phones lay out at their own width),
 * preview text, the clinic's name on top and the footer the law and the reader both need (why
 * you get this, who sends it, where they are, and how to stop or change it). The light design
 * is inline and complete: dark mode is only an enhancement in <style>, which Gmail, Outlook
 * for Windows and Yahoo ignore.
 */
import { type CSSProperties, Fragment, type ReactNode } from "react";
import { Body, Container, Head, Hr, Html, Link, Preview, Section, Text } from "react-email";
import { senderLines } from "../../src/render/greeting.ts";
import type { EmailProps } from "../../src/sequences/types.ts";
import { colors, darkModeCss, fontStack, linkStyle } from "./theme.ts";

export type LayoutProps = EmailProps & { children: ReactNode };

const page: CSSProperties = {
  backgroundColor: colors.page,
  fontFamily: fontStack,
  margin: 0,
  padding: "24px 0",
};

// Fluid: full width on a phone, never wider than 600px elsewhere.
const card: CSSProperties = {
  backgroundColor: colors.card,
  maxWidth: "600px",
  width: "100%",
  borderRadius: "8px",
};

const header: CSSProperties = { padding: "24px 24px 0" };
const brand: CSSProperties = { color: colors.text, fontSize: "18px", lineHeight: "24px", fontWeight: 700, margin: 0 };
const content: CSSProperties = { padding: "8px 24px 8px" };
const rule: CSSProperties = { borderColor: colors.rule, borderStyle: "solid", borderWidth: "1px 0 0", margin: "8px 0 0" };
const footer: CSSProperties = { padding: "16px 24px 24px" };
const small: CSSProperties = { color: colors.muted, fontSize: "14px", lineHeight: "22px", margin: "0 0 12px" };
// Tap targets at least 44px tall (WCAG 2.5.5, Apple's guideline): 22px of line plus 11px above and below.
const footerLinks: CSSProperties = { ...small, margin: 0 };
const footerLink: CSSProperties = { ...linkStyle, fontWeight: 600, display: "inline-block", lineHeight: "22px", padding: "11px 0" };

export function Layout({ preview, sender, links, reason, children }: LayoutProps) {
  return (
    <Html lang="en" dir="ltr">
      <Head>
        {/* Without it, phones lay the email out at 980px and shrink it to a third. */}
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="color-scheme" content="light dark" />
        <meta name="supported-color-schemes" content="light dark" />
        {/* Raw CSS: React would otherwise escape the text of a <style> child. */}
        {/* biome-ignore lint/security/noDangerouslySetInnerHtml: a constant stylesheet of ours, no user input */}
        <style dangerouslySetInnerHTML={{ __html: darkModeCss }} />
      </Head>
      <Body style={page} className="bht-page">
        <Preview>{preview}</Preview>
        <Container style={card} className="bht-card">
          <Section style={header}>
            <Text style={brand} className="bht-brand">
              {sender.organization}
            </Text>
          </Section>
          <Section style={content}>{children}</Section>
          <Section style={footer}>
            <Hr style={rule} className="bht-rule" />
            <Text style={{ ...small, marginTop: "16px" }} className="bht-muted">
              {reason}
            </Text>
            <Text style={small} className="bht-muted">
              {senderLines(sender.organization, sender.postalAddress).map((line, i) => (
                <Fragment key={line}>
                  {i > 0 && <br />}
                  {line}
                </Fragment>
              ))}
            </Text>
            <Text style={footerLinks} className="bht-muted">
              <Link href={links.unsubscribe} style={footerLink} className="bht-link">
                Unsubscribe
              </Link>
              {" · "}
              <Link href={links.preferences} style={footerLink} className="bht-link">
                Manage preferences
              </Link>
            </Text>
          </Section>
        </Container>
      </Body>
    </Html>
  );
}
