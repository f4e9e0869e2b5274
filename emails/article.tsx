/** Step "article", sent right after confirming: where the pain shows up and where it comes from. */
import type { EmailProps } from "../src/sequences/types.ts";
import { Greeting, Paragraph, Signature, Subheading, Title } from "./components/content.tsx";
import { Layout } from "./components/layout.tsx";
import { sampleFor } from "./components/sample-props.ts";

export default function Article(props: EmailProps) {
  const { subscriber, sender } = props;
  return (
    <Layout {...props}>
      <Title>Outer hip and leg pain that isn't your IT band</Title>
      <Greeting name={subscriber.name} />
      <Paragraph>
        Thanks for joining our free course. Over the next two weeks we'll send you a few short emails about one small, deep muscle that causes a lot of
        confusion: the gluteus minimus.
      </Paragraph>
      <Subheading>Where you feel it</Subheading>
      <Paragraph>
        Trigger points in this muscle can refer pain along the line of your IT band, across the outer side of your knee, and on down the outside of your lower
        leg. So the ache can turn up a long way from where it starts.
      </Paragraph>
      <Subheading>The mistake we see most</Subheading>
      <Paragraph>
        When the outside of the leg hurts, most people reach for the foam roller and work their IT band again and again. It's an understandable guess, but the
        pain isn't coming from the IT band, and it isn't coming from the lower leg either. The source is the gluteus minimus.
      </Paragraph>
      <Subheading>Where the gluteus minimus sits</Subheading>
      <Paragraph>
        Of the muscles that keep your hip stable, the gluteus minimus is the deepest. It lies underneath the gluteus medius, deep in the outer hip, close to the
        greater trochanter: the bony point at the top of your thigh bone (the femur).
      </Paragraph>
      <Subheading>What's next</Subheading>
      <Paragraph>In two days we'll show you how to work on it yourself, with a lacrosse ball in place of the foam roller.</Paragraph>
      <Signature organization={sender.organization} />
    </Layout>
  );
}

Article.PreviewProps = sampleFor("article");
