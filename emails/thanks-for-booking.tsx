/** Sequence "post-booking", step "thanks", at once: thanks for booking, and what to do until then. */
import type { EmailProps } from "../src/sequences/types.ts";
import { Greeting, Paragraph, SafetyNote, Signature, Title } from "./components/content.tsx";
import { Layout } from "./components/layout.tsx";
import { sampleFor } from "./components/sample-props.ts";

export default function ThanksForBooking(props: EmailProps) {
  const { subscriber, links, sender } = props;
  return (
    <Layout {...props}>
      <Title>Thanks for booking with us</Title>
      <Greeting name={subscriber.name} />
      <Paragraph>Your session with {sender.organization} is booked. Thank you for trusting us with it: we're looking forward to meeting you.</Paragraph>
      <Paragraph>
        Until then, if the lacrosse-ball release has felt comfortable, you're welcome to keep it up. Go gently: medium pressure, and don't stay on one spot for
        too long.
      </Paragraph>
      <Paragraph>
        Need to change the time? You can do that from <a href={links.booking}>our booking page</a>.
      </Paragraph>
      <SafetyNote />
      <Paragraph>If you're taking our free course, we'll leave its booking reminders out from here on.</Paragraph>
      <Signature organization={sender.organization} />
    </Layout>
  );
}

ThanksForBooking.PreviewProps = sampleFor("thanks", "post-booking");
