import { spawnSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startFunction } from '@sidestep/lambda-runtime';
import { bundleService } from '../src/index.ts';

// A service whose errors come from known lines: a class thrown by a helper module (entry chunk), an
// async function in a lazily imported chunk, a constructor frame, and a call nested in another on
// one minified line; and an entry that throws while it loads.
const FILES: Record<string, string> = {
  'package.json': JSON.stringify({ name: 'stack-fixture', private: true, type: 'module' }),
  'src/refusal.ts': [
    'export class Refusal extends Error {',
    "  override name = 'Refusal';",
    '}',
    '',
    'export function refuse(reason: string): never {',
    '  throw new Refusal(reason);',
    '}',
    '',
  ].join('\n'),
  'src/later.ts': [
    'export async function later(): Promise<never> {',
    '  await Promise.resolve();',
    "  throw new Error('later failed');",
    '}',
    '',
  ].join('\n'),
  'src/handler.ts': [
    "import { refuse } from './refusal.ts';",
    "export { nested } from './nested.ts';",
    'class Job {',
    '  constructor(readonly kind: string) {',
    "    if (kind === 'bad') refuse('no job of kind ' + kind);",
    '  }',
    '}',
    '',
    'export const handler = async (event: { kind: string }) => {',
    "  if (event.kind === 'later') return (await import('./later.ts')).later();",
    '  return new Job(event.kind).kind;',
    '};',
    '',
  ].join('\n'),
  // Minified to `$(1)(T[e]())`: the frame of the inner call is followed, one column on, by a segment
  // of its own, so a lookup one column off lands in another source column.
  'src/nested.ts': [
    'const steps: Record<string, () => number> = { check };',
    'const add = (x: number) => (y: number) => x + y;',
    '',
    'function check(): number {',
    "  throw new RangeError('out of range');",
    '}',
    '',
    "export function nested(step = 'check'): number {",
    '  return add(1)(steps[step]!());',
    '}',
    '',
  ].join('\n'),
  'src/at-load.ts': [
    "const limit = Number.parseInt('ten', 10);",
    "if (Number.isNaN(limit)) throw new Error('LIMIT is not a number');",
    'export const handler = async () => limit;',
    '',
  ].join('\n'),
};

let packageDir: string;
let distDir: string;

/**
 * Runs the bundle in a fresh `node` with `nodeArgs`, calls its handler with each kind and then
 * `nested()`, and returns what the script prints: each error's stack, and with `countMapReads` how
 * many `.map` files had been read after the import and after formatting the stacks.
 */
function runBundle(dir: string, nodeArgs: readonly string[] = [], countMapReads = false) {
  const preload = [
    "import fs from 'node:fs';",
    'const read = fs.readFileSync;',
    'globalThis.mapReads = 0;',
    "fs.readFileSync = function (path, ...rest) { if (String(path).endsWith('.map')) globalThis.mapReads += 1; return read.call(this, path, ...rest); };",
  ].join('\n');
  const script = [
    `const { handler, nested } = await import(${JSON.stringify(join(dir, 'index.mjs'))});`,
    'const readsAtImport = globalThis.mapReads;',
    'const stacks = [];',
    "for (const kind of ['bad', 'later']) {",
    '  try { await handler({ kind }); } catch (error) { stacks.push(error.stack); }',
    '}',
    'try { nested(); } catch (error) { stacks.push(error.stack); }',
    'console.log(JSON.stringify({ stacks, readsAtImport, readsAfter: globalThis.mapReads }));',
  ].join('\n');
  const result = spawnSync(
    process.execPath,
    [
      ...nodeArgs,
      ...(countMapReads ? ['--import', `data:text/javascript,${encodeURIComponent(preload)}`] : []),
      '--input-type=module',
      '-e',
      script,
    ],
    { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } },
  );
  expect(result.stderr).toBe('');
  return JSON.parse(result.stdout) as { stacks: string[]; readsAtImport?: number; readsAfter?: number };
}

/** The frames of `stack` (its `at` lines, trimmed). */
function framesOf(stack: string): string[] {
  return stack
    .split('\n')
    .slice(1)
    .map((line) => line.trim().replace(/^at /, ''));
}

/** The `file:line:column` of each frame in the fixture's files, bundled or source. */
function fixtureLocations(stack: string): string[] {
  return framesOf(stack).flatMap((frame) => {
    const location = /([^\s()]*(?:stack-fixture|dist)[^\s()]*):(\d+):(\d+)\)?$/.exec(frame);
    return location
      ? [`${location[1]?.slice(location[1].lastIndexOf('/src/') + 1)}:${location[2]}:${location[3]}`]
      : [];
  });
}

beforeAll(async () => {
  packageDir = await mkdtemp(join(tmpdir(), 'stack-fixture-'));
  for (const [file, content] of Object.entries(FILES)) {
    await mkdir(dirname(join(packageDir, file)), { recursive: true });
    await writeFile(join(packageDir, file), content);
  }
  await bundleService({ packageDir, splitting: true });
  distDir = join(packageDir, 'dist');
});

afterAll(async () => {
  await rm(packageDir, { recursive: true, force: true });
});

describe('source-mapped stack traces', () => {
  it('shows the sources’ lines without --enable-source-maps, at the positions Node maps with it', () => {
    const lazy = runBundle(distDir);
    const eager = runBundle(distDir, ['--enable-source-maps']);
    const [bad, later, nested] = lazy.stacks as [string, string, string];
    expect(bad.split('\n')[0]).toBe('Refusal: no job of kind bad');
    // The throw, the call in the constructor, `new Job` in the handler: each at its source line.
    expect(fixtureLocations(bad)).toEqual([
      'src/refusal.ts:6:9',
      'src/handler.ts:5:25',
      'src/handler.ts:11:10',
    ]);
    // The lazily imported chunk's frame, and V8's names and `new` kept with the location replaced.
    expect(fixtureLocations(later)).toEqual(['src/later.ts:3:9']);
    // The throw, then the call nested in `add(1)(...)`, at the column Node gives it, not one on.
    expect(fixtureLocations(nested)).toEqual(['src/nested.ts:5:9', 'src/nested.ts:9:27']);
    expect(framesOf(bad)[0]).toBe(`refuse (${join(packageDir, 'src/refusal.ts')}:6:9)`);
    expect(framesOf(bad)[1]).toBe(`new Job (${join(packageDir, 'src/handler.ts')}:5:25)`);
    expect(framesOf(later)[0]).toBe(`Module.later (${join(packageDir, 'src/later.ts')}:3:9)`);
    // The same positions as Node's own source maps (which this leaves alone when they are enabled).
    expect(eager.stacks.map(fixtureLocations)).toEqual(lazy.stacks.map(fixtureLocations));
    // A frame outside the bundle (the script that called the handler) is V8's own text.
    expect(framesOf(bad)[3]).toMatch(/^file:\/\/\/.*\[eval1\]:5:\d+$/);
  });

  it('formats the stack itself, as V8 does, in a realm with no Error.prepareStackTrace to hand it to (a vm context)', () => {
    const withNodeFormatter = runBundle(distDir);
    const withoutFormatter = runBundle(distDir, [
      '--import',
      `data:text/javascript,${encodeURIComponent('delete Error.prepareStackTrace;')}`,
    ]);
    expect(withoutFormatter.stacks).toEqual(withNodeFormatter.stacks);
    expect(fixtureLocations(withoutFormatter.stacks[0] as string)[0]).toBe('src/refusal.ts:6:9');
  });

  it('reads no source map when the bundle loads, only when a stack trace is formatted', () => {
    const { readsAtImport, readsAfter } = runBundle(distDir, [], true);
    expect(readsAtImport).toBe(0);
    // The entry's map and the lazily imported chunk's.
    expect(readsAfter).toBe(2);
  });

  it('leaves a frame at its bundled position where the map cannot be read', async () => {
    const withoutMaps = join(packageDir, 'dist-without-maps');
    await cp(distDir, withoutMaps, { recursive: true });
    for (const file of await readdir(withoutMaps)) {
      if (file.endsWith('.map')) await rm(join(withoutMaps, file));
    }
    const { stacks } = runBundle(withoutMaps);
    expect(stacks[0]?.split('\n')[0]).toBe('Refusal: no job of kind bad');
    const locations = fixtureLocations(stacks[0] as string);
    expect(locations.length).toBeGreaterThanOrEqual(3);
    expect(locations.every((location) => /dist-without-maps\/index\.mjs:\d+:\d+$/.test(location))).toBe(true);
  });

  it.each([
    // ERR_INVALID_FILE_URL_HOST: a file URL on another host is no path on Linux.
    [
      'sources on another host',
      (map: { sources: string[] }) => ({
        ...map,
        sources: map.sources.map((source) => `file://elsewhere.example/${source}`),
      }),
    ],
    // ERR_INVALID_URL: no URL can be made of a source against this root.
    ['a sourceRoot that is no URL', (map: { sources: string[] }) => ({ ...map, sourceRoot: 'http://[' })],
  ])(
    'keeps a frame at its bundled position where the map names %s, which throws when the frame is mapped',
    async (name, change) => {
      const unresolvable = join(packageDir, `dist-unresolvable-${name.replaceAll(' ', '-')}`);
      await cp(distDir, unresolvable, { recursive: true });
      for (const file of await readdir(unresolvable)) {
        if (!file.endsWith('.map')) continue;
        const map = JSON.parse(await readFile(join(unresolvable, file), 'utf8'));
        await writeFile(join(unresolvable, file), JSON.stringify(change(map)));
      }
      const { stacks } = runBundle(unresolvable);
      expect(stacks.map((stack) => stack.split('\n')[0])).toEqual([
        'Refusal: no job of kind bad',
        'Error: later failed',
        'RangeError: out of range',
      ]);
      for (const stack of stacks) {
        const locations = fixtureLocations(stack);
        expect(locations.length).toBeGreaterThanOrEqual(1);
        for (const location of locations) {
          expect(location).toMatch(/dist-unresolvable-[\w-]+\/(index|chunk-\w+)\.mjs:\d+:\d+$/);
        }
      }
    },
  );

  it('maps a stack trace thrown while the bundle loads: the installer runs before the service’s first module', async () => {
    const { outfile } = await bundleService({ packageDir, entry: 'src/at-load.ts', outdir: 'dist-at-load' });
    const script = `try { await import(${JSON.stringify(outfile)}); } catch (error) { console.log(error.stack); }`;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '' },
    });
    expect(result.stderr).toBe('');
    expect(result.stdout.split('\n')[0]).toBe('Error: LIMIT is not a number');
    expect(fixtureLocations(result.stdout)[0]).toBe('src/at-load.ts:2:32');
  });

  it('maps the stack trace a function error reports through the Lambda runtime interface client', async () => {
    const fn = await startFunction({
      name: 'stack-fixture',
      bundleDir: distDir,
      handler: 'index.handler',
      environment: {},
      onLog: () => {},
    });
    try {
      const result = await fn.invoke({ kind: 'bad' });
      expect(result).toMatchObject({
        ok: false,
        error: { errorType: 'Refusal', errorMessage: 'no job of kind bad' },
      });
      const trace = (result as { error: { stackTrace?: string[] } }).error.stackTrace ?? [];
      expect(trace.join('\n')).toContain(`${join(packageDir, 'src/refusal.ts')}:6:9`);
    } finally {
      await fn.close();
    }
  });
});
