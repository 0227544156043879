import { describe, expect, it } from '@jest/globals';
import { type ChaosSnapshot, checkInvariants, type InvariantName } from '../src/chaos/chaos-invariants.ts';
import { chaosSeed, InvalidSeedError, SeededRandom } from '../src/chaos/seeded-random.ts';

const EXECUTION = 'arn:aws:states:us-east-1:000000000000:execution:sidestep-local-import:a';

/**
 * A consistent state: one valid upload imported, its valid rows present, its rejected row counted and
 * kept, one completion mail.
 */
function consistent(): ChaosSnapshot {
  return {
    uploads: [{ key: 'imports/a.csv', etag: 'e1', prefix: 'p1', rows: 4, rejected: 1, valid: true }],
    jobs: [
      {
        id: 'imp_1',
        state: 'succeeded',
        sourceKey: 'imports/a.csv',
        sourceVersion: '"e1"',
        rowsImported: 3,
        rowsRejected: 1,
        rejectedRowsKept: 1,
        executionId: EXECUTION,
      },
    ],
    rowsByPrefix: { p1: 3 },
    mails: [{ template: 'import.completed', jobId: 'imp_1', file: 'one.eml' }],
    deadLetters: [],
    rejected: [],
    executions: { [EXECUTION]: 'SUCCEEDED' },
  };
}

function broken(snapshot: ChaosSnapshot): InvariantName[] {
  return [...new Set(checkInvariants(snapshot).map((violation) => violation.invariant))];
}

const [job] = consistent().jobs;
if (!job) throw new Error('fixture has a job');

describe('checkInvariants', () => {
  it('finds nothing wrong with a consistent state', () => {
    expect(checkInvariants(consistent())).toEqual([]);
  });

  it('finds a completed job whose rows are not there', () => {
    expect(broken({ ...consistent(), rowsByPrefix: {} })).toEqual(['rows-match-state']);
  });

  it('finds a completed job that imported only part of a valid file', () => {
    const snapshot = consistent();
    expect(broken({ ...snapshot, jobs: [{ ...job, rowsImported: 2 }], rowsByPrefix: { p1: 2 } })).toEqual([
      'rows-match-state',
    ]);
  });

  it('finds a completed job that miscounted its rejected rows, or lost or doubled the list of them', () => {
    for (const wrong of [
      { rowsRejected: 0, rejectedRowsKept: 0 },
      { rowsRejected: 1, rejectedRowsKept: 0 },
      { rowsRejected: 1, rejectedRowsKept: 2 },
    ]) {
      expect(broken({ ...consistent(), jobs: [{ ...job, ...wrong }] })).toEqual(['rejected-rows-kept']);
    }
  });

  it('finds a failed job that lists rejected rows (it imported nothing)', () => {
    expect(
      broken({
        ...consistent(),
        jobs: [{ ...job, state: 'failed', rowsImported: null, rejectedRowsKept: 1 }],
        rowsByPrefix: {},
        mails: [{ template: 'import.failed', jobId: 'imp_1', file: 'f.eml' }],
      }),
    ).toEqual(['rejected-rows-kept']);
  });

  it('finds a failed job that left rows behind', () => {
    const snapshot = consistent();
    expect(
      broken({
        ...snapshot,
        jobs: [{ ...job, state: 'failed', rowsImported: null, rejectedRowsKept: 0 }],
        mails: [{ template: 'import.failed', jobId: 'imp_1', file: 'f.eml' }],
      }),
    ).toEqual(['rows-match-state']);
  });

  it('finds two mails for one key', () => {
    const snapshot = consistent();
    expect(
      broken({
        ...snapshot,
        mails: [...snapshot.mails, { template: 'import.completed', jobId: 'imp_1', file: 'two.eml' }],
      }),
    ).toEqual(['mail-once-per-key', 'mail-for-terminal-job']);
  });

  it('finds a completed job without its mail, and one with the failure mail', () => {
    expect(broken({ ...consistent(), mails: [] })).toEqual(['mail-for-terminal-job']);
    const snapshot = consistent();
    const wrong = checkInvariants({
      ...snapshot,
      mails: [...snapshot.mails, { template: 'import.failed', jobId: 'imp_1', file: 'f.eml' }],
    });
    expect(wrong).toEqual([
      expect.objectContaining({
        invariant: 'mail-for-terminal-job',
        detail: expect.stringContaining('import.failed'),
      }),
    ]);
  });

  it('finds a dead-lettered message without its reason', () => {
    const deadLetters = [{ queue: 'mail', messageId: 'm1', errorType: null, errorMessage: null, body: '{}' }];
    expect(broken({ ...consistent(), deadLetters })).toEqual(['dead-letter-reason']);
    const withReason = [{ ...deadLetters[0]!, errorType: 'InvalidJsonError', errorMessage: 'not JSON' }];
    expect(broken({ ...consistent(), deadLetters: withReason })).toEqual([]);
  });

  it('finds a rejected message that is not in its DLQ', () => {
    expect(broken({ ...consistent(), rejected: [{ queue: 'mail', body: '{not json' }] })).toEqual([
      'rejected-in-dead-letter',
    ]);
  });

  it('finds a running job with no live task, but not one whose execution still runs', () => {
    const running = { ...consistent(), jobs: [{ ...job, state: 'running' }], mails: [] };
    expect(broken(running)).toEqual(['running-without-task', 'terminal-state']);
    expect(broken({ ...running, executions: { [EXECUTION]: 'RUNNING' } })).toEqual([]);
  });

  it('finds an accepted upload with no job, and one with two', () => {
    expect(broken({ ...consistent(), jobs: [], mails: [] })).toEqual(['one-job-per-upload']);
    const snapshot = consistent();
    const twice = [job, { ...job, id: 'imp_2' }];
    const mails = [...snapshot.mails, { template: 'import.completed', jobId: 'imp_2', file: 'b.eml' }];
    expect(broken({ ...snapshot, jobs: twice, mails })).toEqual(['one-job-per-upload']);
  });
});

describe('SeededRandom', () => {
  it('repeats the same points for the same seed and differs for another', () => {
    const points = (seed: number) => {
      const random = new SeededRandom(seed);
      return Array.from({ length: 5 }, () => random.int(0, 1000));
    };
    expect(points(42)).toEqual(points(42));
    expect(points(42)).not.toEqual(points(43));
  });

  it('gives each target its own stream', () => {
    const random = new SeededRandom(7);
    expect(random.fork('worker').next()).toBe(new SeededRandom(7).fork('worker').next());
    expect(random.fork('worker').next()).not.toBe(random.fork('cloud').next());
  });

  it('stays within the asked range', () => {
    const random = new SeededRandom(1);
    const values = Array.from({ length: 1000 }, () => random.int(3, 5));
    expect(new Set(values)).toEqual(new Set([3, 4, 5]));
  });
});

describe('chaosSeed', () => {
  it('takes --seed before CHAOS_SEED', () => {
    expect(chaosSeed('12', { CHAOS_SEED: '34' })).toBe(12);
    expect(chaosSeed(undefined, { CHAOS_SEED: '34' })).toBe(34);
  });

  it('rejects a seed that is not a 32-bit unsigned integer, naming the field', () => {
    for (const value of ['-1', '1.5', 'abc', '4294967296']) {
      expect(() => chaosSeed(value, {})).toThrow(InvalidSeedError);
    }
    expect(() => chaosSeed('x', {})).toThrow(expect.objectContaining({ field: 'seed' }));
  });
});
