import type { loadConfig } from '../src/config.ts';
import { importMode } from '../src/import/import-mode.ts';
import type { TaskMode } from '../src/run-task.ts';

/**
 * The import mode with its work replaced, for tests of {@link runTask}'s own handling (its log lines,
 * its stop): `connect` opens nothing unless given, `run` is what the test makes it.
 */
export function stubImportMode(stub: {
  connect?: () => Promise<never>;
  run?: () => Promise<never>;
}): TaskMode<ReturnType<typeof loadConfig>, { close(): Promise<void> }, never> {
  return {
    ...importMode,
    connect: stub.connect ?? (async () => ({ close: async () => {} })),
    startedFields: () => ({}),
    run: stub.run ?? (async () => Promise.reject(new Error('unreachable'))),
    finished: () => ({ rows: undefined, fields: {} }),
  };
}
