import { createRequire } from 'node:module';
import { basename } from 'node:path';

// The CommonJS build, as jest's docs load it (`require('@jest/test-sequencer').default`) and as jest
// itself does: the package's one declaration file types the CommonJS module, not its ESM build.
const { default: Sequencer } = createRequire(import.meta.url)(
  '@jest/test-sequencer',
) as typeof import('@jest/test-sequencer');

type Test = Parameters<InstanceType<typeof Sequencer>['sort']>[0][number];

/** What jest's cache holds of a file's last run: [0 if it failed, its milliseconds]. */
const FAILED = 0;

/**
 * Seconds each of the suite's longer files took, alone on two cores with the workers of
 * jest.config.js (2026-12-07). Only an order: a file's own time from jest's cache wins, and a file
 * not listed runs after these, the larger first. A new file that takes long belongs here: until
 * then it runs among the last on a fresh machine (a test checks that each name is a test file).
 */
export const ESTIMATED_SECONDS: Readonly<Record<string, number>> = {
  'cli-path.test.ts': 41,
  'console-path.test.ts': 33,
  'chaos-path.test.ts': 31,
  'github-workflows.test.ts': 18,
  'start.test.ts': 18,
  'start-failures.test.ts': 15,
  'mail-path.test.ts': 14,
  'export-path.test.ts': 14,
  'import-burst.test.ts': 17,
  'import-path.test.ts': 12,
  'iam-path.test.ts': 10,
  'new-service.test.ts': 6,
  'images.test.ts': 6,
  'fire-schedule.test.ts': 5,
  'fargate-quota-path.test.ts': 5,
};

/**
 * The longest files first, also on a machine that has not run the suite before (CI's fresh clone).
 * Jest orders by the times it cached in an earlier run, else by file size (@jest/test-sequencer),
 * and by size chaos-path (89 lines, ~30 s) came 26th of 35: it ended the run with the other workers
 * idle. Failed files still go first, as in jest's order; unlike jest's, a file with neither a cached
 * time nor an estimate runs after those with one (jest runs the files it has no time for first).
 */
export default class LongestFirstSequencer extends Sequencer {
  override sort(tests: Test[]): Test[] {
    const size = (test: Test) => test.context.hasteFS.getSize(test.path) ?? 0;
    const failed = (test: Test) => this._getCache(test)[test.path]?.[0] === FAILED;
    for (const test of tests) {
      const estimate = ESTIMATED_SECONDS[basename(test.path)];
      test.duration =
        this._getCache(test)[test.path]?.[1] ?? (estimate === undefined ? undefined : estimate * 1000);
    }
    return [...tests].sort((a, b) => {
      const failedA = failed(a);
      if (failedA !== failed(b)) return failedA ? -1 : 1;
      if ((a.duration === undefined) !== (b.duration === undefined)) return a.duration === undefined ? 1 : -1;
      if (a.duration !== undefined && b.duration !== undefined && a.duration !== b.duration)
        return b.duration - a.duration;
      return size(b) - size(a);
    });
  }
}
