import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { createCollectingReporter } from '../src/collecting-reporter.ts';
import {
  clearLocalCloudState,
  hasLocalCloudState,
  LOCAL_STATE,
  lastFiredFile,
  localSecret,
  pendingFiringsFile,
} from '../src/local-state.ts';
import { createVirtualClock, type ScheduleFiring, startScheduler } from '../src/scheduler.ts';
import { everyMinutes, sweeper } from './fixtures/schedules.ts';

let stateDir: string;

beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'local-state-'));
});

afterEach(async () => {
  await rm(stateDir, { recursive: true, force: true });
});

/** A scheduler on the state dir's last-fired file, as one start of the local cloud runs it. */
function startOn(now: string) {
  const clock = createVirtualClock(new Date(now));
  const report = createCollectingReporter();
  const fired: ScheduleFiring[] = [];
  const scheduler = startScheduler({
    schedules: [sweeper],
    nextFireTimes: everyMinutes,
    clock,
    reporter: report.reporter,
    scheduleArn: (name) => `arn:aws:scheduler:us-east-1:000000000000:schedule/sidestep-local/${name}`,
    fire: async (firing) => {
      fired.push(firing);
    },
    lastFired: lastFiredFile(join(stateDir, LOCAL_STATE.schedules)),
  });
  return { clock, report, fired, scheduler };
}

describe('the scheduler across restarts', () => {
  it('does not fire a time again after a restart, even when the clock went back', async () => {
    const first = startOn('2026-11-24T10:14:00Z');
    await first.clock.advanceTo(new Date('2026-11-24T10:16:00Z'));
    expect(first.fired.map((f) => f.scheduledTime.toISOString())).toEqual(['2026-11-24T10:15:00.000Z']);
    first.scheduler.stop();

    // Restarted on a clock a minute behind (NTP stepped it back): 10:15 was delivered already.
    const second = startOn('2026-11-24T10:14:30Z');
    expect(second.scheduler.nextFire(sweeper.name)).toEqual(new Date('2026-11-24T10:30:00Z'));
    await second.clock.advanceTo(new Date('2026-11-24T10:31:00Z'));
    expect(second.fired.map((f) => f.scheduledTime.toISOString())).toEqual(['2026-11-24T10:30:00.000Z']);
    second.scheduler.stop();
  });

  it('says which firings it missed while down and does not deliver them, as Scheduler does not backfill', async () => {
    const first = startOn('2026-11-24T10:14:00Z');
    await first.clock.advanceTo(new Date('2026-11-24T10:16:00Z'));
    first.scheduler.stop();

    const second = startOn('2026-11-24T10:47:00Z');
    expect(second.report.events).toContainEqual({
      type: 'error',
      source: `schedule ${sweeper.name}`,
      message:
        'the local cloud was down at 2026-11-24T10:30:00.000Z: firings missed since 2026-11-24T10:15:00.000Z are not delivered (EventBridge Scheduler does not backfill)',
    });
    await second.clock.advanceTo(new Date('2026-11-24T11:01:00Z'));
    expect(second.fired.map((f) => f.scheduledTime.toISOString())).toEqual(['2026-11-24T11:00:00.000Z']);
    second.scheduler.stop();
  });

  it('keeps the firings waiting for a retry in the state directory, for the next start to retry', async () => {
    const file = join(stateDir, LOCAL_STATE.pendingFirings);
    const kept = {
      schedule: 'nightly-export',
      executionId: 'exec-1',
      scheduledTime: '2026-11-24T18:00:00.000Z',
      attempt: 2,
      retryAt: '2026-11-24T18:00:01.000Z',
      errorCode: 'Unreachable',
      errorMessage: 'queue unreachable',
    };
    pendingFiringsFile(file).set(kept);
    expect(pendingFiringsFile(file).list()).toEqual([kept]);
    pendingFiringsFile(file).delete('exec-1');
    expect(pendingFiringsFile(file).list()).toEqual([]);
  });
});

describe('the scheduler across restarts, missed firings', () => {
  it('reports a missed firing once: a later restart does not report it again', async () => {
    const first = startOn('2026-11-24T10:14:00Z');
    await first.clock.advanceTo(new Date('2026-11-24T10:16:00Z'));
    first.scheduler.stop();

    // Down over 10:30 and 10:45; up again at 10:47 and stopped before 11:00.
    const second = startOn('2026-11-24T10:47:00Z');
    expect(second.report.events.filter((event) => event.type === 'error')).toHaveLength(1);
    second.scheduler.stop();

    const third = startOn('2026-11-24T10:55:00Z');
    expect(third.report.events.filter((event) => event.type === 'error')).toEqual([]);
    expect(third.scheduler.nextFire(sweeper.name)).toEqual(new Date('2026-11-24T11:00:00Z'));
    third.scheduler.stop();
  });
});

describe('clearLocalCloudState', () => {
  it('removes what the local cloud keeps and nothing else in the directory', async () => {
    for (const path of Object.values(LOCAL_STATE)) {
      await mkdir(join(stateDir, path, '..'), { recursive: true });
      await writeFile(join(stateDir, path), 'kept');
    }
    await writeFile(join(stateDir, 'notes.txt'), 'mine');
    await clearLocalCloudState(stateDir);
    for (const path of Object.values(LOCAL_STATE)) expect(existsSync(join(stateDir, path))).toBe(false);
    expect(existsSync(join(stateDir, 'notes.txt'))).toBe(true);
  });
});

describe('hasLocalCloudState', () => {
  it('is false for a missing, an empty, or a directory holding only files of others', async () => {
    expect(await hasLocalCloudState(join(stateDir, 'missing'))).toBe(false);
    expect(await hasLocalCloudState(stateDir)).toBe(false);
    await writeFile(join(stateDir, 'notes.txt'), 'mine');
    expect(await hasLocalCloudState(stateDir)).toBe(false);
  });

  it('is true once anything the local cloud keeps is there, and false again after a clear', async () => {
    await mkdir(join(stateDir, LOCAL_STATE.outbox));
    expect(await hasLocalCloudState(stateDir)).toBe(true);
    await clearLocalCloudState(stateDir);
    expect(await hasLocalCloudState(stateDir)).toBe(false);
  });
});

describe('localSecret', () => {
  it('makes a secret once, keeps it for every later start, and a clear makes a new one', async () => {
    const first = localSecret(stateDir, 'key');
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    expect(localSecret(stateDir, 'key')).toBe(first);
    expect(localSecret(stateDir, 'other')).not.toBe(first);
    await clearLocalCloudState(stateDir);
    expect(localSecret(stateDir, 'key')).not.toBe(first);
  });

  it('replaces a file that is not a well-formed key (the empty file a crash between create and write left) and keeps the new key', async () => {
    const file = join(stateDir, LOCAL_STATE.secrets, 'key');
    for (const broken of ['', 'abc123', `${'g'.repeat(64)}`, `${'a'.repeat(64)}\n${'b'.repeat(64)}`]) {
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, broken);
      const key = localSecret(stateDir, 'key');
      expect(key).toMatch(/^[0-9a-f]{64}$/);
      expect(localSecret(stateDir, 'key')).toBe(key);
      expect((await readFile(file, 'utf8')).trim()).toBe(key);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
    }
  });

  it('tightens an existing secrets directory to 0700', async () => {
    const directory = join(stateDir, LOCAL_STATE.secrets);
    await mkdir(directory);
    await chmod(directory, 0o755);
    localSecret(stateDir, 'key');
    expect((await stat(directory)).mode & 0o777).toBe(0o700);
  });

  it('gives starts that ask at the same moment one whole key, never an empty or a second one', async () => {
    const starts = 4;
    const rounds = 300;
    const barrier = new SharedArrayBuffer(8);
    const workers = Array.from(
      { length: starts },
      () =>
        new Worker(new URL('./fixtures/state-process/secret-starts.ts', import.meta.url), {
          workerData: { base: stateDir, rounds, starts, name: 'key', barrier },
        }),
    );
    const values = await Promise.all(
      workers.map(
        (worker) =>
          new Promise<string[]>((resolve, reject) => {
            worker.once('message', resolve);
            worker.once('error', reject);
          }),
      ),
    );
    const differing = Array.from({ length: rounds }, (_, round) => values.map((got) => got[round])).filter(
      (keys) => !/^[0-9a-f]{64}$/.test(keys[0] ?? '') || keys.some((key) => key !== keys[0]),
    );
    expect(differing).toEqual([]);
    // No temporary file left beside a key.
    expect(await readdir(join(stateDir, '0', LOCAL_STATE.secrets))).toEqual(['key']);
  }, 60_000);
});
