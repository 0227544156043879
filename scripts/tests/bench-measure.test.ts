import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { builtinsFloorSource, loadedFiles } from '../src/bench/measure.ts';

const dir = mkdtempSync(join(tmpdir(), 'bench-measure-'));

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A module of `source` in the test's directory, and a chunk it imports. */
function bundle(source: string): string {
  writeFileSync(join(dir, 'chunk.mjs'), "import 'node:zlib';\nexport const x = 1;\n");
  const file = join(dir, 'index.mjs');
  writeFileSync(file, source);
  return file;
}

describe("Node's own modules under an import (the cold start's floor)", () => {
  // A bundle takes most built-ins by ES import and some by process.getBuiltinModule (node:http,
  // for one): both load modules that cost a cold start, and https loads tls and net in turn.
  const file = bundle("import './chunk.mjs';\nprocess.getBuiltinModule('node:https');\n");
  const loaded = loadedFiles(file, {});

  it('lists the files, the built-ins imported and every public module loaded for them', () => {
    expect(loaded.files).toEqual([join(dir, 'chunk.mjs'), file]);
    expect(loaded.builtins.imported).toEqual(['node:zlib']);
    expect(loaded.builtins.loaded).toEqual(expect.arrayContaining(['https', 'tls', 'net', 'zlib']));
    expect(loaded.builtins.loaded.some((id) => id.startsWith('internal/'))).toBe(false);
  });

  it('loads exactly the same modules alone, from a module of its own and no other file', () => {
    const floor = join(dir, 'floor.mjs');
    writeFileSync(floor, builtinsFloorSource(loaded.builtins));
    const alone = loadedFiles(floor, {});
    expect(alone.files).toEqual([floor]);
    expect(alone.builtins).toEqual(loaded.builtins);
  });

  it('counts nothing a plain import of nothing loads', () => {
    const empty = join(dir, 'empty.mjs');
    writeFileSync(empty, 'export {};\n');
    expect(loadedFiles(empty, {}).builtins).toEqual({ imported: [], loaded: [] });
  });
});
