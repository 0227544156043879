import { describe, expect, it } from '@jest/globals';
import { thrownBy } from '@sidestep/contracts/testing';
import { Cron } from 'croner';
import { InvalidScheduleError, nextFireTimes } from '../src/index.ts';

const iso = (dates: Date[]) => dates.map((date) => date.toISOString());
const at = (text: string) => new Date(text);

const errorOf = (fn: () => unknown) => thrownBy(fn, InvalidScheduleError);

describe('nextFireTimes: cron', () => {
  it('reads the fields in the schedule’s time zone (03:00 Tokyo is 18:00 UTC the day before)', () => {
    expect(iso(nextFireTimes('cron(0 3 * * ? *)', 'Asia/Tokyo', at('2026-11-24T10:00:00Z'), 3))).toEqual([
      '2026-11-24T18:00:00.000Z',
      '2026-11-25T18:00:00.000Z',
      '2026-11-26T18:00:00.000Z',
    ]);
    expect(iso(nextFireTimes('cron(0 3 * * ? *)', 'UTC', at('2026-11-24T10:00:00Z'), 1))).toEqual([
      '2026-11-25T03:00:00.000Z',
    ]);
  });

  it('returns only times strictly after from', () => {
    expect(iso(nextFireTimes('cron(0 3 * * ? *)', 'UTC', at('2026-11-25T03:00:00Z'), 1))).toEqual([
      '2026-11-26T03:00:00.000Z',
    ]);
  });

  it('numbers day-of-week 1 = SUN .. 7 = SAT, and takes names and ranges', () => {
    // 2026-11-24 is a Tuesday.
    const from = at('2026-11-24T00:00:00Z');
    expect(iso(nextFireTimes('cron(0 9 ? * 2-6 *)', 'UTC', from, 5))).toEqual(
      iso(nextFireTimes('cron(0 9 ? * MON-FRI *)', 'UTC', from, 5)),
    );
    expect(iso(nextFireTimes('cron(0 9 ? * 1 *)', 'UTC', from, 1))).toEqual(['2026-11-29T09:00:00.000Z']);
    expect(iso(nextFireTimes('cron(0 9 ? * 7 *)', 'UTC', from, 1))).toEqual(['2026-11-28T09:00:00.000Z']);
  });

  it('steps with a/s from a and lists values', () => {
    expect(iso(nextFireTimes('cron(0/20 10 * * ? *)', 'UTC', at('2026-11-24T09:00:00Z'), 4))).toEqual([
      '2026-11-24T10:00:00.000Z',
      '2026-11-24T10:20:00.000Z',
      '2026-11-24T10:40:00.000Z',
      '2026-11-25T10:00:00.000Z',
    ]);
    expect(iso(nextFireTimes('cron(5,35 8-9 1 JAN ? *)', 'UTC', at('2026-11-24T00:00:00Z'), 4))).toEqual([
      '2027-01-01T08:05:00.000Z',
      '2027-01-01T08:35:00.000Z',
      '2027-01-01T09:05:00.000Z',
      '2027-01-01T09:35:00.000Z',
    ]);
  });

  it('supports L, LW, W, <d>L and <d>#<k>', () => {
    const from = at('2026-11-24T00:00:00Z');
    const first = (expression: string) => iso(nextFireTimes(expression, 'UTC', from, 1))[0];
    expect(first('cron(0 0 L * ? *)')).toBe('2026-11-30T00:00:00.000Z');
    // 2027-01-31 is a Sunday: the last weekday is Friday the 29th.
    expect(iso(nextFireTimes('cron(0 0 LW * ? *)', 'UTC', from, 3))).toEqual([
      '2026-11-30T00:00:00.000Z',
      '2026-12-31T00:00:00.000Z',
      '2027-01-29T00:00:00.000Z',
    ]);
    // 2026-11-28 is a Saturday: the nearest weekday is Friday the 27th.
    expect(first('cron(0 0 28W * ? *)')).toBe('2026-11-27T00:00:00.000Z');
    // Last Friday of November 2026: the 27th. Third Monday of December 2026: the 21st.
    expect(first('cron(0 0 ? * 6L *)')).toBe('2026-11-27T00:00:00.000Z');
    expect(first('cron(0 0 ? * 2#3 *)')).toBe('2026-12-21T00:00:00.000Z');
  });

  it('honours the year field and ends when the years run out', () => {
    expect(iso(nextFireTimes('cron(0 0 1 1 ? 2028-2029)', 'UTC', at('2026-11-24T00:00:00Z'), 5))).toEqual([
      '2028-01-01T00:00:00.000Z',
      '2029-01-01T00:00:00.000Z',
    ]);
    expect(nextFireTimes('cron(0 0 30 2 ? *)', 'UTC', at('2026-11-24T00:00:00Z'), 1)).toEqual([]);
  });

  it('skips a minute a daylight-saving change skips, and fires a repeated one once', () => {
    // New York: 2027-03-14 02:00 -> 03:00 (02:30 does not exist); 2026-11-01 01:30 happens twice.
    expect(
      iso(nextFireTimes('cron(30 2 * * ? *)', 'America/New_York', at('2027-03-13T00:00:00Z'), 2)),
    ).toEqual(['2027-03-13T07:30:00.000Z', '2027-03-15T06:30:00.000Z']);
    expect(
      iso(nextFireTimes('cron(30 1 * * ? *)', 'America/New_York', at('2026-10-31T12:00:00Z'), 2)),
    ).toEqual(['2026-11-01T05:30:00.000Z', '2026-11-02T06:30:00.000Z']);
  });
  it("runs croner on wall-clock time because croner's own DST choice differs from Scheduler's", () => {
    // croner in the zone follows Vixie cron: a step runs in both passes of a repeated hour, and a
    // fixed time in a gap runs just after it. Scheduler fires the repeated minutes once and skips the gap.
    const newYork = { timezone: 'America/New_York', sloppyRanges: true, paused: true };
    const fallBack = at('2026-10-31T12:00:00Z');
    expect(iso(new Cron('0 0/30 1 * * *', newYork).nextRuns(3, fallBack))).toEqual([
      '2026-11-01T05:00:00.000Z',
      '2026-11-01T05:30:00.000Z',
      '2026-11-01T06:00:00.000Z',
    ]);
    expect(iso(nextFireTimes('cron(0/30 1 * * ? *)', 'America/New_York', fallBack, 3))).toEqual([
      '2026-11-01T05:00:00.000Z',
      '2026-11-01T05:30:00.000Z',
      '2026-11-02T06:00:00.000Z',
    ]);
    const springForward = at('2027-03-13T00:00:00Z');
    expect(iso(new Cron('0 30 2 * * *', newYork).nextRuns(2, springForward))).toEqual([
      '2027-03-13T07:30:00.000Z',
      '2027-03-14T07:00:00.000Z',
    ]);
    expect(iso(nextFireTimes('cron(30 2 * * ? *)', 'America/New_York', springForward, 2))).toEqual([
      '2027-03-13T07:30:00.000Z',
      '2027-03-15T06:30:00.000Z',
    ]);
  });

  it('reads a bare L in day-of-week as Saturday and refuses AWS-only limits croner lacks', () => {
    const from = at('2026-11-24T00:00:00Z');
    expect(iso(nextFireTimes('cron(0 0 ? * L *)', 'UTC', from, 1))).toEqual(['2026-11-28T00:00:00.000Z']);
    expect(errorOf(() => nextFireTimes('cron(0 0 ? * 8 *)', 'UTC', from, 1)).field).toBe(
      'expression.day-of-week',
    );
    expect(errorOf(() => nextFireTimes('cron(0 0 * * ? 1969)', 'UTC', from, 1)).field).toBe(
      'expression.year',
    );
  });
});

describe('nextFireTimes: rate and at', () => {
  it('fires a rate at multiples of its period', () => {
    expect(iso(nextFireTimes('rate(15 minutes)', 'UTC', at('2026-11-24T10:07:00Z'), 3))).toEqual([
      '2026-11-24T10:15:00.000Z',
      '2026-11-24T10:30:00.000Z',
      '2026-11-24T10:45:00.000Z',
    ]);
    expect(iso(nextFireTimes('rate(15 minutes)', 'UTC', at('2026-11-24T10:15:00Z'), 1))).toEqual([
      '2026-11-24T10:30:00.000Z',
    ]);
    expect(iso(nextFireTimes('rate(1 day)', 'UTC', at('2026-11-24T10:07:00Z'), 1))).toEqual([
      '2026-11-25T00:00:00.000Z',
    ]);
    expect(nextFireTimes('rate(1 hours)', 'UTC', at('2026-11-24T10:07:00Z'), 1)).toEqual(
      nextFireTimes('rate(1 hour)', 'UTC', at('2026-11-24T10:07:00Z'), 1),
    );
  });

  it('fires at() once, in the time zone', () => {
    expect(
      iso(nextFireTimes('at(2026-12-01T09:00:00)', 'Asia/Tokyo', at('2026-11-24T00:00:00Z'), 3)),
    ).toEqual(['2026-12-01T00:00:00.000Z']);
    expect(nextFireTimes('at(2026-01-01T09:00:00)', 'UTC', at('2026-11-24T00:00:00Z'), 1)).toEqual([]);
  });
});

describe('nextFireTimes: refusals', () => {
  it('names the field of an expression Scheduler would refuse', () => {
    const cases: [string, string][] = [
      ['cron(0 3 * * *)', 'expression'],
      ['cron(0 3 * * * *)', 'expression'],
      ['cron(0 3 ? * ? *)', 'expression'],
      ['cron(60 3 * * ? *)', 'expression.minutes'],
      ['cron(0 24 * * ? *)', 'expression.hours'],
      ['cron(0 3 * 13 ? *)', 'expression.month'],
      ['cron(0 3 ? * 0 *)', 'expression.day-of-week'],
      ['cron(0 3 ? * 2#6 *)', 'expression.day-of-week'],
      ['cron(0 3 * * ? 2300)', 'expression.year'],
      ['cron(0 ? * * ? *)', 'expression.hours'],
      ['rate(5 minute)', 'expression'],
      ['rate(0 minutes)', 'expression'],
      ['rate(2 weeks)', 'expression'],
      ['every 5 minutes', 'expression'],
      ['at(2026-12-01 09:00)', 'expression'],
    ];
    for (const [expression, field] of cases) {
      const error = errorOf(() => nextFireTimes(expression, 'UTC', at('2026-11-24T00:00:00Z'), 1));
      expect({ expression, field: error.field, name: error.name }).toEqual({
        expression,
        field,
        name: 'InvalidScheduleError',
      });
    }
  });

  // at(yyyy-mm-ddThh:mm:ss) names a date and time that exists: Scheduler refuses a 13th month or a
  // 30 February (https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html, one-time schedules).
  it.each([
    'at(2026-13-01T00:00:00)',
    'at(2026-00-10T00:00:00)',
    'at(2026-12-00T00:00:00)',
    'at(2026-12-32T00:00:00)',
    'at(2027-02-29T00:00:00)',
    'at(2026-04-31T00:00:00)',
    'at(2026-12-01T24:00:00)',
    'at(2026-12-01T09:60:00)',
    'at(2026-12-01T09:00:60)',
  ])('refuses %s, a date or time that does not exist, naming the expression', (expression) => {
    const error = errorOf(() => nextFireTimes(expression, 'UTC', at('2026-11-24T00:00:00Z'), 1));
    expect({ field: error.field, name: error.name, message: error.message }).toEqual({
      field: 'expression',
      name: 'InvalidScheduleError',
      message: expect.stringContaining('is not a date and time that exists'),
    });
  });

  it('takes 29 February of a leap year and the last second of a day', () => {
    expect(iso(nextFireTimes('at(2028-02-29T23:59:59)', 'UTC', at('2026-11-24T00:00:00Z'), 1))).toEqual([
      '2028-02-29T23:59:59.000Z',
    ]);
  });

  // Intl resolves abbreviations and miscased names (JST is Asia/Tokyo) that Scheduler does not take.
  it.each(['Mars/Olympus', '+09:00', 'JST', 'asia/tokyo'])(
    'names the time zone %s as unknown',
    (timezone) => {
      expect(errorOf(() => nextFireTimes('rate(1 hour)', timezone, new Date(), 1)).field).toBe('timezone');
    },
  );

  it.each(['Asia/Kolkata', 'Europe/Kyiv', 'Etc/UTC', 'UTC'])('fires in %s', (timezone) => {
    expect(iso(nextFireTimes('cron(0 3 * * ? *)', timezone, at('2026-11-24T00:00:00Z'), 1))).toHaveLength(1);
  });
});
