/**
 * COPY ... FROM STDIN through @electric-sql/pglite-socket, the fix of electric-sql/pglite#1028
 * (https://github.com/electric-sql/pglite/pull/1028, open) applied from outside the package.
 *
 * PGlite runs the backend synchronously, one `execProtocolRawStream` call per batch of wire messages,
 * and the backend cannot wait for input between calls: a COPY started in one call meets the end of
 * its input, fails with "unexpected EOF" and the session loses protocol sync. The socket server
 * hands PGlite every client message as its own call, so COPY FROM STDIN always breaks. The fix holds
 * the COPY query back, answers the client's wait with a CopyInResponse of its own, buffers the
 * CopyData messages until CopyDone or CopyFail, and hands the whole sequence to PGlite as one call,
 * dropping PGlite's own (now duplicate) CopyInResponse from the answer. Errors, the rollback of a
 * failed COPY and what follows are then PostgreSQL's own.
 *
 * Why here and not a `pnpm patch`: the package ships its code minified into one line per file, so a
 * patch would replace an 11 KB line in two files (ESM and CJS) that nobody can review; this module
 * wraps the one seam the fix needs, the server's query queue (`enqueue(handlerId, message, onData)`,
 * through which every handler's message and answer passes), and fails at start-up if it is missing.
 *
 * Differences from the pull request: the statement is recognized only outside literals, comments
 * and parentheses (`COPY (SELECT 'from stdin') TO STDOUT` is not a copy-in); a message that already
 * holds more than the Query (as the pull request would enqueue once released) passes through; the
 * buffer is bounded (`maxBytes`): past it the COPY is ended with a CopyFail, so the client gets
 * PostgreSQL's error and its transaction is aborted instead of the process running out of memory.
 * Limits shared with the pull request: the COPY's data is held in memory until its end, COPY through
 * the extended protocol (Parse/Bind/Execute) is not handled (pg-copy-streams and psql use a simple
 * Query), and an error of the COPY statement itself (a missing table) reaches the client after it
 * sent its data instead of before.
 */
import type { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { DatabaseError } from './errors.ts';

/** The socket server's shared query queue, as @electric-sql/pglite-socket 0.2.17 has it. */
interface QueryQueue {
  enqueue(handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number>;
  clearQueueForHandler(handlerId: number): void;
}

/** Wire-protocol message types (https://www.postgresql.org/docs/current/protocol-message-formats.html). */
const QUERY = 0x51; // 'Q'
const COPY_DATA = 0x64; // 'd'
const COPY_DONE = 0x63; // 'c'
const COPY_FAIL = 0x66; // 'f'
const FLUSH = 0x48; // 'H'
const SYNC = 0x53; // 'S'
const COPY_IN_RESPONSE = 0x47; // 'G'

/** A connection's COPY in progress: the Query and the CopyData so far, or the rest of one given up. */
type CopyIn = { readonly parts: Uint8Array[]; bytes: number } | 'discarding';

/**
 * Makes `server` run `COPY ... FROM STDIN` of its clients as one PGlite call each. Call it before
 * `server.start()`.
 * @param maxBytes Bytes of one COPY held at most; a larger COPY fails with PostgreSQL's error for a
 * CopyFail naming this limit.
 */
export function bufferCopyFromStdin(server: PGLiteSocketServer, maxBytes: number): void {
  const queue = (server as unknown as { queryQueue?: Partial<QueryQueue> }).queryQueue;
  if (typeof queue?.enqueue !== 'function' || typeof queue.clearQueueForHandler !== 'function') {
    throw new DatabaseError(
      'the installed @electric-sql/pglite-socket has no query queue to wrap; check bufferCopyFromStdin against its code',
      { permanent: true },
    );
  }
  const enqueue = queue.enqueue.bind(queue);
  const clearQueueForHandler = queue.clearQueueForHandler.bind(queue);
  const copies = new Map<number, CopyIn>();

  // Everything below runs synchronously on each call: the handler enqueues a connection's messages
  // in order, and so the copy state sees them in order.
  queue.enqueue = (handlerId, message, onData) => {
    const copy = copies.get(handlerId);
    const type = message[0];
    if (copy === 'discarding') {
      // PostgreSQL drops what the client still sends of a COPY that failed; anything else ends it.
      if (type === COPY_DATA || type === FLUSH || type === SYNC) return Promise.resolve(0);
      copies.delete(handlerId);
      return type === COPY_DONE || type === COPY_FAIL
        ? Promise.resolve(0)
        : enqueue(handlerId, message, onData);
    }
    if (copy !== undefined) {
      copy.parts.push(message);
      copy.bytes += message.length;
      if (type === COPY_DONE || type === COPY_FAIL) {
        copies.delete(handlerId);
        return enqueue(handlerId, Buffer.concat(copy.parts, copy.bytes), withoutCopyInResponse(onData));
      }
      if (copy.bytes <= maxBytes) return Promise.resolve(0);
      copies.set(handlerId, 'discarding');
      const reason = `COPY FROM STDIN through the embedded server is limited to ${maxBytes} bytes`;
      const parts = [copy.parts[0] as Uint8Array, copyFail(reason)];
      return enqueue(handlerId, Buffer.concat(parts), withoutCopyInResponse(onData));
    }
    const format = type === QUERY && isSingleMessage(message) ? copyInFormat(queryText(message)) : undefined;
    if (format === undefined) return enqueue(handlerId, message, onData);
    copies.set(handlerId, { parts: [message], bytes: message.length });
    onData(copyInResponse(format));
    return Promise.resolve(0);
  };
  queue.clearQueueForHandler = (handlerId) => {
    copies.delete(handlerId);
    clearQueueForHandler(handlerId);
  };
}

function isSingleMessage(message: Uint8Array): boolean {
  return (
    message.length >= 5 &&
    Buffer.from(message.buffer, message.byteOffset).readInt32BE(1) + 1 === message.length
  );
}

/** The SQL of a Query message: type, length, text, NUL. */
function queryText(message: Uint8Array): string {
  return Buffer.from(message.buffer, message.byteOffset, message.length).toString(
    'utf8',
    5,
    message.length - 1,
  );
}

/**
 * 1 (binary) or 0 (text, csv) when `sql` starts with COPY ... FROM STDIN, undefined otherwise.
 * Literals, quoted identifiers and comments are blanked first, and FROM STDIN must be outside
 * parentheses: `COPY (SELECT ... FROM stdin) TO STDOUT` reads a table named stdin.
 */
export function copyInFormat(sql: string): 0 | 1 | undefined {
  let plain = '';
  let topLevel = '';
  let depth = 0;
  for (let i = 0; i < sql.length; ) {
    const rest = sql.slice(i, i + 2);
    let end: number;
    if (rest === '--') end = until(sql, '\n', i + 2);
    else if (rest === '/*') end = until(sql, '*/', i + 2);
    else if (sql[i] === "'" || sql[i] === '"') end = closingQuote(sql, i);
    else {
      const c = sql[i] as string;
      if (c === '(') depth++;
      plain += c;
      if (depth === 0) topLevel += c;
      if (c === ')') depth = Math.max(0, depth - 1);
      i++;
      continue;
    }
    plain += ' ';
    if (depth === 0) topLevel += ' ';
    i = end;
  }
  if (!/^\s*COPY\b[^;]*\bFROM\s+STDIN\b/i.test(topLevel)) return undefined;
  return /\bBINARY\b/i.test(plain.slice(0, plain.search(/;|$/))) ? 1 : 0;
}

/** The index after `close`, searching from `from`, or the end of `sql`. */
function until(sql: string, close: string, from: number): number {
  const at = sql.indexOf(close, from);
  return at === -1 ? sql.length : at + close.length;
}

/** The index after the quote closing the one at `start` (a doubled quote stays inside). */
function closingQuote(sql: string, start: number): number {
  const quote = sql[start] as string;
  let i = start + 1;
  for (;;) {
    const at = sql.indexOf(quote, i);
    if (at === -1) return sql.length;
    if (sql[at + 1] !== quote) return at + 1;
    i = at + 2;
  }
}

/** CopyInResponse with the overall format and no per-column formats (clients only wait for it). */
function copyInResponse(format: 0 | 1): Buffer {
  const message = Buffer.alloc(8);
  message.writeUInt8(COPY_IN_RESPONSE, 0);
  message.writeInt32BE(7, 1);
  message.writeUInt8(format, 5);
  message.writeInt16BE(0, 6);
  return message;
}

function copyFail(reason: string): Buffer {
  const text = Buffer.from(`${reason}\0`);
  const message = Buffer.alloc(5);
  message.writeUInt8(COPY_FAIL, 0);
  message.writeInt32BE(4 + text.length, 1);
  return Buffer.concat([message, text]);
}

/**
 * `onData` without the CopyInResponse that PGlite's answer starts with (the client already had one).
 * An answer that starts otherwise (the COPY statement failed) passes unchanged.
 */
function withoutCopyInResponse(onData: (data: Uint8Array) => void): (data: Uint8Array) => void {
  let head: Buffer | undefined = Buffer.alloc(0);
  return (data) => {
    if (head === undefined) {
      onData(data);
      return;
    }
    head = Buffer.concat([head, data]);
    if (head.length < 5) return;
    const first = 1 + head.readInt32BE(1);
    if (head[0] === COPY_IN_RESPONSE && head.length < first) return;
    const rest = head[0] === COPY_IN_RESPONSE ? head.subarray(first) : head;
    head = undefined;
    if (rest.length > 0) onData(rest);
  };
}
