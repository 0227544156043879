import { describe, expect, it } from '@jest/globals';
import { ContractValidationError } from '@sidestep/contracts';
import { z } from 'zod';
import { z as mini } from 'zod/mini';
import {
  ConfigError,
  DeadLetterSendError,
  describeCause,
  InvalidInputError,
  InvalidJsonError,
  isPermanentError,
  isTransientError,
  PermanentError,
  SchemaViolationError,
  SecretUnavailableError,
  SidestepError,
  TransientError,
} from '../src/index.ts';

describe('error classes', () => {
  it('set their own name and permanence, and keep the cause', () => {
    const cause = new Error('root cause');
    const cases = [
      [new SidestepError('x', { permanent: true, cause }), 'SidestepError', true],
      [new PermanentError('x', { cause }), 'PermanentError', true],
      [new TransientError('x', { cause }), 'TransientError', false],
      [new ConfigError('X', 'x', { cause }), 'ConfigError', true],
      [new SecretUnavailableError('X', 'x', { cause }), 'SecretUnavailableError', false],
      [new DeadLetterSendError('http://q', { cause }), 'DeadLetterSendError', false],
      [new InvalidInputError('jobId', 'x', { cause }), 'InvalidInputError', true],
    ] as const;
    for (const [error, name, permanent] of cases) {
      expect({ name: error.name, permanent: error.permanent, cause: error.cause }).toEqual({
        name,
        permanent,
        cause,
      });
      expect(error).toBeInstanceOf(SidestepError);
      expect(String(error.stack)).toMatch(new RegExp(`^${name}`));
    }
  });

  it('do not repeat a body that is not JSON (it may name a person): neither its excerpt in V8’s message nor the parser’s error as the cause', () => {
    for (const body of [
      'name=Taro Yamada, tel 090-1234-5678',
      '"Taro" <taro@example.com>',
      'Taro"s',
      '{"a":1}x',
    ]) {
      let parseError: unknown;
      try {
        JSON.parse(body);
      } catch (error) {
        parseError = error;
      }
      const error = new InvalidJsonError({ cause: parseError });
      expect(error.message).toMatch(/^message body is not valid JSON: /);
      for (const fragment of ['Taro', 'tel', 'example', '"a"']) expect(error.message).not.toContain(fragment);
      expect(error.cause).toBeUndefined();
      expect(error.permanent).toBe(true);
    }
    // A message naming only a position is kept: it says where the body breaks.
    expect(new InvalidJsonError({ cause: new SyntaxError('Unexpected end of JSON input') }).message).toBe(
      'message body is not valid JSON: Unexpected end of JSON input',
    );
  });

  it('carry the offending field', () => {
    expect(new PermanentError('bad', { field: 'payload.to' }).field).toBe('payload.to');
    expect(new ConfigError('MAIL_FROM', 'missing').field).toBe('MAIL_FROM');
    expect(new InvalidJsonError().field).toBe('body');
    expect(new InvalidInputError('request.id', 'bad').field).toBe('request.id');
    expect(new TransientError('busy').field).toBeUndefined();
  });
});

describe('isPermanentError', () => {
  it('is true exactly for sidestep errors whose class is permanent', () => {
    expect(isPermanentError(new ContractValidationError([{ field: 'payload.to', message: 'x' }]))).toBe(true);
    expect(isPermanentError(new PermanentError('x'))).toBe(true);
    expect(isPermanentError(new InvalidInputError('jobId', 'x'))).toBe(true);
    expect(isPermanentError(new TransientError('x'))).toBe(false);
    // Duck-typed look-alikes are not sidestep errors: what is permanent is decided by the class.
    expect(isPermanentError({ permanent: true })).toBe(false);
    expect(isPermanentError(Object.assign(new Error('x'), { permanent: true }))).toBe(false);
    expect(isPermanentError(new Error('x'))).toBe(false);
    expect(isPermanentError('permanent')).toBe(false);
    expect(isPermanentError(null)).toBe(false);
    expect(isPermanentError(undefined)).toBe(false);
  });

  it('has isTransientError as its mirror for sidestep errors, and false for anything else', () => {
    expect(isTransientError(new SecretUnavailableError('X', 'x'))).toBe(true);
    expect(isTransientError(new PermanentError('x'))).toBe(false);
    expect(isTransientError(Object.assign(new Error('x'), { permanent: false }))).toBe(false);
    expect(isTransientError(new Error('x'))).toBe(false);
  });
});

describe('describeCause', () => {
  it('is the name and message of an error, and the string of anything else', () => {
    const slowDown = Object.assign(new Error('reduce your request rate'), { name: 'SlowDown' });
    expect(describeCause(slowDown)).toBe('SlowDown: reduce your request rate');
    expect(describeCause({ message: 'no name' })).toBe('Error: no name');
    expect(describeCause('ECONNRESET')).toBe('ECONNRESET');
    expect(describeCause(undefined)).toBe('undefined');
  });
});

describe('SchemaViolationError', () => {
  const Job = z.object({
    payload: z.object({ to: z.email(), items: z.array(z.object({ sku: z.string() })) }),
  });

  it('names the first issue path as field and every issue in the message', () => {
    const result = Job.safeParse({ payload: { to: 'nope', items: [{ sku: 1 }] } });
    if (result.success) throw new Error('expected a schema violation');
    const error = new SchemaViolationError(result.error);
    expect(error.name).toBe('SchemaViolationError');
    expect(error.permanent).toBe(true);
    expect(error.field).toBe('payload.to');
    expect(error.message).toMatch(
      /^job payload violates its schema: payload\.to: .+; payload\.items\[0\]\.sku: .+/,
    );
    expect(error.issues.map((issue) => issue.field)).toEqual(['payload.to', 'payload.items[0].sku']);
    expect(error.cause).toBe(result.error);
  });

  it('names the root when the whole value is wrong, also for zod/mini schemas', () => {
    const result = mini.safeParse(mini.object({ id: mini.string() }), 'a string');
    if (result.success) throw new Error('expected a schema violation');
    const error = new SchemaViolationError(result.error, { subject: 'status event' });
    expect(error.field).toBe('(root)');
    expect(error.message).toMatch(/^status event violates its schema: \(root\): /);
  });
});
