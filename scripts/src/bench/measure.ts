import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';

/** Median of a sample (the bench reports medians: a 2-core machine shared with other work is noisy). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** JavaScript source of an expression: the process's CPU time so far in ms (user + system, every thread). */
export const CPU_MS_EXPRESSION = '((usage) => (usage.user + usage.system) / 1000)(process.cpuUsage())';

/** A measure (ms, s, a rate) to one decimal, as the benches report them. */
export function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/**
 * The flag of the Lambda Node.js bootstrap that V8's code cache checks (`--expose-gc` changes V8's
 * cache tag; the bootstrap's heap sizes do not). A `node` importing an image's files runs with it, as
 * on Lambda, so that it reads the compile cache the image ships; the measures the issue defines
 * ("node importing the bundle" against `node -e 0`) run plain `node`.
 */
export const LAMBDA_NODE_FLAGS: readonly string[] = ['--expose-gc'];

/** Wall time of `node [flags] -e 0` as a fresh process, in ms: the floor any cold start sits on. */
export function bareNodeSpawnMs(runs: number, flags: readonly string[] = []): number[] {
  return Array.from({ length: runs }, () => {
    const started = performance.now();
    const result = spawnSync(process.execPath, [...flags, '-e', '0']);
    if (result.status !== 0) throw new Error('node -e 0 failed');
    return performance.now() - started;
  });
}

/**
 * Wall time of one fresh `node` that imports `file` (a bundle) and exits, in ms: what loading the
 * bundle adds to a cold start, without any runtime interface client around it.
 */
export function importSpawnOnceMs(
  file: string,
  environment: Record<string, string>,
  flags: readonly string[] = [],
): number {
  const started = performance.now();
  const result = spawnSync(
    process.execPath,
    [...flags, '--input-type=module', '-e', `await import(${JSON.stringify(file)})`],
    {
      env: { PATH: process.env.PATH ?? '', ...environment },
    },
  );
  if (result.status !== 0) throw new Error(`importing ${file} failed: ${result.stderr.toString()}`);
  return performance.now() - started;
}

/**
 * CPU time (user + system, all of the process's threads) of one fresh `node` that imports `file`, or
 * of `node -e 0` without a file, in ms, as the process itself reports it before exiting. It moves
 * less than wall time when other work shares the machine (waiting for a core is not counted), so it
 * shows what an import costs where the wall time of a loaded machine cannot say.
 */
export function spawnCpuOnceMs(
  file: string | undefined,
  environment: Record<string, string>,
  flags: readonly string[] = [],
): number {
  const load = file === undefined ? '' : `await import(${JSON.stringify(file)});`;
  const result = spawnSync(
    process.execPath,
    [...flags, '--input-type=module', '-e', `${load} process.stdout.write(String(${CPU_MS_EXPRESSION}));`],
    { env: { PATH: process.env.PATH ?? '', ...environment } },
  );
  if (result.status !== 0) throw new Error(`importing ${file} failed: ${result.stderr.toString()}`);
  return Number(result.stdout.toString());
}

/** {@link importSpawnOnceMs}, `runs` times. */
export function importSpawnMs(file: string, environment: Record<string, string>, runs: number): number[] {
  return Array.from({ length: runs }, () => importSpawnOnceMs(file, environment));
}

/**
 * Runs the measurements in turn, `runs` rounds, so that each one and its baseline see the same
 * moments of a shared machine's load; returns each one's samples in the order given.
 */
export async function interleaved<T = number>(
  runs: number,
  measurements: ReadonlyArray<() => T | Promise<T>>,
): Promise<T[][]> {
  const samples = measurements.map((): T[] => []);
  for (let run = 0; run < runs; run += 1) {
    for (const [index, measure] of measurements.entries()) samples[index]?.push(await measure());
  }
  return samples;
}

/**
 * Script text for a fresh `node`: adds the URL of every module it loads from then on (through
 * `import` and `require` alike, Node's built-ins as `node:` URLs) to the set `urls` the script declares.
 */
export const RECORD_LOADED_URLS = `const { registerHooks } = await import('node:module');
    registerHooks({ load(url, context, next) { urls.add(url); return next(url, context); } });`;

/** The files among module URLs ({@link RECORD_LOADED_URLS}), as paths, sorted. */
export function loadedPaths(urls: readonly string[]): string[] {
  return urls
    .filter((url) => url.startsWith('file:'))
    .map((url) => fileURLToPath(url))
    .sort();
}

/** Bytes of `files` together. */
export function bytesOf(files: readonly string[]): number {
  return files.reduce((sum, path) => sum + statSync(path).size, 0);
}

/**
 * Node's own modules an import brings into a fresh `node`: `imported`, the `node:` modules it imports
 * (ES imports, which also build each one's ES facade and so read every export, lazy ones included),
 * and `loaded`, every public module Node loaded for it that a plain import of nothing does not
 * (those the imported ones load in turn, and those taken with `process.getBuiltinModule`), from
 * `process.moduleLoadList`.
 */
export interface NodeBuiltins {
  readonly imported: string[];
  readonly loaded: string[];
}

/**
 * The JavaScript files a fresh `node` (with the Lambda bootstrap's flags) loads when it imports
 * `file` (a bundle): the entry and the chunks its evaluation imports, a top-level `await import()`
 * included, from Node's module hooks; and Node's own modules the import loads ({@link NodeBuiltins}).
 */
export function loadedFiles(
  file: string,
  environment: Record<string, string>,
): { files: string[]; bytes: number; builtins: NodeBuiltins } {
  const script = `
    const urls = new Set();
    ${RECORD_LOADED_URLS}
    const before = new Set(process.moduleLoadList);
    await import(${JSON.stringify(file)});
    const { isBuiltin } = process.getBuiltinModule('node:module');
    const loaded = process.moduleLoadList
      .filter((entry) => !before.has(entry) && entry.startsWith('NativeModule '))
      .map((entry) => entry.slice('NativeModule '.length))
      .filter((id) => !id.startsWith('internal/') && isBuiltin(id));
    process.stdout.write(JSON.stringify({ urls: [...urls], loaded }));`;
  const result = spawnSync(process.execPath, [...LAMBDA_NODE_FLAGS, '--input-type=module', '-e', script], {
    env: { PATH: process.env.PATH ?? '', ...environment },
  });
  if (result.status !== 0) throw new Error(`importing ${file} failed: ${result.stderr.toString()}`);
  const { urls, loaded } = JSON.parse(result.stdout.toString()) as { urls: string[]; loaded: string[] };
  const files = loadedPaths(urls);
  const imported = urls.filter((url) => url.startsWith('node:')).sort();
  return { files, bytes: bytesOf(files), builtins: { imported, loaded: [...new Set(loaded)].sort() } };
}

/**
 * Source of a module that loads exactly `builtins` as the import did (ES imports of the imported
 * ones, `process.getBuiltinModule` for the rest) and nothing else: a fresh `node` importing it
 * measures what Node's own modules cost a cold start, the floor under a bundle that needs them.
 */
export function builtinsFloorSource(builtins: NodeBuiltins): string {
  return [
    ...builtins.imported.map((url) => `import ${JSON.stringify(url)};`),
    ...builtins.loaded.map((id) => `process.getBuiltinModule(${JSON.stringify(`node:${id}`)});`),
    '',
  ].join('\n');
}

/** The 1-minute load average: how busy the machine was while measuring. */
export function loadAverage(): number {
  return Math.round((loadavg()[0] ?? 0) * 100) / 100;
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
