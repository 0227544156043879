import type { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { describe, expect, it } from '@jest/globals';
import { extendedQueryOpenAfter, keepExtendedQueryTogether } from '../src/keep-extended-query-together.ts';

/** One frontend message: its type byte, then its length (itself included) and body. */
function message(type: string, body = new Uint8Array(0)): Uint8Array {
  const bytes = new Uint8Array(5 + body.length);
  bytes[0] = type.charCodeAt(0);
  new DataView(bytes.buffer).setUint32(1, 4 + body.length);
  bytes.set(body, 5);
  return bytes;
}
const concat = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((part) => [...part]));

const PARSE = message('P', new Uint8Array([0, 0x53, 0x45, 0x4c, 0, 0, 0]));
const BIND = message('B', new Uint8Array(8));
const EXECUTE = message('E', new Uint8Array(5));
const SYNC = message('S');
const QUERY = message('Q', new Uint8Array([0x53, 0]));

describe('extendedQueryOpenAfter', () => {
  it('opens with Parse, Bind, Describe, Execute, Close or Flush and closes with Sync or a simple Query', () => {
    expect(extendedQueryOpenAfter(PARSE, false)).toBe(true);
    expect(extendedQueryOpenAfter(BIND, true)).toBe(true);
    expect(extendedQueryOpenAfter(message('H'), false)).toBe(true);
    expect(extendedQueryOpenAfter(SYNC, true)).toBe(false);
    expect(extendedQueryOpenAfter(QUERY, true)).toBe(false);
    // CopyData/CopyDone (lowercase d, c) are not Describe/Close.
    expect(extendedQueryOpenAfter(message('d', new Uint8Array(3)), false)).toBe(false);
    expect(extendedQueryOpenAfter(message('c'), false)).toBe(false);
  });

  it('reads every message of a buffer, the last one deciding', () => {
    expect(extendedQueryOpenAfter(concat(PARSE, BIND, EXECUTE, SYNC), false)).toBe(false);
    expect(extendedQueryOpenAfter(concat(SYNC, PARSE, BIND), false)).toBe(true);
  });
});

describe('keepExtendedQueryTogether', () => {
  function fakeServer(inTransaction = false) {
    const cleared: number[] = [];
    const queue = {
      db: {
        isInTransaction: () => inTransaction,
        execProtocolRawStream: async (_message: Uint8Array, _options: unknown) => 0,
        other: 'kept',
      },
      lastHandlerId: 1 as number | null,
      clearQueueForHandler: (handlerId: number) => {
        cleared.push(handlerId);
      },
    };
    keepExtendedQueryTogether({ queryQueue: queue } as unknown as PGLiteSocketServer);
    return { queue, cleared };
  }

  it('holds the queue to one client from its Parse until its Sync, as the queue does for a transaction', async () => {
    const { queue } = fakeServer();
    expect(queue.db.isInTransaction()).toBe(false);
    await queue.db.execProtocolRawStream(PARSE, {});
    expect(queue.db.isInTransaction()).toBe(true);
    await queue.db.execProtocolRawStream(concat(BIND, EXECUTE), {});
    expect(queue.db.isInTransaction()).toBe(true);
    await queue.db.execProtocolRawStream(SYNC, {});
    expect(queue.db.isInTransaction()).toBe(false);
    expect(queue.db.other).toBe('kept');
  });

  it('releases the queue when the client whose query is open goes away, not when another one does', async () => {
    const { queue, cleared } = fakeServer();
    await queue.db.execProtocolRawStream(PARSE, {});
    queue.clearQueueForHandler(2);
    expect(queue.db.isInTransaction()).toBe(true);
    queue.clearQueueForHandler(1);
    expect(queue.db.isInTransaction()).toBe(false);
    expect(cleared).toEqual([2, 1]);
  });

  it("still reports PGlite's own open transaction", () => {
    expect(fakeServer(true).queue.db.isInTransaction()).toBe(true);
  });

  it('refuses a socket server without the queue it wraps', () => {
    expect(() => keepExtendedQueryTogether({} as unknown as PGLiteSocketServer)).toThrow(/query queue/);
  });
});
