import { expect } from '@jest/globals';
import type { Environment } from '@sidestep/runtime';
import { task } from '../task.ts';

/**
 * Settings with defaults that the task reads beside its inputs: the task definition or the local
 * cloud may set them, the workflow never passes them (README, Contract).
 */
const SETTINGS = [
  'PROGRESS_INTERVAL_SECONDS',
  'AWS_S3_FORCE_PATH_STYLE',
  'MAX_REJECTED_ROWS',
  'EXPORT_PART_BYTES',
  'IMPORT_SEGMENT_BYTES',
  'IMPORT_MERGE_WORK_MEM',
];

/**
 * Checks a mode's config loader against the task manifest, whose inputs the workflow passes as
 * container overrides, so the two cannot drift: loaded from the manifest's inputs alone, the config
 * reads no variable the manifest does not declare (bar {@link SETTINGS}), and leaving out any input
 * it reads, except the `optional` ones, fails naming that input.
 *
 * @param values - values for the inputs that need a valid one (others get `v1`)
 * @returns the manifest inputs the config read
 */
export function expectConfigReadsDeclaredInputs(
  load: (env: Environment) => unknown,
  values: Readonly<Record<string, string>>,
  optional: readonly string[] = [],
): string[] {
  const declared = Object.keys(task.inputs);
  const environment = Object.fromEntries(declared.map((name) => [name, values[name] ?? 'v1']));
  const read = new Set<string>();
  load(
    new Proxy(environment, {
      get: (target, key) => {
        if (typeof key === 'string') read.add(key);
        return Reflect.get(target, key);
      },
    }),
  );
  expect([...read].filter((name) => !declared.includes(name) && !SETTINGS.includes(name))).toEqual([]);
  const inputs = declared.filter((name) => read.has(name));
  for (const name of inputs.filter((input) => !optional.includes(input))) {
    const { [name]: _, ...without } = environment;
    expect(() => load(without)).toThrow(`${name} is missing`);
  }
  return inputs;
}
