import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import {
  ContractValidationError,
  createJob,
  MailSendJob,
  type MailTemplateParamsOf,
  parseJob,
  validate,
} from '../src/index.ts';
import { jobJsonSchemas } from '../src/json-schemas.ts';
import { validationErrorOf } from './validation-error.ts';

const sample = {
  type: 'mail.send',
  version: 1,
  id: 'msg-1',
  createdAt: '2026-11-24T09:00:00.000Z',
  payload: {
    template: 'import.completed',
    to: 'ops@example.com',
    params: { jobId: 'imp_01', fileName: 'users.csv', rows: 1000 },
  },
};

describe('mail.send contract', () => {
  it('accepts the documented sample and applies the locale default', () => {
    const job = validate(MailSendJob, sample);
    expect(job.payload.locale).toBe('en');
    expect(job.payload.to).toBe('ops@example.com');
  });

  it('accepts a list of recipients', () => {
    const job = validate(MailSendJob, {
      ...sample,
      payload: { ...sample.payload, to: ['a@example.com', 'b@example.com'] },
    });
    expect(job.payload.to).toEqual(['a@example.com', 'b@example.com']);
  });

  it('names the field of a wrong param type', () => {
    const error = validationErrorOf(() =>
      validate(MailSendJob, {
        ...sample,
        payload: { ...sample.payload, params: { ...sample.payload.params, rows: 'many' } },
      }),
    );
    expect(error.field).toBe('payload.params.rows');
    expect(error.permanent).toBe(true);
    expect(error.name).toBe('ContractValidationError');
  });

  it('names the template field for an unknown template', () => {
    const error = validationErrorOf(() =>
      validate(MailSendJob, { ...sample, payload: { ...sample.payload, template: 'welcome' } }),
    );
    expect(error.field).toBe('payload.template');
  });

  it('refuses CR/LF in single-line params (header injection)', () => {
    const error = validationErrorOf(() =>
      validate(MailSendJob, {
        ...sample,
        payload: {
          ...sample.payload,
          params: { ...sample.payload.params, fileName: 'a.csv\r\nBcc: victim@example.com' },
        },
      }),
    );
    expect(error.field).toBe('payload.params.fileName');
    expect(error.message).toMatch(/header injection/);
  });

  it('refuses an invalid recipient and names its index', () => {
    const error = validationErrorOf(() =>
      validate(MailSendJob, { ...sample, payload: { ...sample.payload, to: ['a@example.com', 'nope'] } }),
    );
    expect(error.field).toBe('payload.to[1]');
  });

  it('refuses unknown envelope fields', () => {
    const error = validationErrorOf(() => validate(MailSendJob, { ...sample, extra: 1 }));
    expect(error.message).toMatch(/extra/);
  });

  it('refuses params of another template', () => {
    const error = validationErrorOf(() =>
      validate(MailSendJob, { ...sample, payload: { ...sample.payload, template: 'export.ready' } }),
    );
    expect(error.field).toMatch(/^payload\.params/);
  });
});

describe('parseJob', () => {
  it('routes by type and version', () => {
    expect(parseJob(sample).type).toBe('mail.send');
  });

  it('names the type of an unknown job', () => {
    expect(validationErrorOf(() => parseJob({ ...sample, type: 'nope' })).field).toBe('type');
  });

  it('names the version of an unknown version', () => {
    expect(validationErrorOf(() => parseJob({ ...sample, version: 9 })).field).toBe('version');
  });

  it('names the root when the body is not an object', () => {
    expect(validationErrorOf(() => parseJob('hello')).field).toBe('(root)');
  });
});

describe('createJob', () => {
  it('fills id and createdAt and validates', () => {
    const job = createJob('mail.send', 1, {
      template: 'export.failed',
      to: 'a@example.com',
      params: { jobId: 'exp_1', reason: 'database unavailable' },
    });
    expect(job.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.parse(job.createdAt ?? '')).not.toBeNaN();
  });

  it("takes export.ready's optional downloadExpiresAt as an ISO 8601 instant, and jobs without it", () => {
    const ready = (params: MailTemplateParamsOf<'export.ready'>) =>
      createJob('mail.send', 1, { template: 'export.ready', to: 'a@example.com', params });
    const base = { jobId: 'x', rows: 1, downloadUrl: 'https://example.com/x' };
    expect(ready(base).payload.params).toEqual(base);
    expect(ready({ ...base, downloadExpiresAt: '2026-12-01T09:00:00.000Z' }).payload.params).toMatchObject({
      downloadExpiresAt: '2026-12-01T09:00:00.000Z',
    });
    expect(() => ready({ ...base, downloadExpiresAt: 'next tuesday' })).toThrow(/downloadExpiresAt/);
  });

  it('throws for an invalid payload before anything is sent', () => {
    expect(() =>
      createJob('mail.send', 1, {
        template: 'export.ready',
        to: 'a@example.com',
        params: { jobId: 'x', rows: 1, downloadUrl: 'ftp://x' },
      }),
    ).toThrow(ContractValidationError);
  });
});

describe('JSON Schemas', () => {
  const dir = join(import.meta.dirname, '..', 'schemas');

  it('are committed exactly as generated (run `pnpm --filter @sidestep/contracts build`)', () => {
    const generated = jobJsonSchemas();
    expect(readdirSync(dir).sort()).toEqual(Object.keys(generated).sort());
    for (const [file, schema] of Object.entries(generated)) {
      expect(JSON.parse(readFileSync(join(dir, file), 'utf8'))).toEqual(schema);
    }
  });

  it('describe the envelope and every template', () => {
    const schema = jobJsonSchemas()['mail.send.v1.json'] as {
      required: string[];
      properties: { payload: { oneOf: unknown[] } };
    };
    expect(schema.required).toEqual(expect.arrayContaining(['type', 'version', 'id', 'payload']));
    expect(schema.properties.payload.oneOf).toHaveLength(4);
  });
});
