/**
 * The double opt-in email (not a course step): one button that confirms the address.
 * Sent through the normal delivery path right after a signup; its footer's unsubscribe link
 * lets someone who never signed up stop any further confirmation emails.
 */
import type { EmailProps } from "../src/sequences/types.ts";
import { BookingButton } from "./components/booking-button.tsx";
import { Greeting, Paragraph, Title } from "./components/content.tsx";
import { Layout } from "./components/layout.tsx";
import { sampleFor } from "./components/sample-props.ts";

export type ConfirmProps = EmailProps & { confirmUrl: string; courseName: string };

export default function Confirm(props: ConfirmProps) {
  const { subscriber, confirmUrl, courseName } = props;
  return (
    <Layout {...props}>
      <Title>Please confirm your email address</Title>
      <Greeting name={subscriber.name} />
      <Paragraph>
        Thanks for signing up for our free course, “{courseName}”. Tap the button below to confirm this is your address, and the first email will follow within
        a minute or two.
      </Paragraph>
      <BookingButton href={confirmUrl}>Yes, send me the course</BookingButton>
      <Paragraph>The link works for seven days. If you didn't sign up, ignore this email and we won't write again.</Paragraph>
    </Layout>
  );
}

Confirm.PreviewProps = {
  ...sampleFor("article"),
  preview: "One tap to start the free course.",
  reason: "You're getting this because this address was entered in the signup form on the Body Heal Therapy blog.",
  confirmUrl: "https://mail.bodyhealtherapy.example/confirm/sample-token",
  courseName: "Outer hip and leg pain that isn't your IT band",
} satisfies ConfirmProps;
