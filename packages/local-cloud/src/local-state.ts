import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { access, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { LastFiredStore } from './scheduler.ts';

/**
 * What the local cloud keeps in its state directory, each in its own entry, so a restart resumes
 * where the last run stopped (or was killed).
 */
export const LOCAL_STATE = {
  /**
   * SQS and S3: queues, messages with their receive state, DLQs, buckets, objects (fauxqs SQLite),
   * and DLQ redrives (message move tasks, `message-move-tasks.json`).
   */
  aws: 'aws',
  /** Step Functions executions and their history (JSON lines). */
  executions: join('step-functions', 'executions.jsonl'),
  /** When each schedule last fired. */
  schedules: join('scheduler', 'last-fired.json'),
  /** The embedded PostgreSQL's data. */
  database: 'postgres',
  /** Mail the SMTP sink received (.eml files). */
  outbox: 'outbox',
  /**
   * Secrets made once per state directory and kept, each a file only its owner may read (0600):
   * the export download links' signing key, so a link mailed before a restart still opens after it.
   */
  secrets: 'secrets',
} as const;

/** The top-level entries of the state directory the local cloud owns. */
function stateEntries(): Set<string> {
  return new Set(Object.values(LOCAL_STATE).map((path) => path.split(/[\\/]/)[0] as string));
}

/**
 * Removes everything the local cloud keeps in `stateDir` (and only that: other files in the
 * directory stay), so the next start begins empty: `pnpm start --fresh`.
 */
export async function clearLocalCloudState(stateDir: string): Promise<void> {
  for (const entry of stateEntries()) await rm(join(stateDir, entry), { recursive: true, force: true });
}

/**
 * Whether `stateDir` holds anything a start resumes (any entry of {@link LOCAL_STATE}): `false` for
 * a directory that does not exist, an empty one, or one holding only files of others.
 */
export async function hasLocalCloudState(stateDir: string): Promise<boolean> {
  for (const entry of stateEntries()) {
    try {
      await access(join(stateDir, entry));
      return true;
    } catch {
      // Absent: look at the next entry.
    }
  }
  return false;
}

/**
 * The secret `name` of this state directory (`<stateDir>/secrets/<name>`, 32 random bytes as hex):
 * made on first use, readable by its owner only (0600, in a 0700 directory), and the same value at
 * every later start until `--fresh` clears it with the rest of the state.
 */
export function localSecret(stateDir: string, name: string): string {
  const directory = join(stateDir, LOCAL_STATE.secrets);
  const file = join(directory, name);
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  try {
    // `wx`: two processes starting on one state directory at once keep the first one's value.
    writeFileSync(file, randomBytes(32).toString('hex'), { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return readFileSync(file, 'utf8').trim();
}

/**
 * The JSON value kept in `file` by {@link writeStateFile}; `undefined` when there is no such file
 * (a first start, or one after `--fresh`).
 */
export function readStateFile(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Writes `value` as JSON to `file` (to a temporary file, then renamed over it), so a crash leaves
 * the old or the new file, never half of one.
 */
export function writeStateFile(file: string, value: unknown): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, JSON.stringify(value));
  renameSync(`${file}.tmp`, file);
}

/** When each schedule last fired, in a JSON file rewritten ({@link writeStateFile}) at every firing. */
export function lastFiredFile(file: string): LastFiredStore {
  const saved = (readStateFile(file) ?? {}) as Record<string, string>;
  const times = new Map<string, Date>(Object.entries(saved).map(([name, at]) => [name, new Date(at)]));
  return {
    get: (name) => times.get(name),
    set(name, scheduledTime) {
      times.set(name, scheduledTime);
      writeStateFile(file, Object.fromEntries(times));
    },
  };
}
