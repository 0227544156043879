import { closeSync, openSync, readSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';

/**
 * The lines of `file` (none when it does not exist), read `chunkBytes` at a time, UTF-8 decoded across
 * the chunks' edges: a file the local cloud keeps (the executions, a log group) can outgrow the
 * longest string JavaScript holds (2^29 - 24 characters), which reading it whole fails on. The last
 * line is what follows the last newline (empty when the file ends with one). Synchronous, for the
 * executions' store, which opens before anything runs (Node's readline reads a stream,
 * asynchronously, and no line reader among the workspace's dependencies reads a file synchronously);
 * what reads while the cloud serves uses {@link fileLinesAsync}.
 */
export function* fileLines(file: string, chunkBytes = 1024 * 1024): Generator<string> {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  try {
    const chunk = Buffer.alloc(chunkBytes);
    const decoder = new StringDecoder('utf8');
    let rest = '';
    for (let read = readSync(fd, chunk); read > 0; read = readSync(fd, chunk)) {
      const lines = (rest + decoder.write(chunk.subarray(0, read))).split('\n');
      rest = lines.pop() ?? '';
      yield* lines;
    }
    yield rest + decoder.end();
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
