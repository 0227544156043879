import { appendFileSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { createCollectingReporter } from '../src/collecting-reporter.ts';
import {
  EXECUTION_RETENTION_DAYS,
  type ExecutionStore,
  LOST_EXECUTION,
  openExecutionStore,
  type StoredExecution,
} from '../src/execution-store.ts';
import { createLocalStepFunctions, type LocalStepFunctions } from '../src/step-functions.ts';
import { stepFunctionsApi } from '../src/step-functions-api.ts';
import { LAMBDA_INVOKE, StatesTaskError } from '../src/task-integrations.ts';

const invoke = (name: string, next: string) => ({
  Type: 'Task',
  Resource: LAMBDA_INVOKE,
  Parameters: { FunctionName: name, 'Payload.$': '$' },
  ResultSelector: { 'result.$': '$.Payload' },
  ResultPath: `$.${name}`,
  Next: next,
});
const definition = {
  StartAt: 'Prepare',
  States: { Prepare: invoke('prepare', 'Work'), Work: invoke('work', 'Done'), Done: { Type: 'Succeed' } },
};
const MACHINE_ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:kept';

let dir: string;
let file: string;
let calls: string[];
/** Calls of `work` wait for this while set: an execution stays RUNNING in Work. */
let workHeld: Promise<void> | undefined;
const stores: ExecutionStore[] = [];
/** What every Step Functions of this file reported. */
const reports = createCollectingReporter();
/** Every Step Functions a test started: stopped after it, passed or failed, so none keeps Jest waiting. */
const started: LocalStepFunctions[] = [];

/**
 * Step Functions on the executions file, as one start of the local cloud opens it, with `machine` as
 * the state machine's definition. A function named `broken` fails every call.
 */
function startStepFunctions(machine: object = definition): LocalStepFunctions {
  const store = openExecutionStore(file);
  stores.push(store);
  const stepFunctions = createLocalStepFunctions({
    stateMachines: [{ name: 'kept', definition: machine }],
    integrations: {
      [LAMBDA_INVOKE]: async (parameters) => {
        const name = String(parameters.FunctionName);
        calls.push(name);
        if (name === 'work' && workHeld) await workHeld;
        if (name === 'broken') throw new StatesTaskError('Lambda.Unknown', '{"errorMessage":"broken"}');
        return { Payload: `${name} ok`, StatusCode: 200 };
      },
    },
    region: 'us-east-1',
    accountId: '000000000000',
    reporter: reports.reporter,
    retryIntervalMs: 0,
    store,
  });
  started.push(stepFunctions);
  return stepFunctions;
}

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'executions-'));
  file = join(dir, 'step-functions', 'executions.jsonl');
  calls = [];
  workHeld = undefined;
});

afterEach(async () => {
  for (const stepFunctions of started.splice(0)) await stepFunctions.stop();
  for (const store of stores.splice(0)) store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('openExecutionStore', () => {
  it('lists finished executions with their history after a restart', async () => {
    const first = startStepFunctions();
    const { executionArn } = first.startExecution({
      stateMachineArn: MACHINE_ARN,
      name: 'one',
      input: '{"n":1}',
    });
    const before = await first.waitForExecution(executionArn);
    expect(before.status).toBe('SUCCEEDED');
    await first.stop();

    const api = stepFunctionsApi(startStepFunctions());
    const listed = (await api('ListExecutions', { stateMachineArn: MACHINE_ARN })) as {
      executions: { name: string; status: string }[];
    };
    expect(listed.executions.map(({ name, status }) => ({ name, status }))).toEqual([
      { name: 'one', status: 'SUCCEEDED' },
    ]);
    const described = (await api('DescribeExecution', { executionArn })) as { output: string; input: string };
    expect(described.input).toBe('{"n":1}');
    expect(described.output).toBe(before.output);
    const history = (await api('GetExecutionHistory', { executionArn })) as {
      events: { id: number; type: string; timestamp: number }[];
    };
    expect(history.events.map((e) => [e.id, e.type])).toEqual(before.history.map((e) => [e.id, e.type]));
    expect(history.events[0]?.timestamp).toBe((before.history[0]?.timestamp.getTime() ?? 0) / 1000);
  });

  // "Redriven executions use the same state machine definition and execution ARN that was used for
  // the original execution attempt ... you must start a new execution if you update your state
  // machine definition" (https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html).
  it('redrives an execution with the definition it started with, not one changed since, across a restart', async () => {
    const broken = {
      StartAt: 'Prepare',
      States: {
        Prepare: invoke('prepare', 'Work'),
        Work: invoke('broken', 'Done'),
        Done: { Type: 'Succeed' },
      },
    };
    const first = startStepFunctions(broken);
    const { executionArn } = first.startExecution({ stateMachineArn: MACHINE_ARN, name: 'old', input: '{}' });
    expect((await first.waitForExecution(executionArn)).status).toBe('FAILED');
    await first.stop();

    // The workflow is fixed (Work calls `work`) and the local cloud started again.
    calls = [];
    const second = startStepFunctions(definition);
    await second.redriveExecution(executionArn);
    const redriven = await second.waitForExecution(executionArn);
    expect(calls).toEqual(['broken']);
    expect(redriven).toMatchObject({ status: 'FAILED', redriveCount: 1 });
    // A new execution runs the definition as it is now.
    const fresh = second.startExecution({ stateMachineArn: MACHINE_ARN, name: 'new', input: '{}' });
    expect((await second.waitForExecution(fresh.executionArn)).status).toBe('SUCCEEDED');
    expect(calls).toEqual(['broken', 'prepare', 'work']);
    await second.stop();

    // Both definitions are kept while an execution that started with each is: a third start
    // redrives the old execution with the broken one again.
    calls = [];
    const third = startStepFunctions(definition);
    await third.redriveExecution(executionArn);
    expect((await third.waitForExecution(executionArn)).status).toBe('FAILED');
    expect(calls).toEqual(['broken']);
  });

  it('fails an execution left RUNNING by a dead process with States.Runtime, and redrives it from its state', async () => {
    const first = startStepFunctions();
    workHeld = new Promise<void>(() => undefined);
    const { executionArn } = first.startExecution({ stateMachineArn: MACHINE_ARN, name: 'cut', input: '{}' });
    await until(() => calls.includes('work'));
    // The process dies here: nothing stops the execution; a second process opens the same file,
    // the first's last line half written.
    appendFileSync(file, '{"kind":"history","executionArn":"arn:aws:sta');
    workHeld = undefined;
    calls = [];

    const second = startStepFunctions();
    const lost = second.describeExecution(executionArn);
    expect(lost).toMatchObject({ status: 'FAILED', ...LOST_EXECUTION, redriveStatus: 'REDRIVABLE' });
    expect(lost.history.at(-1)).toMatchObject({
      type: 'ExecutionFailed',
      executionFailedEventDetails: LOST_EXECUTION,
      id: lost.history.length,
      previousEventId: lost.history.at(-2)?.id,
    });
    expect(second.listExecutions(MACHINE_ARN, 'FAILED').map((e) => e.name)).toEqual(['cut']);

    const { redriveDate } = await second.redriveExecution(executionArn, { clientToken: 'kept-token' });
    const redriven = await second.waitForExecution(executionArn);
    expect(redriven).toMatchObject({ status: 'SUCCEEDED', redriveCount: 1 });
    // Continued from Work: Prepare, which had succeeded, is not called again.
    expect(calls).toEqual(['work']);
    await second.stop();

    // The redrive is kept too.
    const third = startStepFunctions();
    const kept = third.describeExecution(executionArn);
    expect(kept).toMatchObject({ status: 'SUCCEEDED', redriveCount: 1 });
    // Revived as a Date, as DescribeExecution's redriveDate is one (a string would serialize wrong).
    expect(kept.redriveDate).toBeInstanceOf(Date);
    expect(kept.redriveDate?.getTime()).toBe(redriveDate.getTime());
    expect(third.describeExecution(executionArn).history.map((e) => e.type)).toContain('ExecutionRedriven');
    // So is its client token: a retry after the restart gets the redrive's answer, not a refusal.
    expect((await third.redriveExecution(executionArn, { clientToken: 'kept-token' })).redriveDate).toEqual(
      redriveDate,
    );
    expect(third.describeExecution(executionArn).redriveCount).toBe(1);
    // The first process's execution, still held in Work, ends with the test.
    await first.stop();
  });
});

describe('histories of closed executions', () => {
  it('are read from the store when asked for, not kept in memory: GetExecutionHistory reads, DescribeExecution and ListExecutions do not', async () => {
    const stepFunctions = startStepFunctions();
    const store = stores.at(-1) as ExecutionStore;
    const reads: string[] = [];
    const readHistory = store.readHistory.bind(store);
    store.readHistory = (executionArn) => {
      reads.push(executionArn);
      return readHistory(executionArn);
    };
    const { executionArn } = stepFunctions.startExecution({ stateMachineArn: MACHINE_ARN, name: 'closed' });
    const finished = await stepFunctions.waitForExecution(executionArn);
    expect(finished.history.map((e) => e.type)).toEqual(expect.arrayContaining(['ExecutionSucceeded']));
    reads.length = 0;

    const api = stepFunctionsApi(stepFunctions);
    await api('DescribeExecution', { executionArn });
    await api('ListExecutions', { stateMachineArn: MACHINE_ARN });
    expect(reads).toEqual([]);
    const history = (await api('GetExecutionHistory', { executionArn })) as { events: { id: number }[] };
    expect(reads).toEqual([executionArn]);
    expect(history.events.map((e) => e.id)).toEqual(finished.history.map((e) => e.id));
  });
});

describe('an executions store that fails or is closed', () => {
  it('keeps a history in memory when its append to the file failed (a full disk), not the part the file has', async () => {
    const stepFunctions = startStepFunctions();
    const store = stores.at(-1) as ExecutionStore;
    const appendHistory = store.appendHistory.bind(store);
    let appends = 0;
    store.appendHistory = (executionArn, events) => {
      appends += 1;
      if (appends === 2) throw new Error('ENOSPC: no space left on device, write');
      appendHistory(executionArn, events);
    };
    const { executionArn } = stepFunctions.startExecution({
      stateMachineArn: MACHINE_ARN,
      name: 'disk-full',
    });
    const finished = await stepFunctions.waitForExecution(executionArn);
    expect(finished.status).toBe('SUCCEEDED');
    expect(reports.ofType('error').filter((event) => event.source === 'execution disk-full')).toEqual([
      {
        type: 'error',
        source: 'execution disk-full',
        message:
          'its history could not be kept in the executions file: ENOSPC: no space left on device, write',
      },
    ]);
    expect(store.readHistory(executionArn).length).toBeLessThan(finished.history.length);
    // Asked again later, the whole history, from memory.
    expect(stepFunctions.describeExecution(executionArn).history.map((event) => event.id)).toEqual(
      finished.history.map((_, index) => index + 1),
    );
    expect(finished.history.at(-1)?.type).toBe('ExecutionSucceeded');
  });

  it('refuses to read a history once closed, saying the store is closed', () => {
    const store = openExecutionStore(file);
    store.close();
    store.close();
    expect(() => store.readHistory('arn:aws:states:us-east-1:000000000000:execution:kept:any')).toThrow(
      expect.objectContaining({ name: 'ExecutionStoreClosedError' }),
    );
  });
});

// Step Functions sends the status change of every execution it fails; the status-updater marks the
// job failed on it. An execution a crash left RUNNING is failed when the store opens, before anything
// listens: its event is sent once the listeners are there, or its job read `running` until a sweep.
describe('reportLostExecutions', () => {
  it('sends the FAILED status change of each execution a dead process left RUNNING, once', async () => {
    const first = startStepFunctions();
    workHeld = new Promise<void>(() => undefined);
    const { executionArn } = first.startExecution({ stateMachineArn: MACHINE_ARN, name: 'cut', input: '{}' });
    await until(() => calls.includes('work'));
    workHeld = undefined;

    const second = startStepFunctions();
    const events: { status: string; executionArn: string; error?: string }[] = [];
    second.onStatusChange((event) => events.push(event.detail as (typeof events)[number]));
    second.reportLostExecutions();
    second.reportLostExecutions();
    expect(events).toEqual([
      expect.objectContaining({ executionArn, status: 'FAILED', error: LOST_EXECUTION.error }),
    ]);
    await first.stop();
  });
});

// "Maximum execution history retention time: 90 days. After this time, you can no longer retrieve or
// view the execution history" (https://docs.aws.amazon.com/step-functions/latest/dg/limits.html): the
// local cloud forgets an execution as Step Functions does, and its file does not grow for ever.
describe('openExecutionStore: what it keeps', () => {
  const day = 86_400_000;
  const NOW = new Date('2026-12-07T12:00:00Z');
  const closed = (name: string, daysAgo: number, definitionHash: string): StoredExecution => ({
    executionArn: `arn:aws:states:us-east-1:000000000000:execution:kept:${name}`,
    stateMachineArn: MACHINE_ARN,
    name,
    status: 'SUCCEEDED',
    startDate: new Date(NOW.getTime() - daysAgo * day - 60_000),
    stopDate: new Date(NOW.getTime() - daysAgo * day),
    input: JSON.stringify({ user: 'ユーザー😀' }),
    output: '{}',
    redriveCount: 0,
    definitionHash,
  });

  it(`forgets an execution closed more than ${EXECUTION_RETENTION_DAYS} days ago, with its history and definition`, () => {
    const writing = openExecutionStore(file, { now: () => NOW });
    for (const [execution, hash] of [
      [closed('old', EXECUTION_RETENTION_DAYS + 1, 'h-old'), 'h-old'],
      [closed('recent', EXECUTION_RETENTION_DAYS - 1, 'h-new'), 'h-new'],
    ] as const) {
      writing.saveDefinition(hash, JSON.stringify({ hash }));
      writing.saveExecution(execution);
      writing.appendHistory(execution.executionArn, [
        { id: 1, previousEventId: 0, timestamp: execution.startDate, type: 'ExecutionStarted' },
      ]);
    }
    writing.close();

    const reopened = openExecutionStore(file, { now: () => NOW });
    stores.push(reopened);
    expect(reopened.restored.map((execution) => [execution.name, execution.historyLength])).toEqual([
      ['recent', 1],
    ]);
    expect([...reopened.definitions.keys()]).toEqual(['h-new']);
    expect(readFileSync(file, 'utf8')).not.toContain(':old"');
  });

  it('keeps a copy of a file with a damaged line before the compaction drops it, and says so; a torn last line is no damage', () => {
    const writing = openExecutionStore(file, { now: () => NOW });
    writing.saveDefinition('h', '{}');
    writing.saveExecution(closed('before', 2, 'h'));
    writing.close();
    // A damaged line in the middle, a good one after it, then a last line cut off by a kill.
    appendFileSync(file, '{"kind":"execution","execution":{"damaged\n');
    appendFileSync(file, `${JSON.stringify({ kind: 'execution', execution: closed('after', 1, 'h') })}\n`);
    const damaged = readFileSync(file, 'utf8');
    appendFileSync(file, '{"kind":"history","executionArn":"arn:aws:sta');

    const reopened = openExecutionStore(file, { now: () => NOW });
    stores.push(reopened);
    expect(reopened.restored.map((execution) => execution.name)).toEqual(['before', 'after']);
    expect(reopened.unreadable?.lines).toBe(1);
    expect(readFileSync(reopened.unreadable?.copy ?? '', 'utf8')).toContain(damaged);
    // Opened again, the compacted file holds no damage: no second copy.
    const again = openExecutionStore(file, { now: () => NOW });
    stores.push(again);
    expect(again.unreadable).toBeUndefined();
  });

  // A developer's local cloud runs for weeks: every execution's history held in memory came to
  // 0.7 GB at 12,000 executions. The store keeps where each history is and reads it when asked.
  it('reads a history back from the file when asked, after a restart and as it is appended to', () => {
    const writing = openExecutionStore(file, { now: () => NOW });
    const execution = closed('read-back', 1, 'h');
    const event = (id: number, type: string) => ({
      id,
      previousEventId: id - 1,
      timestamp: new Date(execution.startDate.getTime() + id),
      type,
      details: { note: 'ユーザー😀' },
    });
    writing.saveDefinition('h', '{}');
    writing.saveExecution(execution);
    writing.appendHistory(execution.executionArn, [
      event(1, 'ExecutionStarted'),
      event(2, 'PassStateEntered'),
    ]);
    writing.appendHistory(execution.executionArn, [event(3, 'ExecutionSucceeded')]);
    expect(writing.readHistory(execution.executionArn)).toEqual([
      event(1, 'ExecutionStarted'),
      event(2, 'PassStateEntered'),
      event(3, 'ExecutionSucceeded'),
    ]);
    writing.close();

    const reopened = openExecutionStore(file, { now: () => NOW, chunkBytes: 7 });
    stores.push(reopened);
    expect(reopened.restored).toEqual([{ ...execution, historyLength: 3 }]);
    expect(reopened.restored[0]).not.toHaveProperty('history');
    const history = reopened.readHistory(execution.executionArn);
    expect(history).toEqual([
      event(1, 'ExecutionStarted'),
      event(2, 'PassStateEntered'),
      event(3, 'ExecutionSucceeded'),
    ]);
    expect(history[0]?.timestamp).toBeInstanceOf(Date);
    // Appended after the compaction (a redrive), read back with what the compaction copied.
    reopened.appendHistory(execution.executionArn, [event(4, 'ExecutionRedriven')]);
    expect(reopened.readHistory(execution.executionArn).map((e) => e.type)).toEqual([
      'ExecutionStarted',
      'PassStateEntered',
      'ExecutionSucceeded',
      'ExecutionRedriven',
    ]);
    expect(reopened.readHistory('arn:aws:states:us-east-1:000000000000:execution:kept:unknown')).toEqual([]);
  });

  it('reads the file a chunk at a time, a character cut at a chunk’s edge put back together', () => {
    const writing = openExecutionStore(file, { now: () => NOW });
    const execution = closed('chunked', 1, 'h');
    writing.saveDefinition('h', '{}');
    writing.saveExecution(execution);
    writing.close();
    // Seven bytes a read: every line, and the four-byte emoji, spans several.
    const reopened = openExecutionStore(file, { now: () => NOW, chunkBytes: 7 });
    stores.push(reopened);
    expect(reopened.restored).toEqual([{ ...execution, historyLength: 0 }]);
  });
});
