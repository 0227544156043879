import { Cron } from 'croner';
import { InvalidScheduleError } from './invalid-schedule-error.ts';

/*
 * EventBridge Scheduler's schedule expressions, evaluated the way Scheduler does, for the local
 * scheduler (and for tests that drive it with a virtual clock):
 * https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html
 *
 * croner evaluates the cron fields (Quartz weekdays 1 = SUN .. 7 = SAT, the year field, `L`, `W`,
 * `LW`, `<d>L`, `<d>#<k>`, `a/s` steps from a). What is left here is the translation from AWS's
 * dialect and the places where croner decides differently from Scheduler:
 *
 * - Field order: AWS has no seconds field; croner's 7-part pattern starts with one (always `0` here).
 * - `?`: croner reads `?` as `*` in any field and ORs day-of-month with day-of-week; AWS takes `?` in
 *   exactly one of the two and never ORs them. The `?` rule is checked here, and `domAndDow` makes
 *   croner AND the two (with one of them `?` = `*`, the other alone decides).
 * - Ranges: croner takes years 1-9999 and lets day-of-week values above 7 through; AWS takes
 *   1970-2199 and 1-7. A bare `L` in day-of-week is Saturday in AWS ("the last day of the week");
 *   croner refuses it, so it is passed on as `7`.
 * - Daylight saving: croner follows Vixie cron — a fixed-time job whose minute falls in a gap runs
 *   just after the gap, and a job with a list, range or step runs twice in a repeated hour.
 *   Scheduler skips a minute that does not exist and fires a repeated one once ("When time shifts
 *   backwards ... your schedule runs only once":
 *   https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html#daylist-savings-time).
 *   So croner walks wall-clock time in UTC (no DST there), and each wall-clock minute is placed in
 *   the schedule's zone here: skipped if it does not exist, the earlier instant if it exists twice.
 *   The test 'runs croner on wall-clock time because croner's own DST choice differs' shows both.
 */

/** Years AWS cron accepts. */
const YEARS = { min: 1970, max: 2199 } as const;
const WEEKDAYS = { min: 1, max: 7 } as const;

/** AWS's six cron fields, in order, as `InvalidScheduleError` names them. */
const FIELD_NAMES = ['minutes', 'hours', 'day-of-month', 'month', 'day-of-week', 'year'] as const;
const DAY_OF_MONTH = 2;
const DAY_OF_WEEK = 4;

const CRONER_OPTIONS = {
  mode: '7-part',
  alternativeWeekdays: true,
  domAndDow: true,
  sloppyRanges: true,
  timezone: 'UTC',
  paused: true,
} as const;

function cronerPattern(fields: readonly string[]): Cron {
  return new Cron(['0', ...fields].join(' '), CRONER_OPTIONS);
}

/** The numbers an AWS field names as values (not steps after `/`, not the k of `#k`). */
function valuesIn(field: string): number[] {
  return field.split(',').flatMap((item) => (item.replace(/[/#].*$/, '').match(/\d+/g) ?? []).map(Number));
}

function checkRange(
  index: number,
  text: string,
  range: { readonly min: number; readonly max: number },
): void {
  if (valuesIn(text).some((value) => value < range.min || value > range.max)) {
    throw new InvalidScheduleError(
      `expression.${FIELD_NAMES[index]}`,
      text,
      `is not a value from ${range.min} to ${range.max}`,
    );
  }
}

/** The field croner refuses, found by trying each one in an otherwise plain pattern. */
function refusedField(expression: string, fields: readonly string[], error: unknown): InvalidScheduleError {
  for (const [index, text] of fields.entries()) {
    const probe = ['0', '0', '*', '*', '?', '*'];
    if (index === DAY_OF_WEEK) [probe[DAY_OF_MONTH], probe[DAY_OF_WEEK]] = ['?', '*'];
    probe[index] = text;
    try {
      cronerPattern(probe);
    } catch (fieldError) {
      return new InvalidScheduleError(`expression.${FIELD_NAMES[index]}`, text, 'is not valid', {
        cause: fieldError,
      });
    }
  }
  return new InvalidScheduleError('expression', expression, 'is not a valid cron expression', {
    cause: error,
  });
}

function parseCron(expression: string, body: string): Cron {
  const fields = body.trim().split(/\s+/);
  if (fields.length !== 6) {
    throw new InvalidScheduleError(
      'expression',
      expression,
      'must have six fields: minutes hours day-of-month month day-of-week year',
    );
  }
  // "If you specify a value or a * in one of the fields, you must use a ? in the other."
  if ((fields[DAY_OF_MONTH] === '?') === (fields[DAY_OF_WEEK] === '?')) {
    throw new InvalidScheduleError(
      'expression',
      expression,
      'must have "?" in exactly one of day-of-month and day-of-week',
    );
  }
  for (const [index, text] of fields.entries()) {
    if (text.includes('?') && index !== DAY_OF_MONTH && index !== DAY_OF_WEEK) {
      throw new InvalidScheduleError(
        `expression.${FIELD_NAMES[index]}`,
        text,
        'may not be "?" (only day-of-month or day-of-week)',
      );
    }
  }
  checkRange(DAY_OF_WEEK, fields[DAY_OF_WEEK] ?? '', WEEKDAYS);
  checkRange(FIELD_NAMES.length - 1, fields[FIELD_NAMES.length - 1] ?? '', YEARS);
  const translated = fields.with(
    DAY_OF_WEEK,
    (fields[DAY_OF_WEEK] ?? '')
      .split(',')
      .map((item) => (item === 'L' ? '7' : item))
      .join(','),
  );
  try {
    return cronerPattern(translated);
  } catch (error) {
    throw refusedField(expression, translated, error);
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/**
 * The shape of an IANA name Scheduler takes (https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html#time-zones):
 * `UTC`, or `Area/Location` segments each starting with a capital (`Asia/Kolkata`, `Etc/GMT+9`). Intl
 * also resolves what is no IANA name (`JST` and `asia/tokyo` to Asia/Tokyo, `+09:00` on Node 24),
 * so its accepting a zone is not enough; nor will its list (`Intl.supportedValuesOf`) do: it
 * holds CLDR's canonical ids (`Asia/Calcutta`) and misses current names (`Asia/Kolkata`).
 */
const IANA_NAME = /^(UTC|[A-Z][A-Za-z0-9_+-]*(\/[A-Z][A-Za-z0-9_+-]*)+)$/;

/** A formatter giving the wall-clock fields of an instant in `timezone`; throws for an unknown zone. */
function formatterFor(timezone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timezone);
  if (!formatter) {
    if (!IANA_NAME.test(timezone)) {
      throw new InvalidScheduleError('timezone', timezone, 'is not an IANA time zone');
    }
    try {
      formatter = new Intl.DateTimeFormat('en-US', {
        timeZone: timezone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
      });
    } catch (error) {
      throw new InvalidScheduleError('timezone', timezone, 'is not an IANA time zone', { cause: error });
    }
    formatters.set(timezone, formatter);
  }
  return formatter;
}

interface WallClock {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
}

function wallClock(instant: number, timezone: string): WallClock {
  const parts = Object.fromEntries(
    formatterFor(timezone)
      .formatToParts(instant)
      .map((part) => [part.type, Number(part.value)]),
  );
  return {
    year: parts.year,
    month: parts.month,
    day: parts.day,
    hour: parts.hour,
    minute: parts.minute,
  } as WallClock;
}

/**
 * The instant of a wall-clock minute in `timezone`. In a daylight-saving gap the minute does not
 * exist: `undefined`, and Scheduler skips the firing. When clocks go back it exists twice: the
 * earlier, and Scheduler fires once ("When time shifts backwards ... your schedule runs only once":
 * https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html#daylist-savings-time).
 */
function instantOf(wall: WallClock, timezone: string): number | undefined {
  const asUtc = Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute);
  const offsetAt = (instant: number) => {
    const w = wallClock(instant, timezone);
    return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute) - instant;
  };
  // The zone's offsets 12 hours either side cover both sides of any transition on that day.
  const candidates = [
    ...new Set([asUtc - offsetAt(asUtc - 43_200_000), asUtc - offsetAt(asUtc + 43_200_000)]),
  ]
    .filter((instant) => {
      const w = wallClock(instant, timezone);
      return (
        w.year === wall.year &&
        w.month === wall.month &&
        w.day === wall.day &&
        w.hour === wall.hour &&
        w.minute === wall.minute
      );
    })
    .sort((a, b) => a - b);
  return candidates[0];
}

/** The fire times of a cron strictly after `from`: croner's wall-clock times, placed in `timezone`. */
function* cronTimes(cron: Cron, timezone: string, from: number): Generator<number> {
  const start = wallClock(from, timezone);
  // Wall-clock minutes map to instants in order, so none before `from`'s own minute can be after it.
  let cursor: Date | null = new Date(
    Date.UTC(start.year, start.month - 1, start.day, start.hour, start.minute) - 1,
  );
  for (;;) {
    cursor = cron.nextRun(cursor);
    if (!cursor) return;
    const instant = instantOf(
      {
        year: cursor.getUTCFullYear(),
        month: cursor.getUTCMonth() + 1,
        day: cursor.getUTCDate(),
        hour: cursor.getUTCHours(),
        minute: cursor.getUTCMinutes(),
      },
      timezone,
    );
    if (instant !== undefined && instant > from) yield instant;
  }
}

const RATE_UNITS: Readonly<Record<string, number>> = {
  minute: 60_000,
  minutes: 60_000,
  hour: 3_600_000,
  hours: 3_600_000,
  day: 86_400_000,
  days: 86_400_000,
};

function ratePeriod(expression: string, body: string): number {
  const match = /^\s*(\d+)\s+([a-z]+)\s*$/.exec(body);
  const value = Number(match?.[1]);
  const unit = match?.[2] ?? '';
  const period = RATE_UNITS[unit];
  // Scheduler documents the plural units (`minutes | hours | days`); EventBridge rules require the
  // singular for 1 (`rate(1 hour)`). Both are taken for 1; a singular with any other value is refused.
  if (!match || period === undefined || value < 1 || (value !== 1 && !unit.endsWith('s'))) {
    throw new InvalidScheduleError(
      'expression',
      expression,
      'must be rate(<value> <unit>) with unit minutes, hours or days (minute, hour, day for 1)',
    );
  }
  return value * period;
}

/**
 * The next `n` times a schedule fires strictly after `from`, as EventBridge Scheduler fires it:
 *
 * - `cron(minutes hours day-of-month month day-of-week year)` in `timezone` (IANA), with `*`, `?`,
 *   lists, ranges, `/` steps, month and weekday names, `L`, `W`, `LW`, `<d>L` and `<d>#<k>`;
 *   day-of-week 1 = SUN .. 7 = SAT; a minute skipped by a daylight-saving change is skipped, a
 *   repeated one fires once.
 * - `rate(<value> minutes|hours|days)` (or `minute`, `hour`, `day` for 1): every period, at multiples of the period since the Unix
 *   epoch (`rate(15 minutes)` fires at :00, :15, :30, :45). Scheduler counts from when the schedule
 *   was created instead; the epoch makes local firing times independent of when the cloud started.
 * - `at(yyyy-mm-ddThh:mm:ss)`: once, at that wall-clock time in `timezone`.
 *
 * Fewer than `n` times come back when the schedule ends (a past `at`, a cron whose years run out).
 *
 * @example nextFireTimes('cron(0 3 * * ? *)', 'Asia/Tokyo', new Date('2026-11-24T10:00:00Z'), 1) // [2026-11-24T18:00:00Z]
 * @throws {InvalidScheduleError} naming the field of an expression or time zone Scheduler would refuse.
 */
export function nextFireTimes(expression: string, timezone: string, from: Date, n: number): Date[] {
  formatterFor(timezone);
  const match = /^(cron|rate|at)\((.*)\)$/.exec(expression.trim());
  if (!match) {
    throw new InvalidScheduleError('expression', expression, 'must be cron(...), rate(...) or at(...)');
  }
  const [, kind, body = ''] = match;
  const after = from.getTime();
  const times: Date[] = [];
  if (kind === 'rate') {
    const period = ratePeriod(expression, body);
    const first = Math.floor(after / period) * period + period;
    for (let i = 0; i < n; i++) times.push(new Date(first + i * period));
    return times;
  }
  if (kind === 'at') {
    const at = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})$/.exec(body);
    if (!at) throw new InvalidScheduleError('expression', expression, 'must be at(yyyy-mm-ddThh:mm:ss)');
    const [year, month, day, hour, minute, second] = at.slice(1, 7).map(Number) as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    // A date and time that exists (Scheduler refuses a 13th month or a 30 February,
    // https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html): Date.UTC rolls an
    // out-of-range field over into the next, so the fields come back unchanged only when each is in range.
    const probe = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
    if (
      probe.getUTCFullYear() !== year ||
      probe.getUTCMonth() !== month - 1 ||
      probe.getUTCDate() !== day ||
      probe.getUTCHours() !== hour ||
      probe.getUTCMinutes() !== minute ||
      probe.getUTCSeconds() !== second
    ) {
      throw new InvalidScheduleError('expression', expression, 'is not a date and time that exists');
    }
    const instant = instantOf({ year, month, day, hour, minute }, timezone);
    return instant !== undefined && instant + second * 1000 > after && n > 0
      ? [new Date(instant + second * 1000)]
      : [];
  }
  const cron = parseCron(expression, body);
  for (const instant of cronTimes(cron, timezone, after)) {
    if (times.length >= n) break;
    times.push(new Date(instant));
  }
  return times;
}
