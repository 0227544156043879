import { spawn } from 'node:child_process';
import { CPU_MS_EXPRESSION, LAMBDA_NODE_FLAGS, loadedPaths, RECORD_LOADED_URLS } from './measure.ts';

/** What a handler's first invocation is given: the bundle, its export and one event. */
export interface FirstInvocationTarget {
  /** The bundle's entry (`<task root>/index.mjs`). */
  readonly file: string;
  /** The handler's export (`handler` of the CMD `index.handler`). */
  readonly exportName: string;
  readonly event: unknown;
}

/** One fresh `node` that imports a bundle and hands its handler one event. */
export interface FirstInvocationSample {
  /** Spawn to the process's report at the end of the first invocation, as the parent sees it. */
  readonly wallMs: number;
  /** From the process's start (`performance.timeOrigin`) to the end of the import. */
  readonly importedMs: number;
  /** CPU time (user + system, every thread) at the end of the import. */
  readonly importedCpuMs: number;
  /** From the process's start to the end of the first invocation. */
  readonly invokedMs: number;
  /** CPU time at the end of the first invocation. */
  readonly invokedCpuMs: number;
  /** What the handler returned, or the name and message of what it threw. */
  readonly outcome:
    | { readonly ok: true; readonly result: unknown }
    | { readonly ok: false; readonly error: string };
  /** With `listModules`: the JavaScript files loaded by the end of the import, sorted. */
  readonly importedFiles: readonly string[];
  /** With `listModules`: the JavaScript files loaded by the end of the invocation, sorted. */
  readonly files: readonly string[];
  /** With `listModules`: Node's built-in modules loaded by then (`node:https`), sorted. */
  readonly builtins: readonly string[];
}

/**
 * The script of the fresh process: with a target, import it, call the handler with the event and a
 * Lambda context, and report the marks on file descriptor 3 (stdout is the function's log, thrown
 * away as Lambda's log pipe would take it); without one, report the same marks at once (the bare
 * `node` baseline, which runs this same script minus the bundle). With `listModules`, Node's module
 * hooks (`registerHooks`, as `loadedFiles` uses for the import) record every module loaded, through
 * `import` and `require` alike; the timed runs go without them.
 */
export function firstInvocationScript(
  target: FirstInvocationTarget | undefined,
  listModules: boolean,
): string {
  const cpu = CPU_MS_EXPRESSION;
  const hooks = listModules ? RECORD_LOADED_URLS : '';
  const invoke = target
    ? `const loaded = await import(${JSON.stringify(target.file)});
       marks.importedMs = performance.now(); marks.importedCpuMs = ${cpu}; marks.importedUrls = [...urls];
       const context = { functionName: process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'bench', functionVersion: '$LATEST', invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:bench', memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE ?? '1024', awsRequestId: 'bench-first', logGroupName: 'bench', logStreamName: 'bench', getRemainingTimeInMillis: () => 30000, callbackWaitsForEmptyEventLoop: true };
       try {
         outcome = { ok: true, result: await loaded[${JSON.stringify(target.exportName)}](${JSON.stringify(target.event)}, context) };
       } catch (error) {
         outcome = { ok: false, error: String(error?.name) + ': ' + String(error?.message) };
       }`
    : `marks.importedMs = performance.now(); marks.importedCpuMs = ${cpu}; marks.importedUrls = [];`;
  return `
    const urls = new Set();
    ${hooks}
    const marks = {};
    let outcome = { ok: true, result: null };
    ${invoke}
    marks.invokedMs = performance.now(); marks.invokedCpuMs = ${cpu};
    const { writeSync } = await import('node:fs');
    writeSync(3, JSON.stringify({ ...marks, outcome, urls: [...urls] }));
    process.exit(0);`;
}

/**
 * Runs {@link firstInvocationScript} in a fresh `node` with exactly `environment` (and PATH), and
 * resolves with its marks. Asynchronous, unlike the import measures' `spawnSync`: the stand-ins the
 * invocation talks to (Secrets Manager, SES, S3, an embedded PostgreSQL) answer from this process.
 */
export function firstInvocationOnce(
  target: FirstInvocationTarget | undefined,
  environment: Record<string, string>,
  options: { readonly listModules?: boolean } = {},
): Promise<FirstInvocationSample> {
  const script = firstInvocationScript(target, options.listModules ?? false);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let reportedAt: number | undefined;
    const child = spawn(process.execPath, [...LAMBDA_NODE_FLAGS, '--input-type=module', '-e', script], {
      env: { PATH: process.env.PATH ?? '', ...environment },
      stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    });
    const report: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdio[3]?.on('data', (chunk: Buffer) => {
      reportedAt ??= performance.now();
      report.push(chunk);
    });
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0 || reportedAt === undefined) {
        reject(
          new Error(
            `first invocation of ${target?.file ?? 'bare node'} exited ${code}: ${Buffer.concat(stderr).toString()}`,
          ),
        );
        return;
      }
      const marks = JSON.parse(Buffer.concat(report).toString()) as {
        importedMs: number;
        importedCpuMs: number;
        invokedMs: number;
        invokedCpuMs: number;
        outcome: FirstInvocationSample['outcome'];
        importedUrls: string[];
        urls: string[];
      };
      resolve({
        wallMs: reportedAt - started,
        importedMs: marks.importedMs,
        importedCpuMs: marks.importedCpuMs,
        invokedMs: marks.invokedMs,
        invokedCpuMs: marks.invokedCpuMs,
        outcome: marks.outcome,
        importedFiles: loadedPaths(marks.importedUrls),
        files: loadedPaths(marks.urls),
        builtins: marks.urls.filter((url) => url.startsWith('node:')).sort(),
      });
    });
  });
}
