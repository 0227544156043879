import { createHash, type Hash } from 'node:crypto';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { createGzip, type Gzip } from 'node:zlib';
import { CsvRowScanner } from '../domain/csv-row-scanner.ts';
import { ExportTooLargeError } from '../errors.ts';

/** One finished part: a complete gzip member holding whole CSV records. */
export interface CompletedPart {
  /** 1-based, in file order. */
  readonly number: number;
  /** The compressed bytes (what is stored). */
  readonly body: Buffer;
  /** `body.length`. */
  readonly bytes: number;
  /** Data records in the part (header lines not counted). */
  readonly rows: number;
  /** Uncompressed bytes in the part. */
  readonly csvBytes: number;
  /** Lowercase hex SHA-256 of `body`. */
  readonly sha256: string;
  /** Lowercase hex MD5 of `body` (a single-part PutObject's ETag). */
  readonly md5: string;
}

/** Options of {@link GzipPartWriter}. */
export interface GzipPartWriterOptions {
  /**
   * A part is cut at the first record end once its compressed size reaches this, so every part but
   * the last is at least this large. S3 copies a multipart part server-side (UploadPartCopy) only
   * from 5 MiB up, so production uses at least that; tests pass a few bytes to cross boundaries.
   */
  readonly partBytes: number;
  /** zlib level, 1 (fastest) to 9. */
  readonly gzipLevel: number;
  /** Records at the start of the stream that are not data (the CSV header): 1, or 0. */
  readonly headerRecords: number;
  /**
   * Uncompressed bytes between two checks of a part's compressed size. @default 65536 (tests pass
   * less, with tiny parts)
   */
  readonly sliceBytes?: number;
  /** Highest part number allowed. @default 10000 (S3's multipart limit, so the finalizer can combine them) */
  readonly maxParts?: number;
  /**
   * Stores a part. At most one call runs at a time, while the next part is being compressed; the
   * writer waits for it before handing over another, so memory holds at most two parts.
   */
  readonly writePart: (part: CompletedPart) => Promise<void>;
}

/** The part being filled. */
interface OpenPart {
  readonly number: number;
  readonly gzip: Gzip;
  readonly chunks: Buffer[];
  readonly sha256: Hash;
  readonly md5: Hash;
  compressedBytes: number;
  csvBytes: number;
  recordEnds: number;
  /** Compressed size reached `partBytes`: the part ends at the next record end. */
  full: boolean;
}

/**
 * The tail of the export pipeline: CSV bytes in (COPY's output, cut anywhere), gzip parts out. Each
 * part is its own gzip member holding whole records, so every part is a valid `.csv.gz` alone and
 * their concatenation is one valid gzip file (RFC 1952 §2.2: a file is a series of members) whose
 * content is the CSV unchanged. A part ends at the first record end after its compressed size
 * reached {@link GzipPartWriterOptions.partBytes}; {@link parts} then lists what was written.
 *
 * Memory: the part being compressed (up to `partBytes` plus a record and zlib's buffers) and the part
 * being stored. Backpressure reaches the database: `_write` waits for zlib and for the previous
 * part's store.
 */
export class GzipPartWriter extends Writable {
  readonly #options: GzipPartWriterOptions;
  readonly #maxParts: number;
  readonly #sliceBytes: number;
  readonly #scanner = new CsvRowScanner();
  readonly #completed: Omit<CompletedPart, 'body'>[] = [];
  #part: OpenPart | undefined;
  #nextNumber = 1;
  #headerRecordsLeft: number;
  /** The part being stored, if any. */
  #storing: Promise<void> | undefined;

  constructor(options: GzipPartWriterOptions) {
    // Bytes, not objects: the COPY stream's chunks are ~64 KiB network reads.
    super({ highWaterMark: 256 * 1024 });
    this.#options = options;
    this.#maxParts = options.maxParts ?? 10_000;
    this.#sliceBytes = options.sliceBytes ?? 64 * 1024;
    this.#headerRecordsLeft = options.headerRecords;
  }

  /** The parts stored so far, in order (complete once the stream has finished). */
  get parts(): readonly Omit<CompletedPart, 'body'>[] {
    return this.#completed;
  }

  /** Data records written so far. */
  get rows(): number {
    return this.#completed.reduce((sum, part) => sum + part.rows, 0) + this.#openRows();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#writeChunk(chunk).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    // An empty stream still makes one (empty) part: the manifest always names at least one.
    (async () => {
      this.#part ??= this.#openPart();
      await this.#closePart();
      await this.#storing;
    })().then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#part?.gzip.destroy();
    const settled = this.#storing?.then(
      () => {},
      () => {},
    );
    (settled ?? Promise.resolve()).then(() => callback(error));
  }

  async #writeChunk(chunk: Buffer): Promise<void> {
    const sliceBytes = this.#sliceBytes;
    let offset = 0;
    while (offset < chunk.length) {
      this.#part ??= this.#openPart();
      const part = this.#part;
      if (!part.full) {
        // Up to the next slice boundary of this part: the size check runs only there, on a prefix
        // zlib has wholly processed, so where parts are cut depends on the data alone, not on how
        // the network cut COPY's output or how far zlib's thread had got.
        const piece = chunk.subarray(offset, offset + sliceBytes - (part.csvBytes % sliceBytes));
        offset += piece.length;
        part.recordEnds += this.#scanner.countRecordEnds(piece);
        if ((part.csvBytes + piece.length) % sliceBytes === 0) {
          await this.#compressAll(part, piece);
          part.full = part.compressedBytes >= this.#options.partBytes;
        } else {
          await this.#compress(part, piece);
        }
        continue;
      }
      // Full: cut after the next record end (which may be in a later chunk).
      const end = this.#scanner.nextRecordEnd(chunk, offset);
      if (end === -1) {
        await this.#compress(part, chunk.subarray(offset));
        return;
      }
      part.recordEnds++;
      await this.#compress(part, chunk.subarray(offset, end));
      offset = end;
      await this.#closePart();
    }
  }

  #openPart(): OpenPart {
    const number = this.#nextNumber++;
    if (number > this.#maxParts) throw new ExportTooLargeError(this.#maxParts, this.#options.partBytes);
    const gzip = createGzip({ level: this.#options.gzipLevel });
    const part: OpenPart = {
      number,
      gzip,
      chunks: [],
      sha256: createHash('sha256'),
      md5: createHash('md5'),
      compressedBytes: 0,
      csvBytes: 0,
      recordEnds: 0,
      full: false,
    };
    gzip.on('data', (compressed: Buffer) => {
      part.chunks.push(compressed);
      part.sha256.update(compressed);
      part.md5.update(compressed);
      part.compressedBytes += compressed.length;
    });
    return part;
  }

  async #compress(part: OpenPart, bytes: Buffer): Promise<void> {
    part.csvBytes += bytes.length;
    if (!part.gzip.write(bytes)) await once(part.gzip, 'drain');
  }

  /**
   * Writes `bytes` and resolves once zlib has processed everything written so far and its output
   * was counted: a write's callback runs after zlib consumed the chunk; output that the readable side
   * buffered instead of emitting at once is emitted on a later tick, hence the setImmediate.
   */
  async #compressAll(part: OpenPart, bytes: Buffer): Promise<void> {
    part.csvBytes += bytes.length;
    await new Promise<void>((resolve, reject) => {
      part.gzip.write(bytes, (error) => (error ? reject(error) : resolve()));
    });
    await new Promise((resolve) => setImmediate(resolve));
  }

  #openRows(): number {
    const part = this.#part;
    return part ? Math.max(0, part.recordEnds - (part.number === 1 ? this.#headerRecordsLeft : 0)) : 0;
  }

  /** Ends the open part's gzip member and hands it to `writePart` once the previous one is stored. */
  async #closePart(): Promise<void> {
    const part = this.#part;
    if (!part) return;
    this.#part = undefined;
    part.gzip.end();
    await finished(part.gzip);
    const rows = part.recordEnds - (part.number === 1 ? this.#headerRecordsLeft : 0);
    const body = part.chunks.length === 1 ? (part.chunks[0] as Buffer) : Buffer.concat(part.chunks);
    const completed: CompletedPart = {
      number: part.number,
      body,
      bytes: body.length,
      rows: Math.max(0, rows),
      csvBytes: part.csvBytes,
      sha256: part.sha256.digest('hex'),
      md5: part.md5.digest('hex'),
    };
    part.chunks.length = 0;
    await this.#storing;
    // Destroyed (aborted, or the previous store failed) while waiting: store nothing more.
    if (this.destroyed) throw new Error('the export stream was destroyed');
    const { body: _body, ...summary } = completed;
    const storing = this.#options.writePart(completed).then(() => {
      this.#completed.push(summary);
    });
    this.#storing = storing;
    // A failed store surfaces at once (the pipeline stops reading), not only at the next part.
    storing.catch((error: unknown) => this.destroy(error as Error));
  }
}
