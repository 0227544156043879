import { InvalidScheduleError } from './invalid-schedule-error.ts';

/*
 * EventBridge Scheduler's schedule expressions, evaluated the way Scheduler does, for the local
 * scheduler (and for tests that drive it with a virtual clock):
 * https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html
 *
 * Why not a cron library: AWS cron differs from the crontab dialect every JS library implements in
 * ways that change when a schedule fires — six fields ending with a YEAR, day-of-week numbered
 * 1 = SUN .. 7 = SAT (crontab: 0 = SUN), exactly one of day-of-month / day-of-week is `?` (so the
 * two are never OR-ed), `L`/`W`/`#` — and the one npm library that speaks AWS syntax
 * (aws-cron-parser) evaluates in UTC only, while Scheduler evaluates in the schedule's time zone.
 * Translating to another dialect would be as much code as evaluating it, and easier to get wrong.
 */

/** Years AWS cron accepts. */
const MIN_YEAR = 1970;
const MAX_YEAR = 2199;

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const WEEKDAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

interface FieldSpec {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
}

const FIELDS = {
  minutes: { name: 'minutes', min: 0, max: 59 },
  hours: { name: 'hours', min: 0, max: 23 },
  dayOfMonth: { name: 'day-of-month', min: 1, max: 31 },
  month: { name: 'month', min: 1, max: 12, names: MONTHS },
  dayOfWeek: { name: 'day-of-week', min: 1, max: 7, names: WEEKDAYS },
  year: { name: 'year', min: MIN_YEAR, max: MAX_YEAR },
} as const satisfies Record<string, FieldSpec>;

/** A parsed day-of-month field: plain days, `L` (last day), `LW` (last weekday), `<n>W` (weekday nearest n). */
interface DayOfMonthField {
  readonly days: ReadonlySet<number>;
  readonly last: boolean;
  readonly lastWeekday: boolean;
  readonly nearestWeekday: readonly number[];
}

/** A parsed day-of-week field: plain weekdays (1 = SUN), `<d>L` (last d of the month), `<d>#<k>` (k-th d). */
interface DayOfWeekField {
  readonly weekdays: ReadonlySet<number>;
  readonly lastOfMonth: readonly number[];
  readonly nth: readonly (readonly [weekday: number, k: number])[];
}

interface Cron {
  readonly minutes: readonly number[];
  readonly hours: readonly number[];
  /** `undefined` when the field is `?`. */
  readonly dayOfMonth: DayOfMonthField | undefined;
  readonly months: ReadonlySet<number>;
  readonly dayOfWeek: DayOfWeekField | undefined;
  readonly years: ReadonlySet<number>;
}

function invalid(field: string, value: string, message: string): InvalidScheduleError {
  return new InvalidScheduleError(`expression.${field}`, value, message);
}

function fieldValue(spec: FieldSpec, text: string): number {
  const index = spec.names?.indexOf(text.toUpperCase()) ?? -1;
  const value = index >= 0 ? index + spec.min : /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(value) || value < spec.min || value > spec.max) {
    throw invalid(spec.name, text, `is not a value from ${spec.min} to ${spec.max}`);
  }
  return value;
}

/** `*`, `a`, `a-b`, `a/s`, `*\/s`, `a-b/s`, comma-separated: the set of values. */
function plainValues(spec: FieldSpec, item: string): number[] {
  const [range = '', stepText, extra] = item.split('/');
  if (extra !== undefined) throw invalid(spec.name, item, 'has more than one "/"');
  const step = stepText === undefined ? 1 : Number(stepText);
  if (!Number.isInteger(step) || step < 1)
    throw invalid(spec.name, item, 'has a step that is not a positive integer');
  let from: number;
  let to: number;
  if (range === '*') [from, to] = [spec.min, spec.max];
  else if (range.includes('-')) {
    const [a = '', b = ''] = range.split('-');
    [from, to] = [fieldValue(spec, a), fieldValue(spec, b)];
    if (from > to) throw invalid(spec.name, item, 'is a range that ends before it starts');
  } else {
    from = fieldValue(spec, range);
    // `a/s` is "from a, every s": https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html#cron-based
    to = stepText === undefined ? from : spec.max;
  }
  const values: number[] = [];
  for (let value = from; value <= to; value += step) values.push(value);
  return values;
}

function plainField(spec: FieldSpec, text: string): number[] {
  if (text === '?') throw invalid(spec.name, text, 'may not be "?" (only day-of-month or day-of-week)');
  return [...new Set(text.split(',').flatMap((item) => plainValues(spec, item)))].sort((a, b) => a - b);
}

function dayOfMonthField(text: string): DayOfMonthField {
  const days = new Set<number>();
  const nearestWeekday: number[] = [];
  let last = false;
  let lastWeekday = false;
  for (const item of text.split(',')) {
    if (item === 'L') last = true;
    else if (item === 'LW') lastWeekday = true;
    else if (/^\d+W$/.test(item)) nearestWeekday.push(fieldValue(FIELDS.dayOfMonth, item.slice(0, -1)));
    else for (const day of plainValues(FIELDS.dayOfMonth, item)) days.add(day);
  }
  return { days, last, lastWeekday, nearestWeekday };
}

function dayOfWeekField(text: string): DayOfWeekField {
  const weekdays = new Set<number>();
  const lastOfMonth: number[] = [];
  const nth: [number, number][] = [];
  for (const item of text.split(',')) {
    const hash = /^(\w+)#(\d)$/.exec(item);
    if (hash) {
      const k = Number(hash[2]);
      if (k < 1 || k > 5) throw invalid(FIELDS.dayOfWeek.name, item, 'must name the 1st to 5th weekday');
      nth.push([fieldValue(FIELDS.dayOfWeek, hash[1] ?? ''), k]);
    } else if (item === 'L') weekdays.add(7);
    else if (/^\w+L$/.test(item)) lastOfMonth.push(fieldValue(FIELDS.dayOfWeek, item.slice(0, -1)));
    else for (const day of plainValues(FIELDS.dayOfWeek, item)) weekdays.add(day);
  }
  return { weekdays, lastOfMonth, nth };
}

function parseCron(expression: string, body: string): Cron {
  const parts = body.trim().split(/\s+/);
  if (parts.length !== 6) {
    throw new InvalidScheduleError(
      'expression',
      expression,
      'must have six fields: minutes hours day-of-month month day-of-week year',
    );
  }
  const [minutes = '', hours = '', dom = '', month = '', dow = '', year = ''] = parts;
  // "If you specify a value or a * in one of the fields, you must use a ? in the other."
  if ((dom === '?') === (dow === '?')) {
    throw new InvalidScheduleError(
      'expression',
      expression,
      'must have "?" in exactly one of day-of-month and day-of-week',
    );
  }
  return {
    minutes: plainField(FIELDS.minutes, minutes),
    hours: plainField(FIELDS.hours, hours),
    dayOfMonth: dom === '?' ? undefined : dayOfMonthField(dom),
    months: new Set(plainField(FIELDS.month, month)),
    dayOfWeek: dow === '?' ? undefined : dayOfWeekField(dow),
    years: new Set(plainField(FIELDS.year, year)),
  };
}

/** Days in a month (1-12) of a year; weekday 1 = SUN .. 7 = SAT. Calendar arithmetic, no time zone. */
function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}
function weekdayOf(year: number, month: number, day: number): number {
  return new Date(Date.UTC(year, month - 1, day)).getUTCDay() + 1;
}

/** The weekday (Mon-Fri) nearest `day` within the month, as Quartz and AWS define `W`. */
function nearestWeekdayTo(year: number, month: number, day: number): number {
  const last = daysIn(year, month);
  const target = Math.min(day, last);
  const weekday = weekdayOf(year, month, target);
  if (weekday === 7) return target === 1 ? 3 : target - 1; // Saturday -> Friday, or Monday the 3rd
  if (weekday === 1) return target === last ? target - 2 : target + 1; // Sunday -> Monday, or Friday
  return target;
}

function dayMatches(cron: Cron, year: number, month: number, day: number): boolean {
  if (!cron.years.has(year) || !cron.months.has(month)) return false;
  const last = daysIn(year, month);
  const dom = cron.dayOfMonth;
  if (dom) {
    return (
      dom.days.has(day) ||
      (dom.last && day === last) ||
      (dom.lastWeekday && day === nearestWeekdayTo(year, month, last)) ||
      dom.nearestWeekday.some((target) => day === nearestWeekdayTo(year, month, target))
    );
  }
  const dow = cron.dayOfWeek;
  if (!dow) return false;
  const weekday = weekdayOf(year, month, day);
  return (
    dow.weekdays.has(weekday) ||
    dow.lastOfMonth.some((wanted) => wanted === weekday && day + 7 > last) ||
    dow.nth.some(([wanted, k]) => wanted === weekday && Math.ceil(day / 7) === k)
  );
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** A formatter giving the wall-clock fields of an instant in `timezone`; throws for an unknown zone. */
function formatterFor(timezone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timezone);
  if (!formatter) {
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

function* cronTimes(cron: Cron, timezone: string, from: number): Generator<number> {
  const start = wallClock(from, timezone);
  const lastYear = Math.min(MAX_YEAR, Math.max(...cron.years));
  let date = Date.UTC(start.year, start.month - 1, start.day);
  for (;;) {
    const day = new Date(date);
    const [year, month, dayOfMonth] = [day.getUTCFullYear(), day.getUTCMonth() + 1, day.getUTCDate()];
    if (year > lastYear) return;
    if (dayMatches(cron, year, month, dayOfMonth)) {
      for (const hour of cron.hours) {
        for (const minute of cron.minutes) {
          const instant = instantOf({ year, month, day: dayOfMonth, hour, minute }, timezone);
          if (instant !== undefined && instant > from) yield instant;
        }
      }
    }
    date += 86_400_000;
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
    const [year, month, day, hour, minute] = at.slice(1, 6).map(Number) as [
      number,
      number,
      number,
      number,
      number,
    ];
    const instant = instantOf({ year, month, day, hour, minute }, timezone);
    return instant !== undefined && instant + Number(at[6]) * 1000 > after && n > 0
      ? [new Date(instant + Number(at[6]) * 1000)]
      : [];
  }
  const cron = parseCron(expression, body);
  for (const instant of cronTimes(cron, timezone, after)) {
    if (times.length >= n) break;
    times.push(new Date(instant));
  }
  return times;
}
