/**
 * `text` with each NUL character (U+0000) written `\u0000`, as `JSON.stringify` writes it, so that
 * PostgreSQL can record it: text cannot hold a NUL (22021 `invalid byte sequence for encoding "UTF8":
 * 0x00`), nor jsonb a `\u0000` (22P05 `unsupported Unicode escape sequence`). A failure's reason
 * comes from elsewhere (a Step Functions Cause, a worker's error message, a file's header) and is
 * recorded on the job: with a NUL, recording it failed, and with it the step that failed the job.
 */
export function escapeNul(text: string): string {
  return text.replaceAll('\0', '\\u0000');
}
