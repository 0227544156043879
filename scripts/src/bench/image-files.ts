import { statSync } from 'node:fs';
import { join } from 'node:path';
import { type StagedTaskRoot, stageTaskRoot } from '@sidestep/lambda-runtime';

/** A Lambda image's task root rebuilt from its Dockerfile: the exact files, and its `ENV` lines. */
export interface ImageTaskRoot extends StagedTaskRoot {
  /** Bytes of the copied JavaScript (`.mjs`), source maps left out. */
  readonly javascriptBytes: number;
}

/**
 * The image path of a cold start, without Docker: what `packageDir`'s Dockerfile copies into
 * ${LAMBDA_TASK_ROOT} and what its `RUN` steps make there (the compile cache), read-only, with the
 * image's `ENV` variables (@sidestep/lambda-runtime's `stageTaskRoot`, which the image tests stage with).
 */
export function imageTaskRoot(packageDir: string): ImageTaskRoot {
  const root = stageTaskRoot(packageDir);
  const javascriptBytes = root.files
    .filter((file) => file.endsWith('.mjs'))
    .reduce((sum, file) => sum + statSync(join(root.dir, file.split('/').at(-1) as string)).size, 0);
  return { ...root, javascriptBytes };
}
