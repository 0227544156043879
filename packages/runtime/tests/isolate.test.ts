import { afterEach, describe, expect, it } from '@jest/globals';
import { invocationState, isolate } from '../src/index.ts';

const KEYS = ['SIDESTEP_ISOLATE_ADDED', 'SIDESTEP_ISOLATE_CHANGED', 'SIDESTEP_ISOLATE_DELETED'] as const;

afterEach(() => {
  for (const key of KEYS) delete process.env[key];
});

/** What one invocation saw when it started. */
interface Seen {
  readonly added: string | undefined;
  readonly changed: string | undefined;
  readonly deleted: string | undefined;
  readonly flags: readonly string[];
}

/** A handler with Rake-style leaks: it edits the environment and a memoised module flag. */
function leakyHandler() {
  const ranTasks = invocationState<string[]>(() => []);
  const seen: Seen[] = [];
  const handler = isolate(
    async (event: { fail: boolean }) => {
      seen.push({
        added: process.env.SIDESTEP_ISOLATE_ADDED,
        changed: process.env.SIDESTEP_ISOLATE_CHANGED,
        deleted: process.env.SIDESTEP_ISOLATE_DELETED,
        flags: [...ranTasks.get()],
      });
      process.env.SIDESTEP_ISOLATE_ADDED = 'added';
      process.env.SIDESTEP_ISOLATE_CHANGED = 'changed';
      delete process.env.SIDESTEP_ISOLATE_DELETED;
      ranTasks.get().push('db:migrate');
      if (event.fail) throw new Error('invocation failed');
      return 'ok';
    },
    { state: [ranTasks] },
  );
  return { handler, seen, ranTasks };
}

const untouched: Seen = { added: undefined, changed: 'original', deleted: 'keep me', flags: [] };

describe('isolate', () => {
  it('gives the next invocation the environment and state the first one started with', async () => {
    process.env.SIDESTEP_ISOLATE_CHANGED = 'original';
    process.env.SIDESTEP_ISOLATE_DELETED = 'keep me';
    const { handler, seen, ranTasks } = leakyHandler();

    await expect(handler({ fail: false }, {})).resolves.toBe('ok');
    await expect(handler({ fail: false }, {})).resolves.toBe('ok');

    expect(seen).toEqual([untouched, untouched]);
    expect(process.env.SIDESTEP_ISOLATE_ADDED).toBeUndefined();
    expect(process.env.SIDESTEP_ISOLATE_CHANGED).toBe('original');
    expect(process.env.SIDESTEP_ISOLATE_DELETED).toBe('keep me');
    expect(ranTasks.get()).toEqual([]);
  });

  it('restores everything when the invocation throws', async () => {
    process.env.SIDESTEP_ISOLATE_CHANGED = 'original';
    process.env.SIDESTEP_ISOLATE_DELETED = 'keep me';
    const { handler, seen } = leakyHandler();

    await expect(handler({ fail: true }, {})).rejects.toThrow('invocation failed');
    await expect(handler({ fail: false }, {})).resolves.toBe('ok');

    expect(seen).toEqual([untouched, untouched]);
  });

  it('resets state set at module scope before the first invocation', async () => {
    const cache = invocationState<string | undefined>(() => undefined);
    cache.set('from cold start');
    const handler = isolate(async () => cache.get(), { state: [cache] });
    await expect(handler(undefined, undefined)).resolves.toBeUndefined();
  });

  it('puts process.env back when a handler replaces it wholesale', async () => {
    process.env.SIDESTEP_ISOLATE_CHANGED = 'original';
    const original = process.env;
    const handler = isolate(async () => {
      process.env = { ONLY: 'this' };
    });
    await handler(undefined, undefined);
    expect(process.env).toBe(original);
    expect(process.env.SIDESTEP_ISOLATE_CHANGED).toBe('original');
    expect(process.env.ONLY).toBeUndefined();
  });

  it('nests: the outer boundary restores, inner state is still reset per invocation', async () => {
    const inner = invocationState(() => 0);
    const outer = invocationState(() => 0);
    const innerHandler = isolate(
      async () => {
        inner.set(inner.get() + 1);
        process.env.SIDESTEP_ISOLATE_ADDED = 'inner';
        return inner.get();
      },
      { state: [inner] },
    );
    const handler = isolate(
      async () => {
        outer.set(outer.get() + 1);
        const count = await innerHandler(undefined, undefined);
        // The inner wrapper must not restore the environment while the outer invocation runs.
        return { count, outer: outer.get(), env: process.env.SIDESTEP_ISOLATE_ADDED };
      },
      { state: [outer] },
    );
    await expect(handler(undefined, undefined)).resolves.toEqual({ count: 1, outer: 1, env: 'inner' });
    await expect(handler(undefined, undefined)).resolves.toEqual({ count: 1, outer: 1, env: 'inner' });
    expect(process.env.SIDESTEP_ISOLATE_ADDED).toBeUndefined();
  });

  it('does not wipe the state of an overlapping invocation', async () => {
    const state = invocationState(() => 'initial');
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const handler = isolate(
      async (event: { wait: boolean }) => {
        if (event.wait) {
          state.set('first');
          await gate;
        }
        return state.get();
      },
      { state: [state] },
    );
    const first = handler({ wait: true }, undefined);
    const second = await handler({ wait: false }, undefined);
    release();
    expect(await first).toBe('first');
    expect(second).toBe('first');
    expect(state.get()).toBe('initial');
  });
});
