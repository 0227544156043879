/**
 * `text` when it has at most `max` UTF-16 units (what a contract's `maxLength` counts), else its first
 * `max - 1` units and `…`, cut between characters: a cut between the two halves of a character above
 * U+FFFF (an emoji, a Japanese surname's 𠮷) would leave a lone surrogate, which no UTF-8 can carry
 * (a mail, the ledger and SQS would each turn it into U+FFFD, or refuse it), so that half goes too.
 */
export function shorten(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max - 1);
  return `${/[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut}…`;
}
