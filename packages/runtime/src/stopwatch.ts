/**
 * Starts timing and returns a function that reads the milliseconds elapsed since, rounded to the
 * microsecond: the `durationMs` every handler wrapper logs.
 */
export function startStopwatch(): () => number {
  const started = performance.now();
  return () => Math.round((performance.now() - started) * 1000) / 1000;
}
