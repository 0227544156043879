import { randomUUID } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { LocalCloudStartError } from './local-cloud-start-error.ts';

/**
 * The state directory cannot be created or written: a read-only mount (EROFS), no permission
 * (EACCES), a full disk (ENOSPC), a file where a directory should be (ENOTDIR, EEXIST). `code` is the
 * system's error code. Checked once at start: otherwise the first write fails later with a message
 * that names no path ("unable to open database file").
 */
export class StateDirNotWritableError extends LocalCloudStartError {
  override readonly name = 'StateDirNotWritableError';
  readonly stateDir: string;
  readonly code: string;
  constructor(stateDir: string, code: string, cause: unknown) {
    super(
      `state dir ${stateDir} is not writable (${code}): free space, fix its permissions, or pick --state-dir`,
      { cause },
    );
    this.stateDir = stateDir;
    this.code = code;
  }
}

/**
 * `mkdir -p` of `dir`, failing with the reason of the level that could not be made: Node's recursive
 * mkdir reports ENOENT when a read-only mount refuses a level, where that level's own mkdir says EROFS.
 */
async function makeDirectory(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    const levels: string[] = [];
    for (let level = dir; level !== dirname(level); level = dirname(level)) levels.unshift(level);
    for (const level of levels) {
      await mkdir(level).catch((refused: NodeJS.ErrnoException) => {
        if (refused.code !== 'EEXIST') throw refused;
      });
    }
    throw error;
  }
}

/**
 * Creates `stateDir` if needed and proves it writable by writing and removing a small probe file,
 * failing with {@link StateDirNotWritableError}. The probe has a content so that a full disk fails
 * here and not at the first queue write.
 */
export async function prepareStateDir(stateDir: string): Promise<void> {
  const probe = join(stateDir, `.write-probe-${randomUUID()}`);
  try {
    await makeDirectory(stateDir);
    await writeFile(probe, 'sidestep state dir write probe\n');
    await rm(probe, { force: true });
  } catch (error) {
    await rm(probe, { force: true }).catch(() => undefined);
    const { code } = error as NodeJS.ErrnoException;
    throw new StateDirNotWritableError(stateDir, code ?? 'unknown error', error);
  }
}
