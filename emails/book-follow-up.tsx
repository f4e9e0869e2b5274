/** Sequence "post-booking", step "follow-up", a week later: an invitation to book a follow-up. */
import type { EmailProps } from "../src/sequences/types.ts";
import { BookingButton } from "./components/booking-button.tsx";
import { Greeting, Paragraph, Signature, Title } from "./components/content.tsx";
import { Layout } from "./components/layout.tsx";
import { sampleFor } from "./components/sample-props.ts";

export default function BookFollowUp(props: EmailProps) {
  const { subscriber, links, sender } = props;
  return (
    <Layout {...props}>
      <Title>How is your hip doing?</Title>
      <Greeting name={subscriber.name} />
      <Paragraph>It's been about a week since you booked with us, and we hope your session went well.</Paragraph>
      <Paragraph>
        Part of what we do is help keep the pain from coming back. If you'd like us to carry on where we left off, a follow-up session is the next step.
      </Paragraph>
      <BookingButton href={links.booking}>Book your follow-up</BookingButton>
      <Paragraph>If you're feeling fine, that's great news: there's nothing you need to do, and this is the last email about your booking.</Paragraph>
      <Signature organization={sender.organization} />
    </Layout>
  );
}

BookFollowUp.PreviewProps = sampleFor("follow-up", "post-booking");
