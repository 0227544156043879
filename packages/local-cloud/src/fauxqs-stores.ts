import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { buildApp } from 'fauxqs';
import { CorruptStateError } from './corrupt-state-error.ts';

/** What fauxqs's `buildApp` takes as `stores`: its SQS, SNS and S3 stores. */
export type FauxqsStores = NonNullable<NonNullable<Parameters<typeof buildApp>[0]>['stores']>;

/**
 * fauxqs's stored multipart upload (`MultipartUpload` in its dist/s3/s3Types.d.ts, whose checksum
 * algorithms stop at CRC32 / SHA1 / SHA256; s3-checksums.ts gives every upload created without one
 * CRC64NVME).
 */
export interface StoredUpload {
  readonly uploadId: string;
  readonly bucket: string;
  readonly key: string;
  checksumAlgorithm?: string;
  readonly parts: Map<
    number,
    {
      readonly partNumber: number;
      readonly body: Buffer;
      /** Quoted, as UploadPart returned it. */
      readonly etag: string;
      readonly lastModified: Date;
      checksumValue?: string;
    }
  >;
}

/** The multipart uploads in progress in fauxqs's S3 store, by upload id (its own map, not a copy). */
export function storedUploads(store: FauxqsStores['s3Store']): Map<string, StoredUpload> {
  return (store as unknown as { multipartUploads: Map<string, StoredUpload> }).multipartUploads;
}

/** fauxqs's stores, loaded from and written through to a state directory. */
export interface PersistentFauxqsStores {
  readonly stores: FauxqsStores;
  /** Closes the SQLite database (after the server closed). */
  close(): void;
}

interface PersistenceManager {
  load(sqs: unknown, sns: unknown, s3: unknown): void;
  close(): void;
  updateMessageReady(messageId: string): void;
  readonly db: { prepare(sql: string): { run(...values: unknown[]): unknown }; exec(sql: string): void };
}

/**
 * fauxqs 2.4's `updateMessageReady` (a message made visible again by ChangeMessageVisibility with
 * timeout 0) writes NULL into `approximate_receive_count`, a NOT NULL column: the request fails with
 * a 500 after the message already left the in-flight set, so the SDK's retry gets
 * ReceiptHandleIsInvalid and the message stays invisible until restart. This keeps the count (and
 * the first-receive time), clearing only the in-flight fields, as SQS does.
 */
function keepReceiveCountWhenReady(persistence: PersistenceManager): void {
  const ready = persistence.db.prepare(
    'UPDATE sqs_messages SET receipt_handle = NULL, visibility_deadline = NULL WHERE message_id = ?',
  );
  persistence.updateMessageReady = (messageId) => {
    ready.run(messageId);
  };
}

/**
 * fauxqs's stores with its SQLite persistence (`<dataDir>/fauxqs.db`: queues, every message with
 * its receive state, buckets, objects), wired as fauxqs's own `startFauxqs({ dataDir })` wires them:
 * state is loaded before persistence is attached, then every change is written through.
 *
 * fauxqs 2.4 takes `dataDir` only in `startFauxqs`, which listens on 0.0.0.0 (see
 * aws-endpoint.ts), and its package exports only `buildApp`; so the stores and the persistence
 * manager are loaded from the files next to its entry point, which are the same modules `buildApp`
 * uses. A message in flight when the process died is in flight until its visibility deadline, then
 * ready again, as on SQS.
 */
export async function persistentFauxqsStores(dataDir: string): Promise<PersistentFauxqsStores> {
  const stores = await memoryFauxqsStores();
  const Persistence = await loadFauxqs<Constructor<PersistenceManager>>(
    'persistence.js',
    'PersistenceManager',
  );
  const file = join(dataDir, 'fauxqs.db');
  const persistence = openAsCorruptStateError(file, () => {
    createWithLargePages(file);
    return new Persistence(join(dataDir));
  });
  keepReceiveCountWhenReady(persistence);
  // fauxqs opens the database in WAL mode with SQLite's default synchronous=FULL: every write (a
  // send, a receive, a delete: three per message) waits for an fsync, on the one thread that
  // serves every SQS call (measured: ~5 s of a 2,000-mail burst's 16 s). NORMAL syncs at WAL
  // checkpoints only; in WAL mode that still survives a crash of this process, which is what a
  // local state directory needs (https://sqlite.org/pragma.html#pragma_synchronous).
  persistence.db.exec('PRAGMA synchronous = NORMAL');
  try {
    openAsCorruptStateError(file, () => persistence.load(stores.sqsStore, stores.snsStore, stores.s3Store));
  } catch (error) {
    persistence.close();
    throw error;
  }
  const writable = stores as unknown as {
    sqsStore: { persistence: unknown; allQueues(): Iterable<{ persistence: unknown }> };
    snsStore: { persistence: unknown };
    s3Store: { persistence: unknown };
  };
  writable.sqsStore.persistence = persistence;
  writable.snsStore.persistence = persistence;
  writable.s3Store.persistence = persistence;
  for (const queue of writable.sqsStore.allQueues()) queue.persistence = persistence;
  return { stores, close: () => persistence.close() };
}

/**
 * SQLite's result codes for a file that is not a database (SQLITE_NOTADB, 26) and for one whose
 * pages are damaged (SQLITE_CORRUPT, 11), as node:sqlite gives them in `errcode`
 * (https://sqlite.org/rescode.html).
 */
const DAMAGED_DATABASE: ReadonlyMap<number, string> = new Map([
  [26, 'not a SQLite database'],
  [11, 'a damaged SQLite database'],
]);

/**
 * Runs `open` (opening or reading `file`), turning SQLite's "file is not a database" and "database
 * disk image is malformed", which name no file, into {@link CorruptStateError} naming it.
 */
function openAsCorruptStateError<T>(file: string, open: () => T): T {
  try {
    return open();
  } catch (error) {
    const problem = DAMAGED_DATABASE.get((error as { errcode?: number }).errcode ?? 0);
    if (problem === undefined) throw error;
    throw new CorruptStateError(file, problem);
  }
}

/**
 * Objects are stored in fauxqs's SQLite database as blobs, which SQLite keeps in chains of overflow
 * pages: an 8 MiB export part is 2,048 pages of SQLite's default 4 KiB, each written to the WAL
 * with its own frame header and checksum, then copied into the database at each checkpoint.
 * Measured here (2 cores, node:sqlite, WAL, synchronous=NORMAL, 16 blobs of 8 MiB): 4 KiB pages
 * 162-164 MiB/s, 64 KiB pages (SQLite's largest) 196-247 MiB/s, plain files 260-320 MiB/s. A page
 * size is fixed when the database is created and cannot change in WAL mode
 * (https://sqlite.org/pragma.html#pragma_page_size), so a new state directory's database is created
 * here, empty, with 64 KiB pages and WAL, before fauxqs opens it; an existing one keeps its size.
 */
function createWithLargePages(file: string): void {
  if (existsSync(file)) return;
  mkdirSync(dirname(file), { recursive: true });
  const db = new DatabaseSync(file);
  try {
    db.exec('PRAGMA page_size = 65536');
    db.exec('PRAGMA journal_mode = WAL');
  } finally {
    db.close();
  }
}

type Constructor<T> = new (...args: unknown[]) => T;

/** A module of fauxqs's, loaded from the files next to its entry point (see {@link persistentFauxqsStores}). */
export async function loadFauxqs<T>(path: string, name: string): Promise<T> {
  const dist = new URL('.', import.meta.resolve('fauxqs'));
  return ((await import(new URL(path, dist).href)) as Record<string, T>)[name] as T;
}

/**
 * fauxqs's stores, in memory: what `buildApp` makes when given none, made here so the endpoint can
 * wrap the S3 store (see s3-checksums.ts).
 */
export async function memoryFauxqsStores(): Promise<FauxqsStores> {
  const SqsStore = await loadFauxqs<Constructor<FauxqsStores['sqsStore']>>('sqs/sqsStore.js', 'SqsStore');
  const SnsStore = await loadFauxqs<Constructor<FauxqsStores['snsStore']>>('sns/snsStore.js', 'SnsStore');
  const S3Store = await loadFauxqs<Constructor<FauxqsStores['s3Store']>>('s3/s3Store.js', 'S3Store');
  return { sqsStore: new SqsStore(), snsStore: new SnsStore(), s3Store: new S3Store() };
}
