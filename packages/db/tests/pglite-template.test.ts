import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { pruneTemplates, removeUnused, UNUSED_TEMPLATE_MS } from '../src/pglite-template.ts';

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
    // Dumps of another key (an earlier migration), unused for two days: making new dumps removes them.
    const ownDirectory = join(scratch, 'own', `sidestep-pglite-templates-${process.getuid?.()}`);
    mkdirSync(ownDirectory, { recursive: true, mode: 0o700 });
    const stale = join(ownDirectory, '0123456789abcdef-migrated.tar');
    writeFileSync(stale, 'an old dump');
    utimesSync(
      stale,
      new Date(Date.now() - 2 * UNUSED_TEMPLATE_MS),
      new Date(Date.now() - 2 * UNUSED_TEMPLATE_MS),
    );
    const own = templatesIn(join(scratch, 'own'));
    expect(own.directory).toBe(ownDirectory);
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

  it("prunes other keys' dumps and partial writes unused for a day, and nothing else", async () => {
    const dir = mkdtempSync(join(scratch, 'prune-'));
    const now = Date.now();
    const files: Record<string, number> = {
      'aaaaaaaaaaaaaaaa-empty.tar': now - 2 * UNUSED_TEMPLATE_MS, // the key in use: kept, however old
      'aaaaaaaaaaaaaaaa-migrated.tar': now - 2 * UNUSED_TEMPLATE_MS,
      'aaaaaaaaaaaaaaaa-migrated.tar.4242.0a1b2c3d': now - 2 * UNUSED_TEMPLATE_MS, // a crashed write
      'aaaaaaaaaaaaaaaa-empty.tar.4343.0a1b2c3d': now - 60_000, // a write under way
      'bbbbbbbbbbbbbbbb-empty.tar': now - 2 * UNUSED_TEMPLATE_MS,
      'bbbbbbbbbbbbbbbb-migrated.tar': now - UNUSED_TEMPLATE_MS - 1000,
      'cccccccccccccccc-migrated.tar': now - UNUSED_TEMPLATE_MS + 60_000, // used within the day
      'notes.txt': now - 2 * UNUSED_TEMPLATE_MS, // not a dump
    };
    for (const [name, time] of Object.entries(files)) {
      writeFileSync(join(dir, name), name);
      utimesSync(join(dir, name), new Date(time), new Date(time));
    }
    await pruneTemplates(dir, 'aaaaaaaaaaaaaaaa', now);
    expect(readdirSync(dir).sort()).toEqual([
      'aaaaaaaaaaaaaaaa-empty.tar',
      'aaaaaaaaaaaaaaaa-empty.tar.4343.0a1b2c3d',
      'aaaaaaaaaaaaaaaa-migrated.tar',
      'cccccccccccccccc-migrated.tar',
      'notes.txt',
    ]);
  });

  // The path tests' migrated data directory (@sidestep/db/migrated-data-directory) is kept
  // beside the dumps: each changed migration or lockfile had left a 39 MB one in /tmp for good.
  it("prunes other keys' migrated data directories unused for a day, with what they hold", async () => {
    const dir = mkdtempSync(join(scratch, 'prune-data-'));
    const now = Date.now();
    const directories: Record<string, number> = {
      'aaaaaaaaaaaaaaaa-migrated.data': now - 2 * UNUSED_TEMPLATE_MS, // the key in use
      'bbbbbbbbbbbbbbbb-migrated.data': now - 2 * UNUSED_TEMPLATE_MS,
      'bbbbbbbbbbbbbbbb-migrated.data.4242.0a1b2c3d': now - 2 * UNUSED_TEMPLATE_MS, // a crashed build
      'cccccccccccccccc-migrated.data': now - 60_000, // used within the day
      'some-project': now - 2 * UNUSED_TEMPLATE_MS, // not ours
    };
    for (const [name, time] of Object.entries(directories)) {
      mkdirSync(join(dir, name, 'base'), { recursive: true });
      writeFileSync(join(dir, name, 'base', 'PG_VERSION'), '17');
      utimesSync(join(dir, name), new Date(time), new Date(time));
    }
    await pruneTemplates(dir, 'aaaaaaaaaaaaaaaa', now);
    expect(readdirSync(dir).sort()).toEqual([
      'aaaaaaaaaaaaaaaa-migrated.data',
      'cccccccccccccccc-migrated.data',
      'some-project',
    ]);
  });

  // migratedDataDirectory removes the directories the path tests left in the system's temporary
  // directory before they were kept beside the dumps (`sidestep-path-cloud-pglite-<key>`).
  it('removes what a name test picks out, once unused for a day, and nothing else', async () => {
    const dir = mkdtempSync(join(scratch, 'unused-'));
    const now = Date.now();
    const entries: Record<string, number> = {
      'sidestep-path-cloud-pglite-aaaaaaaaaaaaaaaa': now - 2 * UNUSED_TEMPLATE_MS,
      'sidestep-path-cloud-pglite-bbbbbbbbbbbbbbbb': now - 60_000,
      'someone-else': now - 2 * UNUSED_TEMPLATE_MS,
    };
    for (const [name, time] of Object.entries(entries)) {
      mkdirSync(join(dir, name, 'base'), { recursive: true });
      utimesSync(join(dir, name), new Date(time), new Date(time));
    }
    await removeUnused(dir, (name) => name.startsWith('sidestep-path-cloud-pglite-'), now);
    expect(readdirSync(dir).sort()).toEqual(['sidestep-path-cloud-pglite-bbbbbbbbbbbbbbbb', 'someone-else']);
  });
});
