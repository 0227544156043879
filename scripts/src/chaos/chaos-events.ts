import type { LocalCloudEvent, LocalCloudReporter } from '@sidestep/local-cloud';

/** The local cloud's events as they arrive, to wait for the next one that matches (never an earlier one). */
export class ChaosEvents {
  readonly #listeners = new Set<(event: LocalCloudEvent) => void>();

  /** Give it to the cloud as (part of) its reporter. */
  readonly reporter: LocalCloudReporter = (event) => {
    for (const listener of [...this.#listeners]) listener(event);
  };

  /** The next event of `type` that `matches`, or `undefined` after `timeoutMs`. */
  next<T extends LocalCloudEvent['type']>(
    type: T,
    matches: (event: Extract<LocalCloudEvent, { type: T }>) => boolean,
    timeoutMs: number,
  ): Promise<Extract<LocalCloudEvent, { type: T }> | undefined> {
    return new Promise((resolve) => {
      const done = (event: Extract<LocalCloudEvent, { type: T }> | undefined) => {
        clearTimeout(timer);
        this.#listeners.delete(listener);
        resolve(event);
      };
      const listener = (event: LocalCloudEvent) => {
        if (event.type === type && matches(event as Extract<LocalCloudEvent, { type: T }>)) {
          done(event as Extract<LocalCloudEvent, { type: T }>);
        }
      };
      const timer = setTimeout(() => done(undefined), timeoutMs);
      this.#listeners.add(listener);
    });
  }
}
