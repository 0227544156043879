/**
 * Quotes one command for a POSIX shell, so what is printed can be pasted as is (`pnpm images
 * --dry-run`, the release command a dead-lettered mail's reason gives). Written here rather than
 * taken from a package because it is four lines: single quotes protect everything but a single
 * quote, which is closed, escaped and reopened.
 */
export function shellQuote(argv: readonly string[]): string {
  return argv
    .map((word) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`))
    .join(' ');
}
