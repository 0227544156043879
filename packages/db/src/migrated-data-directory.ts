import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  migratedDataDirectoryName,
  ownDirectory,
  pgliteTemplateDirectory,
  templateKey,
} from './pglite-template.ts';
import { startEmbeddedPostgres } from './start-embedded-postgres.ts';

let migratedDataDir: Promise<string> | undefined;

/**
 * A data directory of the embedded PostgreSQL with every migration applied, for a test's local cloud
 * to start its database from a copy of: opening a copy takes ~0.3 s where a new one (initdb, then
 * every migration) takes ~3 s. Made once per machine for this PGlite and these migrations, in this
 * user's template directory beside the dumps, written under a temporary name and renamed (a
 * concurrent process that loses the rename uses the other's), its time refreshed at each use, and
 * pruned with the dumps when another key's are made and it went unused for a day: each changed
 * migration or lockfile had left a 39 MB directory in the system's temporary one for good. Read it
 * only by copying it; where the template directory is not this user's alone, one is made per process
 * in a directory of its own.
 */
export function migratedDataDirectory(): Promise<string> {
  migratedDataDir ??= (async () => {
    const templates = pgliteTemplateDirectory();
    const own = await ownDirectory(templates);
    const dir = own
      ? join(templates, migratedDataDirectoryName(templateKey()))
      : join(await mkdtemp(join(tmpdir(), 'sidestep-migrated-data-')), 'migrated.data');
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
    return dir;
  })();
  return migratedDataDir;
}
