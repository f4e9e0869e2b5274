/**
 * A newsletter issue: the course emails' layout around the issue's body (Markdown rendered by
 * src/newsletters/markdown.ts), with a "View in your browser" link to its archive page.
 */
import type { CSSProperties } from "react";
import { Link, Text } from "react-email";
import type { EmailProps } from "../src/sequences/types.ts";
import { Layout } from "./components/layout.tsx";
import { colors, linkStyle } from "./components/theme.ts";

export interface NewsletterEmailProps extends EmailProps {
  /** The body HTML, the same for every reader (no personal data). */
  bodyHtml: string;
  /** The public archive page. */
  webUrl: string;
}

const small: CSSProperties = { color: colors.muted, fontSize: "14px", lineHeight: "22px", margin: "0 0 8px" };
const webLink: CSSProperties = { ...linkStyle, display: "inline-block", lineHeight: "22px", padding: "11px 0" };

export default function Newsletter(props: NewsletterEmailProps) {
  return (
    <Layout {...props}>
      <Text style={small} className="bht-muted">
        <Link href={props.webUrl} style={webLink} className="bht-link">
          View in your browser
        </Link>
      </Text>
      {/* biome-ignore lint/security/noDangerouslySetInnerHtml: staff-written Markdown rendered by marked (validated by drip validate), the same for every reader */}
      <div dangerouslySetInnerHTML={{ __html: props.bodyHtml }} />
    </Layout>
  );
}
