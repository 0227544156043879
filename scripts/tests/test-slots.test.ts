import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import TestSlotReporter, { acquireTestSlot, slotCount } from '../../jest-test-slots.js';

// `npm test`'s order of jest runs (jest-test-slots.js): a counting semaphore across processes that
// serves the highest priority first.
const SLOTS_MODULE = new URL('../../jest-test-slots.js', import.meta.url).href;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sidestep-test-slots-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Resolves once `condition` holds, polling; fails the test after 5 s. */
async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the condition');
    await sleep(5);
  }
}

describe('test slots', () => {
  it('serves the highest priority first, then the order of asking, one holder per slot', async () => {
    const alive = () => true;
    const taken: string[] = [];
    const releases = new Map<string, () => void>();
    const ask = (name: string, pid: number, priority: number) =>
      acquireTestSlot({ dir, slots: 1, priority, pid, alive, pollMs: 5 }).then((release) => {
        taken.push(name);
        releases.set(name, release);
      });
    await ask('first', 1, 0);
    const waiting = [ask('low', 2, 0)];
    await sleep(10);
    waiting.push(ask('high', 3, 50));
    await sleep(10);
    waiting.push(ask('high, later', 4, 50));
    await sleep(50);
    expect(taken).toEqual(['first']);
    for (const holder of ['first', 'high', 'high, later']) {
      const before = taken.length;
      releases.get(holder)?.();
      await until(() => taken.length === before + 1);
    }
    await Promise.all(waiting);
    expect(taken).toEqual(['first', 'high', 'high, later', 'low']);
  });

  it('gives the slot of a process that is gone to the next waiter', async () => {
    const gone = new Set<number>();
    const alive = (pid: number) => !gone.has(pid);
    await acquireTestSlot({ dir, slots: 1, pid: 7, alive, pollMs: 5 });
    let served = false;
    const next = acquireTestSlot({ dir, slots: 1, pid: 8, alive, pollMs: 5 }).then(() => {
      served = true;
    });
    await sleep(50);
    expect(served).toBe(false);
    gone.add(7); // killed while it held the slot: it never gave it back
    await next;
    expect(readdirSync(join(dir, 'running'))).toEqual(['8']);
  });

  it('never lets more processes than slots hold one at once', async () => {
    // Six processes, two slots, each holding its slot 150 ms and recording when it held it.
    const script = `
      const { acquireTestSlot } = await import(${JSON.stringify(SLOTS_MODULE)});
      const release = await acquireTestSlot({ dir: process.argv[1], slots: 2, pollMs: 5 });
      const start = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 150));
      const end = Date.now();
      release();
      process.stdout.write(JSON.stringify([start, end]));`;
    const held = await Promise.all(
      Array.from(
        { length: 6 },
        () =>
          new Promise<[number, number]>((resolve, reject) => {
            const child = spawn(process.execPath, ['--input-type=module', '-e', script, dir]);
            let out = '';
            let err = '';
            child.stdout.on('data', (chunk) => {
              out += chunk;
            });
            child.stderr.on('data', (chunk) => {
              err += chunk;
            });
            child.on('error', reject);
            child.on('close', (code) =>
              code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`exit ${code}: ${err}`)),
            );
          }),
      ),
    );
    const most = Math.max(...held.map(([start]) => held.filter(([s, e]) => s <= start && start < e).length));
    expect(most).toBe(2);
    expect(readdirSync(join(dir, 'running'))).toEqual([]);
    expect(readdirSync(join(dir, 'waiting'))).toEqual([]);
  });

  it('reads its slot count from SIDESTEP_TEST_SLOTS, naming the variable when it is not one', () => {
    expect(slotCount(undefined)).toBeUndefined();
    expect(slotCount('')).toBeUndefined();
    expect(slotCount('4')).toBe(4);
    for (const value of ['0', '-1', '2.5', 'four']) {
      expect(() => slotCount(value)).toThrow(/^SIDESTEP_TEST_SLOTS: must be a whole number of slots from 1/);
    }
  });

  describe('as jest runs it (a reporter)', () => {
    const saved = { slots: process.env.SIDESTEP_TEST_SLOTS, dir: process.env.SIDESTEP_TEST_SLOTS_DIR };
    afterEach(() => {
      for (const [name, value] of [
        ['SIDESTEP_TEST_SLOTS', saved.slots],
        ['SIDESTEP_TEST_SLOTS_DIR', saved.dir],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    });

    it('holds a slot from the start of the run to its end', async () => {
      process.env.SIDESTEP_TEST_SLOTS = '1';
      process.env.SIDESTEP_TEST_SLOTS_DIR = dir;
      const reporter = new TestSlotReporter({}, { priority: 3 });
      await reporter.onRunStart();
      expect(readdirSync(join(dir, 'running'))).toEqual([String(process.pid)]);
      expect(JSON.parse(readFileSync(join(dir, 'running', String(process.pid)), 'utf8'))).toMatchObject({
        priority: 3,
      });
      reporter.onRunComplete();
      expect(readdirSync(join(dir, 'running'))).toEqual([]);
    });

    it('does nothing without SIDESTEP_TEST_SLOTS (jest run in one package)', async () => {
      delete process.env.SIDESTEP_TEST_SLOTS;
      process.env.SIDESTEP_TEST_SLOTS_DIR = dir;
      const reporter = new TestSlotReporter({}, { priority: 3 });
      await reporter.onRunStart();
      expect(existsSync(join(dir, 'running'))).toBe(false);
      reporter.onRunComplete();
    });
  });
});
