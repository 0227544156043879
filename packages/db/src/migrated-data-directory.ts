import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  migratedDataDirectoryName,
  ownDirectory,
  pgliteTemplateDirectory,
  pruneTemplates,
  removeUnused,
  templateKey,
} from './pglite-template.ts';
import { startEmbeddedPostgres } from './start-embedded-postgres.ts';

let migratedDataDir: Promise<string> | undefined;

/** Where the path tests kept their migrated data directory until 2026-12-07, one per key. */
const LEGACY_DIRECTORY_PREFIX = 'sidestep-path-cloud-pglite-';

/**
 * A data directory of the embedded PostgreSQL with every migration applied, for a test's local cloud
 * to start its database from a copy of: opening a copy takes ~0.3 s where a new one (initdb, then
 * every migration) takes ~3 s. Made once per machine for this PGlite and these migrations, in this
 * user's template directory beside the dumps, written under a temporary name and renamed (a
 * concurrent process that loses the rename uses the other's), its time refreshed at each use; making
 * it prunes the other keys' dumps and directories unused for a day ({@link pruneTemplates}), and the
 * directories the path tests made in the system's temporary directory before they were kept here
 * (`sidestep-path-cloud-pglite-<key>`, 39 MB each, one for each changed migration or lockfile, left
 * for good). Read it only by copying it; where the template directory is not this user's alone, one is
 * made per process in a directory of its own, removed when the process exits.
 */
export function migratedDataDirectory(): Promise<string> {
  migratedDataDir ??= (async () => {
    const templates = pgliteTemplateDirectory();
    const own = await ownDirectory(templates);
    const key = templateKey();
    let dir: string;
    if (own) {
      dir = join(templates, migratedDataDirectoryName(key));
    } else {
      const mine = await mkdtemp(join(tmpdir(), 'sidestep-migrated-data-'));
      process.once('exit', () => rmSync(mine, { recursive: true, force: true }));
      dir = join(mine, 'migrated.data');
    }
    const now = new Date();
    try {
      await utimes(dir, now, now);
      return dir;
    } catch {
      // Not made yet: made below.
    }
    const building = `${dir}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await mkdir(building, { recursive: true });
    try {
      const embedded = await startEmbeddedPostgres({ dataDir: join(building, 'data') });
      await embedded.close();
      try {
        await rename(join(building, 'data'), dir);
      } catch (error) {
        // Another process made it meanwhile (the rename finds it there): theirs is the same.
        if (!existsSync(dir)) throw error;
      }
    } finally {
      await rm(building, { recursive: true, force: true });
    }
    if (own) {
      await pruneTemplates(templates, key);
      await removeUnused(tmpdir(), (name) => name.startsWith(LEGACY_DIRECTORY_PREFIX));
    }
    return dir;
  })();
  return migratedDataDir;
}
