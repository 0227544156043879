import {
  DeleteBucketPolicyCommand,
  DeleteBucketTaggingCommand,
  DeleteObjectTaggingCommand,
  GetBucketAclCommand,
  GetBucketCorsCommand,
  GetBucketEncryptionCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketLocationCommand,
  GetBucketNotificationConfigurationCommand,
  GetBucketPolicyCommand,
  GetBucketTaggingCommand,
  GetObjectAclCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  GetPublicAccessBlockCommand,
  HeadBucketCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutBucketNotificationConfigurationCommand,
  PutBucketPolicyCommand,
  PutBucketTaggingCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  type S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { rejectionOf } from '@sidestep/contracts/testing';
import type { AwsEndpoint } from '../src/aws-endpoint.ts';
import { localS3Client, recordResponseBodies, useS3Endpoint } from './fixtures/s3-endpoint.ts';

// fauxqs 2.4 routes every bucket request it does not know as ListObjects (GET), CreateBucket (PUT)
// or DeleteBucket (DELETE); these are the answers S3 documents instead:
// https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketLocation.html
// https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketPolicy.html
// https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketNotificationConfiguration.html
// https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html (NotImplemented, NoSuchBucket)
const BUCKET = 'sidestep-local-settings';
const NOTIFYING_BUCKET = 'sidestep-local-settings-notifying';
const MISSING_BUCKET = 'sidestep-local-no-such-bucket';
const KEY = 'imports/listed-only-to-listers.csv';

const local = useS3Endpoint({ [BUCKET]: {}, [NOTIFYING_BUCKET]: { eventBridge: true } });
let endpoint: AwsEndpoint;
let s3: S3Client;
beforeAll(async () => {
  ({ endpoint, s3 } = local);
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: KEY, Body: 'a,b\n' }));
});

/** The S3 error a call fails with, and its HTTP status (fails the test when the call succeeds). */
const s3Error = async (promise: Promise<unknown>) => {
  const error = await rejectionOf(promise, S3ServiceException);
  return { name: error.name, message: error.message, status: error.$metadata.httpStatusCode };
};
const NOT_IMPLEMENTED = {
  name: 'NotImplemented',
  message: 'A header you provided implies functionality that is not implemented',
  status: 501,
};

describe('GetBucketLocation (API_GetBucketLocation)', () => {
  it('answers an empty LocationConstraint, S3’s null for a us-east-1 bucket, not the bucket’s listing', async () => {
    const client = localS3Client(endpoint.url);
    const recorded = recordResponseBodies(client);
    try {
      const output = await client.send(new GetBucketLocationCommand({ Bucket: BUCKET }));
      expect(output.LocationConstraint).toBeUndefined();
      expect(recorded.lastBody()).toBe(
        '<?xml version="1.0" encoding="UTF-8"?>\n<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>',
      );
      expect(recorded.lastBody()).not.toContain(KEY);
    } finally {
      client.destroy();
    }
  });
});

describe('GetBucketPolicy (API_GetBucketPolicy)', () => {
  it('answers 404 NoSuchBucketPolicy "The bucket policy does not exist" for a bucket without a policy', async () => {
    expect(await s3Error(s3.send(new GetBucketPolicyCommand({ Bucket: BUCKET })))).toEqual({
      name: 'NoSuchBucketPolicy',
      message: 'The bucket policy does not exist',
      status: 404,
    });
  });
});

describe('GetBucketNotificationConfiguration (API_GetBucketNotificationConfiguration)', () => {
  it('answers EventBridgeConfiguration for a bucket that sends its events to EventBridge, nothing for another', async () => {
    const notifying = await s3.send(
      new GetBucketNotificationConfigurationCommand({ Bucket: NOTIFYING_BUCKET }),
    );
    expect(notifying.EventBridgeConfiguration).toEqual({});
    const plain = await s3.send(new GetBucketNotificationConfigurationCommand({ Bucket: BUCKET }));
    expect(plain.EventBridgeConfiguration).toBeUndefined();
    expect(plain.QueueConfigurations).toBeUndefined();
  });
});

// https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketTagging.html (NoSuchTagSet)
it('answers GetBucketTagging with 404 NoSuchTagSet, as S3 does for a bucket without tags, not with the listing', async () => {
  const client = localS3Client(endpoint.url);
  const recorded = recordResponseBodies(client);
  try {
    expect(await s3Error(client.send(new GetBucketTaggingCommand({ Bucket: BUCKET })))).toEqual({
      name: 'NoSuchTagSet',
      status: 404,
      message: 'The TagSet does not exist',
    });
    expect(recorded.lastBody()).not.toContain(KEY);
  } finally {
    client.destroy();
  }
});

describe('bucket subresources the local cloud does not serve (ErrorResponses: NotImplemented)', () => {
  it('answers each with 501 NotImplemented, never with the bucket’s listing', async () => {
    const client = localS3Client(endpoint.url);
    const recorded = recordResponseBodies(client);
    try {
      for (const call of [
        () => client.send(new GetBucketAclCommand({ Bucket: BUCKET })),
        () => client.send(new GetBucketCorsCommand({ Bucket: BUCKET })),
        () => client.send(new GetBucketEncryptionCommand({ Bucket: BUCKET })),
        () => client.send(new GetPublicAccessBlockCommand({ Bucket: BUCKET })),
        () => client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET })),
      ]) {
        expect(await s3Error(call())).toEqual(NOT_IMPLEMENTED);
        expect(recorded.lastBody()).not.toContain(KEY);
      }
    } finally {
      client.destroy();
    }
    // The listing itself is still served.
    const listing = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET }));
    expect(listing.Contents?.map((object) => object.Key)).toEqual([KEY]);
  });

  it('answers a setting written to the bucket with 501 NotImplemented, not with CreateBucket’s 200', async () => {
    const policy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Deny', Principal: '*', Action: 's3:*', Resource: `arn:aws:s3:::${BUCKET}` }],
    });
    expect(await s3Error(s3.send(new PutBucketPolicyCommand({ Bucket: BUCKET, Policy: policy })))).toEqual(
      NOT_IMPLEMENTED,
    );
    const tagging = { TagSet: [{ Key: 'team', Value: 'imports' }] };
    expect(await s3Error(s3.send(new PutBucketTaggingCommand({ Bucket: BUCKET, Tagging: tagging })))).toEqual(
      NOT_IMPLEMENTED,
    );
    const notification = { EventBridgeConfiguration: {} };
    expect(
      await s3Error(
        s3.send(
          new PutBucketNotificationConfigurationCommand({
            Bucket: BUCKET,
            NotificationConfiguration: notification,
          }),
        ),
      ),
    ).toEqual(NOT_IMPLEMENTED);
    // Nothing was set: still no policy, and no EventBridge notifications.
    expect((await s3Error(s3.send(new GetBucketPolicyCommand({ Bucket: BUCKET })))).name).toBe(
      'NoSuchBucketPolicy',
    );
    const configuration = await s3.send(new GetBucketNotificationConfigurationCommand({ Bucket: BUCKET }));
    expect(configuration.EventBridgeConfiguration).toBeUndefined();
  });

  it('answers DeleteBucketPolicy and DeleteBucketTagging with 501 NotImplemented and keeps the bucket (fauxqs would delete it)', async () => {
    const empty = 'sidestep-local-settings-empty';
    await endpoint.createBucket(empty);
    expect(await s3Error(s3.send(new DeleteBucketPolicyCommand({ Bucket: empty })))).toEqual(NOT_IMPLEMENTED);
    expect(await s3Error(s3.send(new DeleteBucketTaggingCommand({ Bucket: empty })))).toEqual(
      NOT_IMPLEMENTED,
    );
    expect((await s3.send(new HeadBucketCommand({ Bucket: empty }))).$metadata.httpStatusCode).toBe(200);
  });

  it('leaves the lifecycle configuration to fauxqs, which serves it', async () => {
    expect(await s3Error(s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: BUCKET })))).toEqual({
      name: 'NoSuchLifecycleConfiguration',
      message: 'The lifecycle configuration does not exist',
      status: 404,
    });
  });
});

describe('a bucket that does not exist', () => {
  it('answers 404 NoSuchBucket first, as S3 does, before NoSuchBucketPolicy or NotImplemented', async () => {
    const noSuchBucket = {
      name: 'NoSuchBucket',
      message: 'The specified bucket does not exist',
      status: 404,
    };
    const Bucket = MISSING_BUCKET;
    for (const call of [
      () => s3.send(new GetBucketLocationCommand({ Bucket })),
      () => s3.send(new GetBucketPolicyCommand({ Bucket })),
      () => s3.send(new GetBucketNotificationConfigurationCommand({ Bucket })),
      () => s3.send(new GetBucketAclCommand({ Bucket })),
      () => s3.send(new DeleteBucketPolicyCommand({ Bucket })),
    ]) {
      expect(await s3Error(call())).toEqual(noSuchBucket);
    }
  });
});

// https://docs.aws.amazon.com/AmazonS3/latest/userguide/EventBridge.html: tagging an object raises
// "Object Tags Added", not "Object Created"; the object itself is unchanged. fauxqs keeps no tags and
// took the tagging request for a write of the object (or, for DeleteObjectTagging, its delete).
describe('object subresources fauxqs does not serve (tagging, ACL, ...)', () => {
  const TAGGED = 'imports/tagged.csv';

  it('answers each with 501 NotImplemented and leaves the object as it was, raising no Object Created', async () => {
    await s3.send(new PutObjectCommand({ Bucket: NOTIFYING_BUCKET, Key: TAGGED, Body: 'id,email\n' }));
    const created: string[] = [];
    endpoint.onObjectCreated((event) => created.push(event.detail.reason));
    const tagging = { TagSet: [{ Key: 'owner', Value: 'ops' }] };
    for (const call of [
      s3.send(new PutObjectTaggingCommand({ Bucket: NOTIFYING_BUCKET, Key: TAGGED, Tagging: tagging })),
      s3.send(new GetObjectTaggingCommand({ Bucket: NOTIFYING_BUCKET, Key: TAGGED })),
      s3.send(new DeleteObjectTaggingCommand({ Bucket: NOTIFYING_BUCKET, Key: TAGGED })),
      s3.send(new GetObjectAclCommand({ Bucket: NOTIFYING_BUCKET, Key: TAGGED })),
    ]) {
      expect(await s3Error(call)).toEqual(NOT_IMPLEMENTED);
    }
    const object = await s3.send(new GetObjectCommand({ Bucket: NOTIFYING_BUCKET, Key: TAGGED }));
    expect(await object.Body?.transformToString()).toBe('id,email\n');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(created).toEqual([]);
  });
});
