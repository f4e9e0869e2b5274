/** Step "book", day 6: the invitation to have a therapist release the trigger points. */
import type { EmailProps } from "../src/sequences/types.ts";
import { BookingButton } from "./components/booking-button.tsx";
import { Greeting, Paragraph, Signature, Title } from "./components/content.tsx";
import { Layout } from "./components/layout.tsx";
import { sampleFor } from "./components/sample-props.ts";

export default function Book(props: EmailProps) {
  const { subscriber, links, sender } = props;
  return (
    <Layout {...props}>
      <Title>Would you like a hand with it?</Title>
      <Greeting name={subscriber.name} />
      <Paragraph>You now have two ways to work on the gluteus minimus at home: the lacrosse-ball release and the knee-to-chest variation.</Paragraph>
      <Paragraph>
        If you'd rather not do it all on your own, that's what we're here for. At {sender.organization} we release these trigger points by hand. We've helped
        many people get lasting relief, and we can help you keep the pain from coming back.
      </Paragraph>
      <Paragraph>Come and see us:</Paragraph>
      <BookingButton href={links.booking}>Book a session</BookingButton>
      <Signature organization={sender.organization} />
    </Layout>
  );
}

Book.PreviewProps = sampleFor("book");
