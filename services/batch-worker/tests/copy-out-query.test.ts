import { PassThrough, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from '@jest/globals';
import { CopyOutQuery } from '../src/adapters/copy-out-query.ts';
import { backendMessage as message } from './backend-message.ts';

/**
 * A stand-in for `pg`'s connection: its socket, and the 'data' handler `pg` parses the socket with,
 * here one that hands the query CommandComplete (`COPY n`) when its bytes come.
 */
function connection(query: CopyOutQuery) {
  const stream = new PassThrough();
  const received: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => {
    received.push(chunk);
    const text = Buffer.concat(received).toString('latin1');
    const complete = /C.{4}(COPY \d+)\0/s.exec(text);
    if (complete) query.handleCommandComplete({ text: complete[1] });
  });
  return { stream, query: () => {} };
}

describe('CopyOutQuery', () => {
  // PostgreSQL sends CopyDone and CommandComplete one after the other, but a socket read can end
  // between them (a send buffer's edge, a delayed segment): the row count comes later than the data.
  it('ends only once PostgreSQL said how many rows it sent, when that comes in a later read than CopyDone', async () => {
    const query = new CopyOutQuery('COPY (SELECT 1) TO STDOUT');
    const conn = connection(query);
    query.submit(conn as never);
    let countAtEnd: number | undefined;
    const consumed = pipeline(
      query,
      new Writable({
        write: (_chunk, _encoding, done) => done(),
        final: (done) => {
          countAtEnd = query.rowCount;
          done();
        },
      }),
    );
    conn.stream.write(
      Buffer.concat([
        message('H', Buffer.from([0, 0, 1, 0, 0])),
        message('d', '"a"\n'),
        message('d', '"b"\n'),
        message('c'),
      ]),
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(countAtEnd).toBeUndefined();
    conn.stream.write(Buffer.concat([message('C', 'COPY 2\0'), message('Z', 'I')]));
    await consumed;
    expect(countAtEnd).toBe(2);
  });

  /** A COPY of one row consumed by a pipeline, once its CopyDone (and nothing after it) was read. */
  async function afterCopyDone() {
    const query = new CopyOutQuery('COPY (SELECT 1) TO STDOUT');
    const conn = connection(query);
    query.submit(conn as never);
    const consumed = pipeline(query, new Writable({ write: (_chunk, _encoding, done) => done() }));
    conn.stream.write(
      Buffer.concat([message('H', Buffer.from([0, 0, 1, 0, 0])), message('d', '"a"\n'), message('c')]),
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
    return { query, consumed };
  }

  it("hands the consumer PostgreSQL's error when one comes after CopyDone, instead of ending", async () => {
    const { query, consumed } = await afterCopyDone();
    query.handleError(new Error('terminating connection due to administrator command'));
    await expect(consumed).rejects.toThrow('terminating connection due to administrator command');
  });

  it('ends at ReadyForQuery should CommandComplete not have come', async () => {
    const { query, consumed } = await afterCopyDone();
    query.handleReadyForQuery();
    await consumed;
    expect(query.rowCount).toBe(0);
  });

  it('ends at once when CommandComplete comes in the same read as CopyDone', async () => {
    const query = new CopyOutQuery('COPY (SELECT 1) TO STDOUT');
    const conn = connection(query);
    query.submit(conn as never);
    const chunks: string[] = [];
    conn.stream.write(
      Buffer.concat([
        message('H', Buffer.from([0, 0, 1, 0, 0])),
        message('d', '"a"\n'),
        message('c'),
        message('C', 'COPY 1\0'),
        message('Z', 'I'),
      ]),
    );
    for await (const chunk of query) chunks.push((chunk as Buffer).toString());
    expect(chunks.join('')).toBe('"a"\n');
    expect(query.rowCount).toBe(1);
  });
});
