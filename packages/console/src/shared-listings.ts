import {
  ListExecutionsCommand,
  RedriveExecutionCommand,
  type SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';

/**
 * How long the console shares a ListExecutions answer between its pages, tabs and refreshes: the
 * overview lists four times a render (each workflow's running and failed executions) and a live page
 * renders every 3 s, so each open overview would spend 1.3 calls a second of the account's
 * ListExecutions quota, 2 a second in most Regions, refilling a bucket of 100 (5 and 200 in us-east-1,
 * us-west-2 and eu-west-1, https://docs.aws.amazon.com/step-functions/latest/dg/limits-overview.html),
 * which every operator tool and the job-sweeper's reconciliation share: two open overviews emptied it
 * in about two minutes. Shared for 10 s, the overview lists 0.4 times a second a console, whatever
 * number of tabs show it, and an execution list is at most 10 s older than the rest of the page.
 */
export const SHARED_LISTING_MS = 10_000;

/** The Step Functions calls after which a shared listing is not served again: they change what it lists. */
const CHANGES = [StartExecutionCommand, StopExecutionCommand, RedriveExecutionCommand];

/** Options of {@link sharedListings}. */
export interface SharedListingsOptions {
  /** @default {@link SHARED_LISTING_MS} */
  readonly ttlMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

/**
 * `client`, its ListExecutions answers shared: a request the same as one sent less than `ttlMs` ago
 * (its input, paging token included) gets that request's answer, also while it is still under way;
 * a failed answer is not kept. An execution started, stopped or redriven through the client ends
 * the sharing of every listing asked for before it was answered, so the page an action redirects to
 * lists what it did. Every other call goes to `client` as it is. The SDK has no response cache of its own; this is
 * the client's `send`, so the paginators and `instanceof SFNClient` work unchanged.
 */
export function sharedListings(client: SFNClient, options: SharedListingsOptions = {}): SFNClient {
  const ttlMs = options.ttlMs ?? SHARED_LISTING_MS;
  const now = options.now ?? Date.now;
  const answers = new Map<string, { readonly at: number; readonly answer: Promise<unknown> }>();
  const send = (command: object, ...rest: unknown[]): Promise<unknown> => {
    const sent = (client.send as (...args: unknown[]) => Promise<unknown>)(command, ...rest);
    if (!CHANGES.some((Change) => command instanceof Change)) return sent;
    // Cleared as the change is sent and again once it is answered: a listing asked for meanwhile may
    // answer from before it.
    answers.clear();
    return sent.finally(() => answers.clear());
  };
  const shared = (command: ListExecutionsCommand, ...rest: unknown[]): Promise<unknown> => {
    const at = now();
    for (const [key, entry] of answers) if (at - entry.at >= ttlMs) answers.delete(key);
    const key = JSON.stringify(command.input);
    const kept = answers.get(key);
    if (kept !== undefined) return kept.answer;
    const answer = send(command, ...rest);
    const entry = { at, answer };
    answers.set(key, entry);
    answer.catch(() => {
      if (answers.get(key) === entry) answers.delete(key);
    });
    return answer;
  };
  return Object.create(client, {
    send: {
      value: (command: object, ...rest: unknown[]) =>
        command instanceof ListExecutionsCommand ? shared(command, ...rest) : send(command, ...rest),
    },
  }) as SFNClient;
}
