import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from '@jest/globals';

// A module cycle (even a type-only one) means two files describe one thing from both ends: the
// repository keeps none. This walks the relative imports of every source file (madge does the same
// with a dependency tree of its own; a regex over `import`/`export ... from` is enough for code
// Biome formats, and it reads the whole workspace in milliseconds).
const rootDir = join(import.meta.dirname, '..', '..');
const SOURCE_DIRS = ['infra', 'scripts', 'packages', 'services'];
const SKIPPED = new Set(['node_modules', 'dist', 'cdktf.out', '.turbo', '.sidestep', 'coverage']);
const RELATIVE_IMPORT = /\b(?:import|export)\s+(?:type\s+)?(?:[^'"`;]*?\sfrom\s+)?['"](\.{1,2}\/[^'"]+)['"]/g;

/** Every `.ts`/`.js`/`.mjs` file below `dir` (declaration files and build output skipped). */
function sourceFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (SKIPPED.has(entry.name)) return [];
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.(ts|mts|js|mjs)$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Every import cycle among the files below `dirs`, each as the files in import order, relative to `base`. */
function importCycles(base: string, dirs: readonly string[]): string[][] {
  const files = dirs.flatMap((dir) => sourceFiles(resolve(base, dir)));
  const imports = new Map(
    files.map((file) => [
      file,
      [...readFileSync(file, 'utf8').matchAll(RELATIVE_IMPORT)]
        .map((match) => resolve(dirname(file), match[1] ?? ''))
        .filter((target) => existsSync(target)),
    ]),
  );
  const visiting: string[] = [];
  const done = new Set<string>();
  const cycles: string[][] = [];
  const visit = (file: string): void => {
    visiting.push(file);
    for (const target of imports.get(file) ?? []) {
      const at = visiting.indexOf(target);
      if (at >= 0) cycles.push([...visiting.slice(at), target].map((path) => relative(base, path)));
      else if (!done.has(target)) visit(target);
    }
    visiting.pop();
    done.add(file);
  };
  for (const file of files) if (!done.has(file)) visit(file);
  return cycles;
}

describe('import cycles', () => {
  it('finds a cycle, type-only imports included', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sidestep-cycles-'));
    try {
      mkdirSync(join(dir, 'src'));
      writeFileSync(join(dir, 'src', 'a.ts'), "import { b } from './b.ts';\nexport const a = b;\n");
      writeFileSync(
        join(dir, 'src', 'b.ts'),
        "import type {\n  C,\n} from './c.ts';\nexport const b: C = 1;\n",
      );
      writeFileSync(join(dir, 'src', 'c.ts'), "export type { A } from './a.ts';\nexport type C = number;\n");
      writeFileSync(join(dir, 'src', 'd.ts'), "import { a } from './a.ts';\nexport const d = a;\n");
      expect(importCycles(dir, ['src'])).toEqual([['src/a.ts', 'src/b.ts', 'src/c.ts', 'src/a.ts']]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('finds none in the workspace', () => {
    expect(importCycles(rootDir, SOURCE_DIRS)).toEqual([]);
  });
});
