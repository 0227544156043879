/**
 * Backend message types of a COPY OUT
 * (https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-COPY): CopyData carries the
 * output, CopyDone ends it, ErrorResponse aborts it. Everything else sent meanwhile (CopyOutResponse,
 * NoticeResponse, ParameterStatus, NotificationResponse) is skipped.
 */
const COPY_DATA = 0x64; // 'd'
const COPY_DONE = 0x63; // 'c'
const ERROR_RESPONSE = 0x45; // 'E'

/** A message's type byte and its Int32 length (which counts itself). */
const HEADER_BYTES = 5;

/** What {@link CopyOutParser.parse} found in one piece of the connection's bytes. */
export interface CopyOutPiece {
  /**
   * The CopyData payloads of the piece, joined, in the piece's own memory (empty when it held none).
   */
  readonly data: Buffer;
  /**
   * Set once the COPY's messages end: `done` after CopyDone, `error` at an ErrorResponse. The
   * connection's own message parser takes over from {@link rest}.
   */
  readonly ended: 'done' | 'error' | undefined;
  /**
   * With {@link ended}: the bytes after CopyDone, or from the ErrorResponse's first byte on (for the
   * connection to parse). Empty otherwise.
   */
  readonly rest: Buffer;
}

const EMPTY = Buffer.alloc(0);

/**
 * The COPY OUT half of PostgreSQL's wire protocol, as bytes arrive from the socket (cut anywhere):
 * the CopyData payloads out. PostgreSQL sends every row as a message of its own (~160 bytes for a
 * user), so the per-message work is what costs: this parser reads headers in place and moves each
 * payload left over the headers before it, in the piece's own memory (the piece is the socket's read,
 * which nobody else holds), so it allocates nothing per piece. pg-copy-streams (used for the
 * import's COPY FROM) keeps a list of slices per message and joins them into a new buffer, which
 * took about twice the CPU of `psql` for the same COPY, much of it in the garbage collector
 * (bench/EXPORT-RESULTS.md).
 */
export class CopyOutParser {
  /** A header cut by the end of a piece: its first bytes. */
  readonly #header = Buffer.alloc(HEADER_BYTES);
  #headerBytes = 0;
  /** The type of the message whose body is being read. */
  #type = 0;
  /** Bytes of that body not yet seen. */
  #remaining = 0;
  #ended: CopyOutPiece['ended'];

  /**
   * Decodes the next piece of the connection's bytes. Overwrites `chunk`: the payloads are moved to
   * its start (the returned `data` is a view of it); the bytes from where the COPY's messages end
   * (`rest`) are left as they were.
   */
  parse(chunk: Buffer): CopyOutPiece {
    if (this.#ended) throw new Error('the COPY has already ended');
    // Payload bytes never run ahead of the bytes read (`written <= i`): moving them left is safe.
    const out = chunk;
    let written = 0;
    const length = chunk.length;
    let i = 0;
    while (i < length) {
      if (this.#remaining > 0) {
        const take = Math.min(this.#remaining, length - i);
        if (this.#type === COPY_DATA) {
          chunk.copyWithin(written, i, i + take);
          written += take;
        }
        i += take;
        this.#remaining -= take;
        continue;
      }
      let type: number;
      let bodyBytes: number;
      /** Where the message started in `chunk` (negative when its header began in an earlier piece). */
      let messageStart: number;
      if (this.#headerBytes === 0 && length - i >= HEADER_BYTES) {
        type = chunk[i] as number;
        bodyBytes = chunk.readUInt32BE(i + 1) - 4;
        messageStart = i;
        i += HEADER_BYTES;
      } else {
        const take = Math.min(HEADER_BYTES - this.#headerBytes, length - i);
        chunk.copy(this.#header, this.#headerBytes, i, i + take);
        messageStart = i - this.#headerBytes;
        this.#headerBytes += take;
        i += take;
        if (this.#headerBytes < HEADER_BYTES) break;
        this.#headerBytes = 0;
        type = this.#header[0] as number;
        bodyBytes = this.#header.readUInt32BE(1) - 4;
      }
      if (type === ERROR_RESPONSE) {
        const rest =
          messageStart >= 0
            ? chunk.subarray(messageStart)
            : Buffer.concat([this.#header.subarray(0, -messageStart), chunk]);
        return this.#end('error', out.subarray(0, written), rest);
      }
      if (type === COPY_DONE) {
        // CopyDone has no body (Int32 length 4).
        return this.#end('done', out.subarray(0, written), chunk.subarray(i + bodyBytes));
      }
      if (type === COPY_DATA && bodyBytes <= length - i) {
        // The common case: a whole row in this piece.
        chunk.copyWithin(written, i, i + bodyBytes);
        written += bodyBytes;
        i += bodyBytes;
        continue;
      }
      this.#type = type;
      this.#remaining = bodyBytes;
    }
    return { data: out.subarray(0, written), ended: undefined, rest: EMPTY };
  }

  #end(ended: 'done' | 'error', data: Buffer, rest: Buffer): CopyOutPiece {
    this.#ended = ended;
    return { data, ended, rest };
  }
}
