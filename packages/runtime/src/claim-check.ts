import type { S3Client } from '@aws-sdk/client-s3';
import {
  type CLAIM_CHECK_PREFIXES,
  type ClaimCheckPointer,
  claimCheckMessage,
  claimCheckPointerOf,
  type MessageAttributeInput,
} from '@sidestep/contracts';
import { ClaimCheckMissingError, ClaimCheckUnavailableError } from './errors.ts';

/**
 * Where claim-check bodies go, and the client that reads and writes them. The S3 client and its
 * part of the SDK load on first use, not at cold start: most messages are not claim checks.
 */
export class ClaimCheckStore {
  readonly bucket: string | undefined;
  #s3: S3Client | undefined;

  /** `bucket`: where this process stores bodies (reading follows each pointer's own bucket). */
  constructor(options: { readonly s3?: S3Client | undefined; readonly bucket?: string | undefined }) {
    this.#s3 = options.s3;
    this.bucket = options.bucket === '' ? undefined : options.bucket;
  }

  async #client(): Promise<{ s3: S3Client; sdk: typeof import('./claim-check-s3.ts') }> {
    const sdk = await import('./claim-check-s3.ts');
    this.#s3 ??= new sdk.S3Client({});
    return { s3: this.#s3, sdk };
  }

  /**
   * The body a record stands for: its own, or, for a claim check (attribute `ExtendedPayloadSize`),
   * the stored one. A pointer to a missing object is a {@link ClaimCheckMissingError} (permanent).
   */
  async resolve(body: string, attributeNames: Iterable<string>): Promise<string> {
    const pointer = claimCheckPointerOf(body, attributeNames);
    if (!pointer) return body;
    const { s3, sdk } = await this.#client();
    try {
      const object = await s3.send(new sdk.GetObjectCommand({ Bucket: pointer.bucket, Key: pointer.key }));
      return (await object.Body?.transformToString('utf8')) ?? '';
    } catch (error) {
      // S3 answers a missing key with NoSuchKey to a caller allowed s3:ListBucket (consumers are).
      if ((error as { name?: string }).name === 'NoSuchKey') {
        throw new ClaimCheckMissingError(pointer.bucket, pointer.key, { cause: error });
      }
      throw new ClaimCheckUnavailableError('read', pointer.bucket, pointer.key, { cause: error });
    }
  }

  /**
   * Stores `body` under `<prefix><name>` and returns the pointer message that replaces it.
   * @throws ClaimCheckUnavailableError when there is no bucket or S3 refuses
   */
  async store(
    prefix: (typeof CLAIM_CHECK_PREFIXES)[keyof typeof CLAIM_CHECK_PREFIXES],
    name: string,
    body: string,
  ): Promise<{
    body: string;
    attributes: Record<string, MessageAttributeInput>;
    pointer: ClaimCheckPointer;
  }> {
    const key = `${prefix}${name}`;
    const { bucket } = this;
    if (!bucket) {
      throw new ClaimCheckUnavailableError('store', '(no CLAIM_CHECK_BUCKET)', key, {
        cause: new Error('no claim-check bucket is configured'),
      });
    }
    const { s3, sdk } = await this.#client();
    try {
      await s3.send(
        new sdk.PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/json' }),
      );
    } catch (error) {
      throw new ClaimCheckUnavailableError('store', bucket, key, { cause: error });
    }
    const pointer = { bucket, key };
    return { ...claimCheckMessage(pointer, Buffer.byteLength(body, 'utf8')), pointer };
  }
}
