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
 * serialise invocations). Only the outermost boundary journals and restores the environment, and a
 * state is reset on entry only when no running invocation already uses it, so one invocation never
 * wipes another's state mid-flight. Real Lambda runs one invocation at a time per process.
 *
 * The environment is journaled rather than copied: during an invocation `process.env` is a proxy of
 * the real environment object that records each variable's value before its first change, and the
 * restore puts back only those. Copying and comparing every variable around every invocation cost
 * more than the rest of the runtime's per-invocation work (each read of `process.env` crosses into
 * C++). Reads and writes still reach the real environment (child processes, `TZ`, native getenv).
 */
let depth = 0;
let realEnv: NodeJS.ProcessEnv = process.env;
/** Variable -> its value before this invocation first changed it (`undefined`: it was not set). */
const journal = new Map<string, string | undefined>();
const journaledEnvs = new WeakMap<NodeJS.ProcessEnv, NodeJS.ProcessEnv>();
const activeStates = new Set<InvocationState<unknown>>();

function remember(env: NodeJS.ProcessEnv, key: string | symbol): void {
  if (typeof key === 'string' && !journal.has(key)) {
    journal.set(key, Object.hasOwn(env, key) ? env[key] : undefined);
  }
}

/** `env` behind a proxy that journals every change (one proxy per environment object). */
function journaled(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  let proxy = journaledEnvs.get(env);
  if (proxy === undefined) {
    proxy = new Proxy(env, {
      set(target, key, value) {
        remember(target, key);
        return Reflect.set(target, key, value);
      },
      deleteProperty(target, key) {
        remember(target, key);
        return Reflect.deleteProperty(target, key);
      },
      defineProperty(target, key, attributes) {
        remember(target, key);
        return Reflect.defineProperty(target, key, attributes);
      },
    });
    journaledEnvs.set(env, proxy);
  }
  return proxy;
}

function restoreEnvironment(): void {
  // A handler may have replaced process.env wholesale; the real object goes back in any case.
  process.env = realEnv;
  for (const [key, value] of journal) {
    if (value === undefined) delete realEnv[key];
    else realEnv[key] = value;
  }
  journal.clear();
}

/**
 * Wraps a handler so no invocation sees what an earlier one left behind: `process.env` is
 * journaled during each invocation and restored exactly afterwards (added keys removed, changed
 * keys reset, deleted keys restored, a replaced `process.env` put back), and every declared {@link InvocationState} is reset before
 * and after, also when the handler throws.
 */
export function isolate<E, C, R>(
  handler: InvocationHandler<E, C, R>,
  options: IsolateOptions = {},
): (event: E, context: C) => Promise<R> {
  const states = options.state ?? [];
  return async (event, context) => {
    if (depth === 0) {
      realEnv = process.env;
      journal.clear();
      process.env = journaled(realEnv);
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
