/**
 * The local cloud refused to start for a reason a person mends (a damaged state file, a state dir it
 * cannot write, a database it cannot use, a bundle not built): the message says what is wrong and
 * what to do, in one line, so `npm start` prints it alone, without a stack trace.
 */
export class LocalCloudStartError extends Error {
  override readonly name: string = 'LocalCloudStartError';
}
