import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { cachedDataVersionTag } from 'node:v8';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { lambdaSandboxUser } from '@sidestep/lambda-runtime/testing';
import {
  type BundleResult,
  bundleService,
  COMPILE_CACHE_DIR,
  compileCacheVersion,
  useShippedCompileCache,
} from '../src/index.ts';

// A service whose handler imports a module statically and another lazily (a chunk), exports two
// handlers, and whose init throws without its configuration (as a service's would at image build
// time) and leaves a mark when it runs.
const FILES: Record<string, string> = {
  'package.json': JSON.stringify({ name: 'cache-fixture', private: true, type: 'module' }),
  'src/handler.ts': `
    import { shout } from './words.ts';
    // Not an ES import of node:fs, whose namespace would load Node's fs/promises (which the test of
    // what the loader loads must see the loader load, if it did).
    const { writeFileSync } = process.getBuiltinModule('node:fs');
    if (process.env.FIXTURE_RAN !== undefined) writeFileSync(process.env.FIXTURE_RAN, 'the handler module ran');
    if (process.env.FIXTURE_CONFIG === undefined) throw new Error('FIXTURE_CONFIG is not set');
    export const handler = async (event: { name: string }) => shout(event.name);
    export const lazyHandler = async () => (await import('./lazy.ts')).whisper('lazy');
    const kebab = async () => 'by a string name';
    export { kebab as 'kebab-handler' };`,
  'src/words.ts': `export function shout(text: string): string { return text.toUpperCase() + '!'; }`,
  'src/lazy.ts': `export function whisper(text: string): string { return text.toLowerCase() + '...'; }`,
};

const made: string[] = [];
let packageDir: string;
let bundle: BundleResult;

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

beforeAll(async () => {
  packageDir = tempDir('compile-cache-fixture-');
  for (const [file, content] of Object.entries(FILES)) {
    mkdirSync(dirname(join(packageDir, file)), { recursive: true });
    writeFileSync(join(packageDir, file), content);
  }
  bundle = await bundleService({ packageDir, splitting: true, compileCache: true });
}, 60_000);

afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** The bundle's .mjs files copied to a fresh task root, as the Dockerfile's COPY does. */
function taskRoot(): string {
  const root = tempDir('compile-cache-task-');
  for (const file of readdirSync(join(packageDir, 'dist')).filter((name) => name.endsWith('.mjs')))
    cpSync(join(packageDir, 'dist', file), join(root, file));
  return root;
}

/** V8's cache tag of a `node --expose-gc`, as 8 hex digits (Node's directory name has it so). */
function v8TagWithExposeGc(): string {
  return spawnSync(
    process.execPath,
    ['--expose-gc', '-p', "require('node:v8').cachedDataVersionTag().toString(16).padStart(8, '0')"],
    { encoding: 'utf8' },
  ).stdout.trim();
}

/**
 * The image build's step: `node --expose-gc <task root>/compile-cache.mjs`, with no configuration
 * (`FIXTURE_RAN` names where the handler module would leave its mark, were it run).
 */
function writeCache(
  root: string,
  ranMark = join(tempDir('compile-cache-mark-'), 'ran'),
): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, ['--expose-gc', join(root, 'compile-cache.mjs')], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', FIXTURE_RAN: ranMark },
  });
}

/**
 * A cold start: a fresh `node` (with the Lambda bootstrap's `--expose-gc` unless `flags` say
 * otherwise) and an empty temp directory, importing index.mjs and calling both handlers, with Node's
 * report of its compile cache (NODE_DEBUG_NATIVE=COMPILE_CACHE) on stderr.
 */
function coldStart(
  root: string,
  flags: readonly string[] = ['--expose-gc'],
  tmp = tempDir('compile-cache-tmp-'),
  user?: { uid: number; gid: number },
) {
  const script = [
    `const { handler, lazyHandler, 'kebab-handler': kebab } = await import(${JSON.stringify(join(root, 'index.mjs'))});`,
    `console.log(JSON.stringify([await handler({ name: 'ada' }), await lazyHandler(), await kebab()]));`,
  ].join('\n');
  const result = spawnSync(process.execPath, [...flags, '--input-type=module', '-e', script], {
    encoding: 'utf8',
    ...user,
    env: {
      PATH: process.env.PATH ?? '',
      TMPDIR: tmp,
      FIXTURE_CONFIG: 'set',
      NODE_DEBUG_NATIVE: 'COMPILE_CACHE',
    },
  });
  const accepted = [
    ...result.stderr.matchAll(/V8 code cache for ESM file:\/\/\S*\/([^/\s]+\.mjs) was accepted/g),
  ]
    .map((match) => match[1])
    .sort();
  return { result, accepted, rejected: /rejected/i.test(result.stderr) };
}

describe('bundleService({ compileCache: true })', () => {
  it('puts the service in handler.mjs behind an index.mjs that re-exports each of its handlers, and adds the cache writer', () => {
    expect(bundle.outfile).toBe(join(packageDir, 'dist', 'index.mjs'));
    const files = readdirSync(join(packageDir, 'dist'));
    expect(files).toEqual(
      expect.arrayContaining([
        'index.mjs',
        'handler.mjs',
        'compile-cache.mjs',
        'index.mjs.map',
        'compile-cache.mjs.map',
      ]),
    );
    expect(bundle.chunks.map((chunk) => chunk.split('/').at(-1))).toEqual(
      files.filter((file) => /^chunk-.*\.mjs$/.test(file)),
    );
    const meta = JSON.parse(readFileSync(bundle.metafile, 'utf8')) as {
      outputs: Record<string, { exports: string[] }>;
    };
    expect(meta.outputs['dist/index.mjs']?.exports.sort()).toEqual([
      'handler',
      'kebab-handler',
      'lazyHandler',
    ]);
    expect(meta.outputs['dist/compile-cache.mjs']).toBeDefined();
    // What loads at init: the loader, the handler and the chunk it imports statically, not the lazy one.
    const size = (file: string) => statSync(join(packageDir, 'dist', file)).size;
    const handlerImports = (
      meta.outputs['dist/handler.mjs'] as unknown as {
        imports: { path: string; kind: string; external?: boolean }[];
      }
    ).imports;
    const staticChunks = handlerImports
      .filter((i) => i.kind === 'import-statement' && !i.external)
      .map((i) => i.path.split('/').at(-1) as string);
    expect(staticChunks).toHaveLength(1);
    expect(bundle.bytes).toBe(size('index.mjs'));
    expect(bundle.initBytes).toBe(size('index.mjs') + size('handler.mjs') + size(staticChunks[0] as string));
  });

  it("loads none of Node's own modules that the handler does not, from dist/ without a cache", () => {
    // Node's modules a fresh `node` loads importing `file` (process.moduleLoadList).
    const builtinsLoadedBy = (file: string): string[] => {
      const script = [
        'const before = new Set(process.moduleLoadList);',
        `await import(${JSON.stringify(join(packageDir, 'dist', file))});`,
        'console.log(JSON.stringify(process.moduleLoadList.filter((name) => !before.has(name))));',
      ].join('\n');
      const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '', FIXTURE_CONFIG: 'set' },
      });
      expect(result.stderr).toBe('');
      return (JSON.parse(result.stdout) as string[]).filter((name) => name.startsWith('NativeModule '));
    };
    const byHandler = new Set(builtinsLoadedBy('handler.mjs'));
    // Every cold start pays for what the loader loads: its ES imports of node:fs (whose namespace
    // runs fs's lazy properties: fs/promises, readline, the REPL's history) and node:v8 cost the
    // mail-dispatcher's import +8.4 ms of CPU (bench/HISTORY.md). process.moduleLoadList is not a
    // documented API, but it is the list Node keeps of every internal module it loaded.
    expect(builtinsLoadedBy('index.mjs').filter((name) => !byHandler.has(name))).toEqual([]);
  });

  it('runs from dist/ without a cache: the loader only imports the handler, and says nothing', () => {
    const { result, accepted } = coldStart(join(packageDir, 'dist'));
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual(['ADA!', 'lazy...', 'by a string name']);
    expect(accepted).toEqual([]);
    expect(result.stderr).not.toMatch(/sidestep:/);
  });
});

/**
 * A task root with its cache, as if built under another uid (so that a cold start links it from the
 * temp directory), a temp directory, and the directory the loader will link it from.
 */
function linkedTaskRoot() {
  const root = taskRoot();
  expect(writeCache(root).status).toBe(0);
  const [written] = readdirSync(join(root, COMPILE_CACHE_DIR)) as [string];
  renameSync(join(root, COMPILE_CACHE_DIR, written), join(root, COMPILE_CACHE_DIR, `${written}1`));
  const tmp = tempDir('compile-cache-tmp-');
  const directory = join(tmp, `sidestep-compile-cache-${root.replaceAll(/[^A-Za-z0-9]/g, '_')}`);
  return { root, written, tmp, directory };
}

describe('the image build step (compile-cache.mjs) and a cold start', () => {
  it("writes every module's compiled code without running any of it, and a cold start reads all it loads from it", () => {
    const root = taskRoot();
    const ranMark = join(tempDir('compile-cache-mark-'), 'ran');
    const build = writeCache(root, ranMark);
    expect(build.stderr).toBe('');
    expect(build.status).toBe(0);
    expect(existsSync(ranMark)).toBe(false);
    const [written] = readdirSync(join(root, COMPILE_CACHE_DIR));
    // Node's own directory name for this process: version, arch, V8 tag, uid.
    expect(written).toBe(`${process.version}-${process.arch}-${v8TagWithExposeGc()}-${process.getuid?.()}`);
    const modules = readdirSync(root).filter(
      (file) => file.endsWith('.mjs') && file !== 'index.mjs' && file !== 'compile-cache.mjs',
    );
    // One entry per module, and the two of the import that compiles them.
    expect(build.stdout).toBe(
      `compile cache: ${modules.length} modules compiled, not run: ${modules.length + 2} entries in ${join(root, COMPILE_CACHE_DIR, written as string)}\n`,
    );
    const { result, accepted, rejected } = coldStart(root);
    expect(JSON.parse(result.stdout)).toEqual(['ADA!', 'lazy...', 'by a string name']);
    // The handler, its static import's chunk and the lazily imported chunk: all from the cache.
    expect(accepted).toEqual(modules.sort());
    expect(rejected).toBe(false);
  });

  it('fails the build, naming the error, when the bundle does not link', () => {
    const root = taskRoot();
    const chunk = readdirSync(root).find((file) => file.startsWith('chunk-')) as string;
    chmodSync(join(root, chunk), 0o644);
    writeFileSync(join(root, chunk), 'export const broken = ;');
    const build = writeCache(root);
    expect(build.status).toBe(1);
    expect(build.stderr).toMatch(
      /^no compile cache written in .*: the bundle did not link: .*Unexpected token/,
    );
  });

  it("is found when the user that built it had another uid (linked under this process's uid)", () => {
    const root = taskRoot();
    expect(writeCache(root).status).toBe(0);
    const [written] = readdirSync(join(root, COMPILE_CACHE_DIR)) as [string];
    // As if built as root and run as Lambda's sandbox user (or the other way round).
    const otherUid = written.replace(/-\d+$/, `-${(process.getuid?.() ?? 0) + 993}`);
    renameSync(join(root, COMPILE_CACHE_DIR, written), join(root, COMPILE_CACHE_DIR, otherUid));
    const { result, accepted } = coldStart(root);
    expect(result.status).toBe(0);
    expect(accepted).toContain('handler.mjs');
  });

  it('is readable by the sandbox user, who is not the user that built it: every entry readable by all, and read as another user', () => {
    const root = taskRoot();
    expect(writeCache(root).status).toBe(0);
    const [written] = readdirSync(join(root, COMPILE_CACHE_DIR)) as [string];
    const entries = readdirSync(join(root, COMPILE_CACHE_DIR, written));
    // Node writes its entries 0600, for their writer only.
    for (const entry of entries)
      expect(statSync(join(root, COMPILE_CACHE_DIR, written, entry)).mode & 0o444).toBe(0o444);
    // As root (the image build's user, and CI's), a cold start as `nobody`, as Lambda's sandbox user
    // runs one; another user cannot switch users (nor can nobody start this Node from a checkout it
    // cannot enter), and the modes above say the same.
    const nobody = lambdaSandboxUser();
    if (nobody === undefined) return;
    chmodSync(root, 0o755);
    const tmp = tempDir('compile-cache-nobody-tmp-');
    chmodSync(tmp, 0o777);
    const { result, accepted } = coldStart(root, ['--expose-gc'], tmp, nobody);
    expect(JSON.parse(result.stdout)).toEqual(['ADA!', 'lazy...', 'by a string name']);
    expect(result.stderr).not.toMatch(/permission denied/);
    expect(accepted).toContain('handler.mjs');
  });

  it('keeps apart the links of two task roots that share a temp directory', () => {
    // Both built under another uid, so that a cold start links them from the temp directory.
    const [{ root: first, written }, { root: second }] = [linkedTaskRoot(), linkedTaskRoot()];
    const shared = tempDir('compile-cache-shared-tmp-');
    expect(coldStart(first, ['--expose-gc'], shared).accepted).toContain('handler.mjs');
    const { result, accepted } = coldStart(second, ['--expose-gc'], shared);
    expect(result.stderr).not.toMatch(/sidestep:/);
    expect(accepted).toContain('handler.mjs');
    // Each task root's link still points at its own cache.
    const links = readdirSync(shared)
      .filter((name) => name.startsWith('sidestep-compile-cache-'))
      .flatMap((name) =>
        readdirSync(join(shared, name)).map((link) => readlinkSync(join(shared, name, link))),
      )
      .sort();
    expect(links).toEqual([first, second].map((root) => join(root, COMPILE_CACHE_DIR, `${written}1`)).sort());
  });

  it('replaces a directory left where its link goes, and leaves no link of its own behind', () => {
    const { root, written, tmp, directory } = linkedTaskRoot();
    mkdirSync(join(directory, written, 'junk'), { recursive: true, mode: 0o700 });
    const { result, accepted } = coldStart(root, ['--expose-gc'], tmp);
    expect(result.stderr).not.toMatch(/sidestep:/);
    expect(accepted).toContain('handler.mjs');
    expect(readdirSync(directory)).toEqual([written]);
  });

  it('does not use a link directory that others may write', () => {
    const { root, tmp, directory } = linkedTaskRoot();
    mkdirSync(directory);
    chmodSync(directory, 0o777);
    const { result, accepted } = coldStart(root, ['--expose-gc'], tmp);
    expect(JSON.parse(result.stdout)).toEqual(['ADA!', 'lazy...', 'by a string name']);
    expect(accepted).toEqual([]);
    expect(result.stderr).toMatch(
      /^sidestep: the image's compile cache is not used: .* is not this user's alone$/m,
    );
  });

  it('is refused entry by entry by V8 when the flags that V8 checks differ, and the function still runs', () => {
    const root = taskRoot();
    expect(writeCache(root).status).toBe(0);
    const { result, accepted, rejected } = coldStart(root, []);
    expect(JSON.parse(result.stdout)).toEqual(['ADA!', 'lazy...', 'by a string name']);
    expect(accepted).toEqual([]);
    expect(rejected).toBe(true);
  });

  it("is not used when another Node made it, and the function's log says why", () => {
    const root = taskRoot();
    expect(writeCache(root).status).toBe(0);
    const [written] = readdirSync(join(root, COMPILE_CACHE_DIR)) as [string];
    renameSync(
      join(root, COMPILE_CACHE_DIR, written),
      join(root, COMPILE_CACHE_DIR, written.replace(/^v[\d.]+/, 'v0.0.1')),
    );
    const { result, accepted } = coldStart(root);
    expect(JSON.parse(result.stdout)).toEqual(['ADA!', 'lazy...', 'by a string name']);
    expect(accepted).toEqual([]);
    expect(result.stderr).toMatch(
      /^sidestep: the image's compile cache is not used: it was made for v0\.0\.1-/m,
    );
  });

  it('fails the build when it cannot write the cache', () => {
    const root = taskRoot();
    writeFileSync(join(root, COMPILE_CACHE_DIR), 'a file where the directory goes');
    const build = writeCache(root);
    expect(build.status).toBe(1);
    expect(build.stderr).toMatch(/^no compile cache written in .*\.compile-cache: /);
  });
});

describe('compileCacheVersion and useShippedCompileCache', () => {
  it("names this process's cache as Node does, and reports none for a task root without a cache", () => {
    expect(compileCacheVersion()).toBe(
      `${process.version}-${process.arch}-${cachedDataVersionTag().toString(16).padStart(8, '0')}`,
    );
    expect(useShippedCompileCache(tempDir('compile-cache-empty-'))).toEqual({ status: 'none' });
  });
});
