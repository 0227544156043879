import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { LastFiredStore } from './scheduler.ts';

/**
 * What the local cloud keeps in its state directory, each in its own entry, so a restart resumes
 * where the last run stopped (or was killed).
 */
export const LOCAL_STATE = {
  /** SQS and S3: queues, messages with their receive state, DLQs, buckets, objects (fauxqs SQLite). */
  aws: 'aws',
  /** Step Functions executions and their history (JSON lines). */
  executions: join('step-functions', 'executions.jsonl'),
  /** When each schedule last fired. */
  schedules: join('scheduler', 'last-fired.json'),
  /** The embedded PostgreSQL's data. */
  database: 'postgres',
  /** Mail the SMTP sink received (.eml files). */
  outbox: 'outbox',
} as const;

/**
 * Removes everything the local cloud keeps in `stateDir` (and only that: other files in the
 * directory stay), so the next start begins empty: `pnpm start --fresh`.
 */
export async function clearLocalCloudState(stateDir: string): Promise<void> {
  const entries = new Set(Object.values(LOCAL_STATE).map((path) => path.split(/[\\/]/)[0] as string));
  for (const entry of entries) await rm(join(stateDir, entry), { recursive: true, force: true });
}

/**
 * When each schedule last fired, in a JSON file rewritten (to a temporary file, then renamed over
 * it) at every firing, so a crash leaves the old or the new file, never half of one.
 */
export function lastFiredFile(file: string): LastFiredStore {
  const times = new Map<string, Date>();
  try {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
    for (const [name, at] of Object.entries(saved)) times.set(name, new Date(at));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  return {
    get: (name) => times.get(name),
    set(name, scheduledTime) {
      times.set(name, scheduledTime);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(`${file}.tmp`, JSON.stringify(Object.fromEntries(times)));
      renameSync(`${file}.tmp`, file);
    },
  };
}
