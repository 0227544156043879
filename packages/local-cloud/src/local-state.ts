import { randomUUID } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { access, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { PendingInvocation, PendingInvocationsStore } from './async-invocation.ts';
import { CorruptStateError } from './corrupt-state-error.ts';
import type { KeyedStore } from './keyed-store.ts';
import { LocalCloudStartError } from './local-cloud-start-error.ts';
import {
  type LastFiredStore,
  type PendingFiring,
  type PendingFiringsStore,
  pendingFiringKey,
} from './scheduler.ts';
import { prepareStateDir, type StateDirNotWritableError } from './state-dir.ts';

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
  /** Each function's throttles per minute, the last 15 days (Lambda's `Throttles` metric). */
  lambdaThrottles: join('lambda', 'throttles.json'),
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

/** The file in a state directory that says which process's local cloud uses it ({@link lockStateDir}). */
export const STATE_DIR_LOCK = 'local-cloud.lock';

/** A state directory another live process's local cloud holds ({@link lockStateDir}). */
export class StateDirInUseError extends LocalCloudStartError {
  override readonly name = 'StateDirInUseError';
  readonly stateDir: string;
  /** The process that holds it. */
  readonly pid: number;
  constructor(stateDir: string, pid: number) {
    super(
      `the state dir ${stateDir} is in use by another local cloud (pid ${pid}): stop it, or pick another --state-dir; if no local cloud runs, remove ${join(stateDir, STATE_DIR_LOCK)}`,
    );
    this.stateDir = stateDir;
    this.pid = pid;
  }
}

/** This process's hold on a state directory; {@link StateDirLock.release} lets it go. */
export interface StateDirLock {
  readonly stateDir: string;
  release(): void;
}

/** The state directories this process holds ({@link lockStateDir}), by their lock file. */
const heldLocks = new Set<string>();

/**
 * Makes this process the one local cloud of `stateDir`, as PostgreSQL's `postmaster.pid` makes a
 * server the one of its data directory: a lock file holding this process's id, which appears with
 * its content (written to a file of its own, then hard-linked to the lock's name, which fails when
 * the name exists), so no start ever reads it empty. Two local clouds on one directory rewrite each
 * other's files (the executions file is compacted at each start, the embedded database's files are
 * written by both) and a `--fresh` clears what the other is using, so a second is refused with
 * {@link StateDirInUseError} naming the holder. A lock whose process is gone (killed, the machine
 * restarted) is stale and taken over, as is one naming this process or its parent without this
 * process holding it: in a container restarted after a kill, `npm start` gets the same ids again
 * (PostgreSQL treats its own and its parent's pid as stale for the same reason). Released by
 * {@link StateDirLock.release}, and when the process exits. The directory is made, and proved
 * writable, first ({@link prepareStateDir}: {@link StateDirNotWritableError} names why not).
 */
export async function lockStateDir(stateDir: string): Promise<StateDirLock> {
  // A directory that cannot be written is refused naming why, before its lock file would fail bare.
  await prepareStateDir(stateDir);
  const file = join(stateDir, STATE_DIR_LOCK);
  while (!createLock(file)) {
    const holder = lockHolder(file);
    if (holder !== undefined) throw new StateDirInUseError(stateDir, holder);
    // Stale: moved out of the way under a name of its own, so of two starts taking it over only one
    // moves it (the other finds it gone, ENOENT) and both try to create it again: one wins.
    const away = `${file}.stale-${randomUUID()}`;
    try {
      renameSync(file, away);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    // What was moved may be a live lock another start made between the read and the move: put back.
    const moved = lockHolder(away);
    if (moved !== undefined) {
      createLock(file, moved);
      rmSync(away, { force: true });
      throw new StateDirInUseError(stateDir, moved);
    }
    rmSync(away, { force: true });
  }
  heldLocks.add(file);
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    heldLocks.delete(file);
    process.off('exit', release);
    try {
      unlinkSync(file);
    } catch {
      // Already gone (a --fresh of the directory's parent, a person): nothing to release.
    }
  };
  process.on('exit', release);
  return { stateDir, release };
}

/** Creates the lock `file` holding `pid`, whole at once; false when it exists. */
function createLock(file: string, pid = process.pid): boolean {
  const temporary = writeTemporaryFile(file, `${pid}\n`, 0o644);
  try {
    linkSync(temporary, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    rmSync(temporary, { force: true });
  }
}

/**
 * The live process that holds the lock `file`, or `undefined` when it is stale (its process gone, or
 * this process or its parent when this process does not hold it) or unreadable.
 */
function lockHolder(file: string): number | undefined {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(file, 'utf8'), 10);
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  if ((pid === process.pid && !heldLocks.has(file)) || pid === process.ppid) return undefined;
  try {
    // Signal 0 delivers nothing: it says whether the process exists (EPERM: it does, not ours).
    process.kill(pid, 0);
    return pid;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}

/**
 * Removes everything the local cloud keeps in `stateDir` (and only that: other files in the
 * directory stay), so the next start begins empty: `pnpm start --fresh`. Refused with
 * {@link StateDirInUseError} while another process's local cloud holds the directory: clearing it
 * under a running cloud loses what that cloud keeps.
 */
export async function clearLocalCloudState(stateDir: string): Promise<void> {
  const holder = lockHolder(join(stateDir, STATE_DIR_LOCK));
  if (holder !== undefined && holder !== process.pid) throw new StateDirInUseError(stateDir, holder);
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
 * The JSON value kept in `file` by {@link writeStateFile}, which must be an array or an object as
 * `shape` says; `undefined` when there is no such file (a first start, or one after `--fresh`).
 * Anything else fails with {@link CorruptStateError} naming the file, never quoting it.
 */
export function readStateFile(file: string, shape: 'array' | 'object'): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    if (code === 'ENOENT') return undefined;
    throw new CorruptStateError(file, `unreadable (${code ?? (error as Error).message})`, { cause: error });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // Not JSON.parse's message: it quotes the text where it stopped (a secret, in secrets-manager.json).
    throw new CorruptStateError(file, 'not valid JSON');
  }
  const isArray = Array.isArray(value);
  if (shape === 'array' ? !isArray : isArray || typeof value !== 'object' || value === null) {
    throw new CorruptStateError(file, `valid JSON but not a JSON ${shape}`);
  }
  return value;
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
  const saved = (readStateFile(file, 'object') ?? {}) as Record<string, string>;
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
  const saved = (readStateFile(file, 'array') ?? []) as T[];
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
