import { expect, it } from '@jest/globals';
import { s3Authorization } from '@sidestep/iam';
import { s3BucketOperation, s3BucketOperations } from '../src/s3-bucket-operation.ts';

const scope = { region: 'us-east-1', accountId: '000000000000' };

it('names every bucket subresource the S3 API has, and plain bucket requests by their method', () => {
  const operations = s3BucketOperations();
  expect(operations).toEqual(
    expect.arrayContaining(['ListMultipartUploads', 'GetBucketAcl', 'DeleteBucketLifecycle', 'ListObjects']),
  );
  expect(operations.length).toBeGreaterThan(70);
  const query = (parameters: string[]) => (parameter: string) => parameters.includes(parameter);
  expect(s3BucketOperation('GET', query(['uploads', 'versions']))).toBe('ListMultipartUploads');
  expect(s3BucketOperation('GET', query(['analytics', 'id']))).toBe('GetBucketAnalyticsConfiguration');
  expect(s3BucketOperation('GET', query(['list-type']))).toBe('ListObjectsV2');
  expect(s3BucketOperation('DELETE', query([]))).toBe('DeleteBucket');
});

// Every operation the endpoint can name a request with is one the local IAM can authorize, with the
// action AWS documents (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html):
// a role is then refused or allowed as on AWS, never refused for want of a mapping. Here rather than
// in @sidestep/iam, which this package depends on.
it.each(s3BucketOperations())('%s is authorized with an S3 action', (operation) => {
  const checks = s3Authorization(operation, { bucket: 'exports', key: 'exports/a.csv', ...scope });
  expect(checks.length).toBeGreaterThan(0);
  for (const check of checks) expect(check.action).toMatch(/^s3(express)?:[A-Z][A-Za-z]+$/);
});
