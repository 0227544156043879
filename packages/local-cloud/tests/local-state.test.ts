import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { createCollectingReporter } from '../src/collecting-reporter.ts';
import {
  clearLocalCloudState,
  hasLocalCloudState,
  LOCAL_STATE,
  lastFiredFile,
  lockStateDir,
  pendingFiringsFile,
  readStateFile,
  STATE_DIR_LOCK,
  StateDirInUseError,
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

// Two local clouds on one state directory rewrite each other's files (the executions file is
// compacted at each start, the embedded database's files are written by both), and a --fresh of the
// second clears what the first is using: the directory is one cloud's at a time, as a PostgreSQL
// data directory is one server's (postmaster.pid).
describe('lockStateDir', () => {
  /** A live process that is not this one: it holds the lock in the tests. */
  async function otherProcess() {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    await new Promise((resolve) => child.once('spawn', resolve));
    return child;
  }

  it('refuses a directory another live process holds, naming it, and --fresh clears nothing of it', async () => {
    const holder = await otherProcess();
    try {
      writeFileSync(join(stateDir, STATE_DIR_LOCK), `${holder.pid}\n`);
      await mkdir(join(stateDir, LOCAL_STATE.outbox));
      await expect(lockStateDir(stateDir)).rejects.toThrow(StateDirInUseError);
      await expect(lockStateDir(stateDir)).rejects.toThrow(
        `in use by another local cloud (pid ${holder.pid})`,
      );
      await expect(clearLocalCloudState(stateDir)).rejects.toBeInstanceOf(StateDirInUseError);
      expect(existsSync(join(stateDir, LOCAL_STATE.outbox))).toBe(true);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  // In a container restarted after a kill, npm start gets the same process ids again: the lock the
  // last run left names this process, or its parent, and must not keep it from starting for ever.
  it('takes over a lock naming this process or its parent that this process does not hold', async () => {
    for (const pid of [process.pid, process.ppid]) {
      writeFileSync(join(stateDir, STATE_DIR_LOCK), `${pid}\n`);
      const lock = await lockStateDir(stateDir);
      expect(readFileSync(join(stateDir, STATE_DIR_LOCK), 'utf8')).toBe(`${process.pid}\n`);
      lock.release();
    }
  });

  it('takes over the lock of a process that is gone (killed), and releases it', async () => {
    const gone = await otherProcess();
    const exited = new Promise((resolve) => gone.once('exit', resolve));
    gone.kill('SIGKILL');
    await exited;
    writeFileSync(join(stateDir, STATE_DIR_LOCK), `${gone.pid}\n`);
    const lock = await lockStateDir(stateDir);
    // Held by this process now: a second start here is refused too.
    await expect(lockStateDir(stateDir)).rejects.toThrow(`(pid ${process.pid})`);
    await clearLocalCloudState(stateDir);
    lock.release();
    expect(existsSync(join(stateDir, STATE_DIR_LOCK))).toBe(false);
    (await lockStateDir(stateDir)).release();
  });
});

// A state file cut off by a crash of something else than the local cloud's own writer (which renames
// whole files into place), or edited by hand: the start stops naming it, never quoting it
// (secrets-manager.json holds the export links' signing key).
describe('readStateFile', () => {
  it.each([
    ['lambda/pending-invocations.json', 'array', '[{"requestId":"a","payload":{"x":', 'not valid JSON'],
    ['scheduler/last-fired.json', 'object', '{"nightly-export":"2026-', 'not valid JSON'],
    ['aws/message-move-tasks.json', 'array', '[{"taskHandle":', 'not valid JSON'],
    ['lambda/pending-invocations.json', 'array', '{"requestId":"a"}', 'valid JSON but not a JSON array'],
    ['scheduler/last-fired.json', 'object', '["a"]', 'valid JSON but not a JSON object'],
  ] as const)(
    'refuses %s (%s) holding %j: %s, naming it, quoting nothing',
    async (file, shape, content, problem) => {
      const path = join(stateDir, file);
      await mkdir(join(path, '..'), { recursive: true });
      await writeFile(path, content);
      let refused: unknown;
      try {
        readStateFile(path, shape);
      } catch (error) {
        refused = error;
      }
      expect(refused).toMatchObject({ name: 'CorruptStateError', path, problem });
      expect((refused as Error).message).not.toContain(content);
      expect((refused as Error).cause).toBeUndefined();
    },
  );
});
