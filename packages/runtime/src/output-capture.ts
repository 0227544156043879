/**
 * Test support (`@sidestep/runtime/output-capture`, not part of the runtime's entry): what a service
 * writes to its log streams, for tests that check what a log line shows.
 */
import { jest } from '@jest/globals';

/** Structured lines written to stdout and stderr while a capture runs. */
export interface OutputCapture {
  /** Every line that parsed as JSON (Powertools logs and EMF), in the order written. */
  readonly lines: () => Record<string, unknown>[];
  readonly restore: () => void;
}

/**
 * Captures stdout and stderr, where Powertools Logger (errors and warnings on stderr) and Metrics
 * write through their own `Console` bound to `process.stdout`/`process.stderr`. Lambda ships both
 * streams to CloudWatch Logs, so tests assert on exactly what would land there.
 */
export function captureOutput(): OutputCapture {
  const chunks: string[] = [];
  const capture = (chunk: string | Uint8Array) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  };
  const spies = [
    jest.spyOn(process.stdout, 'write').mockImplementation(capture),
    jest.spyOn(process.stderr, 'write').mockImplementation(capture),
  ];
  return {
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    restore: () => {
      for (const spy of spies) spy.mockRestore();
    },
  };
}
