import { describe, expect, it } from '@jest/globals';
import {
  AuthorizationInputError,
  eventsAuthorization,
  lambdaAuthorization,
  logsAuthorization,
  s3Authorization,
  schedulerAuthorization,
  secretsManagerAuthorization,
  sqsAuthorization,
  sqsQueueArn,
  sqsTargetOf,
  statesAuthorization,
  UnknownOperationError,
} from '../src/index.ts';

const scope = { region: 'us-east-1', accountId: '000000000000' };
const queue = 'arn:aws:sqs:us-east-1:000000000000:jobs';

describe('sqsTargetOf', () => {
  it('reads a queue ARN back into the target sqsQueueArn made it from', () => {
    expect(sqsTargetOf(queue)).toEqual({ ...scope, queueName: 'jobs' });
    expect(sqsQueueArn(scope, 'jobs')).toBe(queue);
  });
});

describe('sqsAuthorization', () => {
  it.each([
    ['SendMessage', 'sqs:SendMessage'],
    ['SendMessageBatch', 'sqs:SendMessage'],
    ['ReceiveMessage', 'sqs:ReceiveMessage'],
    ['DeleteMessage', 'sqs:DeleteMessage'],
    ['DeleteMessageBatch', 'sqs:DeleteMessage'],
    ['ChangeMessageVisibility', 'sqs:ChangeMessageVisibility'],
    ['ChangeMessageVisibilityBatch', 'sqs:ChangeMessageVisibility'],
    ['GetQueueAttributes', 'sqs:GetQueueAttributes'],
    ['SetQueueAttributes', 'sqs:SetQueueAttributes'],
    ['GetQueueUrl', 'sqs:GetQueueUrl'],
    ['CreateQueue', 'sqs:CreateQueue'],
    ['PurgeQueue', 'sqs:PurgeQueue'],
    ['ListMessageMoveTasks', 'sqs:ListMessageMoveTasks'],
    ['CancelMessageMoveTask', 'sqs:CancelMessageMoveTask'],
  ])('authorizes %s as %s on the queue', (operation, action) => {
    expect(sqsAuthorization(operation, { ...scope, queueName: 'jobs' })).toEqual([
      { action, resource: queue },
    ]);
  });

  it('authorizes ListQueues on *', () => {
    expect(sqsAuthorization('ListQueues', scope)).toEqual([{ action: 'sqs:ListQueues', resource: '*' }]);
  });

  it('authorizes a message move on the DLQ and sending on the destination', () => {
    const checks = sqsAuthorization('StartMessageMoveTask', {
      ...scope,
      queueName: 'jobs-dlq',
      destinationQueueName: 'jobs',
    });
    expect(checks).toContainEqual({ action: 'sqs:StartMessageMoveTask', resource: `${queue}-dlq` });
    expect(checks).toContainEqual({ action: 'sqs:ReceiveMessage', resource: `${queue}-dlq` });
    expect(checks).toContainEqual({ action: 'sqs:SendMessage', resource: queue });
  });

  it('names the missing queue and the unknown operation', () => {
    expect(() => sqsAuthorization('SendMessage', scope)).toThrow(
      expect.objectContaining({ name: 'AuthorizationInputError', field: 'queueName' }),
    );
    expect(() => sqsAuthorization('SendMessages', { ...scope, queueName: 'jobs' })).toThrow(
      UnknownOperationError,
    );
  });
});

describe('s3Authorization', () => {
  const object = 'arn:aws:s3:::exports/exports/a.csv';
  it.each([
    ['GetObject', 's3:GetObject'],
    ['HeadObject', 's3:GetObject'],
    ['PutObject', 's3:PutObject'],
    ['CreateMultipartUpload', 's3:PutObject'],
    ['UploadPart', 's3:PutObject'],
    ['CompleteMultipartUpload', 's3:PutObject'],
    ['AbortMultipartUpload', 's3:AbortMultipartUpload'],
    ['ListParts', 's3:ListMultipartUploadParts'],
    ['DeleteObject', 's3:DeleteObject'],
    ['PutObjectTagging', 's3:PutObjectTagging'],
  ])('authorizes %s as %s on the object', (operation, action) => {
    expect(s3Authorization(operation, { bucket: 'exports', key: 'exports/a.csv' })).toEqual([
      { action, resource: object },
    ]);
  });

  // https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObjectAttributes.html, "Permissions": READ
  // access to the object as well as the attributes action, s3:GetObject and s3:GetObjectAttributes,
  // s3:GetObjectVersion and s3:GetObjectVersionAttributes for a version.
  it('authorizes GetObjectAttributes as s3:GetObject and s3:GetObjectAttributes, their version actions for a version', () => {
    expect(s3Authorization('GetObjectAttributes', { bucket: 'exports', key: 'exports/a.csv' })).toEqual([
      { action: 's3:GetObject', resource: object },
      { action: 's3:GetObjectAttributes', resource: object },
    ]);
    expect(
      s3Authorization('GetObjectAttributes', { bucket: 'exports', key: 'exports/a.csv', versionId: 'v1' }),
    ).toEqual([
      { action: 's3:GetObjectVersion', resource: object },
      { action: 's3:GetObjectVersionAttributes', resource: object },
    ]);
  });

  it('authorizes a versioned read as s3:GetObjectVersion', () => {
    expect(
      s3Authorization('GetObject', { bucket: 'exports', key: 'exports/a.csv', versionId: 'v1' }),
    ).toEqual([{ action: 's3:GetObjectVersion', resource: object }]);
  });

  // The Service Authorization Reference's CopyObject row (s3:GetObject, s3:GetObjectVersion,
  // s3:PutObject: https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html):
  // a copy source naming its version (x-amz-copy-source: /bucket/key?versionId=) reads that version.
  it('authorizes a copy as a read of the source (s3:GetObjectVersion of a named version) and a write of the target', () => {
    for (const operation of ['CopyObject', 'UploadPartCopy']) {
      for (const [versionId, read] of [
        [undefined, 's3:GetObject'],
        ['v1', 's3:GetObjectVersion'],
      ] as const) {
        expect(
          s3Authorization(operation, {
            bucket: 'exports',
            key: 'exports/a.csv',
            copySource: { bucket: 'imports', key: 'imports/a.csv', ...(versionId ? { versionId } : {}) },
          }),
        ).toEqual([
          { action: read, resource: 'arn:aws:s3:::imports/imports/a.csv' },
          { action: 's3:PutObject', resource: object },
        ]);
      }
    }
  });

  it('adds s3:PutObjectTagging to a write that sets tags', () => {
    expect(s3Authorization('PutObject', { bucket: 'exports', key: 'exports/a.csv', tagging: true })).toEqual([
      { action: 's3:PutObject', resource: object },
      { action: 's3:PutObjectTagging', resource: object },
    ]);
  });

  it('authorizes listing as s3:ListBucket on the bucket with the s3:prefix it sends', () => {
    expect(s3Authorization('ListObjectsV2', { bucket: 'exports', prefix: 'exports/', maxKeys: 10 })).toEqual([
      {
        action: 's3:ListBucket',
        resource: 'arn:aws:s3:::exports',
        context: { 's3:prefix': 'exports/', 's3:max-keys': 10 },
      },
    ]);
    expect(s3Authorization('ListObjectsV2', { bucket: 'exports' })).toEqual([
      { action: 's3:ListBucket', resource: 'arn:aws:s3:::exports' },
    ]);
  });

  it('authorizes bucket and account operations', () => {
    expect(s3Authorization('CreateBucket', { bucket: 'exports' })).toEqual([
      { action: 's3:CreateBucket', resource: 'arn:aws:s3:::exports' },
    ]);
    expect(s3Authorization('ListBuckets', {})).toEqual([{ action: 's3:ListAllMyBuckets', resource: '*' }]);
  });

  it('names a missing key or copy source', () => {
    expect(() => s3Authorization('GetObject', { bucket: 'exports' })).toThrow(AuthorizationInputError);
    expect(() => s3Authorization('CopyObject', { bucket: 'exports', key: 'k' })).toThrow(
      expect.objectContaining({ field: 'copySource' }),
    );
  });
});

// https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html and each
// operation's "Permissions" in https://docs.aws.amazon.com/AmazonS3/latest/API/API_Operations.html.
describe('s3Authorization of the bucket operations the local endpoint names', () => {
  const bucketArn = 'arn:aws:s3:::exports';

  it.each([
    ['DeleteBucketLifecycle', 's3:PutLifecycleConfiguration'],
    ['GetBucketLifecycleConfiguration', 's3:GetLifecycleConfiguration'],
    ['GetBucketCors', 's3:GetBucketCORS'],
    ['PutBucketCors', 's3:PutBucketCORS'],
    ['DeleteBucketCors', 's3:PutBucketCORS'],
    ['GetBucketEncryption', 's3:GetEncryptionConfiguration'],
    ['PutBucketEncryption', 's3:PutEncryptionConfiguration'],
    ['DeleteBucketEncryption', 's3:PutEncryptionConfiguration'],
    ['GetBucketTagging', 's3:GetBucketTagging'],
    ['DeleteBucketTagging', 's3:PutBucketTagging'],
    ['GetBucketNotificationConfiguration', 's3:GetBucketNotification'],
    ['PutBucketNotificationConfiguration', 's3:PutBucketNotification'],
    ['ListMultipartUploads', 's3:ListBucketMultipartUploads'],
    ['DeleteBucketPolicy', 's3:DeleteBucketPolicy'],
    ['GetBucketAcl', 's3:GetBucketAcl'],
    ['PutBucketAcl', 's3:PutBucketAcl'],
    ['GetPublicAccessBlock', 's3:GetBucketPublicAccessBlock'],
    ['PutPublicAccessBlock', 's3:PutBucketPublicAccessBlock'],
    ['DeletePublicAccessBlock', 's3:PutBucketPublicAccessBlock'],
    ['ListBucketAnalyticsConfigurations', 's3:GetAnalyticsConfiguration'],
    ['DeleteBucketAnalyticsConfiguration', 's3:PutAnalyticsConfiguration'],
    ['GetBucketInventoryConfiguration', 's3:GetInventoryConfiguration'],
    ['DeleteBucketInventoryConfiguration', 's3:PutInventoryConfiguration'],
    ['ListBucketMetricsConfigurations', 's3:GetMetricsConfiguration'],
    ['PutBucketMetricsConfiguration', 's3:PutMetricsConfiguration'],
    ['GetBucketIntelligentTieringConfiguration', 's3:GetIntelligentTieringConfiguration'],
    ['DeleteBucketIntelligentTieringConfiguration', 's3:PutIntelligentTieringConfiguration'],
    ['GetBucketOwnershipControls', 's3:GetBucketOwnershipControls'],
    ['DeleteBucketOwnershipControls', 's3:PutBucketOwnershipControls'],
    ['PutBucketWebsite', 's3:PutBucketWebsite'],
    ['DeleteBucketWebsite', 's3:DeleteBucketWebsite'],
    ['PutBucketLogging', 's3:PutBucketLogging'],
    ['GetBucketReplication', 's3:GetReplicationConfiguration'],
    ['DeleteBucketReplication', 's3:PutReplicationConfiguration'],
    ['GetBucketRequestPayment', 's3:GetBucketRequestPayment'],
    ['GetBucketAccelerateConfiguration', 's3:GetAccelerateConfiguration'],
    ['PutBucketAccelerateConfiguration', 's3:PutAccelerateConfiguration'],
    ['GetObjectLockConfiguration', 's3:GetBucketObjectLockConfiguration'],
    ['PutObjectLockConfiguration', 's3:PutBucketObjectLockConfiguration'],
    ['CreateBucketMetadataConfiguration', 's3:CreateBucketMetadataTableConfiguration'],
    ['DeleteBucketMetadataConfiguration', 's3:DeleteBucketMetadataTableConfiguration'],
    ['PutBucketAbac', 's3:PutBucketAbac'],
  ])('authorizes %s as %s on the bucket', (operation, action) => {
    expect(s3Authorization(operation, { bucket: 'exports' })).toEqual([{ action, resource: bucketArn }]);
  });

  it('authorizes CreateSession as s3express:CreateSession on the directory bucket of the region', () => {
    expect(s3Authorization('CreateSession', { bucket: 'exports--use1-az4--x-s3', ...scope })).toEqual([
      {
        action: 's3express:CreateSession',
        resource: 'arn:aws:s3express:us-east-1:000000000000:bucket/exports--use1-az4--x-s3',
      },
    ]);
    expect(() => s3Authorization('CreateSession', { bucket: 'exports--use1-az4--x-s3' })).toThrow(
      expect.objectContaining({ name: 'AuthorizationInputError', field: 'region' }),
    );
  });
});

describe('statesAuthorization', () => {
  const stateMachineArn = 'arn:aws:states:us-east-1:000000000000:stateMachine:sidestep-local-export';
  const executionArn = 'arn:aws:states:us-east-1:000000000000:execution:sidestep-local-export:run-1';
  it.each(['StartExecution', 'DescribeStateMachine', 'ListExecutions'])(
    'authorizes %s on the state machine',
    (operation) => {
      expect(statesAuthorization(operation, { stateMachineArn })).toEqual([
        { action: `states:${operation}`, resource: stateMachineArn },
      ]);
    },
  );
  it.each(['DescribeExecution', 'GetExecutionHistory', 'StopExecution', 'RedriveExecution'])(
    'authorizes %s on the execution',
    (operation) => {
      expect(statesAuthorization(operation, { executionArn })).toEqual([
        { action: `states:${operation}`, resource: executionArn },
      ]);
    },
  );
  it('authorizes ListStateMachines on *', () => {
    expect(statesAuthorization('ListStateMachines', {})).toEqual([
      { action: 'states:ListStateMachines', resource: '*' },
    ]);
  });
});

describe('eventsAuthorization', () => {
  // PutEvents' condition keys events:source and events:detail-type (Service Authorization Reference,
  // https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoneventbridge.html).
  it('authorizes PutEvents on the bus with the entries’ sources and detail types', () => {
    expect(
      eventsAuthorization('PutEvents', {
        ...scope,
        eventBusName: 'sidestep-local',
        sources: ['sidestep.jobs'],
        detailTypes: ['job.failed'],
      }),
    ).toEqual([
      {
        action: 'events:PutEvents',
        resource: 'arn:aws:events:us-east-1:000000000000:event-bus/sidestep-local',
        context: { 'events:source': ['sidestep.jobs'], 'events:detail-type': ['job.failed'] },
      },
    ]);
    expect(eventsAuthorization('PutEvents', scope)[0]?.resource).toBe(
      'arn:aws:events:us-east-1:000000000000:event-bus/default',
    );
  });

  it('names rules on a custom bus with the bus', () => {
    expect(
      eventsAuthorization('PutRule', { ...scope, ruleName: 'r', eventBusName: 'sidestep-local' })[0]
        ?.resource,
    ).toBe('arn:aws:events:us-east-1:000000000000:rule/sidestep-local/r');
    expect(eventsAuthorization('PutRule', { ...scope, ruleName: 'r' })[0]?.resource).toBe(
      'arn:aws:events:us-east-1:000000000000:rule/r',
    );
  });
});

// FilterLogEvents acts on resource type log-group, arn:${Partition}:logs:${Region}:${Account}:log-group:${LogGroupName}
// (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatchlogs.html).
describe('logsAuthorization', () => {
  it('authorizes FilterLogEvents on the log group the request names, and names what is missing', () => {
    expect(
      logsAuthorization('FilterLogEvents', { ...scope, logGroupName: '/aws/lambda/sidestep-local-x' }),
    ).toEqual([
      {
        action: 'logs:FilterLogEvents',
        resource: 'arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/sidestep-local-x',
      },
    ]);
    expect(() => logsAuthorization('FilterLogEvents', scope)).toThrow(AuthorizationInputError);
    expect(() => logsAuthorization('PutLogEvents', { ...scope, logGroupName: 'g' })).toThrow(
      UnknownOperationError,
    );
  });
});

describe('secretsManagerAuthorization', () => {
  const secret = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:sidestep-local-key-local';

  // Resource type Secret, condition keys secretsmanager:VersionStage and secretsmanager:VersionId of
  // GetSecretValue (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecretsmanager.html).
  it('authorizes GetSecretValue on the secret with the stage and version the request names', () => {
    expect(
      secretsManagerAuthorization('GetSecretValue', {
        ...scope,
        secretId: secret,
        versionStage: 'AWSPREVIOUS',
      }),
    ).toEqual([
      {
        action: 'secretsmanager:GetSecretValue',
        resource: secret,
        context: { 'secretsmanager:VersionStage': 'AWSPREVIOUS' },
      },
    ]);
    expect(secretsManagerAuthorization('PutSecretValue', { ...scope, secretId: secret })).toEqual([
      { action: 'secretsmanager:PutSecretValue', resource: secret },
    ]);
  });

  it('names a secret it cannot resolve by the ARN format without a suffix', () => {
    expect(
      secretsManagerAuthorization('DescribeSecret', { ...scope, secretId: 'missing' })[0]?.resource,
    ).toBe('arn:aws:secretsmanager:us-east-1:000000000000:secret:missing');
  });

  it('names the missing secret and the unknown operation', () => {
    expect(() => secretsManagerAuthorization('GetSecretValue', scope)).toThrow(AuthorizationInputError);
    expect(() => secretsManagerAuthorization('RotateSecret', { ...scope, secretId: secret })).toThrow(
      UnknownOperationError,
    );
  });
});

describe('schedulerAuthorization', () => {
  it('authorizes a schedule in its group and passing its target role to Scheduler', () => {
    expect(
      schedulerAuthorization('CreateSchedule', {
        ...scope,
        scheduleName: 'nightly',
        groupName: 'sidestep-local',
        targetRoleArn: 'arn:aws:iam::000000000000:role/r',
      }),
    ).toEqual([
      {
        action: 'scheduler:CreateSchedule',
        resource: 'arn:aws:scheduler:us-east-1:000000000000:schedule/sidestep-local/nightly',
      },
      {
        action: 'iam:PassRole',
        resource: 'arn:aws:iam::000000000000:role/r',
        context: { 'iam:PassedToService': 'scheduler.amazonaws.com' },
      },
    ]);
    expect(schedulerAuthorization('GetSchedule', { ...scope, scheduleName: 'n' })[0]?.resource).toBe(
      'arn:aws:scheduler:us-east-1:000000000000:schedule/default/n',
    );
    expect(schedulerAuthorization('ListSchedules', scope)).toEqual([
      { action: 'scheduler:ListSchedules', resource: '*' },
    ]);
  });
});

describe('lambdaAuthorization', () => {
  const fn = 'arn:aws:lambda:us-east-1:000000000000:function:sidestep-local-job-sweeper';
  it('authorizes Invoke as lambda:InvokeFunction on the (qualified) function', () => {
    expect(lambdaAuthorization('Invoke', { ...scope, functionName: 'sidestep-local-job-sweeper' })).toEqual([
      { action: 'lambda:InvokeFunction', resource: fn },
    ]);
    expect(
      lambdaAuthorization('Invoke', { ...scope, functionName: fn, qualifier: 'live' })[0]?.resource,
    ).toBe(`${fn}:live`);
  });

  it('authorizes a function URL call with its auth type and as an invoke via the URL', () => {
    expect(
      lambdaAuthorization('InvokeFunctionUrl', { ...scope, functionName: fn, functionUrlAuthType: 'NONE' }),
    ).toEqual([
      { action: 'lambda:InvokeFunctionUrl', resource: fn, context: { 'lambda:FunctionUrlAuthType': 'NONE' } },
      { action: 'lambda:InvokeFunction', resource: fn, context: { 'lambda:InvokedViaFunctionUrl': true } },
    ]);
  });
});
