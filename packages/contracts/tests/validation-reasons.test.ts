import { describe, expect, it } from '@jest/globals';
import * as z from 'zod/mini';
import { contractIssuesOf, MailSendJob, validate } from '../src/index.ts';
import { validationErrorOf } from './validation-error.ts';

const sample = {
  type: 'mail.send',
  version: 1,
  id: 'msg-1',
  payload: {
    template: 'import.completed',
    to: 'ops@example.com',
    params: { jobId: 'imp_01', fileName: 'users.csv', rows: 1000 },
  },
};

function reasonOf(payload: Record<string, unknown>): string {
  return validationErrorOf(() =>
    validate(MailSendJob, { ...sample, payload: { ...sample.payload, ...payload } }),
  ).message;
}

describe('ContractValidationError reasons', () => {
  it('names an unrecognized key by its own path', () => {
    const error = validationErrorOf(() =>
      validate(MailSendJob, { ...sample, payload: { ...sample.payload, cc: 'x@example.com' } }),
    );
    expect(error.field).toBe('payload.cc');
    expect(error.message).toBe('payload.cc: unrecognized key');
  });

  it('names every unrecognized key', () => {
    const error = validationErrorOf(() =>
      validate(MailSendJob, { ...sample, payload: { ...sample.payload, cc: 'x', bcc: 'y' } }),
    );
    expect(error.issues).toEqual([
      { field: 'payload.cc', message: 'unrecognized key' },
      { field: 'payload.bcc', message: 'unrecognized key' },
    ]);
  });

  it('says what was wrong instead of "Invalid input"', () => {
    expect(reasonOf({ to: 'not-an-email' })).toBe('payload.to: not a valid email');
    expect(reasonOf({ params: { ...sample.payload.params, rows: -1 } })).toBe(
      'payload.params.rows: must be at least 0',
    );
    expect(reasonOf({ params: { ...sample.payload.params, rows: 'many' } })).toBe(
      'payload.params.rows: expected number',
    );
    expect(reasonOf({ to: [] })).toBe('payload.to: must have at least 1 item(s)');
    expect(reasonOf({ locale: 'fr' })).toBe('payload.locale: expected one of "en", "ja"');
  });

  it('names the types a union accepts when no branch fits', () => {
    expect(reasonOf({ to: 5 })).toBe('payload.to: expected string or array');
  });

  it("reports the best-matching union branch's issues with their precise field", () => {
    const Shape = z.union([
      z.strictObject({ kind: z.literal('a'), name: z.string() }),
      z.strictObject({ kind: z.literal('b'), size: z.number(), unit: z.string() }),
    ]);
    const error = validationErrorOf(() => validate(Shape, { kind: 'b', size: 'big', unit: 'cm' }));
    expect(error.message).toBe('size: expected number');
    expect(error.field).toBe('size');
  });

  it('names the offending key inside a discriminated template', () => {
    expect(reasonOf({ params: { ...sample.payload.params, cc: 'x' } })).toBe(
      'payload.params.cc: unrecognized key',
    );
  });

  it('turns zod issues into contract issues with a path prefix', () => {
    const result = z.safeParse(z.strictObject({ a: z.string() }), { a: 1, b: 2 });
    if (result.success) throw new Error('expected a failure');
    expect(contractIssuesOf(result.error.issues, ['body'])).toEqual([
      { field: 'body.a', message: 'expected string' },
      { field: 'body.b', message: 'unrecognized key' },
    ]);
  });
});
