/**
 * The opening line every course email shares: "Hi Sam," when we know a name (as the reader
 * gave it), a plain "Hello," when we don't (the name is optional at signup). React templates
 * use it through <Greeting>, MJML templates through the {{greeting}} placeholder, so both
 * read the same.
 */
export function greetingLine(name: string): string {
  const given = name.trim();
  return given ? `Hi ${given},` : "Hello,";
}

/**
 * The footer's sender lines: the clinic's name, then its postal address, unless the address
 * already starts with the name (the default DRIP_POSTAL_ADDRESS does), which would print it twice.
 */
export function senderLines(organization: string, postalAddress: string): string[] {
  const address = postalAddress.trim();
  return address.toLowerCase().startsWith(organization.trim().toLowerCase()) ? [address] : [organization, address];
}
