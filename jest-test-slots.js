// Test slots: how `npm test` orders the workspace's jest runs on a 2-core machine.
//
// `npm test` is one turbo run (builds, synth, typecheck and every package's suite). Turbo gives its
// `--concurrency` permits first come, first served, to every task of the graph, the no-op `#build`
// tasks of packages without a build script included; a suite that needs many builds (the scripts
// package's end-to-end suite needs every bundle and the CLI's) became ready only after each level of
// those no-op tasks had queued behind the short suites, so the longest suite started ~190 s into a
// ~300 s run and ran alone at the end (turbo's run summaries, 2026-12-05/06). Turbo has no task
// priorities, and listing real builds instead of `^build` would drop the no-op tasks that carry a
// dependency's source changes into the dependants' cache keys.
//
// So `npm test` lifts turbo's limit (every task starts as soon as its dependencies are done) and
// each jest run takes one of `SIDESTEP_TEST_SLOTS` slots before its first test file runs, through
// this reporter (jest awaits a reporter's `onRunStart` before it starts its workers): the longest
// suites first (`slotPriority` in the package's jest.config.js), the others in the order they asked.
// Without `SIDESTEP_TEST_SLOTS` (jest run in one package, the IDE) the reporter does nothing.
//
// Written here rather than taken from a library: the npm packages for locks (proper-lockfile) and
// semaphores (async-sema, p-limit) are mutual exclusion, or limits inside one process; this is a
// counting semaphore across processes that serves the highest priority first.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** The slots' directory when the environment does not name one: one per checkout. */
export const DEFAULT_SLOTS_DIR = join(import.meta.dirname, 'node_modules', '.cache', 'sidestep-test-slots');

/** A lock left by a process that died inside the few milliseconds it holds it is broken after this. */
const STALE_LOCK_MS = 10_000;

/**
 * The slot count `SIDESTEP_TEST_SLOTS` asks for (a whole number from 1), or undefined when unset.
 * @param {string | undefined} value
 * @returns {number | undefined}
 */
export function slotCount(value) {
  if (value === undefined || value === '') return undefined;
  const count = Number(value);
  if (!Number.isInteger(count) || count < 1) {
    throw new Error(
      `SIDESTEP_TEST_SLOTS: must be a whole number of slots from 1, not ${JSON.stringify(value)}`,
    );
  }
  return count;
}

/** @param {number} pid */
function isRunning(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return /** @type {NodeJS.ErrnoException} */ (error).code === 'EPERM';
  }
}

/**
 * Entries of `dir` (one file per process, named by its pid), with the ones whose process is gone
 * removed: a jest run killed while it held or awaited a slot gives it back this way.
 * @param {string} dir
 * @param {(pid: number) => boolean} alive
 * @returns {{ pid: number, priority: number, since: number }[]}
 */
function liveEntries(dir, alive) {
  const entries = [];
  for (const name of readdirSync(dir)) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const path = join(dir, name);
    if (!alive(pid)) {
      rmSync(path, { force: true });
      continue;
    }
    try {
      entries.push({ pid, ...JSON.parse(readFileSync(path, 'utf8')) });
    } catch (error) {
      // A holder gives its slot back without the lock: its entry can go between the listing and here.
      if (/** @type {NodeJS.ErrnoException} */ (error).code !== 'ENOENT') throw error;
    }
  }
  return entries;
}

/**
 * Runs `decide` while holding the directory's lock (an atomic `mkdir`), so that two processes never
 * both see a free slot and take it.
 * @template T
 * @param {string} dir
 * @param {() => T} decide
 * @returns {Promise<T>}
 */
async function locked(dir, decide) {
  const lock = join(dir, 'lock');
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (error) {
      if (/** @type {NodeJS.ErrnoException} */ (error).code !== 'EEXIST') throw error;
      try {
        if (Date.now() - statSync(lock).mtimeMs > STALE_LOCK_MS)
          rmSync(lock, { recursive: true, force: true });
      } catch {
        // Released meanwhile.
      }
      await sleep(5);
    }
  }
  try {
    return decide();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/**
 * Waits for one of `slots` slots in `dir` and takes it; resolves to the function that gives it
 * back. Waiters are served highest `priority` first, then in the order they asked.
 * @param {{ dir: string, slots: number, priority?: number, pid?: number, alive?: (pid: number) => boolean, pollMs?: number }} options
 * @returns {Promise<() => void>}
 */
export async function acquireTestSlot({
  dir,
  slots,
  priority = 0,
  pid = process.pid,
  alive = isRunning,
  pollMs = 100,
}) {
  const waiting = join(dir, 'waiting');
  const running = join(dir, 'running');
  mkdirSync(waiting, { recursive: true });
  mkdirSync(running, { recursive: true });
  const ticket = join(waiting, String(pid));
  const slot = join(running, String(pid));
  // Written whole, then moved into place: a waiter never reads half a ticket.
  const draft = join(dir, `ticket-${pid}.tmp`);
  writeFileSync(draft, JSON.stringify({ priority, since: Date.now() }));
  renameSync(draft, ticket);
  for (;;) {
    const taken = await locked(dir, () => {
      if (liveEntries(running, alive).length >= slots) return false;
      const [first] = liveEntries(waiting, alive).sort(
        (a, b) => b.priority - a.priority || a.since - b.since || a.pid - b.pid,
      );
      if (first?.pid !== pid) return false;
      renameSync(ticket, slot);
      return true;
    });
    if (taken) return () => rmSync(slot, { force: true });
    await sleep(pollMs);
  }
}

/**
 * The jest reporter: takes a slot when the run starts, gives it back when it completes (or when the
 * process exits first).
 */
export default class TestSlotReporter {
  #priority;
  /** @type {(() => void) | undefined} */
  #release;

  /** @param {unknown} _globalConfig @param {{ priority?: number }} [options] */
  constructor(_globalConfig, options = {}) {
    this.#priority = options.priority ?? 0;
  }

  async onRunStart() {
    const slots = slotCount(process.env.SIDESTEP_TEST_SLOTS);
    if (slots === undefined) return;
    const dir = process.env.SIDESTEP_TEST_SLOTS_DIR || DEFAULT_SLOTS_DIR;
    this.#release = await acquireTestSlot({ dir, slots, priority: this.#priority });
    process.once('exit', this.#release);
  }

  onRunComplete() {
    if (!this.#release) return;
    this.#release();
    process.off('exit', this.#release);
    this.#release = undefined;
  }
}
