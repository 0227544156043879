import { PassThrough } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import { createConsoleReporter } from '../src/console-reporter.ts';
import type { LocalCloudEvent } from '../src/local-cloud-event.ts';

/** Prints the events through a non-TTY stream (so no colour codes) and returns the lines. */
function print(events: LocalCloudEvent[], options: { logs?: boolean } = {}): string[] {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
  const report = createConsoleReporter({
    stream,
    baseDir: '/repo',
    now: () => new Date('2026-11-24T09:15:02.345Z'),
    ...options,
  });
  for (const event of events) report(event);
  return chunks.join('').split('\n').filter(Boolean);
}

describe('createConsoleReporter', () => {
  it('prints one uncoloured, timestamped line per event on a non-TTY stream', () => {
    const lines = print([
      {
        type: 'queue-created',
        queue: 'sidestep-local-mail',
        url: 'http://q',
        deadLetterQueue: 'sidestep-local-mail-dlq',
      },
      { type: 'service-started', service: 'mail-dispatcher', coldStartMs: 412.4 },
      { type: 'service-started', service: 'status-updater' },
    ]);
    expect(lines).toEqual([
      '09:15:02.345 queue    sidestep-local-mail http://q (DLQ sidestep-local-mail-dlq)',
      '09:15:02.345 service  mail-dispatcher started (cold start 412 ms)',
      '09:15:02.345 service  status-updater ready (cold start on its first invocation)',
    ]);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: asserting the absence of ANSI escapes
    expect(lines.join('')).not.toMatch(/\u001b\[/);
  });

  it('says which attributes a start changed on a kept queue, from and to', () => {
    const updated = [
      { attribute: 'MessageRetentionPeriod', from: '1209600', to: '604800' },
      { attribute: 'RedriveAllowPolicy', to: '{}' },
    ];
    expect(
      print([{ type: 'queue-created', queue: 'sidestep-local-mail-dlq', url: 'http://d', updated }]),
    ).toEqual([
      '09:15:02.345 queue    sidestep-local-mail-dlq http://d updated: MessageRetentionPeriod 1209600 -> 604800, RedriveAllowPolicy (none) -> {}',
    ]);
  });

  it('says what arrived, what ran and what failed, with the reason', () => {
    const lines = print([
      {
        type: 'message-received',
        queue: 'sidestep-local-mail',
        messageId: 'm-1',
        jobType: 'mail.send',
        jobId: 'job-7',
        receiveCount: 2,
      },
      {
        type: 'invocation',
        service: 'mail-dispatcher',
        queue: 'sidestep-local-mail',
        requestId: 'r',
        batchSize: 3,
        durationMs: 41.6,
        outcome: 'partial',
        failedRecords: 1,
      },
      {
        type: 'invocation',
        service: 'mail-dispatcher',
        queue: 'sidestep-local-mail',
        requestId: 'r',
        batchSize: 1,
        durationMs: 30_000,
        outcome: 'error',
        failedRecords: 1,
        reason: 'Sandbox.Timedout: Task timed out after 30.00 seconds',
      },
      {
        type: 'record-failed',
        service: 'mail-dispatcher',
        queue: 'sidestep-local-mail',
        messageId: 'm-1',
        reason: 'listed in batchItemFailures',
        receiveCount: 5,
        maxReceiveCount: 5,
        deadLetterNext: true,
      },
    ]);
    expect(lines[0]).toContain('arrived  mail.send job-7 on sidestep-local-mail [m-1] (attempt 2)');
    expect(lines[1]).toContain('ran      mail-dispatcher batch of 3 in 42 ms: 1 of 3 failed');
    expect(lines[2]).toContain(
      'failed, whole batch will be retried: Sandbox.Timedout: Task timed out after 30.00 seconds',
    );
    expect(lines[3]).toContain('(attempt 5 of 5): listed in batchItemFailures -> moves to the DLQ');
  });

  it('gives the reason a message was dead-lettered, and where mail went', () => {
    const lines = print([
      {
        type: 'dead-lettered',
        queue: 'sidestep-local-mail-dlq',
        messageId: 'm-2',
        cause: 'runtime',
        errorType: 'SchemaViolationError',
        errorMessage: 'payload.to: invalid email',
      },
      {
        type: 'dead-lettered',
        queue: 'sidestep-local-mail-dlq',
        messageId: 'm-3',
        cause: 'redrive',
        receiveCount: 5,
      },
      {
        type: 'mail-delivered',
        to: ['ada@example.com'],
        subject: 'Export ready',
        file: '/repo/.sidestep/outbox/x.eml',
        links: [],
      },
      {
        type: 'mail-delivered',
        to: ['ada@example.com'],
        subject: 'Your export is ready',
        file: '/repo/.sidestep/outbox/y.eml',
        links: ['http://127.0.0.1:4566/lambda-url/export-download/?token=t.1', 'https://example.com/help'],
      },
    ]);
    expect(lines[0]).toContain(
      'dlq      [m-2] sent to sidestep-local-mail-dlq: SchemaViolationError: payload.to: invalid email',
    );
    expect(lines[1]).toContain('redriven by SQS after 5 failed receives');
    expect(lines[2]).toMatch(/mail {5}to ada@example.com: Export ready -> \.sidestep\/outbox\/x\.eml$/);
    expect(lines[3]).toContain(
      'mail     to ada@example.com: Your export is ready -> .sidestep/outbox/y.eml http://127.0.0.1:4566/lambda-url/export-download/?token=t.1 https://example.com/help',
    );
  });

  it("says an invocation Lambda throttled past the account's concurrency, naming the function and the quota", () => {
    const lines = print([
      { type: 'lambda-throttled', functionName: 'sidestep-local-status-updater', limit: 10 },
    ]);
    expect(lines).toEqual([
      "09:15:02.345 lambda   throttled sidestep-local-status-updater (10 invocations running, the account's concurrency; TooManyRequestsException)",
    ]);
  });

  it('says a mail the SMTP sink throttled, its rate and how many it refused so far', () => {
    const lines = print([
      {
        type: 'mail-throttled',
        from: 'no-reply@local.mail.example.com',
        to: ['ada@example.com', 'bob@example.com'],
        maxSendRate: 0.5,
        throttled: 3,
      },
    ]);
    expect(lines).toEqual([
      '09:15:02.345 mail     throttled: to ada@example.com, bob@example.com refused with 454 (over 0.5 mails/s; 3 refused since start)',
    ]);
  });

  it('summarises Powertools and Lambda runtime log lines, passes other lines through, and can hide them', () => {
    const events: LocalCloudEvent[] = [
      {
        type: 'log',
        service: 'mail-dispatcher',
        line: JSON.stringify({
          level: 'ERROR',
          message: 'send failed',
          error: { name: 'SmtpError', message: 'refused' },
        }),
      },
      {
        type: 'log',
        service: 'batch-worker',
        line: JSON.stringify({
          level: 'INFO',
          message: 'import progress',
          timestamp: 't',
          service: 'batch-worker',
          sampling_rate: 0,
          jobId: 'imp_1',
          rows: 200000,
          source: { key: 'imports/u.csv' },
        }),
      },
      {
        type: 'log',
        service: 'mail-dispatcher',
        line: JSON.stringify({
          timestamp: 't',
          level: 'WARN',
          requestId: 'r',
          message: 'retrying',
          errorType: 'Timeout',
          errorMessage: 'slow',
        }),
      },
      {
        type: 'log',
        service: 'mail-dispatcher',
        line: '2026-11-24T09:15:02.000Z\tr-1\tINFO\tcold start done',
      },
      { type: 'log', service: 'mail-dispatcher', line: 'plain text from a child process' },
      {
        type: 'log',
        service: 'mail-dispatcher',
        line: JSON.stringify({
          _aws: {
            Timestamp: 1,
            CloudWatchMetrics: [
              {
                Namespace: 'sidestep',
                Dimensions: [['service']],
                Metrics: [{ Name: 'processed' }, { Name: 'duration' }],
              },
            ],
          },
          service: 'mail-dispatcher',
          processed: 1,
          duration: [27.5, 3],
        }),
      },
    ];
    expect(print(events)).toEqual([
      '09:15:02.345 log      mail-dispatcher: ERROR send failed SmtpError: refused',
      '09:15:02.345 log      batch-worker: INFO import progress jobId=imp_1 rows=200000 source={"key":"imports/u.csv"}',
      '09:15:02.345 log      mail-dispatcher: WARN retrying Timeout: slow',
      '09:15:02.345 log      mail-dispatcher: INFO cold start done',
      '09:15:02.345 log      mail-dispatcher: plain text from a child process',
      '09:15:02.345 log      mail-dispatcher: metrics processed=1 duration=[27.5,3]',
    ]);
    expect(print(events, { logs: false })).toEqual([]);
  });
  it('shows schedules firing, operator events on the sidestep bus and pipe deliveries', () => {
    expect(
      print([
        {
          type: 'schedule-fired',
          schedule: 'stale-job-sweeper',
          scheduledTime: '2026-11-24T10:15:00.000Z',
          target: 'function job-sweeper',
          trigger: 'scheduler',
        },
        {
          type: 'event-routed',
          eventBus: 'sidestep-local',
          source: 'sidestep.operator',
          detailType: 'Schedule Fired',
          subject: 'sidestep.operator',
          rules: ['sidestep-local-nightly-export-operator'],
        },
        {
          type: 'schedule-fired',
          schedule: 'nightly-export',
          scheduledTime: '2026-11-24T10:16:00Z',
          target: 'queue export-requests',
          trigger: 'operator',
        },
        {
          type: 'pipe-delivered',
          pipe: 'sidestep-local-export-requests-pipe',
          messageId: 'm-1',
          executionArn: 'arn:aws:states:us-east-1:000000000000:execution:sidestep-local-export:e-1',
        },
      ]),
    ).toEqual([
      '09:15:02.345 schedule stale-job-sweeper due 2026-11-24T10:15:00.000Z -> function job-sweeper',
      '09:15:02.345 event    Schedule Fired sidestep.operator on sidestep-local -> rule sidestep-local-nightly-export-operator',
      '09:15:02.345 schedule nightly-export fired by an operator event -> queue export-requests',
      '09:15:02.345 pipe     sidestep-local-export-requests-pipe [m-1] -> e-1',
    ]);
  });

  it('follows a workflow: the routed event, the execution, its states, its task and how it ended', () => {
    const execution = '0b7c2d4e-1111-2222-3333-444455556666';
    const lines = print([
      { type: 'bucket-created', bucket: 'sidestep-local-imports', eventBridge: true },
      {
        type: 'event-routed',
        source: 'aws.s3',
        detailType: 'Object Created',
        subject: 'sidestep-local-imports/imports/users.csv',
        rules: ['sidestep-local-import-trigger'],
      },
      { type: 'event-routed', source: 'aws.s3', detailType: 'Object Created', subject: 'b/x.txt', rules: [] },
      { type: 'execution-started', stateMachine: 'sidestep-local-import', execution, executionArn: 'arn' },
      { type: 'state-entered', execution, state: 'Import', stateType: 'Task' },
      {
        type: 'task-started',
        task: 'batch-worker',
        taskArn: 'arn:aws:ecs:x:task/sidestep-local/abc',
        execution,
      },
      {
        type: 'task-stopped',
        task: 'batch-worker',
        taskArn: 'arn:aws:ecs:x:task/sidestep-local/abc',
        execution,
        exitCode: 1,
        signal: null,
        durationMs: 2_345,
        stoppedReason: 'Essential container in task exited',
      },
      {
        type: 'state-failed',
        execution,
        state: 'Import',
        error: 'States.TaskFailed',
        cause: JSON.stringify({
          Containers: [{ Name: 'batch-worker', ExitCode: 1, LastStatus: 'STOPPED' }],
          StoppedReason: 'Essential container in task exited',
          TaskArn: 'arn',
        }),
      },
      {
        type: 'state-failed',
        execution,
        state: 'Register',
        error: 'InvalidTransitionError',
        cause: JSON.stringify({
          errorType: 'InvalidTransitionError',
          errorMessage: 'job is failed',
          trace: [],
        }),
      },
      { type: 'state-failed', execution, state: 'Other', error: 'States.Runtime', cause: 'plain text' },
      { type: 'state-retried', execution, state: 'Register', attempt: 1 },
      { type: 'state-exited', execution, state: 'Fail', stateType: 'Task', durationMs: 12.2 },
      {
        type: 'execution-finished',
        stateMachine: 'sidestep-local-import',
        execution,
        executionArn: 'arn',
        status: 'FAILED',
        durationMs: 3_100,
        error: 'ImportFailed',
        cause: 'missing column email',
      },
      {
        type: 'execution-finished',
        stateMachine: 'sidestep-local-import',
        execution,
        executionArn: 'arn',
        status: 'SUCCEEDED',
        durationMs: 900,
      },
    ]);
    expect(lines.map((line) => line.slice(13))).toEqual([
      'bucket   sidestep-local-imports (Object Created events to EventBridge)',
      'event    Object Created sidestep-local-imports/imports/users.csv -> rule sidestep-local-import-trigger',
      'event    Object Created b/x.txt matched no rule',
      `workflow sidestep-local-import started ${execution}`,
      'state    0b7c2d4e -> Import (Task)',
      'task     batch-worker started abc for 0b7c2d4e',
      'task     batch-worker abc for 0b7c2d4e stopped (exit code 1) after 2.3 s: Essential container in task exited',
      'state    0b7c2d4e Import failed: States.TaskFailed: batch-worker exit code 1, Essential container in task exited',
      'state    0b7c2d4e Register failed: InvalidTransitionError: job is failed',
      'state    0b7c2d4e Other failed: States.Runtime: plain text',
      'state    0b7c2d4e Register retry 1',
      'state    0b7c2d4e <- Fail 12 ms',
      `workflow sidestep-local-import ${execution} FAILED in 3.1 s: ImportFailed: missing column email`,
      `workflow sidestep-local-import ${execution} SUCCEEDED in 900 ms`,
    ]);
  });
});
