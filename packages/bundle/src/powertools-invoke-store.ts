import { readFile } from 'node:fs/promises';
import type { Plugin } from 'esbuild';

/**
 * Powertools' `shouldUseInvokeStore()` (`@aws-lambda-powertools/commons/lib/esm/envUtils.js`),
 * rewritten as it is bundled so that it reads `AWS_LAMBDA_MAX_CONCURRENCY` once per process instead
 * of on every call.
 *
 * Why: Logger, Metrics and the BatchProcessor ask it on nearly every call (whether to keep their
 * state in the Lambda InvokeStore, as under Lambda Managed Instances' concurrency, or in the
 * instance): 147 of the 157 `process.env` reads of a warm 10-record SQS invocation, at ~140 ns each
 * (a read of `process.env` is a call into Node's C++), about a fifth of the runtime's own CPU time per
 * invocation (bench/RESULTS.md, "Warm overhead"). The answer cannot change within a process: Lambda
 * sets the variable in the execution environment before the runtime starts, and the InvokeStore
 * itself picks its kind once, from the same variable, when it is first created, later calls
 * returning that instance whatever the environment says (aws-powertools/powertools-lambda-typescript
 * #5619). So the first answer is kept; it is computed on the first call, not when the module loads.
 *
 * The change is made on the installed source: when an upgrade of Powertools reshapes the function,
 * the build fails here (rather than silently losing the saving), to be checked against the new code.
 */
export const powertoolsInvokeStorePlugin: Plugin = {
  name: 'sidestep-powertools-invoke-store',
  setup(esbuild) {
    esbuild.onLoad({ filter: POWERTOOLS_ENV_UTILS }, async (args) => ({
      contents: memoizedInvokeStoreCheck(await readFile(args.path, 'utf8'), args.path),
      loader: 'js',
    }));
  },
};

/** Powertools' environment helpers as esbuild names the path it loads (the ESM build). */
export const POWERTOOLS_ENV_UTILS =
  /[\\/]@aws-lambda-powertools[\\/]commons[\\/]lib[\\/]esm[\\/]envUtils\.js$/;

/** The function as Powertools 2.35-2.36 write it (whitespace aside). */
const SHOULD_USE_INVOKE_STORE =
  /const shouldUseInvokeStore = \(\) => \{\s*const res = getStringFromEnv\(\{\s*key: AWS_LAMBDA_MAX_CONCURRENCY,\s*defaultValue: '',\s*\}\);\s*return res !== '';\s*\};/;

/** Thrown when the installed Powertools no longer has the function this plugin rewrites. */
export class PowertoolsSourceChangedError extends Error {
  override readonly name = 'PowertoolsSourceChangedError';
  /** The module that no longer matches. */
  readonly path: string;

  constructor(path: string) {
    super(
      `${path} no longer defines shouldUseInvokeStore as packages/bundle/src/powertools-invoke-store.ts expects: check the new code (does it still read process.env on every call?) and update or drop the rewrite`,
    );
    this.path = path;
  }
}

/** `source` (envUtils.js) with `shouldUseInvokeStore` answering its first answer from then on. */
export function memoizedInvokeStoreCheck(source: string, path: string): string {
  if (!SHOULD_USE_INVOKE_STORE.test(source)) throw new PowertoolsSourceChangedError(path);
  return source.replace(
    SHOULD_USE_INVOKE_STORE,
    `let invokeStoreAnswer;
const shouldUseInvokeStore = () =>
    (invokeStoreAnswer ??= getStringFromEnv({ key: AWS_LAMBDA_MAX_CONCURRENCY, defaultValue: '' }) !== '');`,
  );
}
