import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';

// `npm test` type-checks the repository as one program (tsconfig.all.json) instead of one per
// package. That holds only while every package's tsconfig.json adds nothing to the shared options
// and the one program includes every file a package's own tsconfig does.
const rootDir = join(import.meta.dirname, '..', '..');
const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

/** Every workspace package directory (pnpm-workspace.yaml: infra, packages/*, services/*, scripts). */
function workspacePackages(): string[] {
  const globbed = ['packages', 'services'].flatMap((parent) =>
    readdirSync(join(rootDir, parent), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => `${parent}/${entry.name}`),
  );
  return ['infra', 'scripts', ...globbed].filter((dir) => existsSync(join(rootDir, dir, 'tsconfig.json')));
}

/** Whether `path` matches one of tsconfig's include `patterns` (`*` within one path segment). */
function included(path: string, patterns: readonly string[]): boolean {
  return patterns.some((pattern) =>
    new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replaceAll('*', '[^/]+')}$`).test(path),
  );
}

describe('tsconfig.all.json (the one program npm test type-checks)', () => {
  const all = readJson(join(rootDir, 'tsconfig.all.json'));
  const packages = workspacePackages();

  it('finds the workspace packages', () => {
    expect(packages).toEqual(
      expect.arrayContaining(['infra', 'scripts', 'packages/contracts', 'services/batch-worker']),
    );
  });

  it.each(packages)('covers everything %s/tsconfig.json includes, with the same options', (dir) => {
    const own = readJson(join(rootDir, dir, 'tsconfig.json'));
    expect(own.extends).toBe(
      `${dir
        .split('/')
        .map(() => '..')
        .join('/')}/tsconfig.base.json`,
    );
    expect(own.compilerOptions).toBeUndefined();
    for (const pattern of own.include as string[]) {
      expect([`${dir}/${pattern}`, included(`${dir}/${pattern}`, all.include)]).toEqual([
        `${dir}/${pattern}`,
        true,
      ]);
    }
  });

  it('adds no options of its own', () => {
    expect(all).toEqual({ extends: './tsconfig.base.json', include: expect.any(Array) });
  });
});
