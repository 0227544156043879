/**
 * A schedule expression or time zone that EventBridge Scheduler would refuse (or that sidestep cannot
 * evaluate the way Scheduler does); `field` names which (`expression`, `expression.day-of-week`,
 * `timezone`, ...). Permanent.
 */
export class InvalidScheduleError extends Error {
  override readonly name = 'InvalidScheduleError';
  readonly field: string;
  readonly value: string;

  constructor(field: string, value: string, message: string, options?: { cause?: unknown }) {
    super(`${field}: "${value}" ${message}`, options);
    this.field = field;
    this.value = value;
  }
}
