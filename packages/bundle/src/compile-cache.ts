/**
 * V8's compiled code for a Lambda image's bundle, made once when the image is built and read by every
 * cold start: Node's module compile cache (https://nodejs.org/api/module.html#module-compile-cache),
 * shipped read-only in the task root.
 *
 * Node files a cache under `<directory>/<node version>-<arch>-<V8 cache tag>-<uid>`
 * (src/compile_cache.cc, `GetCacheVersionTag`), and V8's tag depends on flags such as the Lambda
 * bootstrap's `--expose-gc`. The image is built as root; Lambda runs the function as a sandbox user
 * whose uid the image cannot know. So the image ships the directory the build made, and a cold start
 * links `<tmpdir>/sidestep-compile-cache-<task root path>/<its own tag>-<its own uid>` to it (the one writable place is
 * the temp directory) before it imports the handler: {@link useShippedCompileCache}, called by the
 * bundle's `index.mjs`. A process of the user that built the image on the same machine (the local image
 * path) reads the shipped directory as is, with no link: Node's permission model, which the local
 * sandbox uses for Lambda's read-only file system, refuses every symlink (it needs write access
 * everywhere), where Lambda allows them in /tmp. {@link writeCompileCache} is what the Dockerfile's
 * `RUN` step runs.
 *
 * A cache made by another Node or for another architecture is not used: the cold start compiles as
 * without a cache and says why on stderr once. Within one Node and architecture V8 checks each entry
 * (its version, flag hash and source hash) and compiles what it rejects; Node then writes the entries
 * it compiled back through the link, which fails on Lambda's read-only file system (and would replace
 * the shipped entries where the task root is writable: a process importing an image's files outside a
 * sandbox runs with the bootstrap's flags, as the benchmark's do).
 */

// Node's builtins come from `process.getBuiltinModule`, not from `import` (why an ES import of a
// builtin costs what it does: REDIRECTED_BUILTINS in ./bundle-service.ts): this module is the loader
// every cold start runs before the handler, and node:fs's namespace runs its lazy properties
// (fs/promises with readline and the REPL's history, fs/dir). The ES imports of node:fs and node:v8
// cost the mail-dispatcher's import +8.4 ms of CPU (bench/HISTORY.md). node:v8 and node:os are taken
// only where a cache is read (so on Lambda, where the image ships one, node:v8 still loads).
const {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
} = process.getBuiltinModule('node:fs');
const { constants, enableCompileCache, flushCompileCache, getCompileCacheDir } =
  process.getBuiltinModule('node:module');
const { join } = process.getBuiltinModule('node:path');

/**
 * The directory of the shipped cache, in the task root (the local sandbox's read-only flags name it
 * too: packages/lambda-runtime/src/read-only-flags.ts).
 */
export const COMPILE_CACHE_DIR = '.compile-cache';

/** The bundle's files that are not the function's code: the loader and the cache writer. */
export const COMPILE_CACHE_LOADER = 'index.mjs';
export const COMPILE_CACHE_WRITER = 'compile-cache.mjs';

/**
 * This process's cache directory name without the uid: Node's `GetCacheVersionTag`, the V8 tag
 * as 8 lowercase hex digits (`Uint32ToHex`).
 */
export function compileCacheVersion(): string {
  // Only where there is a cache: node:v8 brings Node's heap-snapshot and promise-hook modules with it.
  const { cachedDataVersionTag } = process.getBuiltinModule('node:v8');
  return `${process.version}-${process.arch}-${cachedDataVersionTag().toString(16).padStart(8, '0')}`;
}

/** What {@link useShippedCompileCache} found. */
export type ShippedCompileCache =
  /** `directory`: where Node reads (the shipped directory, or a link to it); `shipped`: its name. */
  | { readonly status: 'enabled'; readonly directory: string; readonly shipped: string }
  /** The task root has no cache (a bundle run from `dist/`, as the local cloud does). */
  | { readonly status: 'none' }
  /** A cache made by another Node or for another architecture. */
  | { readonly status: 'other-version'; readonly shipped: readonly string[]; readonly wanted: string }
  | { readonly status: 'failed'; readonly reason: string };

/**
 * Has the modules this process imports from now on read their compiled code from the cache shipped
 * in `taskRoot` ({@link COMPILE_CACHE_DIR}), when one was made by this Node on this architecture. Never
 * throws: without the cache a cold start compiles, as it would without this. A cache of another Node
 * or architecture, or one Node cannot enable, is reported once on stderr (the function's log); one
 * whose V8 tag differs is linked silently and V8 decides, entry by entry (Node's own report,
 * `NODE_DEBUG_NATIVE=COMPILE_CACHE`, shows what it refused).
 */
export function useShippedCompileCache(taskRoot: string): ShippedCompileCache {
  const outcome = findAndEnable(taskRoot);
  if (outcome.status === 'other-version' || outcome.status === 'failed') {
    const why =
      outcome.status === 'failed'
        ? outcome.reason
        : `it was made for ${outcome.shipped.join(', ') || 'nothing'}, this process is ${outcome.wanted}`;
    process.stderr.write(`sidestep: the image's compile cache is not used: ${why}\n`);
  }
  return outcome;
}

function findAndEnable(taskRoot: string): ShippedCompileCache {
  const shippedRoot = join(taskRoot, COMPILE_CACHE_DIR);
  try {
    // One read tells whether there is a cache, and what it holds (a cold start's path).
    const shipped = readdirSync(shippedRoot).sort();
    const wanted = compileCacheVersion();
    const uid = process.getuid?.();
    const own = uid === undefined ? wanted : `${wanted}-${uid}`;
    // Built by this very user with these flags on this CPU (a local image path): Node finds it as is.
    if (shipped.includes(own)) return enable(shippedRoot, join(shippedRoot, own), own);
    // V8's tag also hashes the CPU features V8 detected (v8 src/api/api.cc,
    // `ScriptCompiler::CachedDataVersionTag`: version, flag and CPU-feature hashes), and an arm64
    // image is built under QEMU while Lambda runs it on Graviton: a cache of the same Node and
    // architecture is linked even when the tag differs, without a word (on Lambda that is every cold
    // start), and V8 checks each entry itself (its version, flags and source hash; an entry it rejects
    // is compiled as without a cache).
    const sameNode = `${process.version}-${process.arch}-`;
    const match =
      shipped.find((name) => name === wanted || name.startsWith(`${wanted}-`)) ??
      shipped.find((name) => name.startsWith(sameNode));
    if (match === undefined) return { status: 'other-version', shipped, wanted };
    // One directory per task root (a temp directory several bundles share, as a laptop's, must not
    // point one at another's cache), for this user only.
    // Named after the task root's path (`/var/task`: `sidestep-compile-cache-_var_task`; no hash, whose
    // module, node:zlib, a cold start would load for this alone).
    const directory = join(
      process.getBuiltinModule('node:os').tmpdir(),
      `sidestep-compile-cache-${taskRoot.replaceAll(/[^A-Za-z0-9]/g, '_')}`,
    );
    const link = join(directory, own);
    const target = join(shippedRoot, match);
    mkdirSync(directory, { recursive: true, mode: 0o700 });
    // Compiled code is code: a directory another user made, or may write, is not used.
    const owner = lstatSync(directory);
    if (!owner.isDirectory() || (uid !== undefined && owner.uid !== uid) || (owner.mode & 0o022) !== 0) {
      return { status: 'failed', reason: `${directory} is not this user's alone` };
    }
    // A process that ran before in the same temp directory (on Lambda, the same sandbox after a crash)
    // left the link. Another is replaced atomically: a new link renamed over it, so that two processes
    // starting at once each see one link or the other, never none. Anything else there is removed.
    const found = linkTarget(link);
    if (found !== target) {
      // Not a link (readlink's EINVAL): a directory left there, which a rename cannot replace.
      if (found === EINVAL) rmSync(link, { recursive: true, force: true });
      const fresh = `${link}.${process.pid}`;
      rmSync(fresh, { force: true });
      symlinkSync(target, fresh, 'dir');
      try {
        renameSync(fresh, link);
      } catch (error) {
        rmSync(fresh, { force: true });
        throw error;
      }
    }
    return enable(directory, link, match);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && !existsSync(shippedRoot))
      return { status: 'none' };
    return { status: 'failed', reason: (error as Error).message };
  }
}

/** readlink's answer for something at a path that is not a symlink. */
const EINVAL = Symbol('not a symlink');

/** Where the symlink `path` points; undefined when nothing is there, {@link EINVAL} when it is not a link. */
function linkTarget(path: string): string | typeof EINVAL | undefined {
  try {
    return readlinkSync(path);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EINVAL' ? EINVAL : undefined;
  }
}

function enable(directory: string, read: string, shipped: string): ShippedCompileCache {
  const result = enableCompileCache(directory);
  if (result.status === constants.compileCacheStatus.FAILED) {
    return { status: 'failed', reason: result.message ?? 'enableCompileCache failed' };
  }
  if (result.status === constants.compileCacheStatus.ALREADY_ENABLED) {
    return { status: 'failed', reason: `Node's compile cache is already on, in ${result.directory}` };
  }
  return { status: 'enabled', directory: read, shipped };
}

/** What {@link writeCompileCache} made. */
export interface WrittenCompileCache {
  /** The directory Node wrote, `<taskRoot>/.compile-cache/<version>-<uid>`. */
  readonly directory: string;
  /** Cache entries in it: one per module compiled (the bundle's, and the two of the import that compiles them). */
  readonly entries: number;
  /** The bundle's modules compiled. */
  readonly modules: number;
}

/** The cache could not be written: the image build stops rather than ship without it unnoticed. */
export class CompileCacheWriteError extends Error {
  override readonly name = 'CompileCacheWriteError';
  readonly taskRoot: string;
  readonly reason: string;
  constructor(taskRoot: string, reason: string) {
    super(`no compile cache written in ${taskRoot}/${COMPILE_CACHE_DIR}: ${reason}`);
    this.taskRoot = taskRoot;
    this.reason = reason;
  }
}

/** What the first import of {@link writeCompileCache}'s module throws, so that nothing after it runs. */
const COMPILED_NOT_RUN = 'sidestep: compiled, not run';

/**
 * Compiles every module of the bundle in `taskRoot` (the handler and all its chunks, so the chunks a
 * first invocation imports lazily are cached too) into `<taskRoot>/.compile-cache`, with Node's
 * compile cache on, without running any of it: one module (a `data:` URL) imports first a module
 * that throws, then every module of the bundle. ES modules are all compiled when the graph is linked,
 * before any is evaluated, and evaluation stops at the first that throws, so no code of the function
 * runs at build time (no configuration read, no client made); Node caches each module as it compiles
 * it. The two `data:` modules get entries of their own, which nothing reads. A module that cannot be
 * linked (a missing export, a syntax error) fails the step. Run by the image build in the base image's
 * own `node` with the Lambda bootstrap's V8 flags (the Dockerfile's
 * `RUN node --expose-gc .../compile-cache.mjs`), so that the cache is for the Node and the flags that
 * run the function.
 */
export async function writeCompileCache(taskRoot: string): Promise<WrittenCompileCache> {
  const result = enableCompileCache(join(taskRoot, COMPILE_CACHE_DIR));
  if (result.status !== constants.compileCacheStatus.ENABLED || result.directory === undefined) {
    throw new CompileCacheWriteError(taskRoot, result.message ?? `status ${result.status}`);
  }
  const modules = readdirSync(taskRoot)
    .filter((file) => file.endsWith('.mjs') && file !== COMPILE_CACHE_LOADER && file !== COMPILE_CACHE_WRITER)
    .sort();
  const { pathToFileURL } = process.getBuiltinModule('node:url');
  const source = [
    `import ${JSON.stringify(`data:text/javascript,throw new Error(${JSON.stringify(COMPILED_NOT_RUN)})`)};`,
    ...modules.map((file) => `import ${JSON.stringify(pathToFileURL(join(taskRoot, file)).href)};`),
  ].join('\n');
  try {
    await import(`data:text/javascript,${encodeURIComponent(source)}`);
  } catch (error) {
    if ((error as Error).message !== COMPILED_NOT_RUN) {
      throw new CompileCacheWriteError(taskRoot, `the bundle did not link: ${(error as Error).message}`);
    }
  }
  flushCompileCache();
  // Node files the entries in a directory of this Node's version, V8 tag and uid under the one given
  // (made when the cache was enabled, which the status above says it is).
  const directory = getCompileCacheDir() as string;
  const files = readdirSync(directory);
  // The bundle's modules and the two `data:` modules that compiled them.
  if (files.length < modules.length + 2) {
    throw new CompileCacheWriteError(
      taskRoot,
      `Node wrote ${files.length} entries for ${modules.length} modules`,
    );
  }
  // Node writes each entry readable by its writer only (0600), and the image is built as root while
  // Lambda runs the function as a sandbox user: readable by everyone, or no cold start could read it.
  for (const path of [result.directory, directory]) chmodSync(path, 0o755);
  for (const file of files) chmodSync(join(directory, file), 0o444);
  return { directory, entries: files.length, modules: modules.length };
}

/**
 * The image build's step (`compile-cache.mjs`): {@link writeCompileCache} and one line on what it
 * wrote. A cache that could not be written fails the step, and with it the build.
 */
export async function runCompileCacheWriter(taskRoot: string): Promise<void> {
  try {
    const written = await writeCompileCache(taskRoot);
    process.stdout.write(
      `compile cache: ${written.modules} modules compiled, not run: ${written.entries} entries in ${written.directory}\n`,
    );
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}
