import { describe, expect, it } from '@jest/globals';
import { ConfigError } from '@sidestep/runtime';
import { loadConfig } from '../src/config.ts';
import { task } from '../task.ts';

const inputs = {
  MODE: 'import',
  JOB_ID: 'imp_1',
  SOURCE_BUCKET: 'sidestep-test-imports',
  SOURCE_KEY: 'imports/a.csv',
};

describe('loadConfig', () => {
  it('reads the container overrides with defaults', () => {
    expect(loadConfig({ ...inputs, SOURCE_VERSION_ID: '' })).toEqual({
      mode: 'import',
      jobId: 'imp_1',
      source: { bucket: 'sidestep-test-imports', key: 'imports/a.csv', versionId: undefined },
      maxRejectedRows: 1000,
      progressIntervalMs: 10_000,
      s3ForcePathStyle: false,
    });
  });

  it('reads the optional settings', () => {
    const config = loadConfig({
      ...inputs,
      SOURCE_VERSION_ID: 'v1',
      MAX_REJECTED_ROWS: '0',
      PROGRESS_INTERVAL_SECONDS: '0.5',
      AWS_S3_FORCE_PATH_STYLE: 'true',
    });
    expect(config).toMatchObject({
      source: { versionId: 'v1' },
      maxRejectedRows: 0,
      progressIntervalMs: 500,
      s3ForcePathStyle: true,
    });
  });

  it('names a missing or bad variable', () => {
    const { JOB_ID: _, ...withoutJob } = inputs;
    expect(() => loadConfig(withoutJob)).toThrow(ConfigError);
    expect(() => loadConfig(withoutJob)).toThrow(/JOB_ID is missing/);
    expect(() => loadConfig({ ...inputs, MODE: 'export' })).toThrow(/MODE is invalid/);
    expect(() => loadConfig({ ...inputs, MAX_REJECTED_ROWS: '-1' })).toThrow(/MAX_REJECTED_ROWS is invalid/);
  });

  it('requires every import input the task manifest declares, except the optional version', () => {
    // The workflow passes the manifest's inputs as container overrides: the two must not drift.
    // EXPORTS_BUCKET and EXPORT_FILTER are the export mode's (tests/export-config.test.ts).
    const importInputs = Object.keys(task.inputs).filter((name) => !name.startsWith('EXPORT'));
    const environment = Object.fromEntries(
      importInputs.map((name) => [name, inputs[name as keyof typeof inputs] ?? 'v1']),
    );
    expect(loadConfig(environment).source.versionId).toBe('v1');
    for (const name of importInputs.filter((input) => input !== 'SOURCE_VERSION_ID')) {
      const { [name]: _, ...without } = environment;
      expect(() => loadConfig(without)).toThrow(`${name} is missing`);
    }
  });
});
