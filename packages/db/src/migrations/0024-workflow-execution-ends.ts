import type { Migration } from '../migration.ts';

/**
 * `workflow_execution_ends`: each end of a workflow execution (its ARN and its redrive count at the
 * end) whose jobs and owed mails the job-sweeper has handled. Step Functions sends its "Execution
 * Status Change" events best effort ("in some rare cases an event might not be delivered",
 * https://docs.aws.amazon.com/eventbridge/latest/ref/event-delivery-level.html), so the scheduled
 * sweep also lists the executions that ended FAILED, ABORTED or TIMED_OUT and handles each end not
 * recorded here, as the event would have; both paths record the end once its work is done (or no retry
 * can do it), `handled_by` saying which (`event <sweeper id>`, `sweep <sweeper id>`). The sweep looks
 * at the ends of the last 8 days and deletes the rows a day older than that.
 */
export const workflowExecutionEnds: Migration = {
  version: 24,
  name: 'workflow-execution-ends',
  sql: `
    CREATE TABLE workflow_execution_ends (
      execution_arn text NOT NULL,
      redrive_count integer NOT NULL,
      status text NOT NULL,
      handled_by text NOT NULL,
      handled_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (execution_arn, redrive_count)
    );
    CREATE INDEX workflow_execution_ends_handled_at ON workflow_execution_ends (handled_at);
  `,
};
