import type { GetExecutionHistoryCommandOutput, HistoryEvent } from '@aws-sdk/client-sfn';

/** Why the stubbed import failed: its task's cause, as Postgres words it. */
export const IMPORT_FAILURE_CAUSE = 'relation "users" does not exist';

/**
 * GetExecutionHistory of an import that failed in its first state
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_GetExecutionHistory.html):
 * started, entered ImportRows, scheduled its task, and the task failed a second later, failing the
 * execution (no Retry, no Catch).
 */
export const FAILED_IMPORT_HISTORY: GetExecutionHistoryCommandOutput = {
  $metadata: {},
  events: [
    { type: 'ExecutionStarted', id: 1, timestamp: new Date('2026-11-24T10:00:00Z') },
    {
      type: 'TaskStateEntered',
      id: 2,
      timestamp: new Date('2026-11-24T10:00:00Z'),
      stateEnteredEventDetails: { name: 'ImportRows', input: '{}' },
    },
    { type: 'TaskScheduled', id: 3, timestamp: new Date('2026-11-24T10:00:00Z') },
    {
      type: 'TaskFailed',
      id: 4,
      timestamp: new Date('2026-11-24T10:00:01Z'),
      taskFailedEventDetails: {
        resourceType: 'lambda',
        resource: 'invoke',
        error: 'States.TaskFailed',
        cause: IMPORT_FAILURE_CAUSE,
      },
    },
    {
      type: 'ExecutionFailed',
      id: 5,
      timestamp: new Date('2026-11-24T10:00:01Z'),
      executionFailedEventDetails: { error: 'States.TaskFailed', cause: IMPORT_FAILURE_CAUSE },
    },
  ],
};

/** The import workflow as DescribeStateMachine answers it, cut to the one state the history names. */
export const IMPORT_DEFINITION = JSON.stringify({
  StartAt: 'ImportRows',
  States: { ImportRows: { Type: 'Task', Next: 'Done' }, Done: { Type: 'Succeed' } },
});

/** ECS's reason for a RunTask past the account's Fargate vCPU quota (@sidestep/workflows' FARGATE_VCPU_LIMIT_REASON). */
export const VCPU_LIMIT_REASON = 'You’ve reached the limit on the number of vCPUs you can run concurrently';

/** One attempt of the batch step whose RunTask ECS refused for the vCPU quota, at `at`, from event `id`. */
function refusedAttempt(id: number, at: string): HistoryEvent[] {
  const timestamp = new Date(at);
  return [
    { id, type: 'TaskScheduled', timestamp },
    { id: id + 1, type: 'TaskStarted', timestamp },
    {
      id: id + 2,
      type: 'TaskFailed',
      timestamp,
      taskFailedEventDetails: {
        resourceType: 'ecs',
        resource: 'runTask.sync',
        error: 'AmazonECS.Unknown',
        cause: JSON.stringify({ Failures: [{ Reason: VCPU_LIMIT_REASON }], Tasks: [] }),
      },
    },
  ];
}

/**
 * GetExecutionHistory, newest first (`reverseOrder`), of an import whose batch step waits for room:
 * ImportRows entered at 10:00:01, its RunTask refused then and again at 10:00:11.
 */
export const WAITING_FOR_ROOM_HISTORY: GetExecutionHistoryCommandOutput = {
  $metadata: {},
  events: [
    {
      id: 1,
      type: 'TaskStateEntered' as const,
      timestamp: new Date('2026-12-07T10:00:01Z'),
      stateEnteredEventDetails: { name: 'ImportRows', input: '{}' },
    },
    ...refusedAttempt(2, '2026-12-07T10:00:01Z'),
    ...refusedAttempt(5, '2026-12-07T10:00:11Z'),
  ].reverse(),
};
