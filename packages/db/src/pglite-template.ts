import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate } from './migrate.ts';
import { migrations } from './migrations/index.ts';
import { PgliteDatabase } from './pglite-database.ts';

/** Data-directory dumps of a new PGlite: as initdb leaves it, and with every migration applied. */
export interface PgliteTemplates {
  readonly empty: Blob;
  readonly migrated: Blob;
}

let templates: Promise<PgliteTemplates> | undefined;

/**
 * Dumps of one PGlite instance before and after migrating (`dumpDataDir`), for a new database to
 * start from (`loadDataDir`) in ~0.9 s instead of initdb and the migrations (~3 s, ~4 s of CPU).
 * Made once per machine: kept in the system's temporary directory under a key of the PGlite version
 * and the migrations' SQL (a dump is good for exactly those; a changed migration or PGlite makes new
 * ones) in a directory of this user's that only this user can write, written under a temporary
 * name and renamed, so a concurrent process reads a whole file or makes its own, and memoized in the
 * process. A directory that cannot be written only costs the time it would have saved. Making new
 * dumps removes other keys' dumps unused for a day ({@link pruneTemplates}). Used by the local
 * cloud's embedded PostgreSQL for a new data directory and by
 * `@sidestep/db/testing` for every PGlite test database (jest gives each test file a module registry
 * of its own, so a per-process cache made them ~18 times per run).
 */
export function pgliteTemplates(): Promise<PgliteTemplates> {
  templates ??= (async () => {
    const dir = pgliteTemplateDirectory();
    const key = templateKey();
    const files = { empty: join(dir, `${key}-empty.tar`), migrated: join(dir, `${key}-migrated.tar`) };
    const usable = await ownDirectory(dir);
    if (usable) {
      try {
        const [empty, migrated] = await Promise.all([readFile(files.empty), readFile(files.migrated)]);
        // Used: kept from pruning (below) for another day.
        const now = new Date();
        await Promise.all([utimes(files.empty, now, now), utimes(files.migrated, now, now)]).catch(() => {});
        return { empty: new Blob([empty]), migrated: new Blob([migrated]) };
      } catch {
        // Not made yet on this machine (or unreadable): make them.
      }
    }
    const db = await PgliteDatabase.create();
    let made: PgliteTemplates;
    try {
      // 'none': an uncompressed tarball loads ~3x faster than a gzipped one and stays in memory anyway.
      const empty = await db.pglite.dumpDataDir('none');
      await migrate(db);
      const migrated = await db.pglite.dumpDataDir('none');
      made = { empty, migrated };
    } finally {
      await db.close();
    }
    if (!usable) return made;
    try {
      for (const name of ['empty', 'migrated'] as const) {
        const partial = `${files[name]}.${process.pid}.${randomBytes(4).toString('hex')}`;
        await writeFile(partial, Buffer.from(await made[name].arrayBuffer()));
        await rename(partial, files[name]);
      }
      await pruneTemplates(dir, key);
    } catch {
      // A full temporary directory: the next process makes them again.
    }
    return made;
  })();
  return templates;
}

/** How long another key's dumps are kept unused (each read of a dump refreshes its time). */
export const UNUSED_TEMPLATE_MS = 24 * 60 * 60 * 1000;

/**
 * A dump's file name or a migrated data directory's ({@link migratedDataDirectoryName}), or one
 * being written (`.<pid>.<random>`): its key.
 */
const TEMPLATE_FILE = /^([0-9a-f]{16})-(?:empty\.tar|migrated\.tar|migrated\.data)(\.\d+\.[0-9a-f]{8})?$/;

/**
 * Removes from `dir` the dumps and data directories of keys other than `key` (and anyone's partial
 * writes) unused for {@link UNUSED_TEMPLATE_MS}: each changed migration or PGlite version makes
 * ~80 MB of new dumps (and the tests' data directory ~39 MB), and nothing else would ever remove the
 * old ones. A process still reading one that goes has its open
 * file; one about to read it finds it gone and makes the dumps again. Other files are left alone.
 */
export async function pruneTemplates(dir: string, key: string, now = Date.now()): Promise<void> {
  await removeUnused(
    dir,
    (name) => {
      const match = TEMPLATE_FILE.exec(name);
      return match !== null && !(match[1] === key && match[2] === undefined);
    },
    now,
  );
}

/**
 * Removes the entries of `dir` that `removable` names, this user owns, and nobody wrote for
 * {@link UNUSED_TEMPLATE_MS} (a directory with what it holds); what cannot be read or removed is left.
 */
export async function removeUnused(
  dir: string,
  removable: (name: string) => boolean,
  now = Date.now(),
): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names.filter(removable)) {
    const path = join(dir, name);
    try {
      const entry = await stat(path);
      if (entry.uid === process.getuid?.() && now - entry.mtimeMs > UNUSED_TEMPLATE_MS) {
        await rm(path, { recursive: true, force: true });
      }
    } catch {
      // Removed meanwhile by another process, or not ours to remove.
    }
  }
}

/**
 * Whether `dir` is this user's alone (made 0700 if missing): a database started from a dump another
 * user could have written would be theirs to shape, so such a directory is neither read nor written.
 */
export async function ownDirectory(dir: string): Promise<boolean> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const own = await stat(dir);
    return own.uid === process.getuid?.() && (own.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

/**
 * The name, in {@link pgliteTemplateDirectory}, of the data directory with every migration applied
 * that `@sidestep/db/migrated-data-directory` makes for `key`.
 */
export function migratedDataDirectoryName(key: string): string {
  return `${key}-migrated.data`;
}

/** Where this user's dumps are kept: a directory of the system's temporary one, named for the user. */
export function pgliteTemplateDirectory(): string {
  return join(tmpdir(), `sidestep-pglite-templates-${process.getuid?.() ?? 'user'}`);
}

/** The templates' key: PGlite's version and every migration. */
export function templateKey(): string {
  const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  const root = entry.slice(0, entry.lastIndexOf('@electric-sql/pglite') + '@electric-sql/pglite'.length);
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  return createHash('sha256')
    .update(JSON.stringify({ pglite: version, migrations }))
    .digest('hex')
    .slice(0, 16);
}
