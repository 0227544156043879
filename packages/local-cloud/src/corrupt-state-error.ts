import { LocalCloudStartError } from './local-cloud-start-error.ts';

/**
 * A file or directory of the state directory cannot be used as what the local cloud keeps there: not
 * valid JSON (a write cut off, or an edit), not a SQLite database, a PostgreSQL data directory of
 * another version. `path` names it and `problem` says what is wrong with it in a few words.
 *
 * The message never quotes the file: `secrets-manager.json` holds the export download links'
 * signing key, and JSON.parse's own message quotes the text around where it stopped. For the same
 * reason the parser's error is not kept as `cause`; an error that quotes nothing of it (the file
 * system's, PGlite's) is.
 */
export class CorruptStateError extends LocalCloudStartError {
  override readonly name = 'CorruptStateError';
  /** The file or directory, absolute as the local cloud opened it. */
  readonly path: string;
  /** What is wrong with it ("not valid JSON"). */
  readonly problem: string;
  /**
   * `cause`: the error that found it, where its message quotes nothing of the file (a file system's
   * or PGlite's error, not JSON.parse's).
   */
  constructor(path: string, problem: string, options: { readonly cause?: unknown } = {}) {
    super(
      `${path} is ${problem}: move it aside, or \`npm start -- --fresh\`, which clears all local state`,
      options,
    );
    this.path = path;
    this.problem = problem;
  }
}
