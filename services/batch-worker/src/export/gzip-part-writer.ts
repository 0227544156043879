import { once } from 'node:events';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { crc32, createGzip, type Gzip, type ZlibOptions } from 'node:zlib';
import { Crc64NvmeHash } from '@sidestep/contracts/crc64-nvme-hash';
import { CsvCellScanner, FORMULA_ESCAPE, quotedFirstCell } from '../domain/csv-cell-scanner.ts';
import { ExportTooLargeError } from '../errors.ts';

/** One finished part: a complete gzip member holding whole CSV records. */
export interface CompletedPart {
  /** 1-based, in file order. */
  readonly number: number;
  /**
   * The compressed bytes (what is stored). Valid until `writePart`'s promise settles: its memory is
   * then reused for a later part (copy it to keep it).
   */
  readonly body: Buffer;
  /** `body.length`. */
  readonly bytes: number;
  /** Data records in the part (header lines not counted). */
  readonly rows: number;
  /** Uncompressed bytes in the part. */
  readonly csvBytes: number;
  /**
   * The bytes of COPY's output in the part (before the formula escapes and the prefix), and their
   * CRC-32: the parts' together are what a COPY of the same rows gives, which is how a resumed export
   * checks that the rows it keeps are still what the table holds. CRC-32 by zlib's native code (Node's
   * `zlib.crc32`), not CRC-64/NVME: it runs over every byte COPY sends (~170 MiB at 1M rows), where
   * the WebAssembly CRC-64 took ~125 ms of the main thread's CPU a million rows and this takes ~35; it
   * is compared with the byte count and the row count, to notice a change, not to authenticate.
   */
  readonly copyBytes: number;
  readonly copyCrc32: number;
  /** Base64 CRC-64/NVME of `body` (S3's checksum; the object's is combined from the parts'). */
  readonly crc64nvme: string;
  /**
   * The first cell of the part's last data record (the export's keyset position: `external_id`), or
   * `undefined` when the part holds no data record.
   */
  readonly lastKey: string | undefined;
}

/** Options of {@link GzipPartWriter}. */
export interface GzipPartWriterOptions {
  /**
   * A part is cut at the first record end once its compressed size reaches this, so every part but
   * the last is at least this large. S3 takes parts of a multipart upload but the last only from
   * 5 MiB up, so production uses at least that; tests pass a few bytes to cross boundaries.
   */
  readonly partBytes: number;
  /** zlib level, 1 (fastest) to 9. */
  readonly gzipLevel: number;
  /** Records at the start of the stream that are not data (the CSV header): 1, or 0. */
  readonly headerRecords: number;
  /** The number of the first part written (a resumed export continues after its stored parts). @default 1 */
  readonly firstPartNumber?: number;
  /** Bytes compressed at the very start of the first part, before the stream's (the UTF-8 byte order mark). */
  readonly prefix?: Buffer;
  /**
   * The granularity of a part's size checks, in bytes of COPY's output. @default 65536 (tests pass
   * less, with tiny parts)
   */
  readonly sliceBytes?: number;
  /** Highest part number allowed. @default 10000 (S3's multipart limit, so the finalizer can combine them) */
  readonly maxParts?: number;
  /**
   * Stores a part. At most one call runs at a time, while the next part is being compressed; the
   * writer waits for it before handing over another, so memory holds at most two parts. The part's
   * `body` is reused once the returned promise settles.
   */
  readonly writePart: (part: CompletedPart) => Promise<void>;
}

/** OWASP's formula escape, inserted inside a cell's quotes before its first character. */
const ESCAPE = Buffer.from(FORMULA_ESCAPE);

/**
 * Bytes per write to zlib: COPY's output (with the escapes inserted) is copied into buffers of this
 * size, reused once zlib has consumed them. Few writes (each is a round trip to zlib's thread) and no
 * new buffer per network read: allocating one per read (the escapes' copy) made the external memory
 * grow fast enough for V8 to run a full garbage collection every few MiB of input.
 */
const STAGE_BYTES = 256 * 1024;

/**
 * Bytes queued for zlib before a write waits: a few stages, so the next network read is scanned
 * while zlib's thread compresses the previous ones.
 */
const ZLIB_QUEUE_BYTES = 4 * STAGE_BYTES;

/** The part being filled. */
interface OpenPart {
  readonly number: number;
  readonly gzip: Gzip;
  /** The compressed bytes so far are `body[0..compressedBytes]`. */
  body: Buffer;
  /** The stage being filled (see {@link STAGE_BYTES}) and the bytes in it. */
  stage: Buffer | undefined;
  staged: number;
  /** Settles once zlib has consumed the last write. */
  lastWrite: Promise<void>;
  readonly crc64: Crc64NvmeHash;
  compressedBytes: number;
  /** COPY's bytes taken into the part, and their CRC-32. */
  sourceBytes: number;
  sourceCrc32: number;
  /** Bytes compressed into the part: COPY's plus the formula escapes inserted. */
  csvBytes: number;
  recordEnds: number;
  /** COPY bytes into the part at which its compressed size is checked next. */
  nextCheck: number;
  /** Compressed size reached `partBytes`: the part ends at the next record end. */
  full: boolean;
  /** The first bytes of the record still open, and of the last record that ended (for {@link quotedFirstCell}). */
  openRecordHead: Buffer;
  lastRecordHead: Buffer;
}

/** How much of a record's start is kept to read its first cell: a 256-character id, quotes doubled, fits. */
const RECORD_HEAD_BYTES = 4096;

/**
 * The tail of the export pipeline: CSV bytes in (COPY's output with `FORCE_QUOTE *`, cut anywhere),
 * formula cells escaped ({@link CsvCellScanner}), gzip parts out. Each
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
  readonly #scanner = new CsvCellScanner();
  readonly #completed: Omit<CompletedPart, 'body'>[] = [];
  #part: OpenPart | undefined;
  #nextNumber = 1;
  #closedRows = 0;
  #headerRecordsLeft: number;
  /** The part being stored, if any. */
  #storing: Promise<void> | undefined;
  /** Stages zlib has consumed, for reuse. */
  readonly #freeStages: Buffer[] = [];
  /**
   * Part bodies stored, for reuse. A part's body is one buffer the compressed output is copied into,
   * not a list of zlib's output chunks joined at the end: the join held each part twice, and every
   * part left a large buffer behind that only a full garbage collection frees (RSS grew with the
   * parts). Two are in use at most: one filling, one storing.
   */
  readonly #freeBodies: Buffer[] = [];

  constructor(options: GzipPartWriterOptions) {
    // Bytes, not objects: the COPY stream's chunks are ~64 KiB network reads.
    super({ highWaterMark: 256 * 1024 });
    this.#options = options;
    this.#maxParts = options.maxParts ?? 10_000;
    this.#sliceBytes = options.sliceBytes ?? 64 * 1024;
    this.#headerRecordsLeft = options.headerRecords;
    this.#nextNumber = options.firstPartNumber ?? 1;
  }

  /** The parts stored so far, in order (complete once the stream has finished). */
  get parts(): readonly Omit<CompletedPart, 'body'>[] {
    return this.#completed;
  }

  /** Data records written so far (in parts closed, stored or not, and the open one). */
  get rows(): number {
    return this.#closedRows + this.#openRows();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#writeChunk(chunk).then(() => callback(), callback);
  }

  /**
   * The chunks that arrived while the previous ones were being compressed, in one call. They are not
   * joined into a new buffer: zlib is written in stages ({@link STAGE_BYTES}) whatever the chunks.
   */
  override _writev(
    chunks: { chunk: Buffer; encoding: BufferEncoding }[],
    callback: (error?: Error | null) => void,
  ): void {
    (async () => {
      for (const { chunk } of chunks) await this.#writeChunk(chunk);
    })().then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    // An empty stream still makes one (empty) part: the manifest always names at least one. A stream
    // that continues earlier parts (a resumed export) and brings nothing adds none.
    (async () => {
      if (this.#nextNumber === 1) this.#part ??= this.#openPart();
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
    let offset = 0;
    while (offset < chunk.length) {
      this.#part ??= this.#openPart();
      const part = this.#part;
      if (!part.full) {
        // Up to the part's next size check. The check runs on a prefix zlib has wholly processed, at
        // an offset that depends on the data alone, so where parts are cut depends on the data, not on
        // how the network cut COPY's output or how far zlib's thread had got.
        const piece = chunk.subarray(offset, offset + part.nextCheck - part.sourceBytes);
        offset += piece.length;
        part.sourceBytes += piece.length;
        part.sourceCrc32 = crc32(piece, part.sourceCrc32);
        const scan = this.#scanner.scan(piece);
        part.recordEnds += scan.recordEnds;
        keepRecordHeads(part, piece, scan);
        const check = part.sourceBytes === part.nextCheck;
        await this.#compress(part, piece, scan.escapes, check);
        if (check) {
          part.full = part.compressedBytes >= this.#options.partBytes;
          part.nextCheck = this.#nextCheck(part);
        }
        continue;
      }
      // Full: cut after the next record end (which may be in a later chunk).
      const scan = this.#scanner.scan(chunk, offset, true);
      const piece = chunk.subarray(offset, scan.end);
      part.sourceBytes += piece.length;
      part.sourceCrc32 = crc32(piece, part.sourceCrc32);
      part.recordEnds += scan.recordEnds;
      keepRecordHeads(part, piece, {
        ...scan,
        lastEndedRecordStart: scan.lastEndedRecordStart < 0 ? -1 : scan.lastEndedRecordStart - offset,
        openRecordStart: scan.openRecordStart < 0 ? -1 : scan.openRecordStart - offset,
      });
      await this.#compress(
        part,
        piece,
        scan.escapes.map((index) => index - offset),
        false,
      );
      offset = scan.end;
      if (scan.recordEnds > 0) await this.#closePart();
    }
  }

  #openPart(): OpenPart {
    const number = this.#nextNumber++;
    if (number > this.#maxParts) throw new ExportTooLargeError(this.#maxParts, this.#options.partBytes);
    // Larger output buffers than zlib's 16 KiB default: fewer round trips to zlib's thread.
    // zlib's streams take the Transform options too (node:zlib passes them on); ZlibOptions omits them.
    const options: ZlibOptions & { writableHighWaterMark: number } = {
      level: this.#options.gzipLevel,
      chunkSize: 128 * 1024,
      writableHighWaterMark: ZLIB_QUEUE_BYTES,
    };
    const gzip = createGzip(options);
    const part: OpenPart = {
      number,
      gzip,
      body: this.#freeBodies.pop() ?? Buffer.allocUnsafeSlow(this.#bodyCapacity(0)),
      stage: undefined,
      staged: 0,
      lastWrite: Promise.resolve(),
      crc64: new Crc64NvmeHash(),
      compressedBytes: 0,
      sourceBytes: 0,
      sourceCrc32: 0,
      csvBytes: 0,
      recordEnds: 0,
      full: false,
      nextCheck: 0,
      openRecordHead: Buffer.alloc(0),
      lastRecordHead: Buffer.alloc(0),
    };
    part.nextCheck = this.#nextCheck(part);
    gzip.on('data', (compressed: Buffer) => {
      if (part.compressedBytes + compressed.length > part.body.length) {
        // Rare: a part that compresses worse than its start (see #nextCheck) outgrows its buffer.
        const grown = Buffer.allocUnsafeSlow(
          Math.max(2 * part.body.length, this.#bodyCapacity(part.compressedBytes + compressed.length)),
        );
        part.body.copy(grown, 0, 0, part.compressedBytes);
        part.body = grown;
      }
      compressed.copy(part.body, part.compressedBytes);
      part.crc64.update(compressed);
      part.compressedBytes += compressed.length;
    });
    // The prefix goes before everything else of the file; it is not part of COPY's output, so it is
    // not scanned and moves no part boundary (a data-determined offset).
    const { prefix } = this.#options;
    if (number === 1 && prefix && prefix.length > 0) {
      this.#stage(part, prefix, 0, prefix.length);
      part.csvBytes += prefix.length;
    }
    return part;
  }

  /**
   * Where to check a part's compressed size next: waiting for zlib to settle stalls the pipeline, so
   * not every slice. Compressed output cannot much exceed its input, so the first check is once the
   * input reaches `partBytes`; then where the ratio so far says the part will be full (or twice as
   * far when zlib has emitted nothing yet), but never more than `partBytes` of input later, so a part
   * whose data compresses worse than its start still ends below ~2x `partBytes` (memory holds a
   * part). Rounded up to whole slices. Every number here comes from the data, so the checks, and the
   * cuts, fall at the same offsets on every run.
   */
  #nextCheck(part: OpenPart): number {
    const slice = this.#sliceBytes;
    const { partBytes } = this.#options;
    const estimate =
      part.sourceBytes === 0
        ? partBytes
        : part.compressedBytes === 0
          ? part.sourceBytes * 2
          : Math.ceil((part.sourceBytes * partBytes) / part.compressedBytes);
    const bounded = Math.min(estimate, part.sourceBytes + partBytes);
    return Math.max(part.sourceBytes + slice, Math.ceil(bounded / slice) * slice);
  }

  /**
   * Compresses `bytes` with a `'` inserted before each index in `escapes` (OWASP's formula escape),
   * through the part's stage. With `settle`, resolves only once zlib has processed everything written
   * so far and its output was counted: a write's callback runs after zlib consumed the chunk; output
   * the readable side buffered instead of emitting at once is emitted on a later tick, hence the
   * setImmediate.
   */
  async #compress(part: OpenPart, bytes: Buffer, escapes: readonly number[], settle: boolean): Promise<void> {
    let from = 0;
    for (const index of escapes) {
      await this.#stageAndFlush(part, bytes, from, index);
      await this.#stageAndFlush(part, ESCAPE, 0, ESCAPE.length);
      from = index;
    }
    await this.#stageAndFlush(part, bytes, from, bytes.length);
    part.csvBytes += bytes.length + escapes.length;
    if (settle) {
      await this.#flush(part);
      await part.lastWrite;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Copies `source[start..end]` into the part's stage, writing each stage to zlib as it fills. */
  async #stageAndFlush(part: OpenPart, source: Buffer, start: number, end: number): Promise<void> {
    let at = this.#stage(part, source, start, end);
    while (at < end) {
      await this.#flush(part);
      at = this.#stage(part, source, at, end);
    }
  }

  /** Copies as much of `source[start..end]` as the stage holds; returns where it stopped. */
  #stage(part: OpenPart, source: Buffer, start: number, end: number): number {
    part.stage ??= this.#freeStages.pop() ?? Buffer.allocUnsafeSlow(STAGE_BYTES);
    const copied = source.copy(part.stage, part.staged, start, end);
    part.staged += copied;
    return start + copied;
  }

  /** Writes the stage to zlib (it returns to the free stages once consumed); waits while zlib's queue is full. */
  async #flush(part: OpenPart): Promise<void> {
    const stage = part.stage;
    if (!stage || part.staged === 0) return;
    const data = stage.subarray(0, part.staged);
    part.stage = undefined;
    part.staged = 0;
    let queued = true;
    part.lastWrite = new Promise<void>((resolve, reject) => {
      queued = part.gzip.write(data, (error) => {
        if (error) {
          reject(error);
          return;
        }
        this.#freeStages.push(stage);
        resolve();
      });
    });
    // A failed write also fails the stream (its 'error' reaches the pipeline); not handled twice.
    part.lastWrite.catch(() => {});
    if (!queued) await once(part.gzip, 'drain');
  }

  /**
   * A body buffer for `bytes` compressed bytes: a part's usual size and some, so it seldom grows. A
   * part is found full only at a size check, up to a slice of input after it reached `partBytes` (and
   * zlib holds back some output until a block ends, so the check sees less than it will emit): the
   * margin is at least two slices, or parts smaller than a few slices would grow every time.
   */
  #bodyCapacity(bytes: number): number {
    const { partBytes } = this.#options;
    return Math.max(bytes, partBytes) + Math.max(Math.ceil(partBytes / 4), 2 * this.#sliceBytes);
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
    await this.#flush(part);
    part.gzip.end();
    await finished(part.gzip);
    const rows = part.recordEnds - (part.number === 1 ? this.#headerRecordsLeft : 0);
    this.#closedRows += Math.max(0, rows);
    // The previous part's store first: its body is released before this one's is joined, so memory
    // holds at most two parts (this one's output and its body, or a body storing while the next part
    // fills), never three.
    await this.#storing;
    // Destroyed (aborted, or the previous store failed) while waiting: store nothing more.
    if (this.destroyed) throw new Error('the export stream was destroyed');
    const body = part.body.subarray(0, part.compressedBytes);
    const completed: CompletedPart = {
      number: part.number,
      body,
      bytes: body.length,
      rows: Math.max(0, rows),
      csvBytes: part.csvBytes,
      copyBytes: part.sourceBytes,
      copyCrc32: part.sourceCrc32,
      crc64nvme: part.crc64.digest(),
      lastKey: rows > 0 ? quotedFirstCell(part.lastRecordHead) : undefined,
    };
    const { body: _body, ...summary } = completed;
    const reuse = () => {
      this.#freeBodies.push(part.body);
    };
    const storing = this.#options.writePart(completed).then(() => {
      this.#completed.push(summary);
    });
    storing.then(reuse, reuse);
    this.#storing = storing;
    // A failed store surfaces at once (the pipeline stops reading), not only at the next part.
    storing.catch((error: unknown) => this.destroy(error as Error));
  }
}

/**
 * Keeps the first bytes of the record still open and of the last one that ended, from a scan of
 * `piece` (the scan's indexes relative to `piece`): at most {@link RECORD_HEAD_BYTES} each, as views
 * of the piece (no copy per network read; they hold at most the last two reads), joined only for a
 * record that spans reads.
 */
function keepRecordHeads(
  part: OpenPart,
  piece: Buffer,
  scan: {
    readonly recordEnds: number;
    readonly lastEndedRecordStart: number;
    readonly openRecordStart: number;
  },
): void {
  // No closures here: the bundle keeps function names (esbuild's keepNames), which costs a
  // defineProperty per closure made, and this runs for every slice of COPY's output.
  if (scan.recordEnds === 0) {
    part.openRecordHead = extendedHead(part.openRecordHead, piece);
    return;
  }
  part.lastRecordHead =
    scan.lastEndedRecordStart < 0
      ? extendedHead(part.openRecordHead, piece)
      : piece.subarray(scan.lastEndedRecordStart, scan.lastEndedRecordStart + RECORD_HEAD_BYTES);
  part.openRecordHead =
    scan.openRecordStart < 0
      ? EMPTY
      : piece.subarray(scan.openRecordStart, scan.openRecordStart + RECORD_HEAD_BYTES);
}

const EMPTY = Buffer.alloc(0);

/** A record's head so far (`head`) continued with the start of `piece`, up to {@link RECORD_HEAD_BYTES}. */
function extendedHead(head: Buffer, piece: Buffer): Buffer {
  return head.length >= RECORD_HEAD_BYTES
    ? head
    : Buffer.concat([head, piece.subarray(0, RECORD_HEAD_BYTES - head.length)]);
}
