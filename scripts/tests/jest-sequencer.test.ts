import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import LongestFirstSequencer, { ESTIMATED_SECONDS } from '../jest.sequencer.ts';

// scripts/jest.sequencer.ts, as jest calls it: `sort` over the run's tests, each with its context
// (the config, whose `cache: false` keeps jest's own time cache out of it, and the haste map's sizes).
const dir = import.meta.dirname;
const FAILED = 0;
const PASSED = 1;

function tests(sizes: Readonly<Record<string, number>>) {
  const context = {
    config: { cache: false, cacheDirectory: dir, id: 'sequencer-test' },
    hasteFS: { getSize: (path: string) => sizes[path.split('/').at(-1) as string] ?? null },
  };
  return Object.keys(sizes).map((name) => ({ path: join(dir, name), context, duration: undefined }));
}

const names = (sorted: readonly { path: string }[]) => sorted.map((test) => test.path.split('/').at(-1));

describe('the scripts suite’s test order (jest.sequencer.ts)', () => {
  it('runs the longest files first where jest has no times of its own (a fresh clone), the files it has no estimate of after them, larger first', () => {
    const sequencer = new LongestFirstSequencer({} as never);
    // By size alone (jest's order without times), chaos-path (~30 s) would come after the others.
    const sorted = sequencer.sort(
      tests({
        'github-workflows.test.ts': 55_340,
        'preflight.test.ts': 35_288,
        'banner.test.ts': 6_000,
        'chaos-path.test.ts': 3_500,
        'cli-path.test.ts': 45_206,
      }) as never,
    );
    expect(names(sorted)).toEqual([
      'cli-path.test.ts',
      'chaos-path.test.ts',
      'github-workflows.test.ts',
      'preflight.test.ts',
      'banner.test.ts',
    ]);
  });

  it('takes a file’s time from jest’s cache over the estimate, and runs a file that failed last time first', () => {
    // What jest's cacheResults keeps per file of a run before: [0 if it failed, its milliseconds].
    // chaos-path's 20 s (milliseconds, as jest keeps them) between cli-path's estimate (41 s) and
    // github-workflows' (18 s).
    const cached = {
      [join(dir, 'chaos-path.test.ts')]: [PASSED, 20_000],
      [join(dir, 'banner.test.ts')]: [FAILED, 200],
    };
    class AfterARun extends LongestFirstSequencer {
      override _getCache() {
        return cached as never;
      }
    }
    const run = tests({
      'cli-path.test.ts': 45_206,
      'chaos-path.test.ts': 3_500,
      'banner.test.ts': 6_000,
      'github-workflows.test.ts': 55_340,
    });
    expect(names(new AfterARun({} as never).sort(run as never) as never)).toEqual([
      'banner.test.ts',
      'cli-path.test.ts',
      'chaos-path.test.ts',
      'github-workflows.test.ts',
    ]);
  });

  it('estimates only files the suite has', () => {
    const missing = Object.keys(ESTIMATED_SECONDS).filter((name) => !existsSync(join(dir, name)));
    expect(missing).toEqual([]);
  });
});
