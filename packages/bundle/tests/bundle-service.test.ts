import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startFunction } from '@sidestep/lambda-runtime';
import { bundleService, CREATE_REQUIRE_BANNER, runBundleCli } from '../src/index.ts';

const bundlePackageDir = dirname(dirname(fileURLToPath(import.meta.url)));

// A service package shaped like the real ones: TypeScript handler, build.ts, and dependencies in
// node_modules: a CommonJS one that require()s Node builtins (what breaks ESM bundles without the
// createRequire banner) and a dual-format one (to see that the ESM build is picked).
const FILES: Record<string, string> = {
  'package.json': JSON.stringify({
    name: 'fixture-service',
    private: true,
    type: 'module',
    scripts: { build: 'node ./build.ts' },
  }),
  'build.ts': `import { bundleService } from '@sidestep/bundle';\nawait bundleService({ packageDir: import.meta.dirname });\n`,
  'src/handler.ts': `
    import legacy from 'legacy-https';
    import { flavour } from 'dual-format';
    interface GreetingEvent { readonly name: string }
    let invocationCounter = 0;
    export const handler = async (event: GreetingEvent) => {
      invocationCounter += 1;
      return { greeting: \`hello \${event.name}\`, agent: legacy.agentName(), digest: legacy.digest(event.name), flavour, invocationCounter };
    };`,
  'src/lazy.ts': `export const handler = async () => (await import('dual-format')).flavour;\n`,
  // A dynamic import of a bundled module is inlined, so that module's static imports load at init.
  'src/indirect.ts': `export const handler = async () => (await import('./uses-dual.ts')).name;\n`,
  'src/uses-dual.ts': `import { flavour } from 'dual-format';\nexport const name = flavour;\n`,
  // A module with state that the entry and a lazily loaded chunk share (esbuild puts it in a chunk of
  // its own, which mergeInitChunks folds into the entry).
  'src/shared-state.ts': `export const counter = { n: 0 };\nexport class SharedError extends Error {}\nexport function sharedHelper() {}\nexport const arrowHelper = () => 0;\n`,
  // A class of the same name in another module: esbuild renames one of the two in the merged file.
  'src/other-state.ts': `export class SharedError extends Error {}\n`,
  'src/merged.ts': `
    import { arrowHelper, counter, SharedError, sharedHelper } from './shared-state.ts';
    import { SharedError as OtherError } from './other-state.ts';
    export const handler = async () => {
      counter.n += 1;
      const lazy = await import('./lazy-shared.ts');
      const error = lazy.make();
      return { same: lazy.counterRef() === counter, n: lazy.read(), isShared: error instanceof SharedError, name: error.constructor.name, flavour: lazy.flavour, at: new Error('here').stack?.split('\\n')[1], names: [sharedHelper.name, arrowHelper.name, OtherError.name, new OtherError().name, handler.name] };
    };`,
  // An init that awaits its own lazy chunk, which merged would wait for the entry: refused.
  'src/awaits-lazy.ts': `
    import { counter } from './shared-state.ts';
    const lazy = await import('./lazy-shared.ts');
    export const handler = async () => lazy.read() + counter.n;`,
  'src/lazy-shared.ts': `
    import { flavour } from 'dual-format';
    import { counter, SharedError } from './shared-state.ts';
    export { flavour };
    export const counterRef = () => counter;
    export const read = () => counter.n;
    export const make = () => new SharedError('from the lazy chunk');`,
  // ES imports of builtins, named, default and namespace, from the handler and a lazy chunk.
  'src/builtins.ts': `
    import { request } from 'node:http';
    import { get } from 'http';
    import legacyHttp from 'legacy-http';
    import path from 'path';
    import * as os from 'node:os';
    export const handler = async () => {
      const { gzipSync } = await import('node:zlib');
      // Both ways code reads a dynamically imported builtin (the AWS SDK's HTTP handler: \`.default ?? it\`).
      const http = await import('node:http');
      const { Agent } = http.default ?? http;
      return [typeof request, typeof get, legacyHttp.agentName(), path.join('a', 'b'), typeof os.cpus, gzipSync('x').length > 0, typeof http.request, Agent === http.Agent].join(' ');
    };`,
  'src/broken.ts': `import { nothing } from 'not-installed-anywhere';\nexport const handler = async () => nothing;\n`,
  // The bundle re-exports named exports only: a default export would be lost, so it is refused.
  'src/default-export.ts': `export default async () => 'lost';\n`,
  'src/default-as.ts': `const handler = async () => 'lost';\nexport { handler as default };\n`,
  'node_modules/legacy-https/package.json': JSON.stringify({
    name: 'legacy-https',
    version: '1.0.0',
    license: 'MIT',
    main: 'index.js',
  }),
  'node_modules/legacy-https/index.js': `/*! legacy-https v1.0.0 | MIT License */
    'use strict';
    const https = require('node:https');
    const { createHash } = require('node:crypto');
    const table = require('./lib/table');
    module.exports = {
      agentName: () => https.Agent.name,
      tableKind: () => table.kind,
      digest: (text) => createHash('sha256').update(text).digest('hex').slice(0, 8),
    };`,
  'node_modules/legacy-https/lib/table.js': `exports.kind = 'the full table';`,
  // The same file required with its extension.
  'node_modules/legacy-https/lib/report.js': `const table = require('./table.js');\nexports.report = () => table.kind;`,
  'src/report.ts': `import { report } from 'legacy-https/lib/report.js';\nexport const handler = async () => report();\n`,
  // A CommonJS dependency that requires http by its bare name.
  'node_modules/legacy-http/package.json': JSON.stringify({
    name: 'legacy-http',
    version: '1.0.0',
    license: 'MIT',
    main: 'index.js',
  }),
  'node_modules/legacy-http/index.js': `const http = require('http');\nmodule.exports = { agentName: () => http.Agent.name };`,
  // A file of a dependency replaced in the bundle (substitutes), and a handler that reaches it.
  'src/small-table.ts': `export const kind = 'the small table';\n`,
  'src/table.ts': `import legacy from 'legacy-https';\nexport const handler = async () => legacy.tableKind();\n`,
  // A file required by its directory (`require('./lookup')`), replaced by a wrapper that loads it
  // when first called.
  'node_modules/lazy-dir/package.json': JSON.stringify({
    name: 'lazy-dir',
    version: '1.0.0',
    license: 'MIT',
    main: 'index.js',
  }),
  'node_modules/lazy-dir/index.js': `const lookup = require('./lookup');\nmodule.exports = { find: (key) => lookup(key) };`,
  'node_modules/lazy-dir/lookup/index.js': `globalThis.lookupLoaded = true;\nmodule.exports = (key) => 'found ' + key;`,
  'src/lazy-lookup.cjs': `module.exports = (key) => require('lazy-dir/lookup/index.js')(key);\n`,
  'src/lookup.ts': `import dir from 'lazy-dir';\nexport const handler = async () => {\n  const before = globalThis.lookupLoaded === true;\n  return { before, found: dir.find('x'), after: globalThis.lookupLoaded === true };\n};\n`,
  'node_modules/dual-format/package.json': JSON.stringify({
    name: 'dual-format',
    version: '1.0.0',
    license: 'MIT',
    main: 'index.cjs',
    module: 'index.mjs',
  }),
  'node_modules/dual-format/index.cjs': `exports.flavour = 'cjs';`,
  'node_modules/dual-format/index.mjs': `export const flavour = 'esm';`,
  // A generated schemas file shaped as the AWS SDK's (computed trait keys: aws/aws-sdk-js-v3#7607).
  'node_modules/@aws-sdk/client-fixture/package.json': JSON.stringify({
    name: '@aws-sdk/client-fixture',
    version: '1.0.0',
    license: 'Apache-2.0',
    module: './dist-es/schemas/schemas_0.js',
    sideEffects: false,
  }),
  'node_modules/@aws-sdk/client-fixture/dist-es/schemas/schemas_0.js': [
    'const _hH = "httpHeader";',
    'const _GOR = "GetObjectRequestShape";',
    'const _PBR = "PutBucketLifecycleRequestShape";',
    'export var GetObjectRequest$ = [3, "n", _GOR, 0, ["Key"], [[0, { [_hH]: "x-key" }]]];',
    'export var PutBucketLifecycleRequest$ = [3, "n", _PBR, 0, ["Rules"], [[0, { [_hH]: "x-rules" }]]];',
  ].join('\n'),
  'src/schemas.ts': `import { GetObjectRequest$ } from '@aws-sdk/client-fixture';\nexport const handler = async () => GetObjectRequest$;\n`,
};

let packageDir: string;
let build: { status: number | null; stderr: string };

/** Runs `script` in a fresh ES-module `node`, after `const { handler } = await import(outfile)`. */
function withHandlerInFreshNode(outfile: string, script: string) {
  return spawnSync(
    process.execPath,
    ['--input-type=module', '-e', `const { handler } = await import(${JSON.stringify(outfile)});\n${script}`],
    { encoding: 'utf8' },
  );
}

beforeAll(async () => {
  packageDir = await mkdtemp(join(tmpdir(), 'bundle-fixture-'));
  for (const [file, content] of Object.entries(FILES)) {
    await mkdir(dirname(join(packageDir, file)), { recursive: true });
    await writeFile(join(packageDir, file), content);
  }
  await mkdir(join(packageDir, 'node_modules/@sidestep'), { recursive: true });
  await symlink(bundlePackageDir, join(packageDir, 'node_modules/@sidestep/bundle'));
  // Exactly what `pnpm run build` does in a service: Node 24 runs build.ts directly.
  const result = spawnSync(process.execPath, ['./build.ts'], { cwd: packageDir, encoding: 'utf8', env: {} });
  build = { status: result.status, stderr: result.stderr };
});

afterAll(async () => {
  await rm(packageDir, { recursive: true, force: true });
});

describe('bundleService', () => {
  it('builds from a service build.ts into dist/index.mjs with a source map, third-party notices with the legal comments, and a metafile', async () => {
    expect(build).toEqual({ status: 0, stderr: '' });
    const code = await readFile(join(packageDir, 'dist/index.mjs'), 'utf8');
    expect(code.startsWith(CREATE_REQUIRE_BANNER)).toBe(true);
    expect(code.trimEnd().endsWith('//# sourceMappingURL=index.mjs.map')).toBe(true);
    expect(JSON.parse(await readFile(join(packageDir, 'dist/index.mjs.map'), 'utf8')).sources).toContain(
      '../src/handler.ts',
    );
    const notices = await readFile(join(packageDir, 'dist/THIRD-PARTY-NOTICES.txt'), 'utf8');
    expect(notices).toContain('legacy-https v1.0.0 | MIT License');
    expect(notices).toMatch(/^legacy-https@1\.0\.0\nLicence: MIT$/m);
    expect(code).not.toContain('MIT License');
    // Minified: module-local names are gone.
    expect(code).not.toContain('invocationCounter=');

    const meta = JSON.parse(await readFile(join(packageDir, 'dist/meta.json'), 'utf8'));
    expect(Object.keys(meta.inputs)).toEqual(
      expect.arrayContaining([
        'src/handler.ts',
        'node_modules/legacy-https/index.js',
        'node_modules/dual-format/index.mjs',
      ]),
    );
    expect(Object.keys(meta.inputs)).not.toContain('node_modules/dual-format/index.cjs');
    // The entry is the service's, behind the module that installs source-mapped stack traces.
    expect(meta.outputs['dist/index.mjs']).toMatchObject({
      entryPoint: 'sidestep-entry:./src/handler.ts',
      exports: ['handler'],
    });
    expect(Object.keys(meta.inputs)).toContainEqual(
      expect.stringMatching(/bundle\/src\/install-source-mapped-stack-traces\.ts$/),
    );
  });

  it('produces a bundle that runs through the Lambda runtime interface client from a read-only directory', async () => {
    const fn = await startFunction({
      name: 'bundled-fixture',
      bundleDir: join(packageDir, 'dist'),
      handler: 'index.handler',
      environment: {},
      onLog: () => {},
    });
    try {
      const first = await fn.invoke({ name: 'sidestep' });
      const second = await fn.invoke({ name: 'again' });
      expect(first).toMatchObject({
        ok: true,
        payload: {
          greeting: 'hello sidestep',
          agent: 'Agent',
          digest: expect.stringMatching(/^[0-9a-f]{8}$/),
          flavour: 'esm',
          invocationCounter: 1,
        },
      });
      expect(second).toMatchObject({ ok: true, payload: { greeting: 'hello again', invocationCounter: 2 } });
    } finally {
      await fn.close();
    }
  });

  it('returns the outfile, its size and the metafile path', async () => {
    const result = await bundleService({ packageDir, outdir: 'dist-direct' });
    const bytes = (await readFile(join(packageDir, 'dist-direct/index.mjs'))).byteLength;
    expect(result).toEqual({
      outfile: join(packageDir, 'dist-direct/index.mjs'),
      bytes,
      initBytes: bytes,
      totalBytes: bytes,
      chunks: [],
      metafile: join(packageDir, 'dist-direct/meta.json'),
      lazyExternals: [],
    });
  });

  it('with splitting, puts what is imported lazily in a chunk that loads only when the import runs', async () => {
    const result = await bundleService({
      packageDir,
      entry: 'src/indirect.ts',
      outdir: 'dist-split',
      splitting: true,
    });
    expect(result.chunks.length).toBeGreaterThan(0);
    const chunks = await Promise.all(result.chunks.map((chunk) => readFile(chunk, 'utf8')));
    for (const [index, chunk] of chunks.entries()) {
      expect(result.chunks[index]).toMatch(/dist-split\/chunk-\w+\.mjs$/);
      expect(chunk.startsWith(CREATE_REQUIRE_BANNER)).toBe(true);
    }
    expect(chunks.some((chunk) => chunk.includes('"esm"'))).toBe(true);
    expect(await readFile(result.outfile, 'utf8')).not.toContain('"esm"');
    // The entry and the chunks it imports statically (esbuild's shared helpers); not the lazy one.
    const lazyChunkBytes = Buffer.byteLength(chunks.find((chunk) => chunk.includes('"esm"')) as string);
    expect(result.initBytes).toBeGreaterThan(result.bytes);
    expect(result.initBytes).toBe(result.totalBytes - lazyChunkBytes);
    expect(result.totalBytes).toBe(
      result.bytes + chunks.reduce((sum, chunk) => sum + Buffer.byteLength(chunk), 0),
    );

    const fn = await startFunction({
      name: 'split-fixture',
      bundleDir: join(packageDir, 'dist-split'),
      handler: 'index.handler',
      environment: {},
      readOnly: true,
      onLog: () => {},
    });
    try {
      expect(await fn.invoke({})).toMatchObject({ ok: true, payload: 'esm' });
    } finally {
      await fn.close();
    }
  });

  it("with mergeInitChunks, loads one file at init and gives lazy chunks the entry's modules", async () => {
    const split = await bundleService({
      packageDir,
      entry: 'src/merged.ts',
      outdir: 'dist-unmerged',
      splitting: true,
    });
    // esbuild alone: the shared module and its runtime helpers in chunks the entry imports at init.
    expect(split.initBytes).toBeGreaterThan(split.bytes);
    const result = await bundleService({
      packageDir,
      entry: 'src/merged.ts',
      outdir: 'dist-merged',
      splitting: true,
      mergeInitChunks: true,
    });
    expect(result.initBytes).toBe(result.bytes);
    const entry = await readFile(result.outfile, 'utf8');
    expect(entry).not.toMatch(/^import\b|[;}]import\s*[{"]/m);
    expect(entry).toContain('counter');
    // The folded chunks re-export from the entry; the lazy chunk's code is still a chunk of its own.
    const chunks = await Promise.all(result.chunks.map((chunk) => readFile(chunk, 'utf8')));
    const folded = chunks.filter((chunk) => /^export\{[^}]*\}from"\.\/index\.mjs";\n$/.test(chunk));
    expect(folded.length).toBeGreaterThan(0);
    expect(folded.length).toBe(split.chunks.length - 1);
    const lazyChunk = chunks.find((chunk) => chunk.includes('"esm"')) as string;
    expect(entry).not.toContain('"esm"');
    // It takes the shared module from the entry itself, not through a one-line module.
    expect(lazyChunk).toMatch(/from\s*"\.\/index\.mjs"/);
    for (const name of result.chunks.map((chunk) => chunk.replace(/.*\//, ''))) {
      expect(lazyChunk).not.toContain(`"./${name}"`);
    }
    const meta = JSON.parse(await readFile(result.metafile, 'utf8'));
    expect(Object.keys(meta.outputs['dist-merged/index.mjs'].inputs)).toContain('src/shared-state.ts');
    const map = JSON.parse(await readFile(`${result.outfile}.map`, 'utf8')) as { sources: string[] };
    expect(map.sources).toEqual(expect.arrayContaining(['../src/merged.ts', '../src/shared-state.ts']));

    const fn = await startFunction({
      name: 'merged-fixture',
      bundleDir: join(packageDir, 'dist-merged'),
      handler: 'index.handler',
      environment: {},
      readOnly: true,
      onLog: () => {},
    });
    try {
      // The entry's stack traces still name the sources (the merged map goes through the first one).
      const at = expect.stringMatching(/src\/merged\.ts:8:\d+\)?$/);
      // keepNames: every function and class still has its own name, the renamed class included.
      const names = ['sharedHelper', 'arrowHelper', 'SharedError', 'Error', 'handler'];
      const expected = { same: true, isShared: true, name: 'SharedError', flavour: 'esm', at, names };
      expect(await fn.invoke({})).toMatchObject({ ok: true, payload: { ...expected, n: 1 } });
      expect(await fn.invoke({})).toMatchObject({ ok: true, payload: { ...expected, n: 2 } });
    } finally {
      await fn.close();
    }
  });

  it('with mergeInitChunks, refuses an entry that awaits at its top level, leaving no bundle', async () => {
    await expect(
      bundleService({
        packageDir,
        entry: 'src/awaits-lazy.ts',
        outdir: 'dist-merged-await',
        splitting: true,
        mergeInitChunks: true,
      }),
    ).rejects.toMatchObject({ name: 'BundleOptionError', field: 'mergeInitChunks' });
    expect(existsSync(join(packageDir, 'dist-merged-await'))).toBe(false);
    // Without merging it builds and runs: the lazy chunk does not import the entry back.
    const split = await bundleService({
      packageDir,
      entry: 'src/awaits-lazy.ts',
      outdir: 'dist-split-await',
      splitting: true,
    });
    expect(split.chunks.length).toBeGreaterThan(0);
  });

  it('with splitting, accepts an external imported statically by a lazily loaded chunk', async () => {
    const result = await bundleService({
      packageDir,
      entry: 'src/indirect.ts',
      outdir: 'dist-split-external',
      external: ['dual-format'],
      splitting: true,
    });
    expect(result.lazyExternals).toEqual(['dual-format']);
  });

  it('leaves modules named in external out of the bundle when they are loaded lazily', async () => {
    const result = await bundleService({
      packageDir,
      entry: 'src/lazy.ts',
      outdir: 'dist-external',
      external: ['dual-format'],
    });
    expect(result.lazyExternals).toEqual(['dual-format']);
    expect(await readFile(result.outfile, 'utf8')).toMatch(/import\("dual-format"\)/);
    const meta = JSON.parse(await readFile(result.metafile, 'utf8'));
    expect(Object.keys(meta.inputs)).not.toContain('node_modules/dual-format/index.mjs');
  });

  it.each([
    ['src/handler.ts', 'legacy-https', 'src/handler.ts'],
    ['src/indirect.ts', 'dual-format', 'src/uses-dual.ts'],
  ])(
    'refuses an external imported statically (entry %s), which would fail at init in the image',
    async (entry, external, importer) => {
      await expect(
        bundleService({ packageDir, entry, outdir: 'dist-static', external: [external] }),
      ).rejects.toMatchObject({
        name: 'StaticExternalImportError',
        imports: { [external]: [importer] },
      });
    },
  );

  it('replaces a dependency’s file named in substitutes, whichever module requires it', async () => {
    const run = (outfile: string) =>
      withHandlerInFreshNode(outfile, 'process.stdout.write(await handler())').stdout;
    const plain = await bundleService({ packageDir, entry: 'src/table.ts', outdir: 'dist-table' });
    expect(run(plain.outfile)).toBe('the full table');
    // Required as './lib/table' by legacy-https's index, as './table.js' by its lib/report.js.
    for (const entry of ['src/table.ts', 'src/report.ts']) {
      const substituted = await bundleService({
        packageDir,
        entry,
        outdir: 'dist-small-table',
        substitutes: { 'legacy-https/lib/table.js': 'src/small-table.ts' },
      });
      expect(run(substituted.outfile)).toBe('the small table');
      expect(await readFile(substituted.outfile, 'utf8')).not.toContain('the full table');
    }
  });

  it('replaces a file its importers require by its directory, with a replacement that loads the file itself', async () => {
    const run = async (substitutes?: Record<string, string>) => {
      const result = await bundleService({
        packageDir,
        entry: 'src/lookup.ts',
        outdir: substitutes ? 'dist-lazy-lookup' : 'dist-lookup',
        ...(substitutes ? { substitutes } : {}),
      });
      return JSON.parse(
        withHandlerInFreshNode(result.outfile, 'process.stdout.write(JSON.stringify(await handler()))')
          .stdout,
      );
    };
    expect(await run()).toEqual({ before: true, found: 'found x', after: true });
    expect(await run({ 'lazy-dir/lookup/index.js': 'src/lazy-lookup.cjs' })).toEqual({
      before: false,
      found: 'found x',
      after: true,
    });
  });

  it('drops the AWS SDK schemas the handler does not use (aws/aws-sdk-js-v3#7607; src/smithy-schema-keys.ts)', async () => {
    const result = await bundleService({ packageDir, entry: 'src/schemas.ts', outdir: 'dist-schemas' });
    const code = await readFile(result.outfile, 'utf8');
    expect(code).toContain('GetObjectRequestShape');
    expect(code).not.toContain('PutBucketLifecycleRequestShape');
    const run = withHandlerInFreshNode(
      result.outfile,
      'process.stdout.write(JSON.stringify(await handler()))',
    );
    expect(JSON.parse(run.stdout)).toEqual([
      3,
      'n',
      'GetObjectRequestShape',
      0,
      ['Key'],
      [[0, { httpHeader: 'x-key' }]],
    ]);
  });

  it('takes node:http from process.getBuiltinModule, imported, required or import()ed, as node:http or http, so it does not load its lazy exports (undici)', async () => {
    const result = await bundleService({
      packageDir,
      entry: 'src/builtins.ts',
      outdir: 'dist-builtins',
      splitting: true,
    });
    const run = withHandlerInFreshNode(
      result.outfile,
      `process.stdout.write(JSON.stringify({
         result: await handler(),
         undici: process.moduleLoadList.some((name) => name.includes('undici')),
       }));`,
    );
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({
      result: 'function function Agent a/b function true function true',
      undici: false,
    });
    for (const file of [result.outfile, ...result.chunks]) {
      expect(await readFile(file, 'utf8')).not.toMatch(/(from|require\(|import\()\s*["'](node:)?http["']/);
    }
  });

  it('refuses a substitute that does not resolve, has no replacement, or replaces nothing imported', async () => {
    const cases: Array<Record<string, string>> = [
      { 'legacy-https/lib/nope.js': 'src/small-table.ts' },
      { 'legacy-https/lib/table.js': 'src/nope.ts' },
      // dual-format is not imported by src/table.ts: a stale substitute, which must not pass silently.
      { 'dual-format/index.mjs': 'src/small-table.ts' },
    ];
    for (const substitutes of cases) {
      await expect(
        bundleService({ packageDir, entry: 'src/table.ts', outdir: 'dist-bad-substitute', substitutes }),
      ).rejects.toMatchObject({ name: 'BundleOptionError', field: 'substitutes' });
    }
  });

  it('empties the output directory first, so stale files never reach the image', async () => {
    await mkdir(join(packageDir, 'dist-stale'), { recursive: true });
    await writeFile(join(packageDir, 'dist-stale/old-chunk.mjs'), 'stale');
    await bundleService({ packageDir, outdir: 'dist-stale' });
    expect(existsSync(join(packageDir, 'dist-stale/old-chunk.mjs'))).toBe(false);
  });

  it('names the offending option or import when it cannot bundle', async () => {
    for (const entry of ['src/default-export.ts', 'src/default-as.ts']) {
      await expect(bundleService({ packageDir, entry })).rejects.toMatchObject({
        field: 'entry',
        message: expect.stringContaining('has a default export'),
      });
    }
    await expect(bundleService({ packageDir, entry: 'src/nope.ts' })).rejects.toMatchObject({
      name: 'BundleOptionError',
      field: 'entry',
    });
    await expect(bundleService({ packageDir, outdir: '.' })).rejects.toMatchObject({ field: 'outdir' });
    await expect(bundleService({ packageDir, outdir: '../elsewhere' })).rejects.toMatchObject({
      field: 'outdir',
    });
    await expect(bundleService({ packageDir: join(packageDir, 'src') })).rejects.toMatchObject({
      field: 'packageDir',
    });
    const failure = bundleService({ packageDir, entry: 'src/broken.ts', outdir: 'dist-broken' });
    await expect(failure).rejects.toMatchObject({ name: 'BundleBuildError' });
    await expect(failure).rejects.toThrow(
      /src\/broken\.ts:1:\d+: Could not resolve "not-installed-anywhere"/,
    );
  });
});

describe('runBundleCli', () => {
  it('bundles the package given as argument and prints the bundle and its size', async () => {
    const lines: string[] = [];
    const code = await runBundleCli([packageDir, '--outdir', 'dist-cli'], (line) => lines.push(line));
    expect(code).toBe(0);
    expect(lines).toEqual([expect.stringMatching(/dist-cli\/index\.mjs \d+\.\d KiB$/)]);
    expect(existsSync(join(packageDir, 'dist-cli/index.mjs'))).toBe(true);
  });
});
