/**
 * Isolation between warm invocations.
 *
 * A Lambda execution environment is one process that serves invocation after invocation. Anything a
 * handler leaves in global state — an environment variable it set, a memoised "already ran" flag
 * like Rake's — changes what the next invocation sees. Handlers should avoid such state; `isolate`
 * is the safety net that makes the invocation boundary real: it restores `process.env` exactly and
 * resets every piece of module state declared with {@link invocationState}.
 */

/** Module state that lives for one invocation and starts from `initial()` in every invocation. */
export interface InvocationState<T> {
  /** The current value (the initial value until `set` is called in this invocation). */
  get(): T;
  /** Replaces the value for the rest of this invocation. */
  set(value: T): void;
  /** Back to `initial()`. `isolate` calls this around every invocation. */
  reset(): void;
}

/**
 * Declares a piece of per-invocation module state. Pass it to {@link isolate} (or to
 * `createSqsHandler`'s `state` option) so it is reset before and after every invocation.
 *
 * @example
 * ```ts
 * const seen = invocationState(() => new Set<string>());
 * export const handler = isolate(async (event) => { seen.get().add(event.id); }, { state: [seen] });
 * ```
 */
export function invocationState<T>(initial: () => T): InvocationState<T> {
  let value = initial();
  return {
    get: () => value,
    set: (next) => {
      value = next;
    },
    reset: () => {
      value = initial();
    },
  };
}

/** Options of {@link isolate}. */
export interface IsolateOptions {
  /** Module state to reset before and after every invocation. @default [] */
  readonly state?: readonly InvocationState<unknown>[];
}

/** Any promise-returning (or synchronous) Lambda handler; Node.js 24 runtimes have no callbacks. */
export type InvocationHandler<E, C, R> = (event: E, context: C) => Promise<R> | R;

/*
 * Bookkeeping shared by every wrapper in the process. Invocations can nest (createSqsHandler
 * isolates itself and a service may wrap it again) or overlap (a local runner that does not
 * serialise invocations). Only the outermost boundary snapshots and restores the environment, and a
 * state is reset on entry only when no running invocation already uses it, so one invocation never
 * wipes another's state mid-flight. Real Lambda runs one invocation at a time per process.
 */
let depth = 0;
let envSnapshot: Record<string, string | undefined> = {};
let envObject: NodeJS.ProcessEnv = process.env;
const activeStates = new Set<InvocationState<unknown>>();

function restoreEnvironment(): void {
  // A handler may have replaced process.env wholesale; put the real object back first.
  if (process.env !== envObject) process.env = envObject;
  for (const key of Object.keys(process.env)) {
    if (!Object.hasOwn(envSnapshot, key)) delete process.env[key];
  }
  for (const [key, value] of Object.entries(envSnapshot)) {
    if (process.env[key] !== value) process.env[key] = value;
  }
}

/**
 * Wraps a handler so no invocation sees what an earlier one left behind: `process.env` is
 * snapshotted before each invocation and restored exactly afterwards (added keys removed, changed
 * keys reset, deleted keys restored), and every declared {@link InvocationState} is reset before
 * and after, also when the handler throws.
 */
export function isolate<E, C, R>(
  handler: InvocationHandler<E, C, R>,
  options: IsolateOptions = {},
): (event: E, context: C) => Promise<R> {
  const states = options.state ?? [];
  return async (event, context) => {
    if (depth === 0) {
      envObject = process.env;
      envSnapshot = { ...process.env };
    }
    for (const state of states) {
      if (!activeStates.has(state)) {
        state.reset();
        activeStates.add(state);
      }
    }
    depth += 1;
    try {
      return await handler(event, context);
    } finally {
      depth -= 1;
      if (depth === 0) {
        restoreEnvironment();
        for (const state of activeStates) state.reset();
        activeStates.clear();
      }
    }
  };
}
