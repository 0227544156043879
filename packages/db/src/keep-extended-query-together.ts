/**
 * Keeps one client's extended-protocol query (Parse, Bind, Describe, Execute ... Sync) together on
 * the embedded server, as a PostgreSQL backend does by having one session per client.
 *
 * @electric-sql/pglite-socket multiplexes every client onto PGlite's single session and runs each
 * wire message as its own step of a shared queue; it keeps a client exclusive only while PGlite
 * reports an open transaction. Between a client's Parse and its Sync no transaction is reported, so
 * another client's Parse can run in between and replace the session's one unnamed statement: the
 * first client's Bind then fails with "unnamed prepared statement does not exist" (seen when 20
 * imports and the status-updater's calls met on the embedded database). This wraps the queue's view
 * of PGlite so that a client whose last message opened an extended query counts as "in a
 * transaction" until its Sync (or a simple Query) ran: the queue then takes that client's next message
 * first, exactly as it does for a transaction. A client that goes away mid-sequence releases it.
 */
import type { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { DatabaseError } from './errors.ts';

/** Frontend message types (https://www.postgresql.org/docs/current/protocol-message-formats.html). */
const SYNC = 0x53; // 'S'
const QUERY = 0x51; // 'Q'
/** Parse, Bind, Describe, Execute, Close, Flush: the messages of an extended query before its Sync. */
const EXTENDED = new Set([0x50, 0x42, 0x44, 0x45, 0x43, 0x48]);

/**
 * Whether an extended query is still open after `message` (one or more whole frontend messages) ran,
 * given whether one was open before it.
 */
export function extendedQueryOpenAfter(message: Uint8Array, openBefore: boolean): boolean {
  let open = openBefore;
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  let offset = 0;
  while (offset + 5 <= message.byteLength) {
    const type = view.getUint8(offset);
    if (type === SYNC || type === QUERY) open = false;
    else if (EXTENDED.has(type)) open = true;
    offset += 1 + view.getUint32(offset + 1);
  }
  return open;
}

/** The parts of the socket server's query queue this relies on (@electric-sql/pglite-socket 0.2.17). */
interface QueueInternals {
  db: {
    isInTransaction(): boolean;
    execProtocolRawStream(message: Uint8Array, options: unknown): Promise<unknown>;
  };
  lastHandlerId: number | null;
  clearQueueForHandler(handlerId: number): void;
}

/** Applies the wrapper to `server`'s query queue. Call it before `server.start()`. */
export function keepExtendedQueryTogether(server: PGLiteSocketServer): void {
  const queue = (server as unknown as { queryQueue?: Partial<QueueInternals> }).queryQueue;
  const db = queue?.db;
  if (
    !queue ||
    typeof db?.isInTransaction !== 'function' ||
    typeof db.execProtocolRawStream !== 'function' ||
    typeof queue.clearQueueForHandler !== 'function'
  ) {
    throw new DatabaseError(
      'the installed @electric-sql/pglite-socket has no query queue to wrap; check keepExtendedQueryTogether against its code',
      { permanent: true },
    );
  }
  let open = false;
  queue.db = new Proxy(db, {
    get(target, property, receiver) {
      if (property === 'isInTransaction') return () => open || target.isInTransaction();
      if (property === 'execProtocolRawStream') {
        return async (message: Uint8Array, options: unknown) => {
          const answer = await target.execProtocolRawStream(message, options);
          open = extendedQueryOpenAfter(message, open);
          return answer;
        };
      }
      const value = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const clear = queue.clearQueueForHandler.bind(queue);
  queue.clearQueueForHandler = (handlerId: number) => {
    // The client whose query was open went away: nothing will send its Sync.
    if (handlerId === queue.lastHandlerId) open = false;
    clear(handlerId);
  };
}
