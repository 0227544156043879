import { addAbortSignal, Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  type GetObjectCommand,
  type GetObjectCommandOutput,
  PutBucketVersioningCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { openSourceObject, type S3ObjectReader } from '../src/adapters/s3-source.ts';
import { SourceChangedError, SourceUnavailableError, SourceVersionMissingError } from '../src/errors.ts';
import { rejectionOf, startS3, type TestS3, usersCsv } from './import-fixture.ts';

let s3: TestS3;
const csv = usersCsv(2000, 'src-');
const key = 'imports/source.csv';

beforeAll(async () => {
  s3 = await startS3();
  await s3.put(key, csv);
});
afterAll(() => s3.stop());

/**
 * A body that delivers `bytes` bytes of `body`, then fails as a reset connection does; or, `cleanly`,
 * ends as if that were all: no error, short of the response's Content-Length (a connection closed
 * cleanly mid-body).
 */
function breakingOff(body: Readable, bytes: number, ends: 'reset' | 'cleanly' = 'reset'): Readable {
  async function* cut() {
    let sent = 0;
    for await (const chunk of body) {
      const buffer = chunk as Buffer;
      if (sent + buffer.length >= bytes) {
        yield buffer.subarray(0, bytes - sent);
        body.destroy();
        if (ends === 'cleanly') return;
        throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
      }
      sent += buffer.length;
      yield buffer;
    }
  }
  return Readable.from(cut(), { objectMode: false });
}

/**
 * The fauxqs client, recording each GetObject's input; the first `breaks` bodies break off after that
 * many bytes (end there, `cleanly`).
 */
function flakyClient(
  breaks: number[],
  ends: 'reset' | 'cleanly' = 'reset',
): { client: S3ObjectReader; requests: GetObjectCommand['input'][] } {
  const requests: GetObjectCommand['input'][] = [];
  return {
    requests,
    client: {
      send: async (command: GetObjectCommand): Promise<GetObjectCommandOutput> => {
        requests.push(command.input);
        const output = await s3.client.send(command);
        const bytes = breaks[requests.length - 1];
        if (bytes === undefined) return output;
        return {
          ...output,
          Body: breakingOff(output.Body as Readable, bytes, ends) as GetObjectCommandOutput['Body'],
        };
      },
    },
  };
}

describe('openSourceObject', () => {
  it('resumes a body that breaks off with a ranged, If-Match GetObject from the byte it reached', async () => {
    const { client, requests } = flakyClient([1000, 5000]);
    const resumes: number[] = [];
    const opened = await openSourceObject(
      client,
      { bucket: s3.bucket, key },
      { onResume: ({ offset }) => resumes.push(offset) },
    );
    expect(await text(opened.body)).toBe(csv);
    expect(resumes).toEqual([1000, 6000]);
    expect(requests.map((input) => input?.Range)).toEqual([undefined, 'bytes=1000-', 'bytes=6000-']);
    expect(requests[1]?.IfMatch).toBe(opened.etag);
    expect(opened.contentLength).toBe(Buffer.byteLength(csv));
  });

  it('closes the response when the import stops before reading it, and a late failure of it is not a crash', async () => {
    // A stop (SIGTERM) right after the source opened: the body was never read, nothing listened on
    // it, and the connection's end as the task shut down was an unhandled 'error' event that took
    // the process down with exit code 1 instead of 143.
    let response: Readable | undefined;
    const client: S3ObjectReader = {
      send: async (command: GetObjectCommand): Promise<GetObjectCommandOutput> => {
        const output = await s3.client.send(command);
        response = output.Body as Readable;
        return output;
      },
    };
    const opened = await openSourceObject(client, { bucket: s3.bucket, key });
    opened.body.destroy();
    await new Promise((resolve) => setImmediate(resolve));
    expect(response?.destroyed).toBe(true);
    expect(() =>
      response?.emit('error', Object.assign(new Error('aborted'), { code: 'ECONNRESET' })),
    ).not.toThrow();
  });

  it('stops reading when the import stops mid-body (SIGTERM), without taking the stop for a break-off to resume', async () => {
    const { client, requests } = flakyClient([]);
    const resumes: number[] = [];
    const opened = await openSourceObject(
      client,
      { bucket: s3.bucket, key },
      { onResume: ({ offset }) => resumes.push(offset) },
    );
    // As the import's addAbortSignal does on SIGTERM: the stream destroyed with an AbortError.
    const stop = new AbortController();
    const body = addAbortSignal(stop.signal, opened.body);
    const reading = (async () => {
      for await (const _ of body) stop.abort();
    })();
    await expect(reading).rejects.toMatchObject({ name: 'AbortError' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(resumes).toEqual([]);
    expect(requests).toHaveLength(1);
  });

  it('resumes a body that ends without an error short of its Content-Length, reading the rest', async () => {
    const { client, requests } = flakyClient([1000], 'cleanly');
    const opened = await openSourceObject(client, { bucket: s3.bucket, key });
    expect(await text(opened.body)).toBe(csv);
    expect(requests.map((input) => input?.Range)).toEqual([undefined, 'bytes=1000-']);
  });

  it('resumes maxResumes times, then gives up with a transient SourceUnavailableError', async () => {
    const resumed = flakyClient([100, 100]);
    const whole = await openSourceObject(resumed.client, { bucket: s3.bucket, key }, { maxResumes: 2 });
    expect(await text(whole.body)).toBe(csv);
    expect(resumed.requests).toHaveLength(3);

    const { client } = flakyClient([100, 100, 100]);
    const opened = await openSourceObject(client, { bucket: s3.bucket, key }, { maxResumes: 2 });
    const error = await rejectionOf(text(opened.body), SourceUnavailableError);
    expect(error.permanent).toBe(false);
    expect(error.message).toBe(`cannot read s3://${s3.bucket}/${key}: Error: read ECONNRESET`);
  });

  it('refuses to resume onto an object that changed since the first read', async () => {
    const changingKey = 'imports/changing.csv';
    await s3.put(changingKey, csv);
    const { client } = flakyClient([1000]);
    let replaced = false;
    const opened = await openSourceObject(
      {
        send: async (command) => {
          // Overwritten between the first response and the resume (an unversioned bucket).
          if (!replaced && command.input?.Range) {
            replaced = true;
            await s3.put(changingKey, usersCsv(10, 'other-'));
          }
          return client.send(command);
        },
      },
      { bucket: s3.bucket, key: changingKey },
    );
    const error = await rejectionOf(text(opened.body), SourceChangedError);
    expect(error).toBeInstanceOf(SourceUnavailableError);
    expect(error.permanent).toBe(true);
    expect(error.message).toMatch(
      /^the object at s3:\/\/sidestep-test-imports\/imports\/changing.csv changed after it was registered \(ETag "[0-9a-f]+" expected\)$/,
    );
  });

  it('reads a replaced version by its id, and names a version that no longer exists (expired or deleted) as such, not as a change', async () => {
    // A nightly file to the same key makes the day before's version noncurrent: still readable by its
    // id. The imports bucket's lifecycle (or a person) deleting it makes GetObject answer 404
    // NoSuchVersion, which is not a concurrent upload: https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html
    const bucket = 'sidestep-test-versions';
    await s3.client.send(new CreateBucketCommand({ Bucket: bucket }));
    await s3.client.send(
      new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }),
    );
    const nightly = 'imports/nightly.csv';
    const put = (body: string) =>
      s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: nightly, Body: body }));
    const { VersionId: yesterday } = await put(csv);
    await put(usersCsv(10, 'today-'));
    const replaced = await openSourceObject(s3.client, { bucket, key: nightly, versionId: yesterday });
    expect(await text(replaced.body)).toBe(csv);

    await s3.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: nightly, VersionId: yesterday }));
    const error = await rejectionOf(
      openSourceObject(s3.client, { bucket, key: nightly, versionId: yesterday }),
      SourceVersionMissingError,
    );
    expect(error).not.toBeInstanceOf(SourceChangedError);
    expect(error.permanent).toBe(true);
    expect(error.message).toBe(
      `the upload version ${yesterday} of s3://${bucket}/${nightly} no longer exists (expired or deleted); upload the file again`,
    );
  });

  it('fails at once, permanently, for a missing key', async () => {
    await expect(
      openSourceObject(s3.client, { bucket: s3.bucket, key: 'imports/none.csv' }),
    ).rejects.toMatchObject({
      name: 'SourceUnavailableError',
      permanent: true,
    });
  });
});
