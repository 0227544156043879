import { LocalCloudStartError } from './local-cloud-start-error.ts';

/**
 * A file or directory of the state directory cannot be used as what the local cloud keeps there: not
 * valid JSON (a write cut off, or an edit), not a SQLite database, a PostgreSQL data directory of
 * another version. `path` names it and `problem` says what is wrong with it in a few words.
 *
 * The message never quotes the file: `secrets-manager.json` holds the export download links'
 * signing key, and JSON.parse's own message quotes the text around where it stopped. For the same
 * reason the parser's error is not kept as `cause`.
 */
export class CorruptStateError extends LocalCloudStartError {
  override readonly name = 'CorruptStateError';
  /** The file or directory, absolute as the local cloud opened it. */
  readonly path: string;
  /** What is wrong with it ("not valid JSON"). */
  readonly problem: string;
  constructor(path: string, problem: string) {
    super(`${path} is ${problem}: move it aside, or \`npm start -- --fresh\`, which clears all local state`);
    this.path = path;
    this.problem = problem;
  }
}
