import { EventEmitter } from 'node:events';
import { Logger } from '@aws-lambda-powertools/logger';
import { expect, it } from '@jest/globals';
import { captureOutput } from '@sidestep/runtime/output-capture';
import { importMode } from '../src/import/import-mode.ts';
import { runTask, STOP_DEADLINE_MS } from '../src/run-task.ts';
import { task } from '../task.ts';
import { stubImportMode } from './task-modes.ts';

/**
 * Runs an import mode whose run waits, once started, until `end` (a stop still settling: a request
 * that hangs), with a stop deadline of 100 ms and `onExit` in place of process.exit; sends SIGTERM
 * once it runs. Gives the task's exit code (once the run ended), the exits asked for, and the log.
 */
async function stopped(onExit: (end: (error: Error) => void) => void) {
  const output = captureOutput();
  const signals = new EventEmitter();
  const exits: number[] = [];
  let running: () => void = () => {};
  const started = new Promise<void>((resolve) => {
    running = resolve;
  });
  let end: (error: Error) => void = () => {};
  const ended = new Promise<never>((_, reject) => {
    end = reject;
  });
  const mode = stubImportMode({
    run: async () => {
      running();
      return ended;
    },
  });
  const code = runTask(mode, {
    logger: new Logger({ serviceName: 'batch-worker' }),
    env: {
      MODE: 'import',
      JOB_ID: 'imp_stop',
      EXECUTION_ID: 'arn:aws:states:us-east-1:000000000000:execution:sidestep-local-import:x',
      SOURCE_BUCKET: 'b',
      SOURCE_KEY: 'k.csv',
      DATABASE_URL: 'postgres://x',
    },
    signals,
    stopDeadlineMs: 100,
    exit: (exitCode) => {
      exits.push(exitCode);
      onExit(end);
    },
  });
  await started;
  signals.emit('SIGTERM', 'SIGTERM');
  return { code, exits, end, output };
}

it("exits 143, saying why, when a stop outlasts its deadline: before ECS's SIGKILL ends it without a word", async () => {
  // What process.exit would end: the run, still waiting.
  const { code, exits, output } = await stopped((end) => end(new Error('the process exited')));
  try {
    expect(exits).toEqual([]);
    await code;
    expect(exits).toEqual([143]);
    const lines = output.lines();
    expect(lines.map((line) => line.message)).toEqual(
      expect.arrayContaining([
        `stop requested: ${importMode.onStop}`,
        "import stop outlasted its deadline: exiting before the stop timeout's SIGKILL",
      ]),
    );
    expect(lines.find((line) => String(line.message).includes('deadline'))).toMatchObject({
      level: 'ERROR',
      signal: 'SIGTERM',
      deadlineMs: 100,
      exitCode: 143,
    });
    // Every line names the job and the workflow execution that ran the task (EXECUTION_ID).
    for (const line of lines) {
      expect(line).toMatchObject({
        jobId: 'imp_stop',
        executionId: 'arn:aws:states:us-east-1:000000000000:execution:sidestep-local-import:x',
      });
    }
  } finally {
    output.restore();
  }
});

it('does not exit when the stop settles before its deadline', async () => {
  const { code, exits, end, output } = await stopped(() => {});
  try {
    end(new Error('rolled back'));
    await code;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(exits).toEqual([]);
  } finally {
    output.restore();
  }
});

it("keeps the deadline 15 s inside the task definition's stop timeout", () => {
  expect(task.stopTimeoutSeconds * 1000 - STOP_DEADLINE_MS).toBe(15_000);
});
