import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { firstInvocationOnce } from '../src/bench/first-invocation.ts';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bench-first-invocation-'));
  const files: Record<string, string> = {
    // The handler loads a chunk only when invoked, as a bundle's lazily loaded clients are.
    'index.mjs': `import { text } from './shared.mjs';
      export const handler = async (event) => {
        if (event.fail) throw Object.assign(new Error('refused'), { name: 'InvalidInputError' });
        const { crc32 } = await import('node:zlib');
        const { lazy } = await import('./lazy.mjs');
        return { text, lazy, crc: crc32('x'), region: process.env.AWS_REGION };
      };`,
    'shared.mjs': `export const text = 'shared';`,
    'lazy.mjs': `export const lazy = 'lazy';`,
  };
  for (const [file, content] of Object.entries(files)) {
    writeFileSync(join(dir, file), content);
    chmodSync(join(dir, file), 0o444);
  }
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('firstInvocationOnce', () => {
  it('lists what the import loads and what the first invocation loads after it, with its answer', async () => {
    const sample = await firstInvocationOnce(
      { file: join(dir, 'index.mjs'), exportName: 'handler', event: {} },
      { AWS_REGION: 'eu-west-1' },
      { listModules: true },
    );
    expect(sample.outcome).toEqual({
      ok: true,
      result: { text: 'shared', lazy: 'lazy', crc: expect.any(Number), region: 'eu-west-1' },
    });
    expect(sample.importedFiles).toEqual([join(dir, 'index.mjs'), join(dir, 'shared.mjs')]);
    expect(sample.files).toEqual([join(dir, 'index.mjs'), join(dir, 'lazy.mjs'), join(dir, 'shared.mjs')]);
    expect(sample.builtins).toContain('node:zlib');
    expect(sample.invokedMs).toBeGreaterThanOrEqual(sample.importedMs);
    expect(sample.invokedCpuMs).toBeGreaterThanOrEqual(sample.importedCpuMs);
    expect(sample.wallMs).toBeGreaterThan(0);
  }, 30_000);

  it('reports what the handler threw, and lists nothing when the run is a timed one', async () => {
    const sample = await firstInvocationOnce(
      { file: join(dir, 'index.mjs'), exportName: 'handler', event: { fail: true } },
      {},
    );
    expect(sample.outcome).toEqual({ ok: false, error: 'InvalidInputError: refused' });
    expect(sample.files).toEqual([]);
  }, 30_000);

  it('runs the same script without a bundle as the bare node baseline', async () => {
    const bare = await firstInvocationOnce(undefined, {});
    expect(bare.outcome).toEqual({ ok: true, result: null });
    expect(bare.invokedMs).toBeGreaterThan(0);
  }, 30_000);
});
