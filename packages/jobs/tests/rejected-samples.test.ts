import { describe, expect, it } from '@jest/globals';
import { MAX_REJECTED_SAMPLES } from '@sidestep/contracts';
import { rejectedSamplesOf } from '../src/index.ts';

describe('rejectedSamplesOf', () => {
  it("turns the worker's row errors into the mail's samples, the first ones only", () => {
    const rowErrors = Array.from({ length: 15 }, (_, i) => ({
      line: i + 2,
      field: 'email',
      message: `bad ${i}`,
    }));
    const samples = rejectedSamplesOf(rowErrors);
    expect(samples).toHaveLength(MAX_REJECTED_SAMPLES);
    expect(samples[0]).toEqual({ line: 2, field: 'email', reason: 'bad 0' });
  });

  it('makes a reason one line, cuts it, and skips entries of another shape', () => {
    const samples = rejectedSamplesOf([
      { line: 3, field: 'name', message: 'a\r\nBcc: x' },
      { line: 4, message: 'x'.repeat(600) },
      { line: 'five', message: 'y' },
      null,
    ]);
    expect(samples).toEqual([
      { line: 3, field: 'name', reason: 'a Bcc: x' },
      { line: 4, reason: `${'x'.repeat(499)}…` },
    ]);
    expect(rejectedSamplesOf(null)).toEqual([]);
  });
});
