import type { Catcher } from './asl.ts';

/** Any error of a task after its retries: keep the input, add the error at `resultPath` (`{ Error, Cause }`). */
export function catchAll(next: string, resultPath = '$.error'): Catcher[] {
  return [{ ErrorEquals: ['States.ALL'], Next: next, ResultPath: resultPath }];
}
