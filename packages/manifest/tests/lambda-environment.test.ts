import { describe, expect, it } from '@jest/globals';
import {
  LAMBDA_ENVIRONMENT_LIMIT_BYTES,
  lambdaEnvironmentLimitMessage,
  lambdaEnvironmentSize,
} from '../src/index.ts';

describe('lambdaEnvironmentSize', () => {
  it('measures the variables as Lambda does: their JSON without spaces, names and punctuation included', () => {
    expect(lambdaEnvironmentSize({ A: 'x', B_2: 'yz' })).toEqual({
      measured: '{"A":"x","B_2":"yz"}',
      bytes: 20,
      exceeded: false,
    });
    expect(lambdaEnvironmentSize({})).toEqual({ measured: '{}', bytes: 2, exceeded: false });
  });

  it('counts JSON escapes as written: a quote, a backslash and a newline take two bytes each', () => {
    expect(lambdaEnvironmentSize({ A: '"\\\n' }).bytes).toBe('{"A":""}'.length + 6);
  });

  it('counts a character outside ASCII as its \\u escape, the most any measure of it takes', () => {
    expect(lambdaEnvironmentSize({ A: 'é' })).toMatchObject({ measured: '{"A":"\\u00e9"}', bytes: 14 });
    // Outside the Basic Multilingual Plane: two escapes, one per UTF-16 unit.
    expect(lambdaEnvironmentSize({ A: '😀' }).bytes).toBe('{"A":""}'.length + 12);
  });

  it('takes 4096 bytes and refuses one more', () => {
    const padded = (bytes: number) => ({ A: 'x'.repeat(bytes - '{"A":""}'.length) });
    expect(LAMBDA_ENVIRONMENT_LIMIT_BYTES).toBe(4096);
    expect(lambdaEnvironmentSize(padded(4096))).toMatchObject({ bytes: 4096, exceeded: false });
    expect(lambdaEnvironmentSize(padded(4097))).toMatchObject({ bytes: 4097, exceeded: true });
  });
});

describe('lambdaEnvironmentLimitMessage', () => {
  it('says what Lambda says when it refuses the variables, with the string it measured', () => {
    expect(lambdaEnvironmentLimitMessage('{"A":"x"}')).toBe(
      'Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: {"A":"x"}',
    );
  });
});
