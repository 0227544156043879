import { describe, expect, it } from '@jest/globals';
import { CopyOutParser } from '../src/domain/copy-out-parser.ts';
import { backendMessage as message } from './backend-message.ts';

const rows = ['"external_id","email"\n', '"a-1","a@x"\n', '"b-2","multi\nline"\n', '"c-3","c@x"\n'];
const commandComplete = message('C', 'COPY 3\0');
const readyForQuery = message('Z', 'I');
const stream = Buffer.concat([
  message('H', Buffer.from([0, 0, 2, 0, 0, 0, 0])),
  ...rows.slice(0, 2).map((row) => message('d', row)),
  message('N', 'a notice'),
  ...rows.slice(2).map((row) => message('d', row)),
  message('c'),
  commandComplete,
  readyForQuery,
]);

/** Feeds `bytes` cut at `cuts`; returns the data joined, how it ended and the bytes handed back. */
function parseCut(bytes: Buffer, cuts: readonly number[]) {
  const parser = new CopyOutParser();
  const data: Buffer[] = [];
  const bounds = [0, ...cuts, bytes.length];
  for (let k = 0; k + 1 < bounds.length; k++) {
    // A copy: the parser moves payloads within the piece it is given (as it may with a socket read).
    const piece = parser.parse(Buffer.from(bytes.subarray(bounds[k], bounds[k + 1])));
    data.push(piece.data);
    if (piece.ended) {
      return {
        data: Buffer.concat(data).toString(),
        ended: piece.ended,
        rest: Buffer.concat([piece.rest, bytes.subarray(bounds[k + 1])]),
      };
    }
  }
  return { data: Buffer.concat(data).toString(), ended: undefined, rest: Buffer.alloc(0) };
}

describe('CopyOutParser', () => {
  it('returns the CopyData payloads and hands back what follows CopyDone, wherever the socket cuts', () => {
    for (let first = 0; first <= stream.length; first++) {
      for (const second of [first, first + 1, first + 3, first + 7]) {
        const cuts = [first, Math.min(second, stream.length)];
        const result = parseCut(stream, cuts);
        expect({ cuts, ...result, rest: result.rest.toString('hex') }).toEqual({
          cuts,
          data: rows.join(''),
          ended: 'done',
          rest: Buffer.concat([commandComplete, readyForQuery]).toString('hex'),
        });
      }
    }
  });

  it('stops at an ErrorResponse and hands it back from its first byte, even when its header was cut', () => {
    const error = message('E', 'SERROR\0C57014\0Mcanceling statement\0\0');
    const failing = Buffer.concat([message('H', 'x'), message('d', rows[1] as string), error, readyForQuery]);
    const errorStart = failing.length - error.length - readyForQuery.length;
    for (let cut = 0; cut <= failing.length; cut++) {
      const result = parseCut(failing, [cut]);
      expect({ cut, ended: result.ended, rest: result.rest.toString('hex') }).toEqual({
        cut,
        ended: 'error',
        rest: failing.subarray(errorStart).toString('hex'),
      });
      expect(result.data).toBe(rows[1]);
    }
  });

  it('leaves the bytes after CopyDone in place in the piece it moved the payloads within', () => {
    const piece = Buffer.concat([message('d', 'ab'), message('d', 'cd'), message('c'), readyForQuery]);
    const result = new CopyOutParser().parse(piece);
    expect(result.data.toString()).toBe('abcd');
    expect(result.data.buffer).toBe(piece.buffer);
    expect(result.rest.equals(readyForQuery)).toBe(true);
  });

  it('refuses bytes after the COPY ended', () => {
    const parser = new CopyOutParser();
    parser.parse(message('c'));
    expect(() => parser.parse(message('d', 'x'))).toThrow('already ended');
  });
});
