import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { bundleService } from '../src/index.ts';
import {
  memoizedInvokeStoreCheck,
  POWERTOOLS_ENV_UTILS,
  PowertoolsSourceChangedError,
} from '../src/powertools-invoke-store.ts';

const bundlePackageDir = dirname(dirname(fileURLToPath(import.meta.url)));
/** The ESM envUtils.js of the Powertools commons the workspace installs (the one services bundle). */
const envUtilsPath = join(
  dirname(createRequire(join(bundlePackageDir, 'package.json')).resolve('@aws-lambda-powertools/commons')),
  '..',
  'esm',
  'envUtils.js',
);

/**
 * A fresh `node` running `script` after importing Powertools' `shouldUseInvokeStore` from `bundle`,
 * with `process.env` counting the reads of AWS_LAMBDA_MAX_CONCURRENCY into `reads`.
 */
function runWith(bundle: string, script: string, environment: Record<string, string> = {}): unknown {
  const result = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const { shouldUseInvokeStore } = await import(${JSON.stringify(bundle)});
       let reads = 0;
       const real = process.env;
       process.env = new Proxy(real, {
         get(target, key) {
           if (key === 'AWS_LAMBDA_MAX_CONCURRENCY') reads += 1;
           return Reflect.get(target, key);
         },
       });
       ${script}`,
    ],
    { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', ...environment } },
  );
  if (result.status !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout);
}

const ENTRY = `export { shouldUseInvokeStore } from '@aws-lambda-powertools/commons/utils/env';\n`;
let workDir: string;
let rewritten: string;
let published: string;

beforeAll(async () => {
  // Inside the package, so the entry resolves Powertools from its node_modules.
  workDir = await mkdtemp(join(bundlePackageDir, '.powertools-fixture-'));
  await writeFile(join(workDir, 'package.json'), '{ "name": "powertools-fixture", "type": "module" }\n');
  await writeFile(join(workDir, 'entry.ts'), ENTRY);
  rewritten = (await bundleService({ packageDir: workDir, entry: 'entry.ts', outdir: 'dist' })).outfile;
  // The published function, for the comparison: the same module outside bundleService's plugin.
  published = join(workDir, 'published.mjs');
  await writeFile(published, `export { shouldUseInvokeStore } from ${JSON.stringify(envUtilsPath)};\n`);
}, 60_000);

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

describe('shouldUseInvokeStore in a bundle (src/powertools-invoke-store.ts)', () => {
  it('reads AWS_LAMBDA_MAX_CONCURRENCY once per process where the published code reads it on every call', () => {
    const script = `const answers = new Set();
      for (let i = 0; i < 100; i += 1) answers.add(shouldUseInvokeStore());
      process.stdout.write(JSON.stringify({ answers: [...answers], reads }));`;
    expect(runWith(published, script)).toEqual({ answers: [false], reads: 100 });
    expect(runWith(rewritten, script)).toEqual({ answers: [false], reads: 1 });
  });

  it('answers as Powertools does on the first call: true when Lambda set the variable', () => {
    const script = 'process.stdout.write(JSON.stringify([shouldUseInvokeStore(), reads]));';
    for (const bundle of [published, rewritten]) {
      expect(runWith(bundle, script, { AWS_LAMBDA_MAX_CONCURRENCY: '4' })).toEqual([true, 1]);
      expect(runWith(bundle, script, { AWS_LAMBDA_MAX_CONCURRENCY: '' })).toEqual([false, 1]);
    }
  });

  // The first answer is computed on the first call, not when the module loads: a variable set after
  // the import and before the first call counts, as it would for the InvokeStore created then.
  it('keeps the first answer, computed on the first call rather than at import', () => {
    const script = `process.env.AWS_LAMBDA_MAX_CONCURRENCY = '2';
      const first = shouldUseInvokeStore();
      delete process.env.AWS_LAMBDA_MAX_CONCURRENCY;
      process.stdout.write(JSON.stringify([first, shouldUseInvokeStore()]));`;
    expect(runWith(rewritten, script)).toEqual([true, true]);
    expect(runWith(published, script)).toEqual([true, false]);
  });

  it('rewrites the installed module and leaves the rest of it as it was', async () => {
    expect(POWERTOOLS_ENV_UTILS.test(envUtilsPath)).toBe(true);
    const source = await readFile(envUtilsPath, 'utf8');
    const changed = memoizedInvokeStoreCheck(source, envUtilsPath);
    expect(changed).not.toBe(source);
    const start = source.indexOf('const shouldUseInvokeStore = () => {');
    const end = source.indexOf("return res !== '';\n};", start) + "return res !== '';\n};".length;
    expect(start).toBeGreaterThan(0);
    // Only the function changed: what comes before and after it is the same text.
    expect(changed.startsWith(source.slice(0, start))).toBe(true);
    expect(changed.endsWith(source.slice(end))).toBe(true);
    expect(changed.length - (source.length - (end - start))).toBeLessThan(200);
  });

  it('fails the build, naming the file, when Powertools no longer has the function it rewrites', () => {
    const call = () =>
      memoizedInvokeStoreCheck('export const shouldUseInvokeStore = () => true;\n', envUtilsPath);
    expect(call).toThrow(PowertoolsSourceChangedError);
    expect(call).toThrow(envUtilsPath);
  });
});
