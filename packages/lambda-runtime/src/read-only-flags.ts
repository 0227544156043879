import { relative } from 'node:path';

/**
 * Node's permission model in place of a read-only file system, for a Lambda sandbox and a local
 * Fargate task alike: writes outside `tmpDir` fail with ERR_ACCESS_DENIED (EROFS on Lambda, on
 * Fargate with `readonlyRootFilesystem`). Code that hard-codes /tmp may write there too, unless the
 * bundle itself lies under /tmp: the permission model has no deny list, and the bundle must never
 * be writable.
 */
export function readOnlyFlags(bundleDir: string, tmpDir: string): string[] {
  const writable = [tmpDir];
  if (relative('/tmp', bundleDir).startsWith('..')) writable.push('/tmp');
  return [
    '--permission',
    '--allow-fs-read=*',
    ...writable.map((path) => `--allow-fs-write=${path}`),
    // Child processes, workers, addons and WASI stay allowed, as they are on Lambda and Fargate.
    '--allow-child-process',
    '--allow-worker',
    '--allow-addons',
    '--allow-wasi',
    // Each --allow-* above prints a SecurityWarning on start; they are expected here.
    '--disable-warning=SecurityWarning',
  ];
}
