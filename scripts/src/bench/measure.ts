import { spawnSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';

/** Median of a sample (the bench reports medians: a 2-core machine shared with other work is noisy). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** Wall time of `node -e 0` as a fresh process, in ms: the floor any cold start sits on. */
export function bareNodeSpawnMs(runs: number): number[] {
  return Array.from({ length: runs }, () => {
    const started = performance.now();
    const result = spawnSync(process.execPath, ['-e', '0']);
    if (result.status !== 0) throw new Error('node -e 0 failed');
    return performance.now() - started;
  });
}

/**
 * Wall time of a fresh `node` that imports `file` (a bundle) and exits, in ms: what loading the bundle
 * adds to a cold start, without any runtime interface client around it.
 */
export function importSpawnMs(file: string, environment: Record<string, string>, runs: number): number[] {
  const script = `await import(${JSON.stringify(file)})`;
  return Array.from({ length: runs }, () => {
    const started = performance.now();
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      env: { PATH: process.env.PATH ?? '', ...environment },
    });
    if (result.status !== 0) throw new Error(`importing ${file} failed: ${result.stderr.toString()}`);
    return performance.now() - started;
  });
}

/** What the results file says about where they were measured. */
export function machine(): Record<string, string | number> {
  const cpu = cpus();
  return {
    cpu: cpu[0]?.model ?? 'unknown',
    cores: cpu.length,
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}
