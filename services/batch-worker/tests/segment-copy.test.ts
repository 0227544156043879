import { EventEmitter } from 'node:events';
import { describe, expect, it } from '@jest/globals';
import { from as copyFrom } from 'pg-copy-streams';
import { segmentCopy } from '../src/adapters/postgres-user-import-store.ts';

// pg-copy-streams' `from` stream driven as `pg` drives it, over a stand-in for the connection: the
// socket's writes, PostgreSQL's answers (CopyInResponse, ErrorResponse, ReadyForQuery) when a test
// says so. What the real server does at those moments is covered by the import's own tests
// (import-users.test.ts, "too big"); these pin the orders of events a local server rarely produces.

/** A connection whose socket is full (every write waits for 'drain') or not. */
function connection(full: boolean) {
  const stream = Object.assign(new EventEmitter(), { write: (_bytes: Buffer) => !full });
  const failures: string[] = [];
  return {
    stream,
    failures,
    query: () => {},
    sendCopyFail: (message: string) => failures.push(message),
  };
}

type Connection = ReturnType<typeof connection>;

/** What `pg` calls on a query it runs (its Submittable), which pg-copy-streams' types leave out. */
interface Driven {
  handleCopyInResponse(connection: unknown): void;
  handleError(error: Error): void;
  handleCommandComplete(message: { text: string }): void;
  handleReadyForQuery(): void;
}

function copyOn(conn: Connection, ready: boolean) {
  const copy = copyFrom('COPY staging FROM STDIN (FORMAT csv)') as ReturnType<typeof copyFrom> & Driven;
  copy.submit(conn as never);
  if (ready) copy.handleCopyInResponse(conn as never);
  const input = segmentCopy(copy, (error) => new Error(`described: ${error.message}`));
  return { copy, input };
}

/** `promise`'s outcome, or 'pending' after a few turns of the event loop. */
async function outcome(promise: Promise<unknown>): Promise<string> {
  return Promise.race([
    promise.then(
      () => 'resolved',
      (error: Error) => `rejected: ${error.message}`,
    ),
    new Promise<string>((resolve) => setTimeout(() => resolve('pending'), 50)),
  ]);
}

describe('segmentCopy', () => {
  it("reports PostgreSQL's refusal, as described, to the write waiting on a full socket, and leaves the stream nothing to write to the dropped connection", async () => {
    const conn = connection(true);
    const { copy, input } = copyOn(conn, true);
    const first = input.write(Buffer.from('2,,a,b\n'));
    expect(await outcome(first)).toBe('pending');
    copy.handleError(new Error('row is too big'));
    expect(await outcome(first)).toBe('rejected: described: row is too big');
    // The socket drains (PostgreSQL reads and drops what was sent after its error): a chunk still held
    // by the stream would now be written to the connection it dropped, a TypeError in this listener.
    expect(() => conn.stream.emit('drain')).not.toThrow();
    expect(await outcome(input.write(Buffer.from('4,,e,f\n')))).toBe('rejected: described: row is too big');
    expect(await outcome(input.end())).toBe('rejected: described: row is too big');
  });

  it('gives up at once a COPY that failed before PostgreSQL was ready for its data, sending nothing more', async () => {
    const conn = connection(false);
    const { copy, input } = copyOn(conn, false);
    const write = input.write(Buffer.from('2,,a,b\n'));
    copy.handleError(new Error('Connection terminated unexpectedly'));
    expect(await outcome(write)).toBe('rejected: described: Connection terminated unexpectedly');
    // pg-copy-streams would wait for a CopyInResponse that never comes before sending its CopyFail.
    expect(await outcome(input.abort(new Error('stopped')))).toBe('resolved');
    expect(conn.failures).toEqual([]);
  });

  it('ends a COPY still running with CopyFail when the import stops, once PostgreSQL answered it', async () => {
    const conn = connection(false);
    const { copy, input } = copyOn(conn, true);
    expect(await outcome(input.write(Buffer.from('2,,a,b\n')))).toBe('resolved');
    const abort = input.abort(new Error('interrupted by SIGTERM'));
    expect(conn.failures).toEqual(['interrupted by SIGTERM']);
    expect(await outcome(abort)).toBe('pending');
    copy.handleError(new Error('COPY from stdin failed: interrupted by SIGTERM'));
    expect(await outcome(abort)).toBe('resolved');
  });

  it('ends a COPY once PostgreSQL took every row', async () => {
    const conn = connection(false);
    const { copy, input } = copyOn(conn, true);
    expect(await outcome(input.write(Buffer.from('2,,a,b\n')))).toBe('resolved');
    const end = input.end();
    expect(await outcome(end)).toBe('pending');
    copy.handleCommandComplete({ text: 'COPY 1' });
    copy.handleReadyForQuery();
    expect(await outcome(end)).toBe('resolved');
  });
});
