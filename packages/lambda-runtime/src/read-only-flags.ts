import { join, relative } from 'node:path';

/**
 * The directory of V8's compiled code an image ships in its task root (packages/bundle,
 * compile-cache.ts, names it too).
 */
export const COMPILE_CACHE_DIR = '.compile-cache';

/** The devices a process writes to by path (a logger's `/dev/stdout` destination, `/dev/null`). */
const WRITABLE_DEVICES = ['/dev/null', '/dev/stdout', '/dev/stderr'];

/**
 * Node's permission model in place of a read-only file system, for a Lambda sandbox and a local
 * Fargate task alike: writes outside `tmpDir` fail with ERR_ACCESS_DENIED (EROFS on Lambda, on
 * Fargate with `readonlyRootFilesystem`). Code that hard-codes /tmp may write there too, unless the
 * bundle itself lies under /tmp: the permission model has no deny list, and the bundle must never
 * be writable.
 *
 * One exception: the image's compile cache (`<bundleDir>/.compile-cache`). Under the permission model
 * Node skips a compile cache it may not write ("write permission ... is not granted"); Lambda has no
 * permission model, so there Node reads the shipped cache, and a write it tries fails on the read-only
 * file system, which Node ignores. Allowing writes there makes Node read it here as it does on Lambda
 * (the one place a local function could write in its task root, and create where there is none).
 */
export function readOnlyFlags(bundleDir: string, tmpDir: string): string[] {
  // The devices stay writable: Lambda's read-only file system is the image's files, not /dev.
  const writable = [tmpDir, join(bundleDir, COMPILE_CACHE_DIR), ...WRITABLE_DEVICES];
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
