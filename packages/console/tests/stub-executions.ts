import type { GetExecutionHistoryCommandOutput } from '@aws-sdk/client-sfn';

/** Why the stubbed import failed: its task's cause, as Postgres words it. */
export const IMPORT_FAILURE_CAUSE = 'relation "users" does not exist';

/**
 * GetExecutionHistory of an import that failed in its first state
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_GetExecutionHistory.html):
 * started, entered ImportRows, scheduled its task, and the task failed a second later.
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
  ],
};

/** The import workflow as DescribeStateMachine answers it, cut to the one state the history names. */
export const IMPORT_DEFINITION = JSON.stringify({
  StartAt: 'ImportRows',
  States: { ImportRows: { Type: 'Task', Next: 'Done' }, Done: { Type: 'Succeed' } },
});
