import { describe, expect, it } from '@jest/globals';
import { ExportRequestedJob, SweepStaleJobsInput, validate } from '@sidestep/contracts';
import {
  defineSchedules,
  InvalidScheduleError,
  nextFireTimes,
  operatorEventPattern,
  SCHEDULES,
  type ScheduleDefinition,
} from '../src/index.ts';

/** What Scheduler does to the input at a firing: replace its context attributes. */
function fire(schedule: ScheduleDefinition, scheduledTime: string): unknown {
  return JSON.parse(
    JSON.stringify(schedule.input)
      .replaceAll('<aws.scheduler.scheduled-time>', scheduledTime)
      .replaceAll('<aws.scheduler.execution-id>', 'c7d0a3f1-1a2b-4c3d-8e9f-0a1b2c3d4e5f'),
  );
}

function byName(name: string): ScheduleDefinition {
  const schedule = SCHEDULES.find((candidate) => candidate.name === name);
  if (!schedule) throw new Error(`no schedule ${name}`);
  return schedule;
}

describe('SCHEDULES', () => {
  it('has unique kebab-case names, evaluable expressions and retry policies Scheduler accepts', () => {
    expect(new Set(SCHEDULES.map((schedule) => schedule.name)).size).toBe(SCHEDULES.length);
    for (const schedule of SCHEDULES) {
      expect(schedule.name).toMatch(/^[a-z0-9]+(?:-[a-z0-9]+)*$/);
      expect(
        nextFireTimes(schedule.expression, schedule.timezone, new Date('2026-11-24T10:00:00Z'), 2),
      ).toHaveLength(2);
      const { maximumRetryAttempts, maximumEventAgeSeconds } = schedule.retryPolicy;
      expect(maximumRetryAttempts).toBeGreaterThanOrEqual(0);
      expect(maximumRetryAttempts).toBeLessThanOrEqual(185);
      expect(maximumEventAgeSeconds).toBeGreaterThanOrEqual(60);
      expect(maximumEventAgeSeconds).toBeLessThanOrEqual(86_400);
    }
  });

  it('exports everyone at 03:00 Tokyo with an export.requested envelope whose id is the firing’s time', () => {
    const nightly = byName('nightly-export');
    expect(nightly).toMatchObject({
      expression: 'cron(0 3 * * ? *)',
      timezone: 'Asia/Tokyo',
      target: { kind: 'queue', queue: 'export-requests' },
    });
    const first = validate(ExportRequestedJob, fire(nightly, '2026-11-24T18:00:00Z'));
    expect(first).toEqual({
      type: 'export.requested',
      version: 1,
      id: 'nightly-export:2026-11-24T18:00:00Z',
      createdAt: '2026-11-24T18:00:00Z',
      payload: { requestedBy: 'ops@sidestep.localhost', byteOrderMark: true },
    });
    // A repeated delivery of one firing is the same request; the next firing is another.
    const again = validate(ExportRequestedJob, fire(nightly, '2026-11-24T18:00:00Z'));
    const next = validate(ExportRequestedJob, fire(nightly, '2026-11-25T18:00:00Z'));
    expect(again.id).toBe(first.id);
    expect(next.id).not.toBe(first.id);
  });

  it('sweeps stale jobs every 15 minutes by invoking the job-sweeper with {}', () => {
    const sweeper = byName('stale-job-sweeper');
    expect(sweeper).toMatchObject({
      expression: 'rate(15 minutes)',
      target: { kind: 'function', service: 'job-sweeper' },
    });
    expect(validate(SweepStaleJobsInput, fire(sweeper, '2026-11-24T10:15:00Z'))).toEqual({});
    // A firing dropped after its age limit is covered by the next one.
    expect(sweeper.retryPolicy.maximumEventAgeSeconds).toBeLessThan(15 * 60);
  });

  it('sends the nightly export to the recipient an environment names, and refuses a non-address', () => {
    const [nightly] = defineSchedules({ nightlyExportRecipient: 'data-team@example.com' });
    expect(
      validate(ExportRequestedJob, fire(nightly as ScheduleDefinition, '2026-11-24T18:00:00Z')).payload
        .requestedBy,
    ).toBe('data-team@example.com');
    expect(() => defineSchedules({ nightlyExportRecipient: 'data team' })).toThrow(InvalidScheduleError);
  });
});

describe('operatorEventPattern', () => {
  it('matches the operator’s Schedule Fired event for that schedule', () => {
    expect(operatorEventPattern('stale-job-sweeper')).toEqual({
      source: ['sidestep.operator'],
      'detail-type': ['Schedule Fired'],
      detail: { schedule: ['stale-job-sweeper'] },
    });
  });

  it('refuses a name that is not a schedule name', () => {
    let error: unknown;
    try {
      operatorEventPattern('Nightly Export');
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ name: 'InvalidScheduleError', field: 'schedule' });
  });
});
