import { styleText } from 'node:util';
import stringWidth from 'string-width';

/** A colour for a cell (node:util `styleText` formats; dropped when the stream is no colour terminal). */
export type Tone = 'red' | 'green' | 'yellow' | 'dim' | 'bold';

/** A cell: text, or text with a tone. */
export type Cell = string | { readonly text: string; readonly tone: Tone };

/**
 * Lays rows out as an aligned table under `header`. `styleText` checks the stream (TTY, NO_COLOR,
 * FORCE_COLOR) before colouring, so piped output stays plain.
 */
export function table(
  header: readonly string[],
  rows: readonly (readonly Cell[])[],
  stream: NodeJS.WriteStream = process.stdout,
): string {
  const text = (cell: Cell) => (typeof cell === 'string' ? cell : cell.text);
  const widths = header.map((title, column) =>
    Math.max(stringWidth(title), ...rows.map((row) => stringWidth(text(row[column] ?? '')))),
  );
  // Padded to the columns a terminal gives the text (a wide character two, a combining mark none),
  // not to its UTF-16 length: file names are often Japanese, and macOS's decomposed.
  const pad = (value: string, width: number) => value + ' '.repeat(Math.max(0, width - stringWidth(value)));
  const line = (cells: readonly Cell[], toneAll?: Tone) =>
    cells
      .map((cell, column) => {
        const padded = pad(text(cell), column === cells.length - 1 ? 0 : (widths[column] ?? 0));
        const tone = toneAll ?? (typeof cell === 'string' ? undefined : cell.tone);
        return tone ? styleText(tone, padded, { stream }) : padded;
      })
      .join('  ')
      .trimEnd();
  return [line(header, 'bold'), ...rows.map((row) => line(row))].join('\n');
}

/** The tone of a status word: failures red, successes green, work in progress yellow. */
export function toneOf(status: string): Cell {
  const upper = status.toUpperCase();
  if (['FAILED', 'TIMED_OUT', 'ABORTED', 'ERROR', 'DISABLED'].includes(upper))
    return { text: status, tone: 'red' };
  if (['SUCCEEDED', 'COMPLETED', 'OK', 'ENABLED'].includes(upper)) return { text: status, tone: 'green' };
  if (['RUNNING', 'REGISTERED', 'INPROGRESS', 'PENDING_REDRIVE'].includes(upper))
    return { text: status, tone: 'yellow' };
  return status;
}

/** A date as ISO 8601 without milliseconds, or `-`. */
export function when(date: Date | string | null | undefined): string {
  if (!date) return '-';
  return new Date(date).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Seconds or milliseconds as `1h2m`, `3m4s`, `5s`, `120ms`, or `-`. */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '-';
  if (ms < 1000) return `${ms}ms`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${seconds % 60}s`;
  return `${Math.floor(seconds / 3600)}h${Math.floor((seconds % 3600) / 60)}m`;
}
