import type { LocalCloudEvent, LocalCloudReporter } from './local-cloud-event.ts';

/** A reporter that keeps every event, for tests and tools that wait for something to happen. */
export interface CollectingReporter {
  readonly reporter: LocalCloudReporter;
  /** Every event so far, in order. */
  readonly events: readonly LocalCloudEvent[];
  /**
   * Resolves with the first event (already collected or still to come) that matches, or rejects
   * with {@link ReportTimeoutError} after `timeoutMs`.
   */
  waitFor<T extends LocalCloudEvent['type']>(
    type: T,
    matches?: (event: Extract<LocalCloudEvent, { type: T }>) => boolean,
    timeoutMs?: number,
  ): Promise<Extract<LocalCloudEvent, { type: T }>>;
  /** Events of one type, in order. */
  ofType<T extends LocalCloudEvent['type']>(type: T): Extract<LocalCloudEvent, { type: T }>[];
}

/** Nothing matching arrived in time; the message lists what did arrive. */
export class ReportTimeoutError extends Error {
  override readonly name = 'ReportTimeoutError';
  readonly eventType: string;
  constructor(eventType: string, timeoutMs: number, events: readonly LocalCloudEvent[]) {
    const seen = events.map((event) => JSON.stringify(event)).join('\n  ');
    super(`no matching "${eventType}" event within ${timeoutMs} ms; events so far:\n  ${seen}`);
    this.eventType = eventType;
  }
}

/** Creates a {@link CollectingReporter}; pass `forward` to also print (e.g. a console reporter). */
export function createCollectingReporter(forward?: LocalCloudReporter): CollectingReporter {
  const events: LocalCloudEvent[] = [];
  const listeners = new Set<(event: LocalCloudEvent) => void>();
  const isType = <T extends LocalCloudEvent['type']>(
    type: T,
    event: LocalCloudEvent,
  ): event is Extract<LocalCloudEvent, { type: T }> => event.type === type;

  return {
    events,
    reporter(event) {
      events.push(event);
      forward?.(event);
      for (const listener of [...listeners]) listener(event);
    },
    ofType: (type) => events.filter((event) => isType(type, event)),
    waitFor(type, matches = () => true, timeoutMs = 10_000) {
      const found = events.find((event) => isType(type, event) && matches(event));
      if (found) return Promise.resolve(found as Extract<LocalCloudEvent, { type: typeof type }>);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          listeners.delete(listener);
          reject(new ReportTimeoutError(type, timeoutMs, events));
        }, timeoutMs);
        const listener = (event: LocalCloudEvent) => {
          if (isType(type, event) && matches(event)) {
            clearTimeout(timer);
            listeners.delete(listener);
            resolve(event);
          }
        };
        listeners.add(listener);
      });
    },
  };
}
