import { randomUUID } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { access, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { PendingInvocation, PendingInvocationsStore } from './async-invocation.ts';
import type { KeyedStore } from './keyed-store.ts';
import {
  type LastFiredStore,
  type PendingFiring,
  type PendingFiringsStore,
  pendingFiringKey,
} from './scheduler.ts';

/**
 * What the local cloud keeps in its state directory, each in its own entry, so a restart resumes
 * where the last run stopped (or was killed).
 */
export const LOCAL_STATE = {
  /**
   * SQS and S3: queues, messages with their receive state, DLQs, buckets, objects (fauxqs SQLite),
   * DLQ redrives (message move tasks, `message-move-tasks.json`), and Secrets Manager's secrets with
   * their versions (`secrets-manager.json`, 0600): the export download links' signing key among
   * them, so a link mailed before a restart still opens after it.
   */
  aws: 'aws',
  /** Step Functions executions and their history (JSON lines). */
  executions: join('step-functions', 'executions.jsonl'),
  /** When each schedule last fired. */
  schedules: join('scheduler', 'last-fired.json'),
  /** The schedule firings waiting for a retry, carried over a restart. */
  pendingFirings: join('scheduler', 'pending-firings.json'),
  /**
   * Lambda's accepted asynchronous invocations (rules, schedules, `Event` Invoke) not yet done:
   * retried by the next start, or recorded as failed there once past their event age.
   */
  pendingInvocations: join('lambda', 'pending-invocations.json'),
  /** The embedded PostgreSQL's data. */
  database: 'postgres',
  /** Mail the SMTP sink received (.eml files). */
  outbox: 'outbox',
  /** CloudWatch Logs: each log group's events, every line the functions and tasks wrote (JSON lines). */
  logs: 'logs',
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
 * Writes `content` to a new file beside `file` (a name of its own, so two processes never write
 * one), with `mode`, flushed to disk; returns its path, for the caller to rename or link to `file`.
 */
function writeTemporaryFile(file: string, content: string, mode = 0o666): string {
  mkdirSync(dirname(file), { recursive: true });
  const temporary = `${file}.${randomUUID()}.tmp`;
  const descriptor = openSync(temporary, 'wx', mode);
  try {
    writeFileSync(descriptor, content);
    fsyncSync(descriptor);
  } finally {
    closeSync(descriptor);
  }
  return temporary;
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
 * the old or the new file, never half of one; the new file gets `mode` (@default 0o666, less the umask).
 */
export function writeStateFile(file: string, value: unknown, mode?: number): void {
  const temporary = writeTemporaryFile(file, JSON.stringify(value), mode);
  try {
    renameSync(temporary, file);
  } finally {
    rmSync(temporary, { force: true });
  }
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

/**
 * Entries kept by `keyOf`, in a JSON file (an array) rewritten ({@link writeStateFile}) at every
 * change: what a stop, or a crash, leaves is what the next start reads.
 */
export function keyedStateFile<T>(file: string, keyOf: (entry: T) => string): KeyedStore<T> {
  const saved = (readStateFile(file) ?? []) as T[];
  const entries = new Map(saved.map((entry) => [keyOf(entry), entry]));
  const save = () => writeStateFile(file, [...entries.values()]);
  return {
    list: () => [...entries.values()],
    set(entry) {
      entries.set(keyOf(entry), entry);
      save();
    },
    delete(key) {
      if (entries.delete(key)) save();
    },
  };
}

/** The firings waiting for a retry, in a JSON file rewritten ({@link writeStateFile}) at every change. */
export function pendingFiringsFile(file: string): PendingFiringsStore {
  return keyedStateFile<PendingFiring>(file, pendingFiringKey);
}

/**
 * Lambda's accepted asynchronous invocations not yet done, by request id, in a JSON file rewritten
 * ({@link writeStateFile}) at every change.
 */
export function pendingInvocationsFile(file: string): PendingInvocationsStore {
  return keyedStateFile<PendingInvocation>(file, (invocation) => invocation.requestId);
}
