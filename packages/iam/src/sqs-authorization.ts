import {
  type ArnScope,
  type AuthorizationCheck,
  required,
  ServiceOperations,
} from './authorization-check.ts';

// Actions, resource types and condition keys for Amazon SQS:
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsqs.html
// The batch APIs are authorized as their single-message actions (there is no sqs:SendMessageBatch).
const ACTIONS = new ServiceOperations<string>('sqs', {
  SendMessage: 'sqs:SendMessage',
  SendMessageBatch: 'sqs:SendMessage',
  ReceiveMessage: 'sqs:ReceiveMessage',
  DeleteMessage: 'sqs:DeleteMessage',
  DeleteMessageBatch: 'sqs:DeleteMessage',
  ChangeMessageVisibility: 'sqs:ChangeMessageVisibility',
  ChangeMessageVisibilityBatch: 'sqs:ChangeMessageVisibility',
  GetQueueAttributes: 'sqs:GetQueueAttributes',
  SetQueueAttributes: 'sqs:SetQueueAttributes',
  GetQueueUrl: 'sqs:GetQueueUrl',
  CreateQueue: 'sqs:CreateQueue',
  DeleteQueue: 'sqs:DeleteQueue',
  PurgeQueue: 'sqs:PurgeQueue',
  ListQueues: 'sqs:ListQueues',
  ListDeadLetterSourceQueues: 'sqs:ListDeadLetterSourceQueues',
  ListQueueTags: 'sqs:ListQueueTags',
  TagQueue: 'sqs:TagQueue',
  UntagQueue: 'sqs:UntagQueue',
  StartMessageMoveTask: 'sqs:StartMessageMoveTask',
  ListMessageMoveTasks: 'sqs:ListMessageMoveTasks',
  CancelMessageMoveTask: 'sqs:CancelMessageMoveTask',
});

/** Actions whose resource type is empty in the reference: they are authorized on `*`. */
const UNSCOPED = new Set(['ListQueues']);

export interface SqsRequestTarget extends ArnScope {
  /** The queue the request addresses (from QueueUrl, QueueName or SourceArn). */
  readonly queueName?: string;
  /**
   * StartMessageMoveTask only: the queue messages move to (the DLQ's source queue when the request
   * names none). AWS also requires receive/delete/attributes on the source and send on the destination
   * (SQS Developer Guide, "Configure queue permissions for dead-letter queue redrive").
   */
  readonly destinationQueueName?: string;
}

/** The queue ARN, `arn:aws:sqs:<region>:<account>:<queue>`. */
export function sqsQueueArn(scope: ArnScope, queueName: string): string {
  return ACTIONS.arn(scope, queueName);
}

/** The request target of the queue `arn` (`arn:aws:sqs:<region>:<account>:<queue>`): {@link sqsQueueArn} read back. */
export function sqsTargetOf(arn: string): SqsRequestTarget {
  const [, , , region = '', accountId = '', queueName = ''] = arn.split(':');
  return { region, accountId, queueName };
}

/** What an SQS API call needs authorized. */
export function sqsAuthorization(operation: string, target: SqsRequestTarget): AuthorizationCheck[] {
  const action = ACTIONS.lookup(operation);
  if (UNSCOPED.has(operation)) return [{ action, resource: '*' }];
  const queue = sqsQueueArn(target, required(target.queueName, 'queueName', operation));
  if (operation !== 'StartMessageMoveTask') return [{ action, resource: queue }];
  const destination = sqsQueueArn(
    target,
    required(target.destinationQueueName, 'destinationQueueName', operation),
  );
  return [
    { action, resource: queue },
    { action: 'sqs:ReceiveMessage', resource: queue },
    { action: 'sqs:DeleteMessage', resource: queue },
    { action: 'sqs:GetQueueAttributes', resource: queue },
    { action: 'sqs:SendMessage', resource: destination },
  ];
}
