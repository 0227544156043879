import { describe, expect, it } from '@jest/globals';
import { ConfigError } from '@sidestep/runtime';
import { loadExportConfig } from '../src/config.ts';
import { expectConfigReadsDeclaredInputs } from './task-inputs.ts';

const inputs = {
  MODE: 'export',
  JOB_ID: 'exp_1',
  EXPORTS_BUCKET: 'sidestep-test-exports',
  EXPORT_FILE_NAME: 'users-2026-12-04',
};

/** The ConfigError `fn` throws. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('loadExportConfig', () => {
  it('reads the container overrides with defaults; no filter is everyone', () => {
    expect(loadExportConfig(inputs)).toEqual({
      mode: 'export',
      jobId: 'exp_1',
      exportsBucket: 'sidestep-test-exports',
      fileName: 'users-2026-12-04',
      filter: undefined,
      byteOrderMark: true,
      progressIntervalMs: 10_000,
      s3ForcePathStyle: false,
    });
  });

  it.each(['', 'null', '{}', ' '])('reads EXPORT_FILTER=%j as everyone', (raw) => {
    expect(loadExportConfig({ ...inputs, EXPORT_FILTER: raw }).filter).toBeUndefined();
  });

  it('reads EXPORT_BYTE_ORDER_MARK (unset is true) and refuses anything but true or false', () => {
    expect(loadExportConfig({ ...inputs, EXPORT_BYTE_ORDER_MARK: 'false' }).byteOrderMark).toBe(false);
    expect(loadExportConfig({ ...inputs, EXPORT_BYTE_ORDER_MARK: 'true' }).byteOrderMark).toBe(true);
    expect(configError(() => loadExportConfig({ ...inputs, EXPORT_BYTE_ORDER_MARK: 'yes' })).field).toBe(
      'EXPORT_BYTE_ORDER_MARK',
    );
  });

  it('reads a filter', () => {
    const filter = { updatedSince: '2026-11-01T00:00:00+09:00', emailDomain: 'example.com' };
    expect(loadExportConfig({ ...inputs, EXPORT_FILTER: JSON.stringify(filter) }).filter).toEqual(filter);
  });

  it.each([
    ['not JSON', '{', /EXPORT_FILTER is not JSON/],
    ['an unknown key', '{"domain":"example.com"}', /EXPORT_FILTER is invalid/],
    ['a bad domain', `{"emailDomain":"x' OR '1'='1"}`, /EXPORT_FILTER\.emailDomain is invalid/],
    ['a bad date', '{"updatedSince":"yesterday"}', /EXPORT_FILTER\.updatedSince is invalid/],
  ])('names EXPORT_FILTER for %s', (_case, raw, message) => {
    const error = configError(() => loadExportConfig({ ...inputs, EXPORT_FILTER: raw }));
    expect(error.field).toBe('EXPORT_FILTER');
    expect(error.message).toMatch(message);
  });

  it('names a missing bucket', () => {
    expect(configError(() => loadExportConfig({ ...inputs, EXPORTS_BUCKET: undefined })).field).toBe(
      'EXPORTS_BUCKET',
    );
  });

  it('names a missing file name, and one the contract refuses (a key outside the job)', () => {
    expect(configError(() => loadExportConfig({ ...inputs, EXPORT_FILE_NAME: undefined })).field).toBe(
      'EXPORT_FILE_NAME',
    );
    expect(configError(() => loadExportConfig({ ...inputs, EXPORT_FILE_NAME: '../exp_2/users' })).field).toBe(
      'EXPORT_FILE_NAME',
    );
  });

  it('requires every export input the task manifest declares, except the filter, and reads no other', () => {
    // The workflow passes the manifest's inputs as container overrides: the two must not drift.
    const read = expectConfigReadsDeclaredInputs(
      loadExportConfig,
      { ...inputs, EXPORT_FILTER: '', EXPORT_BYTE_ORDER_MARK: 'true' },
      ['EXPORT_FILTER', 'EXPORT_BYTE_ORDER_MARK'],
    );
    expect(read).toEqual([
      'MODE',
      'JOB_ID',
      'EXPORTS_BUCKET',
      'EXPORT_FILE_NAME',
      'EXPORT_FILTER',
      'EXPORT_BYTE_ORDER_MARK',
    ]);
  });
});
