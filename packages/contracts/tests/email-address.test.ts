import { describe, expect, it } from '@jest/globals';
import { ExportRequestedJob, MailSendJob, StatusUpdateInput, validate } from '../src/index.ts';
import { jobJsonSchemas } from '../src/json-schemas.ts';
import { emailAddressOfLength } from '../src/testing.ts';
import { validationErrorOf } from './validation-error.ts';

// RFC 5321 4.5.3.1.3 limits a path to 256 octets, its angle brackets included: an address is at most
// 254 characters, which SMTP servers and SES refuse beyond (https://www.rfc-editor.org/rfc/rfc5321#section-4.5.3.1.3).
const longest = emailAddressOfLength(254);
const tooLong = emailAddressOfLength(255);

const mail = (to: unknown) => ({
  type: 'mail.send',
  version: 1,
  id: 'msg-1',
  payload: { template: 'export.failed', to, params: { jobId: 'exp_01', reason: 'database unavailable' } },
});

const exportRequest = (requestedBy: string) => ({
  type: 'export.requested',
  version: 1,
  id: 'req-2026-11-24-0001',
  payload: { requestedBy },
});

const registerExport = (requestedBy: string) => ({
  event: 'register',
  kind: 'export',
  expectedState: 'registered',
  executionId: 'arn:aws:states:us-east-1:000000000000:execution:sidestep-local-export:1',
  request: { id: 'req-2026-11-24-0001', requestedBy, fileName: 'users-2026-11-24' },
});

/** Each contract's address field: its schema, a value with `address` in it, and the field it names. */
const fields = [
  { field: 'payload.to', schema: MailSendJob, with: (address: string) => mail(address) },
  {
    field: 'payload.to[1]',
    schema: MailSendJob,
    with: (address: string) => mail(['a@example.com', address]),
  },
  { field: 'payload.requestedBy', schema: ExportRequestedJob, with: exportRequest },
  { field: 'request.requestedBy', schema: StatusUpdateInput, with: registerExport },
] as const;

describe('email addresses in the contracts', () => {
  it('builds addresses of 254 and 255 characters that differ only in length', () => {
    expect([longest.length, tooLong.length]).toEqual([254, 255]);
    expect(longest.split('@')[0]).toHaveLength(64);
  });

  it.each(fields)('accepts $field of 254 characters', ({ schema, with: withAddress }) => {
    expect(() => validate(schema, withAddress(longest))).not.toThrow();
  });

  it.each(fields)(
    'refuses $field of 255 characters, naming the field',
    ({ field, schema, with: withAddress }) => {
      const error = validationErrorOf(() => validate(schema, withAddress(tooLong)));
      expect(error.field).toBe(field);
      expect(error.message).toBe(`${field}: must have at most 254 character(s)`);
      expect(error.permanent).toBe(true);
    },
  );

  it.each(fields)('refuses $field of 100 KB, naming the field', ({ field, schema, with: withAddress }) => {
    const error = validationErrorOf(() =>
      validate(schema, withAddress(`${'a'.repeat(100_000)}@example.com`)),
    );
    expect(error.field).toBe(field);
  });

  it('bound every address of the JSON Schemas to 254 characters', () => {
    const emails: unknown[] = [];
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(walk);
      else if (node && typeof node === 'object') {
        if ((node as { format?: unknown }).format === 'email') emails.push(node);
        Object.values(node).forEach(walk);
      }
    };
    const schemas = jobJsonSchemas();
    walk(schemas['mail.send.v1.json']);
    walk(schemas['export.requested.v1.json']);
    // `to` (one address, or each of a list) in each of the 4 templates, and the export's requestedBy.
    expect(emails).toHaveLength(9);
    for (const email of emails) expect(email).toMatchObject({ type: 'string', maxLength: 254 });
  });
});
