import { Readable } from 'node:stream';
import type pg from 'pg';
import { CopyOutParser } from '../domain/copy-out-parser.ts';
import type { CopyOutStream } from '../domain/user-export-store.ts';

/** What `pg` hands a submitted query: the connection, whose socket the COPY reads. */
interface SubmittedConnection {
  readonly stream: Readable;
  query(text: string): void;
}

/**
 * A `COPY ... TO STDOUT` run through a `pg` client (`client.query(new CopyOutQuery(sql))`), as a
 * Readable of COPY's output. While the COPY runs it reads the socket itself (the connection's own
 * message parser is set aside, as pg-copy-streams' `to` does it) and decodes the messages with
 * {@link CopyOutParser}; after CopyDone, or at an ErrorResponse, it hands the rest back to the
 * connection, which then reports the row count (`handleCommandComplete`, where the stream ends) or
 * the error (`handleError`). Backpressure reaches the socket: it is read only while the consumer
 * wants more.
 */
export class CopyOutQuery extends Readable implements pg.Submittable, CopyOutStream {
  readonly #text: string;
  readonly #parser = new CopyOutParser();
  #connection: SubmittedConnection | undefined;
  #pgDataHandler: ((chunk: Buffer) => void) | undefined;
  #wanted = false;
  #forwarding = false;
  #rowCount = 0;
  #copyDone = false;
  readonly #onReadable = () => this.#forward();

  constructor(text: string) {
    super();
    this.#text = text;
  }

  /** Rows COPY sent (`COPY n`); 0 until the COPY has completed. */
  get rowCount(): number {
    return this.#rowCount;
  }

  /** Called by `pg` when the query's turn comes. */
  submit(connection: pg.Connection): void {
    const submitted = connection as unknown as SubmittedConnection;
    this.#connection = submitted;
    const [handler] = submitted.stream.listeners('data') as ((chunk: Buffer) => void)[];
    this.#pgDataHandler = handler;
    if (handler) submitted.stream.removeListener('data', handler);
    submitted.stream.pause();
    submitted.stream.on('readable', this.#onReadable);
    submitted.query(this.#text);
  }

  override _read(): void {
    this.#wanted = true;
    this.#forward();
  }

  #forward(): void {
    const connection = this.#connection;
    if (this.#forwarding || !this.#wanted || !connection) return;
    this.#forwarding = true;
    try {
      while (this.#wanted && this.#connection) {
        const chunk = connection.stream.read() as Buffer | null;
        if (chunk === null) break;
        const piece = this.#parser.parse(chunk);
        if (piece.data.length > 0) this.#wanted = this.push(piece.data);
        if (piece.ended) {
          // Set first: the bytes handed back may hold CommandComplete, reported during the detach.
          this.#copyDone = piece.ended === 'done';
          this.#detach(piece.rest);
        }
      }
    } finally {
      this.#forwarding = false;
    }
  }

  /** Gives the socket back to the connection's parser, with the bytes after the COPY's messages. */
  #detach(rest: Buffer): void {
    const connection = this.#connection;
    if (!connection) return;
    this.#connection = undefined;
    connection.stream.removeListener('readable', this.#onReadable);
    const handler = this.#pgDataHandler;
    if (handler) {
      connection.stream.on('data', handler);
      handler(rest);
    }
    // Resumed on the next tick: the handler above may have paused the stream (pg-copy-streams does
    // the same).
    process.nextTick(() => connection.stream.resume());
  }

  /** `pg`: the server's error for this query (or the connection's). */
  handleError(error: Error): void {
    this.destroy(error);
  }

  /**
   * `pg`: `COPY n`. The stream ends here, not at CopyDone: a socket read can end between the two
   * messages, and a consumer reads {@link rowCount} once the stream has ended.
   */
  handleCommandComplete(message: { text?: string } | undefined): void {
    const match = /COPY (\d+)/.exec(message?.text ?? '');
    if (match) this.#rowCount = Number(match[1]);
    this.#end();
  }

  /** `pg`: the connection is ready for the next query (after CommandComplete, which ended the stream). */
  handleReadyForQuery(): void {
    this.#end();
  }

  #end(): void {
    if (this.#copyDone) this.push(null);
  }
}
