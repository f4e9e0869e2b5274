/**
 * The opening line every course email shares: "Hi Sam," (the first name, as the course's
 * preview texts use it) when we know a name, a plain "Hello," when we don't (the name is
 * optional at signup). React templates use it through <Greeting>, MJML templates through the
 * {{greeting}} placeholder, so both read the same.
 */
export function greetingLine(name: string): string {
  const first = name.trim().split(/\s+/)[0] ?? "";
  return first ? `Hi ${first},` : "Hello,";
}

/**
 * The footer's sender lines: the clinic's name, then its postal address, unless the address
 * already starts with the name (the default DRIP_POSTAL_ADDRESS does), which would print it twice.
 */
export function senderLines(organization: string, postalAddress: string): string[] {
  const address = postalAddress.trim();
  return address.toLowerCase().startsWith(organization.trim().toLowerCase()) ? [address] : [organization, address];
}
