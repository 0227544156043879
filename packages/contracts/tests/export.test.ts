import { describe, expect, it } from '@jest/globals';
import {
  createJob,
  defaultExportFileName,
  ExportRequestedJob,
  ExportWorkerManifest,
  exportObjectKey,
  FinalizeExportInput,
  FinalizeExportOutput,
  parseJob,
  validate,
} from '../src/index.ts';
import { jobJsonSchemas } from '../src/json-schemas.ts';
import { fieldOf } from './validation-error.ts';

const request = {
  type: 'export.requested',
  version: 1,
  id: 'req-2026-11-24-0001',
  createdAt: '2026-11-24T09:00:00.000Z',
  payload: {
    requestedBy: 'ops@example.com',
    fileName: 'users-example',
    filter: { updatedSince: '2026-11-01T00:00:00Z', emailDomain: 'example.com' },
  },
};

const manifest = {
  version: 2,
  jobId: 'exp_01',
  columns: ['external_id', 'email', 'name', 'attributes', 'created_at', 'updated_at'],
  header: true,
  key: 'exports/exp_01/users-2026-11-24.csv.gz',
  uploadId: 'upload-1',
  parts: [
    { partNumber: 1, rows: 700, bytes: 6_000_000, etag: '"a1"', crc64nvme: 'rosUhgp5mIg=' },
    { partNumber: 2, rows: 300, bytes: 1_000, etag: '"b2"', crc64nvme: 'AAAAAAAAAAA=' },
  ],
  rows: 1000,
  bytes: 6_001_000,
  crc64nvme: 'rosUhgp5mIg=',
  byteOrderMark: true,
};

describe('export.requested contract', () => {
  it('accepts the documented sample, and a payload with only requestedBy', () => {
    expect(validate(ExportRequestedJob, request).payload.filter?.emailDomain).toBe('example.com');
    const minimal = validate(ExportRequestedJob, { ...request, payload: { requestedBy: 'a@example.com' } });
    expect(minimal.payload).toEqual({ requestedBy: 'a@example.com', byteOrderMark: true });
  });

  it('starts the file with a byte order mark unless the request turns it off, and refuses a non-boolean', () => {
    const off = validate(ExportRequestedJob, {
      ...request,
      payload: { requestedBy: 'a@example.com', byteOrderMark: false },
    });
    expect(off.payload.byteOrderMark).toBe(false);
    expect(
      fieldOf(ExportRequestedJob, {
        ...request,
        payload: { requestedBy: 'a@example.com', byteOrderMark: 'yes' },
      }),
    ).toBe('payload.byteOrderMark');
  });

  it('takes the mails’ locale, en or ja, and refuses one no template is written in', () => {
    for (const locale of ['en', 'ja']) {
      const job = validate(ExportRequestedJob, {
        ...request,
        payload: { requestedBy: 'a@example.com', locale },
      });
      expect(job.payload.locale).toBe(locale);
    }
    for (const locale of ['fr', 'JA', 'ja-JP', '']) {
      expect(
        fieldOf(ExportRequestedJob, { ...request, payload: { requestedBy: 'a@example.com', locale } }),
      ).toBe('payload.locale');
    }
    const schema = jobJsonSchemas()['export.requested.v1.json'] as {
      properties: { payload: { properties: Record<string, unknown> } };
    };
    expect(schema.properties.payload.properties.locale).toMatchObject({ enum: ['en', 'ja'] });
  });

  it('is registered: parseJob routes it and createJob builds it', () => {
    expect(parseJob(request).type).toBe('export.requested');
    const job = createJob('export.requested', 1, { requestedBy: 'a@example.com' });
    expect(job.payload.requestedBy).toBe('a@example.com');
  });

  /** The field ExportRequestedJob names for the request with `changes` made to its payload. */
  const payloadFieldOf = (changes: Record<string, unknown>) =>
    fieldOf(ExportRequestedJob, { ...request, payload: { ...request.payload, ...changes } });

  it('names the field of an invalid requester, file name or filter', () => {
    expect(fieldOf(ExportRequestedJob, { ...request, payload: { requestedBy: 'nope' } })).toBe(
      'payload.requestedBy',
    );
    for (const fileName of [
      '../exp_02/users',
      'a/b',
      '.hidden',
      'a b',
      'a"b',
      'x\r\nBcc: v@example.com',
      '',
    ]) {
      expect(payloadFieldOf({ fileName })).toBe('payload.fileName');
    }
    expect(payloadFieldOf({ filter: { updatedSince: 'yesterday' } })).toBe('payload.filter.updatedSince');
    expect(payloadFieldOf({ filter: { emailDomain: "example.com' OR 1=1 --" } })).toBe(
      'payload.filter.emailDomain',
    );
  });

  it('refuses unknown filter fields (a typo must not silently export everyone)', () => {
    expect(payloadFieldOf({ filter: { emailDomian: 'x.com' } })).toBe('payload.filter.emailDomian');
  });

  it('has a committed JSON Schema', () => {
    expect(Object.keys(jobJsonSchemas())).toContain('export.requested.v1.json');
  });
});

describe('defaultExportFileName', () => {
  it('is users-<UTC date> and a valid file name', () => {
    const name = defaultExportFileName(new Date('2026-11-24T23:30:00+09:00'));
    expect(name).toBe('users-2026-11-24');
    expect(
      validate(ExportRequestedJob, { ...request, payload: { requestedBy: 'a@example.com', fileName: name } })
        .payload.fileName,
    ).toBe(name);
  });
});

describe('ExportWorkerManifest', () => {
  it('accepts the documented shape', () => {
    expect(validate(ExportWorkerManifest, manifest).parts).toHaveLength(2);
  });

  it('refuses totals that are not the sums of the parts', () => {
    expect(fieldOf(ExportWorkerManifest, { ...manifest, rows: 999 })).toBe('rows');
    expect(fieldOf(ExportWorkerManifest, { ...manifest, bytes: 1 })).toBe('bytes');
  });

  it('refuses parts not numbered 1..n in order, no parts, an unquoted ETag and a malformed checksum', () => {
    const [first, second] = manifest.parts;
    expect(
      fieldOf(ExportWorkerManifest, { ...manifest, parts: [first, first], rows: 1400, bytes: 12_000_000 }),
    ).toBe('parts');
    expect(fieldOf(ExportWorkerManifest, { ...manifest, parts: [second, first] })).toBe('parts');
    expect(fieldOf(ExportWorkerManifest, { ...manifest, parts: [], rows: 0, bytes: 1 })).toBe('parts');
    expect(fieldOf(ExportWorkerManifest, { ...manifest, parts: [{ ...first, etag: 'a1' }, second] })).toBe(
      'parts[0].etag',
    );
    expect(
      fieldOf(ExportWorkerManifest, { ...manifest, parts: [first, { ...second, crc64nvme: 'AAAA' }] }),
    ).toBe('parts[1].crc64nvme');
    expect(fieldOf(ExportWorkerManifest, { ...manifest, version: 1 })).toBe('version');
  });

  it('takes resumedParts (0 up to the parts), and a manifest without it', () => {
    expect(validate(ExportWorkerManifest, { ...manifest, resumedParts: 2 }).resumedParts).toBe(2);
    expect(
      validate(ExportWorkerManifest, { ...manifest, resumedParts: undefined }).resumedParts,
    ).toBeUndefined();
    expect(fieldOf(ExportWorkerManifest, { ...manifest, resumedParts: 3 })).toBe('resumedParts');
    expect(fieldOf(ExportWorkerManifest, { ...manifest, resumedParts: -1 })).toBe('resumedParts');
  });

  it('names the file both services derive', () => {
    expect(exportObjectKey('exp_01', 'users-2026-11-24')).toBe(manifest.key);
  });
});

describe('finalizer contracts', () => {
  it('accept the documented input and output', () => {
    expect(
      validate(FinalizeExportInput, {
        jobId: 'exp_01',
        bucket: 'sidestep-local-exports',
        manifestKey: 'exports/exp_01/parts/manifest.json',
        fileName: 'users-2026-11-24',
      }).fileName,
    ).toBe('users-2026-11-24');
    const output = {
      jobId: 'exp_01',
      bucket: 'sidestep-local-exports',
      key: 'exports/exp_01/users-2026-11-24.csv.gz',
      rows: 1000,
      bytes: 31234,
      crc64nvme: 'rosUhgp5mIg=',
      manifestKey: 'exports/exp_01/manifest.json',
      downloadUrl: 'https://downloads.example.com/exports/exp_01?token=t',
      downloadExpiresAt: '2026-12-01T09:00:00.000Z',
    };
    expect(validate(FinalizeExportOutput, output)).toEqual(output);
    expect(fieldOf(FinalizeExportOutput, { ...output, downloadUrl: 'javascript:alert(1)' })).toBe(
      'downloadUrl',
    );
  });
});
