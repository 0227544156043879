import { describe, expect, it } from '@jest/globals';
import { createCollectingReporter } from '../src/collecting-reporter.ts';
import { AbortableStartStack, startPhase } from '../src/start-phase.ts';

describe('startPhase', () => {
  it('stops what the phase started in reverse order when disposed', async () => {
    const stopped: string[] = [];
    const { reporter } = createCollectingReporter();
    const started = await startPhase(reporter, (defer) => {
      defer(() => stopped.push('server'));
      defer(async () => stopped.push('poller'));
      return { value: 42 };
    });
    expect(started.value).toBe(42);
    expect(stopped).toEqual([]);
    await started[Symbol.asyncDispose]();
    expect(stopped).toEqual(['poller', 'server']);
  });

  it('stops what a phase started before it failed, then rethrows', async () => {
    const stopped: string[] = [];
    const { reporter } = createCollectingReporter();
    const failure = new Error('second server did not start');
    await expect(
      startPhase(reporter, async (defer) => {
        defer(() => stopped.push('first'));
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(stopped).toEqual(['first']);
  });

  it('reports a stopper that fails and still runs the others', async () => {
    const stopped: string[] = [];
    const report = createCollectingReporter();
    const started = await startPhase(report.reporter, (defer) => {
      defer(() => stopped.push('first'));
      defer(async () => {
        throw new Error('port stuck');
      });
      return {};
    });
    await started[Symbol.asyncDispose]();
    expect(stopped).toEqual(['first']);
    expect(report.ofType('error')).toEqual([{ type: 'error', source: 'stop', message: 'port stuck' }]);
  });
});

describe('AbortableStartStack', () => {
  it('takes phases while its signal is not aborted, then throws the reason after taking the next one, which a dispose stops with the rest', async () => {
    const stopped: string[] = [];
    const phase = (name: string): AsyncDisposable => ({
      [Symbol.asyncDispose]: async () => {
        stopped.push(name);
      },
    });
    const startup = new AbortController();
    const stack = new AbortableStartStack(startup.signal);
    stack.use(phase('endpoint'));
    const interrupted = new Error('SIGINT');
    startup.abort(interrupted);
    expect(() => stack.use(phase('functions'))).toThrow(interrupted);
    await stack.disposeAsync();
    expect(stopped).toEqual(['functions', 'endpoint']);
  });
});
