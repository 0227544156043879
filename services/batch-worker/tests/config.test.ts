import { describe, expect, it } from '@jest/globals';
import { ConfigError } from '@sidestep/runtime';
import { loadConfig } from '../src/config.ts';
import { expectConfigReadsDeclaredInputs } from './task-inputs.ts';

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
      mergeWorkMem: '256MB',
      progressIntervalMs: 10_000,
      s3ForcePathStyle: false,
    });
  });

  it('reads the optional settings', () => {
    const config = loadConfig({
      ...inputs,
      SOURCE_VERSION_ID: 'v1',
      MAX_REJECTED_ROWS: '0',
      IMPORT_MERGE_WORK_MEM: '1GB',
      PROGRESS_INTERVAL_SECONDS: '0.5',
      AWS_S3_FORCE_PATH_STYLE: 'true',
    });
    expect(config).toMatchObject({
      source: { versionId: 'v1' },
      maxRejectedRows: 0,
      mergeWorkMem: '1GB',
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
    for (const workMem of ['256', '256 MB', '0MB', '1TB; RESET ALL']) {
      expect(() => loadConfig({ ...inputs, IMPORT_MERGE_WORK_MEM: workMem })).toThrow(
        /IMPORT_MERGE_WORK_MEM is invalid/,
      );
    }
  });

  it('requires every import input the task manifest declares, except the optional version and ETag, and reads no other', () => {
    // The workflow passes the manifest's inputs as container overrides: the two must not drift.
    const read = expectConfigReadsDeclaredInputs(loadConfig, inputs, ['SOURCE_VERSION_ID', 'SOURCE_ETAG']);
    expect(read).toEqual([
      'MODE',
      'JOB_ID',
      'SOURCE_BUCKET',
      'SOURCE_KEY',
      'SOURCE_VERSION_ID',
      'SOURCE_ETAG',
    ]);
    expect(loadConfig({ ...inputs, SOURCE_VERSION_ID: 'v1' }).source.versionId).toBe('v1');
    expect(loadConfig({ ...inputs, SOURCE_ETAG: '"abc"' }).source.etag).toBe('"abc"');
    expect(loadConfig({ ...inputs, SOURCE_ETAG: '' }).source.etag).toBeUndefined();
  });
});
