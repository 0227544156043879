import { closeSync, openSync, readSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';

/** A line of a file, with where its bytes are: a reader can come back for it with one `readSync`. */
export interface FileLine {
  readonly text: string;
  /** The offset of its first byte in the file. */
  readonly position: number;
  /** Its length in bytes, without the newline. */
  readonly bytes: number;
}

/**
 * The lines of `file` (none when it does not exist), read `chunkBytes` at a time and cut at each
 * newline byte before decoding (a newline byte is never part of a UTF-8 sequence, so a character
 * cut at a chunk's edge is put back together): a file the local cloud keeps (the executions, a log
 * group) can outgrow the longest string JavaScript holds (2^29 - 24 characters), which reading it
 * whole fails on. Each line comes with its byte offset, exact even where a damaged line is not
 * UTF-8. The last line is what follows the last newline (empty when the file ends with one).
 * Synchronous, for the executions' store, which opens before anything runs (Node's readline reads
 * a stream, asynchronously, gives no offsets, and no line reader among the workspace's dependencies
 * reads a file synchronously); what reads while the cloud serves uses {@link fileLinesAsync}.
 */
export function* fileLines(file: string, chunkBytes = 1024 * 1024): Generator<FileLine> {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  try {
    const chunk = Buffer.alloc(chunkBytes);
    /** The start of the line being read, cut off by the last chunk's end. */
    let pending: Buffer[] = [];
    let position = 0;
    const line = (parts: Buffer[]): FileLine => {
      const bytes = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
      const read = { text: bytes.toString('utf8'), position, bytes: bytes.length };
      position += bytes.length + 1;
      return read;
    };
    for (let read = readSync(fd, chunk); read > 0; read = readSync(fd, chunk)) {
      const filled = chunk.subarray(0, read);
      let start = 0;
      for (let end = filled.indexOf(10); end !== -1; end = filled.indexOf(10, end + 1)) {
        pending.push(filled.subarray(start, end));
        yield line(pending);
        pending = [];
        start = end + 1;
      }
      // The chunk's buffer is read into again: keep a copy of what is left of it.
      if (start < read) pending.push(Buffer.from(filled.subarray(start)));
    }
    yield line(pending);
  } finally {
    closeSync(fd);
  }
}

/**
 * The lines of `file` (none when it does not exist), read by Node's readline (`FileHandle.readLines`)
 * without holding the event loop: for what the running cloud reads on a request (a log group's file
 * for FilterLogEvents). Unlike {@link fileLines}, no empty last line stands for a final newline.
 */
export async function* fileLinesAsync(file: string): AsyncGenerator<string> {
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  try {
    yield* handle.readLines();
  } finally {
    // readLines closes the handle at its end; a consumer that stopped early leaves it open.
    await handle.close().catch(() => undefined);
  }
}
