import type { LocalCloudReporter } from './local-cloud-event.ts';

/** What a phase of the local cloud's start-up started; disposing it stops that, in reverse order. */
export type Started<T> = T & AsyncDisposable;

/** Registers how to stop something a phase just started. */
export type Defer = (stop: () => unknown) => void;

/**
 * Runs one phase of the start-up (the queues, the functions, the workflows, ...) with its own
 * AsyncDisposableStack: what `start` defers runs in reverse order when the result is disposed, and
 * at once when `start` throws half way, so a failed phase leaves nothing running. A stopper that
 * fails is reported and the others still run: one stuck server must not keep the rest up.
 */
export async function startPhase<T extends object>(
  reporter: LocalCloudReporter,
  start: (defer: Defer) => Promise<T> | T,
): Promise<Started<T>> {
  const stack = new AsyncDisposableStack();
  const defer: Defer = (stop) =>
    stack.defer(async () => {
      try {
        await stop();
      } catch (error) {
        reporter({
          type: 'error',
          source: 'stop',
          message: error instanceof Error ? error.message : String(error),
        });
      }
    });
  try {
    const started = await start(defer);
    return Object.assign(started, { [Symbol.asyncDispose]: () => stack.disposeAsync() });
  } catch (error) {
    await stack.disposeAsync();
    throw error;
  }
}

/**
 * The start-up's stack of started phases, which checks `signal` after taking each phase: an abort
 * (Ctrl-C during `npm start`) then throws, and the start-up's catch disposes what the stack holds,
 * in reverse order, so an interrupted start leaves nothing running.
 */
export class AbortableStartStack extends AsyncDisposableStack {
  readonly #signal: AbortSignal | undefined;
  constructor(signal: AbortSignal | undefined) {
    super();
    this.#signal = signal;
  }
  override use<T extends AsyncDisposable | Disposable | null | undefined>(value: T): T {
    super.use(value);
    this.#signal?.throwIfAborted();
    return value;
  }
}
