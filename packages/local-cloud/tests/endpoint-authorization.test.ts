// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Terraform references are literal text in the stack.

import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  CreateSessionCommand,
  DeleteBucketCorsCommand,
  DeleteBucketPolicyCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketAclCommand,
  GetBucketLocationCommand,
  GetBucketPolicyCommand,
  GetBucketTaggingCommand,
  GetBucketVersioningCommand,
  GetObjectAttributesCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import {
  DescribeExecutionCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import {
  CreateQueueCommand,
  SendMessageCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { rejectionOf } from '@sidestep/contracts/testing';
import type { SynthesizedTerraformJson } from '@sidestep/iam';
import { tlsOnlyBucketPolicy } from '@sidestep/iam/tls-only-policy';
import { type AwsEndpoint, startAwsEndpoint } from '../src/aws-endpoint.ts';
import { endpointAuthorizer } from '../src/endpoint-authorization.ts';
import { type AccessDenial, createLocalIam, UnknownLocalRoleError } from '../src/local-iam.ts';
import { loadLocalIam } from '../src/local-iam-setup.ts';
import { allow, role } from './fixtures/iam-stack.ts';
import { presignedQuery } from './fixtures/presigned-query.ts';
import { recordResponseBodies } from './fixtures/s3-endpoint.ts';
import { type LocalClientConfig, localClientConfig } from './fixtures/sqs-endpoint.ts';

// A stack shaped like infra's: roles with inline policies and a TLS-only bucket policy. The reader
// may read objects but not list the bucket; the lister may do both; neither may write. The auditor
// may list the bucket's versions and read its versioning configuration, not change it. The locator
// may read the bucket's location only; the remover may delete the bucket. The configurator may delete
// the bucket policy and the CORS configuration and read the bucket's tags, not its ACL. The writer
// may write objects and read present.txt only; it may neither tag objects nor read object versions.
// The mover may do anything to the jobs DLQ but send to the jobs queue; the publisher may put events
// of source sidestep.jobs on the sidestep-local bus; the browser may list the bucket under public/;
// the watcher may describe and stop the import workflow's executions.
const BUCKET = 'sidestep-local-things';
const VERSIONED_BUCKET = 'sidestep-local-history';
/** An Allow statement of `Action` on `Resource`, with a `Condition` when given. */
const grant = (Action: string | string[], Resource: string, Condition?: Record<string, unknown>) => ({
  Effect: 'Allow',
  Action,
  Resource,
  ...(Condition ? { Condition } : {}),
});
const THINGS = '${aws_s3_bucket.things.arn}';
const THINGS_OBJECTS = `${THINGS}/*`;
const HISTORY = '${aws_s3_bucket.history.arn}';
const JOBS_QUEUE = '${aws_sqs_queue.jobs.arn}';
const readsHistory = grant(['s3:GetObject', 's3:GetObjectVersion'], `${HISTORY}/*`);

const stack: SynthesizedTerraformJson = {
  provider: { aws: [{ region: 'us-east-1' }] },
  resource: {
    aws_iam_role: {
      reader: role('sidestep-local-reader'),
      lister: role('sidestep-local-lister'),
      auditor: role('sidestep-local-auditor'),
      locator: role('sidestep-local-locator'),
      remover: role('sidestep-local-remover'),
      configurator: role('sidestep-local-configurator'),
      deleter: role('sidestep-local-deleter'),
      writer: role('sidestep-local-writer'),
      mover: role('sidestep-local-mover'),
      publisher: role('sidestep-local-publisher'),
      browser: role('sidestep-local-browser'),
      watcher: role('sidestep-local-watcher'),
      historian: role('sidestep-local-historian'),
      archivist: role('sidestep-local-archivist'),
      inspector: role('sidestep-local-inspector'),
      sizer: role('sidestep-local-sizer'),
    },
    aws_iam_role_policy: {
      reader: allow('reader', [grant('s3:GetObject', THINGS_OBJECTS), grant('sqs:SendMessage', JOBS_QUEUE)]),
      lister: allow('lister', [grant('s3:GetObject', THINGS_OBJECTS), grant('s3:ListBucket', THINGS)]),
      auditor: allow('auditor', [grant(['s3:ListBucketVersions', 's3:GetBucketVersioning'], THINGS)]),
      locator: allow('locator', [grant('s3:GetBucketLocation', THINGS)]),
      remover: allow('remover', [grant('s3:DeleteBucket', THINGS)]),
      configurator: allow('configurator', [
        grant(['s3:DeleteBucketPolicy', 's3:PutBucketCORS', 's3:GetBucketTagging'], THINGS),
      ]),
      deleter: allow('deleter', [grant(['s3:DeleteObject', 's3:GetObject'], THINGS_OBJECTS)]),
      writer: allow('writer', [
        grant('s3:PutObject', THINGS_OBJECTS),
        grant('s3:GetObject', '${aws_s3_bucket.things.arn}/present.txt'),
      ]),
      mover: allow('mover', [grant('sqs:*', 'arn:aws:sqs:us-east-1:000000000000:sidestep-local-jobs-dlq')]),
      publisher: allow('publisher', [
        grant('events:PutEvents', 'arn:aws:events:us-east-1:000000000000:event-bus/sidestep-local', {
          StringEquals: { 'events:source': 'sidestep.jobs' },
        }),
      ]),
      browser: allow('browser', [
        grant('s3:ListBucket', THINGS, { StringLike: { 's3:prefix': 'public/*' } }),
      ]),
      watcher: allow('watcher', [
        grant(
          ['states:DescribeExecution', 'states:StopExecution'],
          'arn:aws:states:us-east-1:000000000000:execution:sidestep-local-import:*',
        ),
      ]),
      // Reads old versions of the versioned bucket's objects; the archivist may list it too.
      historian: allow('historian', [readsHistory]),
      archivist: allow('archivist', [readsHistory, grant('s3:ListBucket', HISTORY)]),
      inspector: allow('inspector', [grant(['s3:GetObject', 's3:GetObjectAttributes'], THINGS_OBJECTS)]),
      sizer: allow('sizer', [grant('s3:GetObjectAttributes', THINGS_OBJECTS)]),
    },
    aws_s3_bucket: { things: { bucket: BUCKET }, history: { bucket: VERSIONED_BUCKET } },
    aws_s3_bucket_policy: {
      things: {
        bucket: '${aws_s3_bucket.things.id}',
        policy: JSON.stringify(tlsOnlyBucketPolicy('${aws_s3_bucket.things.arn}')),
      },
    },
    aws_sqs_queue: { jobs: { name: 'sidestep-local-jobs' }, other: { name: 'sidestep-local-other' } },
  },
};

let endpoint: AwsEndpoint;
const denials: AccessDenial[] = [];
const clients: { destroy(): void }[] = [];
/** A client of the endpoint signing as `accessKeyId` (the role the authorizer evaluates), destroyed after all. */
function clientAs<Client extends { destroy(): void }>(
  accessKeyId: string,
  create: (config: LocalClientConfig) => Client,
): Client {
  const client = create(localClientConfig(endpoint.url, accessKeyId));
  clients.push(client);
  return client;
}
const s3As = (accessKeyId: string) =>
  clientAs(accessKeyId, (config) => new S3Client({ ...config, forcePathStyle: true }));
const sqsAs = (accessKeyId: string) => clientAs(accessKeyId, (config) => new SQSClient(config));

/** The error a call rejects with, as the AWS SDK's errors carry it (fails the test when it succeeds). */
const failure = (call: Promise<unknown>) =>
  rejectionOf(call, Error) as Promise<Error & { $metadata?: { httpStatusCode?: number } }>;

beforeAll(async () => {
  const iam = createLocalIam({ stack });
  expect(iam.warnings).toEqual([]);
  endpoint = await startAwsEndpoint({
    port: 0,
    authorize: endpointAuthorizer(iam, (d) => denials.push(d)),
    bucketPolicy: (bucket) => iam.bucketPolicy(bucket),
  });
  await endpoint.createBucket(BUCKET);
  await endpoint.createBucket(VERSIONED_BUCKET, { versioned: true });
  endpoint.serveJsonApi('AWSStepFunctions', async () => ({ executionArn: 'arn:started', startDate: 0 }));
  endpoint.serveJsonApi('AWSEvents', async () => ({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] }));
  const operator = sqsAs('local');
  for (const QueueName of ['sidestep-local-jobs', 'sidestep-local-other']) {
    await operator.send(new CreateQueueCommand({ QueueName }));
  }
  await s3As('local').send(new PutObjectCommand({ Bucket: BUCKET, Key: 'present.txt', Body: 'here' }));
});

afterAll(async () => {
  for (const client of clients) client.destroy();
  await endpoint?.stop();
});

describe('the endpoint as a role of the stack', () => {
  it('refuses what the role may not do with S3 AccessDenied naming the role, action and resource', async () => {
    const error = await failure(
      s3As('sidestep-local-reader').send(new PutObjectCommand({ Bucket: BUCKET, Key: 'new.txt', Body: 'x' })),
    );
    expect(error.name).toBe('AccessDenied');
    expect(error.$metadata?.httpStatusCode).toBe(403);
    expect(error.message).toBe(
      `User: arn:aws:sts::000000000000:assumed-role/sidestep-local-reader/sidestep-local-reader is not authorized to perform: s3:PutObject on resource: arn:aws:s3:::${BUCKET}/new.txt because no identity-based policy allows the s3:PutObject action`,
    );
    expect(denials.at(-1)).toMatchObject({
      action: 's3:PutObject',
      resource: `arn:aws:s3:::${BUCKET}/new.txt`,
    });
  });

  it('allows what the role may do, through the TLS-only bucket policy (the endpoint stands in for TLS)', async () => {
    const output = await s3As('sidestep-local-reader').send(
      new GetObjectCommand({ Bucket: BUCKET, Key: 'present.txt' }),
    );
    expect(await output.Body?.transformToString()).toBe('here');
  });

  it('lets any other credentials act as the operator', async () => {
    await s3As('local').send(new PutObjectCommand({ Bucket: BUCKET, Key: 'by-operator.txt', Body: 'x' }));
    const error = await failure(
      s3As('AKIAIOSFODNN7EXAMPLE').send(new GetObjectCommand({ Bucket: BUCKET, Key: 'nope' })),
    );
    expect(error.name).toBe('NoSuchKey');
  });

  // Every sidestep bucket blocks public access (infra), so S3 refuses an unsigned request for its
  // objects: "By default, new buckets, access points, and objects don't allow public access"
  // (https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html).
  // Locally it acted as the operator and was served.
  it('refuses an unsigned request as anonymous: 403 AccessDenied, nothing served', async () => {
    const response = await fetch(`${endpoint.url}/${BUCKET}/present.txt`);
    expect(response.status).toBe(403);
    const body = await response.text();
    expect(body).toContain('<Code>AccessDenied</Code>');
    expect(body).not.toContain('here');
    expect(denials.at(-1)).toMatchObject({ caller: { type: 'anonymous' }, action: 's3:GetObject' });
  });

  it("serves fauxqs's inspection route unsigned: the local cloud's own, no AWS API", async () => {
    const response = await fetch(`${endpoint.url}/_fauxqs/queues/sidestep-local-jobs`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ messages: { ready: [] } });
  });

  it('reads the role from a presigned URL (X-Amz-Credential, with every other parameter of one)', async () => {
    const presigned = presignedQuery('sidestep-local-lister');
    const response = await fetch(`${endpoint.url}/${BUCKET}/new.txt?${presigned}`, {
      method: 'PUT',
      body: 'x',
    });
    expect(response.status).toBe(403);
    expect(await response.text()).toContain('<Code>AccessDenied</Code>');
  });
});

// The Service Authorization Reference's API operations table
// (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html): CopyObject
// needs s3:GetObject on the source (s3:GetObjectVersion when x-amz-copy-source names ?versionId=) and
// s3:PutObject on the target, PutObject with x-amz-tagging s3:PutObjectTagging too, UploadPartCopy
// s3:GetObject on the source as well as s3:PutObject. Every one of them must be allowed.
describe('a request AWS authorizes as several actions, as a role of the stack', () => {
  const absent = async (Key: string) =>
    expect((await failure(s3As('local').send(new GetObjectCommand({ Bucket: BUCKET, Key })))).name).toBe(
      'NoSuchKey',
    );

  it('refuses a CopyObject whose source the role may read but whose target it may not write, naming s3:PutObject', async () => {
    const error = await failure(
      s3As('sidestep-local-reader').send(
        new CopyObjectCommand({ Bucket: BUCKET, Key: 'copied.txt', CopySource: `${BUCKET}/present.txt` }),
      ),
    );
    expect([error.name, error.$metadata?.httpStatusCode]).toEqual(['AccessDenied', 403]);
    expect(error.message).toContain(
      `is not authorized to perform: s3:PutObject on resource: arn:aws:s3:::${BUCKET}/copied.txt`,
    );
    await absent('copied.txt');
  });

  it('refuses a PutObject with tags (x-amz-tagging) to a role without s3:PutObjectTagging, writing nothing', async () => {
    const writer = s3As('sidestep-local-writer');
    const error = await failure(
      writer.send(
        new PutObjectCommand({ Bucket: BUCKET, Key: 'tagged.txt', Body: 'x', Tagging: 'kind=export' }),
      ),
    );
    expect([error.name, error.$metadata?.httpStatusCode]).toEqual(['AccessDenied', 403]);
    expect(error.message).toContain(
      `is not authorized to perform: s3:PutObjectTagging on resource: arn:aws:s3:::${BUCKET}/tagged.txt`,
    );
    await absent('tagged.txt');
    await writer.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'untagged.txt', Body: 'x' }));
  });

  it('refuses a copy of a named source version (?versionId=) to a role allowed s3:GetObject only, naming s3:GetObjectVersion', async () => {
    const writer = s3As('sidestep-local-writer');
    const error = await failure(
      writer.send(
        new CopyObjectCommand({
          Bucket: BUCKET,
          Key: 'version-copy.txt',
          CopySource: `${BUCKET}/present.txt?versionId=null`,
        }),
      ),
    );
    expect([error.name, error.$metadata?.httpStatusCode]).toEqual(['AccessDenied', 403]);
    expect(error.message).toContain(
      `is not authorized to perform: s3:GetObjectVersion on resource: arn:aws:s3:::${BUCKET}/present.txt`,
    );
    await absent('version-copy.txt');
    // The current version it may copy.
    await writer.send(
      new CopyObjectCommand({ Bucket: BUCKET, Key: 'current-copy.txt', CopySource: `${BUCKET}/present.txt` }),
    );
  });

  it('refuses an UploadPartCopy from an object the role may not read, naming s3:GetObject on the source', async () => {
    const writer = s3As('sidestep-local-writer');
    const upload = await writer.send(
      new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'assembled.bin' }),
    );
    const error = await failure(
      writer.send(
        new UploadPartCopyCommand({
          Bucket: BUCKET,
          Key: 'assembled.bin',
          UploadId: upload.UploadId,
          PartNumber: 1,
          CopySource: `${BUCKET}/by-operator-only.txt`,
        }),
      ),
    );
    expect([error.name, error.$metadata?.httpStatusCode]).toEqual(['AccessDenied', 403]);
    expect(error.message).toContain(
      `is not authorized to perform: s3:GetObject on resource: arn:aws:s3:::${BUCKET}/by-operator-only.txt`,
    );
  });
});

// A request the mapping names no action for is refused to a role (fail closed), as an unmapped
// request could otherwise do anything locally that AWS refuses.
// What each request names besides its operation: the resource and condition keys of the Service
// Authorization Reference (list_amazonsqs.html, list_amazoneventbridge.html, list_amazons3.html,
// list_awsstepfunctions.html).
describe('the resource and condition keys a request names, as a role of the stack', () => {
  // StartMessageMoveTask without DestinationArn moves to the DLQ's source queue, and needs
  // sqs:SendMessage there (SQS Developer Guide, "Configure queue permissions for dead-letter queue redrive").
  it('refuses a redrive back to the source queue to a role that may not send to it, naming that queue', async () => {
    const error = await failure(
      sqsAs('sidestep-local-mover').send(
        new StartMessageMoveTaskCommand({
          SourceArn: 'arn:aws:sqs:us-east-1:000000000000:sidestep-local-jobs-dlq',
        }),
      ),
    );
    expect(error.name).toBe('AccessDenied');
    expect(error.message).toContain(
      'is not authorized to perform: sqs:SendMessage on resource: arn:aws:sqs:us-east-1:000000000000:sidestep-local-jobs',
    );
  });

  it('authorizes PutEvents on the bus each entry names, with its events:source', async () => {
    const publisher = clientAs('sidestep-local-publisher', (config) => new EventBridgeClient(config));
    const entry = { Source: 'sidestep.jobs', DetailType: 'job.failed', Detail: '{}' };
    const sent = await publisher.send(
      new PutEventsCommand({ Entries: [{ ...entry, EventBusName: 'sidestep-local' }] }),
    );
    expect(sent.FailedEntryCount).toBe(0);
    for (const [Entries, resource] of [
      [[entry], 'event-bus/default'],
      [[{ ...entry, EventBusName: 'sidestep-local', Source: 'other.app' }], 'event-bus/sidestep-local'],
    ] as const) {
      const error = await failure(publisher.send(new PutEventsCommand({ Entries: [...Entries] })));
      expect(error.name).toBe('AccessDeniedException');
      expect(error.message).toContain(
        `events:PutEvents on resource: arn:aws:events:us-east-1:000000000000:${resource}`,
      );
    }
  });

  it('authorizes ListObjectsV2 with the s3:prefix it sends', async () => {
    const browser = s3As('sidestep-local-browser');
    const listing = await browser.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'public/' }));
    expect(listing.KeyCount).toBe(0);
    const error = await failure(browser.send(new ListObjectsV2Command({ Bucket: BUCKET })));
    expect([error.name, error.$metadata?.httpStatusCode]).toEqual(['AccessDenied', 403]);
  });

  it('authorizes DescribeExecution and StopExecution on the execution ARN', async () => {
    const watcher = clientAs('sidestep-local-watcher', (config) => new SFNClient(config));
    const execution = (machine: string) => `arn:aws:states:us-east-1:000000000000:execution:${machine}:run-1`;
    const described = await watcher.send(
      new DescribeExecutionCommand({ executionArn: execution('sidestep-local-import') }),
    );
    expect(described.executionArn).toBe('arn:started');
    await watcher.send(new StopExecutionCommand({ executionArn: execution('sidestep-local-import') }));
    const error = await failure(
      watcher.send(new StopExecutionCommand({ executionArn: execution('sidestep-local-export') })),
    );
    expect(error.name).toBe('AccessDeniedException');
    expect(error.message).toContain(
      `states:StopExecution on resource: ${execution('sidestep-local-export')}`,
    );
  });
});

describe('a request the endpoint cannot map to an action, as a role of the stack', () => {
  const signedAs = (role: string, service: string) =>
    `AWS4-HMAC-SHA256 Credential=${role}/20260101/us-east-1/${service}/aws4_request, SignedHeaders=host, Signature=00`;

  it('refuses an X-Amz-Target operation it does not know, in the API’s protocol', async () => {
    const response = await fetch(`${endpoint.url}/`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': 'AmazonSQS.NoSuchOperation',
        authorization: signedAs('sidestep-local-reader', 'sqs'),
      },
      body: JSON.stringify({ QueueUrl: `${endpoint.url}/000000000000/sidestep-local-jobs` }),
    });
    expect([response.status, response.headers.get('x-amzn-query-error')]).toEqual([
      400,
      'AccessDenied;Sender',
    ]);
    expect(await response.text()).toContain('the local cloud cannot authorize POST /');
  });

  it('refuses an S3 method no operation answers', async () => {
    const response = await fetch(`${endpoint.url}/${BUCKET}/present.txt`, {
      method: 'PATCH',
      headers: { authorization: signedAs('sidestep-local-reader', 's3') },
      body: 'x',
    });
    expect(response.status).toBe(403);
    const body = await response.text();
    expect(body).toContain('<Code>AccessDenied</Code>');
    expect(body).toContain(`the local cloud cannot authorize PATCH /${BUCKET}/present.txt`);
  });
});

describe('a role the stack does not define', () => {
  it('is UnknownLocalRoleError, never the operator', () => {
    const iam = createLocalIam({ stack });
    expect(iam.role('sidestep-local-reader')).toMatchObject({ type: 'role' });
    expect(() => iam.role('sidestep-local-renamed')).toThrow(UnknownLocalRoleError);
    expect(() => iam.role('sidestep-local-renamed')).toThrow(
      expect.objectContaining({ role: 'sidestep-local-renamed', field: 'stack' }),
    );
  });

  it('fails the start of a cloud that would run a caller as it', () => {
    const services = [{ manifest: { name: 'renamed' } }];
    expect(() => loadLocalIam({ stack, services }, () => undefined)).toThrow(
      expect.objectContaining({ name: 'UnknownLocalRoleError', role: 'sidestep-local-renamed' }),
    );
  });
});

describe('a missing key, as S3 answers it (API_GetObject: 404 with s3:ListBucket, 403 without)', () => {
  it('is 403 AccessDenied to a caller without s3:ListBucket', async () => {
    const reader = s3As('sidestep-local-reader');
    const get = await failure(reader.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'missing.txt' })));
    expect(get.name).toBe('AccessDenied');
    expect(get.$metadata?.httpStatusCode).toBe(403);
    expect(get.message).toContain('is not authorized to perform: s3:ListBucket');
    const head = await failure(reader.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'missing.txt' })));
    expect(head.$metadata?.httpStatusCode).toBe(403);
  });

  it('is 404 NoSuchKey to a caller with s3:ListBucket, and to the operator', async () => {
    for (const key of ['sidestep-local-lister', 'local']) {
      const client = s3As(key);
      const get = await failure(client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'missing.txt' })));
      expect(get.name).toBe('NoSuchKey');
      const head = await failure(client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'missing.txt' })));
      expect(head.$metadata?.httpStatusCode).toBe(404);
    }
  });
});

// https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObjectAttributes.html, "Permissions": read
// access to the object besides the attributes action, and a missing object is 404 only to a caller
// with s3:ListBucket, as for GetObject.
describe('GetObjectAttributes as a role of the stack', () => {
  const attributes = (accessKeyId: string, Key: string) =>
    s3As(accessKeyId).send(
      new GetObjectAttributesCommand({ Bucket: BUCKET, Key, ObjectAttributes: ['ObjectSize', 'ETag'] }),
    );

  it('needs s3:GetObject and s3:GetObjectAttributes, refusing a role with either alone', async () => {
    expect((await attributes('sidestep-local-inspector', 'present.txt')).ObjectSize).toBe(4);
    for (const [role, missing] of [
      ['sidestep-local-reader', 's3:GetObjectAttributes'],
      ['sidestep-local-sizer', 's3:GetObject'],
    ] as const) {
      const error = await failure(attributes(role, 'present.txt'));
      expect(error.name).toBe('AccessDenied');
      expect(error.message).toContain(`is not authorized to perform: ${missing} on resource`);
    }
  });

  it('answers a missing key 403 without s3:ListBucket', async () => {
    const error = await failure(attributes('sidestep-local-inspector', 'missing.txt'));
    expect(error.$metadata?.httpStatusCode).toBe(403);
    expect(error.message).toContain('is not authorized to perform: s3:ListBucket');
  });
});

// API_GetObject's "Permissions" makes no exception for a request that names a version: without
// s3:ListBucket a version that does not exist (deleted, expired by a lifecycle rule, or of a key that
// never was) is 403 AccessDenied too, and only a caller with it learns NoSuchVersion.
describe('a missing version, as S3 answers it (API_GetObject: 404 with s3:ListBucket, 403 without)', () => {
  let kept: string | undefined;
  let deleted: string | undefined;
  beforeAll(async () => {
    const operator = s3As('local');
    deleted = (
      await operator.send(new PutObjectCommand({ Bucket: VERSIONED_BUCKET, Key: 'kept.csv', Body: 'one' }))
    ).VersionId;
    kept = (
      await operator.send(new PutObjectCommand({ Bucket: VERSIONED_BUCKET, Key: 'kept.csv', Body: 'two' }))
    ).VersionId;
    await operator.send(
      new DeleteObjectCommand({ Bucket: VERSIONED_BUCKET, Key: 'kept.csv', VersionId: deleted }),
    );
  });

  it('is 403 AccessDenied to a caller without s3:ListBucket, a deleted version and a key that never was alike', async () => {
    const historian = s3As('sidestep-local-historian');
    for (const [Key, VersionId] of [
      ['kept.csv', deleted],
      ['never.csv', kept],
    ]) {
      const get = await failure(
        historian.send(new GetObjectCommand({ Bucket: VERSIONED_BUCKET, Key, VersionId })),
      );
      expect(get.name).toBe('AccessDenied');
      expect(get.$metadata?.httpStatusCode).toBe(403);
      expect(get.message).toContain('is not authorized to perform: s3:ListBucket');
      const head = await failure(
        historian.send(new HeadObjectCommand({ Bucket: VERSIONED_BUCKET, Key, VersionId })),
      );
      expect(head.$metadata?.httpStatusCode).toBe(403);
    }
    // The version that is there is read as usual.
    const read = await historian.send(
      new GetObjectCommand({ Bucket: VERSIONED_BUCKET, Key: 'kept.csv', VersionId: kept }),
    );
    expect(await read.Body?.transformToString()).toBe('two');
  });

  it('is 404 NoSuchVersion to a caller with s3:ListBucket, and to the operator', async () => {
    for (const key of ['sidestep-local-archivist', 'local']) {
      const client = s3As(key);
      for (const [Key, VersionId] of [
        ['kept.csv', deleted],
        ['never.csv', kept],
      ]) {
        const get = await failure(
          client.send(new GetObjectCommand({ Bucket: VERSIONED_BUCKET, Key, VersionId })),
        );
        expect(get.name).toBe('NoSuchVersion');
        expect(get.$metadata?.httpStatusCode).toBe(404);
        const head = await failure(
          client.send(new HeadObjectCommand({ Bucket: VERSIONED_BUCKET, Key, VersionId })),
        );
        expect(head.$metadata?.httpStatusCode).toBe(404);
      }
    }
  });
});

// https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html: each object is authorized
// as DeleteObject, s3:DeleteObjectVersion for one that names its version, and "for each key, Amazon
// S3 performs a delete action and returns the result of that delete, success or failure".
describe('DeleteObjects as a role of the stack', () => {
  it('deletes the objects a role may delete and answers the others with AccessDenied entries, keeping them', async () => {
    const operator = s3As('local');
    for (const Key of ['doomed.txt', 'versioned.txt']) {
      await operator.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: 'x' }));
    }
    const deleter = s3As('sidestep-local-deleter');
    const result = await deleter.send(
      new DeleteObjectsCommand({
        Bucket: BUCKET,
        Delete: { Objects: [{ Key: 'doomed.txt' }, { Key: 'versioned.txt', VersionId: 'null' }] },
      }),
    );
    expect(result.Deleted?.map((deleted) => deleted.Key)).toEqual(['doomed.txt']);
    expect(result.Errors).toEqual([
      expect.objectContaining({ Key: 'versioned.txt', VersionId: 'null', Code: 'AccessDenied' }),
    ]);
    expect(denials.at(-1)).toMatchObject({
      action: 's3:DeleteObjectVersion',
      resource: `arn:aws:s3:::${BUCKET}/versioned.txt`,
    });
    const kept = await deleter.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'versioned.txt' }));
    expect(await kept.Body?.transformToString()).toBe('x');
    const gone = await failure(operator.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'doomed.txt' })));
    expect(gone.name).toBe('NoSuchKey');

    // A role that may delete nothing gets an entry for each object, and the request itself succeeds.
    const reader = s3As('sidestep-local-reader');
    const refused = await reader.send(
      new DeleteObjectsCommand({ Bucket: BUCKET, Delete: { Objects: [{ Key: 'versioned.txt' }] } }),
    );
    expect([refused.Deleted ?? [], refused.Errors?.map((error) => [error.Key, error.Code])]).toEqual([
      [],
      [['versioned.txt', 'AccessDenied']],
    ]);
    expect(denials.at(-1)).toMatchObject({ action: 's3:DeleteObject' });
  });
});

describe('SQS and the JSON APIs', () => {
  const queueUrl = (name: string) => `${endpoint.url}/000000000000/${name}`;

  it('answers SQS JSON with AccessDenied (x-amzn-query-error), which the SDK names AccessDenied', async () => {
    const reader = sqsAs('sidestep-local-reader');
    await reader.send(
      new SendMessageCommand({ QueueUrl: queueUrl('sidestep-local-jobs'), MessageBody: 'ok' }),
    );
    const error = await failure(
      reader.send(new SendMessageCommand({ QueueUrl: queueUrl('sidestep-local-other'), MessageBody: 'no' })),
    );
    expect(error.name).toBe('AccessDenied');
    expect(error.message).toContain(
      'is not authorized to perform: sqs:SendMessage on resource: arn:aws:sqs:us-east-1:000000000000:sidestep-local-other',
    );
  });

  it('answers the SQS query protocol with a 403 XML AccessDenied', async () => {
    const response = await fetch(queueUrl('sidestep-local-other'), {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization:
          'AWS4-HMAC-SHA256 Credential=sidestep-local-reader/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=00',
      },
      body: new URLSearchParams({
        Action: 'SendMessage',
        MessageBody: 'no',
        Version: '2012-11-05',
      }).toString(),
    });
    expect(response.status).toBe(403);
    const body = await response.text();
    expect(body).toContain('<Code>AccessDenied</Code>');
    expect(body).toContain(
      'sqs:SendMessage on resource: arn:aws:sqs:us-east-1:000000000000:sidestep-local-other',
    );
  });

  it('answers Step Functions with AccessDeniedException before the API handler runs', async () => {
    const sfnAs = (accessKeyId: string) => clientAs(accessKeyId, (config) => new SFNClient(config));
    const stateMachineArn = 'arn:aws:states:us-east-1:000000000000:stateMachine:sidestep-local-import';
    const error = await failure(
      sfnAs('sidestep-local-reader').send(new StartExecutionCommand({ stateMachineArn })),
    );
    expect(error.name).toBe('AccessDeniedException');
    expect(error.message).toContain(`states:StartExecution on resource: ${stateMachineArn}`);
    const started = await sfnAs('local').send(new StartExecutionCommand({ stateMachineArn }));
    expect(started.executionArn).toBe('arn:started');
  });
});

// The actions of the Service Authorization Reference
// (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html):
// ListObjectVersions needs s3:ListBucketVersions (not s3:ListBucket: "be aware of the name
// difference", API_ListObjectVersions.html), Get/PutBucketVersioning their own actions.
describe('the bucket versioning APIs as a role of the stack', () => {
  const denial = (action: string) =>
    `is not authorized to perform: ${action} on resource: arn:aws:s3:::${BUCKET} because no identity-based policy allows the ${action} action`;
  const listVersions = (client: S3Client) => client.send(new ListObjectVersionsCommand({ Bucket: BUCKET }));
  const getVersioning = (client: S3Client) => client.send(new GetBucketVersioningCommand({ Bucket: BUCKET }));
  const putVersioning = (client: S3Client) =>
    client.send(
      new PutBucketVersioningCommand({ Bucket: BUCKET, VersioningConfiguration: { Status: 'Enabled' } }),
    );

  it('refuses each with 403 AccessDenied naming its action to a role without it, s3:ListBucket included', async () => {
    for (const [roleName, call, action] of [
      ['sidestep-local-reader', listVersions, 's3:ListBucketVersions'],
      ['sidestep-local-lister', listVersions, 's3:ListBucketVersions'],
      ['sidestep-local-reader', getVersioning, 's3:GetBucketVersioning'],
      ['sidestep-local-auditor', putVersioning, 's3:PutBucketVersioning'],
    ] as const) {
      const error = await failure(call(s3As(roleName)));
      expect([roleName, error.name, error.$metadata?.httpStatusCode]).toEqual([
        roleName,
        'AccessDenied',
        403,
      ]);
      expect(error.message).toContain(denial(action));
      expect(denials.at(-1)).toMatchObject({ action, resource: `arn:aws:s3:::${BUCKET}` });
    }
    expect((await getVersioning(s3As('local'))).Status).toBeUndefined();
  });

  it('answers a role allowed the action, and the operator', async () => {
    const auditor = s3As('sidestep-local-auditor');
    const listing = await listVersions(auditor);
    expect(listing.Versions?.find((version) => version.Key === 'present.txt')?.VersionId).toBe('null');
    expect((await getVersioning(auditor)).Status).toBeUndefined();
    await putVersioning(s3As('local'));
    expect((await getVersioning(auditor)).Status).toBe('Enabled');
  });
});

// https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketLocation.html and
// https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketPolicy.html: each request is answered
// as the operation IAM authorized, never as the bucket's listing.
describe('the bucket settings as a role of the stack', () => {
  it('answers a role allowed only s3:GetBucketLocation the location, not the bucket’s object keys', async () => {
    const locator = s3As('sidestep-local-locator');
    const recorded = recordResponseBodies(locator);
    const output = await locator.send(new GetBucketLocationCommand({ Bucket: BUCKET }));
    expect(output.LocationConstraint).toBeUndefined();
    expect(recorded.lastBody()).toContain(
      '<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>',
    );
    expect(recorded.lastBody()).not.toContain('present.txt');
    // The listing itself stays refused to it.
    const listing = await failure(locator.send(new ListObjectsV2Command({ Bucket: BUCKET })));
    expect([listing.name, listing.$metadata?.httpStatusCode]).toEqual(['AccessDenied', 403]);
    const policy = await failure(locator.send(new GetBucketPolicyCommand({ Bucket: BUCKET })));
    expect(policy.name).toBe('AccessDenied');
    expect(policy.message).toContain('is not authorized to perform: s3:GetBucketPolicy');
  });

  it('answers GetBucketPolicy with the bucket policy the stack attaches and the endpoint enforces', async () => {
    const output = await s3As('local').send(new GetBucketPolicyCommand({ Bucket: BUCKET }));
    // As the stack writes it, its references resolved as a deployment resolves them.
    expect(JSON.parse(output.Policy ?? '')).toEqual(tlsOnlyBucketPolicy(`arn:aws:s3:::${BUCKET}`));
  });

  it('refuses DeleteBucketPolicy to a role allowed s3:DeleteBucket, and keeps the bucket', async () => {
    const remover = s3As('sidestep-local-remover');
    const error = await failure(remover.send(new DeleteBucketPolicyCommand({ Bucket: BUCKET })));
    expect([error.name, error.$metadata?.httpStatusCode]).toEqual(['AccessDenied', 403]);
    expect(error.message).toContain(
      `is not authorized to perform: s3:DeleteBucketPolicy on resource: arn:aws:s3:::${BUCKET}`,
    );
    expect(denials.at(-1)).toMatchObject({ action: 's3:DeleteBucketPolicy' });
    const head = await s3As('local').send(new HeadBucketCommand({ Bucket: BUCKET }));
    expect(head.$metadata.httpStatusCode).toBe(200);
  });

  // CreateSession is S3 Express One Zone's, on a directory bucket's ARN, which names a region and an
  // account (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateSession.html): the local cloud
  // answers it with its own, as for any other denied call, instead of failing to authorize it.
  it('refuses CreateSession with AccessDenied naming s3express:CreateSession on the directory bucket ARN', async () => {
    const error = await failure(
      s3As('sidestep-local-reader').send(new CreateSessionCommand({ Bucket: BUCKET })),
    );
    expect([error.name, error.$metadata?.httpStatusCode]).toEqual(['AccessDenied', 403]);
    expect(denials.at(-1)).toMatchObject({
      action: 's3express:CreateSession',
      resource: `arn:aws:s3express:us-east-1:000000000000:bucket/${BUCKET}`,
    });
  });

  // The action each needs is the one AWS documents, not always the operation's name: DeleteBucketCors
  // needs s3:PutBucketCORS (https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteBucketCors.html).
  it('answers a role allowed the documented action as the endpoint answers the operation', async () => {
    const configurator = s3As('sidestep-local-configurator');
    for (const call of [
      configurator.send(new DeleteBucketPolicyCommand({ Bucket: BUCKET })),
      configurator.send(new DeleteBucketCorsCommand({ Bucket: BUCKET })),
    ]) {
      const error = await failure(call);
      expect([error.name, error.$metadata?.httpStatusCode]).toEqual(['NotImplemented', 501]);
    }
    const tags = await failure(configurator.send(new GetBucketTaggingCommand({ Bucket: BUCKET })));
    expect([tags.name, tags.$metadata?.httpStatusCode]).toEqual(['NoSuchTagSet', 404]);
    const acl = await failure(configurator.send(new GetBucketAclCommand({ Bucket: BUCKET })));
    expect([acl.name, acl.$metadata?.httpStatusCode]).toEqual(['AccessDenied', 403]);
    expect(acl.message).toContain(
      `is not authorized to perform: s3:GetBucketAcl on resource: arn:aws:s3:::${BUCKET}`,
    );
    // The policy the stack attaches is still the one the endpoint enforces.
    const output = await s3As('local').send(new GetBucketPolicyCommand({ Bucket: BUCKET }));
    expect(JSON.parse(output.Policy ?? '')).toEqual(tlsOnlyBucketPolicy(`arn:aws:s3:::${BUCKET}`));
  });
});
