import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';

const source = join(import.meta.dirname, '..', 'src', 'pglite-template.ts');
const scratch = mkdtempSync(join(tmpdir(), 'sidestep-template-test-'));

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** `pgliteTemplates()` in a fresh process whose temporary directory is `dir`: the dumps' sizes. */
function templatesIn(dir: string): { empty: number; migrated: number; directory: string } {
  const result = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const { pgliteTemplates, pgliteTemplateDirectory } = await import(${JSON.stringify(source)});
       const { empty, migrated } = await pgliteTemplates();
       process.stdout.write(JSON.stringify({ empty: empty.size, migrated: migrated.size, directory: pgliteTemplateDirectory() }));`,
    ],
    { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', TMPDIR: dir } },
  );
  if (result.status !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout);
}

describe('pgliteTemplates', () => {
  // Another user could write into a directory that is not this user's alone, and so shape every
  // database started from a dump there.
  it('neither reads nor writes dumps in a template directory others can write', () => {
    const own = templatesIn(join(scratch, 'own'));
    expect(own.migrated).toBeGreaterThan(1024 * 1024);
    const names = readdirSync(own.directory);
    expect(names.sort()).toEqual([
      expect.stringMatching(/-empty\.tar$/),
      expect.stringMatching(/-migrated\.tar$/),
    ]);

    // The same names, planted in a directory anyone may write.
    const shared = join(scratch, 'shared');
    const planted = join(shared, basename(own.directory));
    mkdirSync(planted, { recursive: true });
    chmodSync(planted, 0o777);
    for (const name of names) writeFileSync(join(planted, name), 'not a dump');
    const made = templatesIn(shared);
    expect(made).toEqual({ ...own, directory: planted });
    for (const name of names) expect(readFileSync(join(planted, name), 'utf8')).toBe('not a dump');
  }, 120_000);
});
