import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { DescribeExecutionCommand, SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { GetQueueUrlCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { createOpsContext } from '../src/index.ts';

/**
 * A `--env staging` context on stubbed SDK clients (the calls the local cloud cannot stand in for),
 * with STS answering as an assumed operator role and the warnings it says kept.
 */
export function stagingContext(
  env: Readonly<Record<string, string>> = {},
  options: { readonly databaseUrl?: string } = {},
) {
  const scheduler = mockClient(SchedulerClient);
  const sts = mockClient(STSClient);
  const sqs = mockClient(SQSClient);
  const eventBridge = mockClient(EventBridgeClient);
  const lambda = mockClient(LambdaClient);
  const cloudWatch = mockClient(CloudWatchClient);
  const logs = mockClient(CloudWatchLogsClient);
  const sfn = mockClient(SFNClient);
  sts.on(GetCallerIdentityCommand).resolves({
    Account: '123456789012',
    Arn: 'arn:aws:sts::123456789012:assumed-role/operator/alice',
  });
  const warnings: string[] = [];
  const context = createOpsContext({
    environment: 'staging',
    env: { AWS_REGION: 'ap-northeast-1', ...env },
    ...options,
    clients: {
      scheduler: new SchedulerClient({}),
      sts: new STSClient({}),
      sqs: new SQSClient({}),
      eventBridge: new EventBridgeClient({}),
      lambda: new LambdaClient({}),
      cloudWatch: new CloudWatchClient({}),
      logs: new CloudWatchLogsClient({}),
      sfn: new SFNClient({}),
    },
    warn: (message) => warnings.push(message),
  });
  return { context, scheduler, sts, sqs, eventBridge, lambda, cloudWatch, logs, sfn, warnings };
}

/** Stubs the staging mail queue on `sqs` (a {@link stagingContext}'s) to take every mail sent to it. */
export function acceptMail(sqs: ReturnType<typeof stagingContext>['sqs']): void {
  sqs
    .on(GetQueueUrlCommand)
    .resolves({ QueueUrl: 'https://sqs.ap-northeast-1.amazonaws.com/123456789012/sidestep-staging-mail' });
  sqs
    .on(SendMessageBatchCommand)
    .resolves({ Successful: [{ Id: '0', MessageId: 'm-1', MD5OfMessageBody: 'x' }], Failed: [] });
}

/**
 * Stubs execution `arn` as RUNNING until a StopExecution, then ABORTED with that stop's error and
 * cause, as Step Functions describes a stopped execution; the stop answers `stopDate`.
 *
 * `staleReads`: how many DescribeExecutions after the stop still answer RUNNING before the first
 * ABORTED one (`Infinity`: every one). DescribeExecution "is eventually consistent. The results are
 * best effort and may not reflect very recent updates and changes"
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html), so a
 * stop that worked may still read RUNNING for a while. @default 0
 */
export function runningUntilStopped(
  sfn: ReturnType<typeof stagingContext>['sfn'],
  arn: string,
  stopDate = new Date(),
  options: { readonly staleReads?: number } = {},
): void {
  let described: Record<string, unknown> = { status: 'RUNNING' };
  let stale = 0;
  sfn.on(DescribeExecutionCommand).callsFake(async () => {
    if (stale > 0) {
      stale--;
      return { executionArn: arn, status: 'RUNNING' };
    }
    return { executionArn: arn, ...described };
  });
  sfn.on(StopExecutionCommand).callsFake(async (input: { error?: string; cause?: string }) => {
    described = { status: 'ABORTED', error: input.error, cause: input.cause };
    stale = options.staleReads ?? 0;
    return { stopDate };
  });
}
