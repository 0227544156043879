import type { PolicyDocument } from './policy.ts';

/**
 * The bucket policy every sidestep bucket gets (infra's private-bucket.ts) and the local IAM enforces:
 * deny any request not sent over TLS, to the bucket and every object in it
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html#transit).
 */
export function tlsOnlyBucketPolicy(bucketArn: string) {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'DenyInsecureTransport',
        Effect: 'Deny',
        Principal: '*',
        Action: 's3:*',
        Resource: [bucketArn, `${bucketArn}/*`],
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      },
    ],
  } satisfies PolicyDocument;
}
