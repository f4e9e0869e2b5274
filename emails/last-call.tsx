/** Step "last-call", day 14: the course's closing note and a last, friendly invitation. */
import type { EmailProps } from "../src/sequences/types.ts";
import { BookingButton } from "./components/booking-button.tsx";
import { Greeting, Paragraph, Signature, Title } from "./components/content.tsx";
import { Layout } from "./components/layout.tsx";
import { sampleFor } from "./components/sample-props.ts";

export default function LastCall(props: EmailProps) {
  const { subscriber, links, sender } = props;
  return (
    <Layout {...props}>
      <Title>Thanks for taking the course</Title>
      <Greeting name={subscriber.name} />
      <Paragraph>
        This is the last email of our course. We hope the lacrosse-ball release and the knee-to-chest variation have helped you get to know your gluteus
        minimus, the deep hip muscle whose trigger points so often send people foam-rolling their IT band instead.
      </Paragraph>
      <Paragraph>
        If the pain is still there, or keeps returning, we'd be glad to see you. We release these trigger points by hand, and we can help keep the pain from
        coming back.
      </Paragraph>
      <BookingButton href={links.booking}>Book a session</BookingButton>
      <Paragraph>Whatever you decide, thank you for reading along.</Paragraph>
      <Signature organization={sender.organization} />
    </Layout>
  );
}

LastCall.PreviewProps = sampleFor("last-call");
