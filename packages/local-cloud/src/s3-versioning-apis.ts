import type { buildApp } from 'fauxqs';
import type { FauxqsStores } from './fauxqs-stores.ts';
import { bucketRequestOf, type Query } from './s3-bucket-operation.ts';
import { noSuchBucket, S3ErrorResponse, sendS3Error } from './s3-error-response.ts';
import {
  type ListedVersion,
  NULL_VERSION,
  type ObjectVersions,
  VERSION_ID,
  type VersioningConfiguration,
} from './s3-versions.ts';
import { escapeXml } from './xml-text.ts';

type S3Store = FauxqsStores['s3Store'];
type FauxqsApp = ReturnType<typeof buildApp>;

const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>';
const S3_NAMESPACE = 'http://s3.amazonaws.com/doc/2006-03-01/';
/** The bucket operations {@link serveVersioningApis} answers. */
export const VERSIONING_OPERATIONS: ReadonlySet<string> = new Set([
  'ListObjectVersions',
  'GetBucketVersioning',
  'PutBucketVersioning',
]);
/** ListObjectVersions' default and largest page. */
const MAX_KEYS = 1000;
/** The largest `max-keys` S3 takes (a 32-bit integer). */
const MAX_INTEGER = 2147483647;
/**
 * The owner of every version: fauxqs's account. S3 names an owner by its ID only since November
 * 2025 (https://docs.aws.amazon.com/AmazonS3/latest/API/API_Owner.html: DisplayName end of support).
 */
const OWNER = '<Owner><ID>000000000000</ID></Owner>';

/**
 * The bucket versioning APIs fauxqs 2.4 lacks (its bucket routes answer them as ListObjects and
 * CreateBucket), over the versions s3-versions.ts keeps; after IAM (`s3:ListBucketVersions`,
 * `s3:GetBucketVersioning`, `s3:PutBucketVersioning`):
 *
 * - ListObjectVersions (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectVersions.html):
 *   `ListVersionsResult` with each key's versions and delete markers, keys in UTF-8 binary order and
 *   a key's versions newest first (Key, VersionId, IsLatest, LastModified in whole seconds, ETag,
 *   ChecksumAlgorithm and ChecksumType, Size, Owner, StorageClass STANDARD; a delete marker without
 *   ETag and Size); an object of a bucket never versioned once, as version `null`. `prefix`,
 *   `delimiter` (CommonPrefixes, each counted once against `max-keys`), `key-marker` and
 *   `version-id-marker` (what follows that version), `max-keys` (default and most 1000; S3 echoes
 *   any value up to 2^31-1), `encoding-type=url`; when truncated, NextKeyMarker and
 *   NextVersionIdMarker name the last entry listed (S3 sends them so, whatever its reference says),
 *   and `max-keys=0` lists nothing, not truncated. Refused as S3 refuses them, in S3's order: a
 *   missing bucket (404 `NoSuchBucket`), then 400 `InvalidArgument` for a `max-keys` that is
 *   negative or not an integer, a `version-id-marker` without `key-marker`, empty, or not a version
 *   of that key (S3 refuses ids it did not give; an id here is random, so one that is not there is
 *   refused too, `null` excepted), and an `encoding-type` other than `url`.
 * - GetBucketVersioning (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketVersioning.html):
 *   Status Enabled or Suspended, MfaDelete Disabled once set; an empty `VersioningConfiguration`
 *   for a bucket never versioned.
 * - PutBucketVersioning (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketVersioning.html):
 *   Status Enabled or Suspended (s3-versions.ts serves suspension as S3 does); an empty body is 400
 *   `MissingRequestBodyError`, a missing or empty Status 400 `IllegalVersioningConfigurationException`,
 *   any other Status, MfaDelete or element 400 `MalformedXML`, and MfaDelete Enabled 501
 *   `NotImplemented` (MFA delete is not served: the local cloud has no MFA device to check).
 */
export function serveVersioningApis(app: FauxqsApp, store: S3Store, versions: ObjectVersions): void {
  app.addHook('preHandler', async (request, reply) => {
    // The operation IAM authorized (`?uploads&versions` is ListMultipartUploads, not served here).
    const bucketRequest = bucketRequestOf(request);
    if (!bucketRequest || !VERSIONING_OPERATIONS.has(bucketRequest.operation ?? '')) return;
    const { bucket, query, operation } = bucketRequest;
    try {
      if (!store.hasBucket(bucket)) throw noSuchBucket(bucket);
      if (operation === 'PutBucketVersioning') {
        versions.configure(bucket, versioningConfigurationOf(request.body));
        return reply.code(200).send();
      }
      const xml =
        operation === 'ListObjectVersions'
          ? listObjectVersions(versions, bucket, query)
          : versioningConfigurationXml(versions.configuration(bucket));
      return reply.code(200).header('content-type', 'application/xml').send(xml);
    } catch (error) {
      if (error instanceof S3ErrorResponse) return sendS3Error(reply, error);
      throw error;
    }
  });
}

function invalidArgument(message: string, name: string, value?: string): S3ErrorResponse {
  return new S3ErrorResponse(400, 'InvalidArgument', message, [
    ['ArgumentName', name],
    ...(value === undefined ? [] : [['ArgumentValue', value] as const]),
  ]);
}

/** `max-keys`: absent or empty is 1000; else an integer from 0 to 2^31-1, refused with S3's messages. */
function maxKeysOf(value: string | undefined): number {
  if (value === undefined || value === '') return MAX_KEYS;
  if (/^-\d+$/.test(value)) throw invalidArgument('max-keys cannot be negative', 'max-keys');
  const number = /^\d{1,10}$/.test(value) ? Number(value) : Number.NaN;
  if (!(number <= MAX_INTEGER)) {
    throw invalidArgument('Provided max-keys not an integer or within integer range', 'max-keys', value);
  }
  return number;
}

/** An entry of the listing: a version or delete marker of a key, or a common prefix. */
type Entry = { readonly key: string; readonly version: ListedVersion } | { readonly prefix: string };

function listObjectVersions(versions: ObjectVersions, bucket: string, query: Query): string {
  const maxKeys = maxKeysOf(query['max-keys']);
  const keyMarker = query['key-marker'];
  const versionIdMarker = query['version-id-marker'];
  if (versionIdMarker !== undefined) {
    if (keyMarker === undefined) {
      throw invalidArgument(
        'A version-id marker cannot be specified without a key marker.',
        'version-id-marker',
        versionIdMarker,
      );
    }
    if (versionIdMarker === '') {
      throw invalidArgument('A version-id marker cannot be empty.', 'version-id-marker', versionIdMarker);
    }
    if (versionIdMarker !== NULL_VERSION && !VERSION_ID.test(versionIdMarker)) {
      throw invalidArgument('Invalid version id specified', 'version-id-marker', versionIdMarker);
    }
  }
  const encodingType = query['encoding-type'];
  if (encodingType !== undefined && encodingType !== 'url') {
    throw invalidArgument('Invalid Encoding Method specified in Request', 'encoding-type', encodingType);
  }
  // With a version-id-marker, the listing resumes after that version of key-marker's key: its index
  // among the key's versions, past all of them for `null` when the key has no null version.
  let resumeAt: number | undefined;
  if (keyMarker !== undefined && versionIdMarker !== undefined) {
    const markerVersions = versions.versionsOf(bucket, keyMarker);
    const index = markerVersions.findIndex((version) => version.versionId === versionIdMarker);
    if (index < 0 && versionIdMarker !== NULL_VERSION) {
      throw invalidArgument('Invalid version id specified', 'version-id-marker', versionIdMarker);
    }
    resumeAt = index < 0 ? markerVersions.length : index + 1;
  }

  const prefix = query.prefix ?? '';
  const delimiter = query.delimiter;
  const limit = Math.min(maxKeys, MAX_KEYS);
  const entries: Entry[] = [];
  let truncated = false;
  const marker = keyMarker === undefined ? undefined : Buffer.from(keyMarker);
  const keys = (versions.keys(bucket) ?? [])
    .filter((key) => key.startsWith(prefix))
    .map((key) => ({ key, bytes: Buffer.from(key) }))
    .sort((a, b) => Buffer.compare(a.bytes, b.bytes));
  let lastCommonPrefix: string | undefined;
  listing: for (const { key, bytes } of limit === 0 ? [] : keys) {
    const order = marker ? Buffer.compare(bytes, marker) : 1;
    if (order < 0 || (order === 0 && resumeAt === undefined)) continue;
    const cut = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
    if (delimiter && cut >= 0) {
      const commonPrefix = key.slice(0, cut + delimiter.length);
      // A key-marker that is a common prefix (the NextKeyMarker of a page that ended with it) is past
      // every key under it.
      if (commonPrefix === lastCommonPrefix || commonPrefix === keyMarker) continue;
      if (entries.length === limit) {
        truncated = true;
        break;
      }
      entries.push({ prefix: commonPrefix });
      lastCommonPrefix = commonPrefix;
      continue;
    }
    for (const version of versions.versionsOf(bucket, key).slice(order === 0 ? resumeAt : 0)) {
      if (entries.length === limit) {
        truncated = true;
        break listing;
      }
      entries.push({ key, version });
    }
  }

  const encode = encodingType === 'url' ? encodeURIComponent : (text: string) => text;
  const element = (name: string, text: string) => `<${name}>${escapeXml(text)}</${name}>`;
  const last = truncated ? entries.at(-1) : undefined;
  const next = !last
    ? []
    : 'prefix' in last
      ? [element('NextKeyMarker', encode(last.prefix))]
      : [element('NextKeyMarker', encode(last.key)), element('NextVersionIdMarker', last.version.versionId)];
  return [
    XML_DECLARATION,
    '\n',
    `<ListVersionsResult xmlns="${S3_NAMESPACE}">`,
    element('Name', bucket),
    element('Prefix', encode(prefix)),
    element('KeyMarker', encode(keyMarker ?? '')),
    element('VersionIdMarker', versionIdMarker ?? ''),
    ...next,
    `<MaxKeys>${maxKeys}</MaxKeys>`,
    delimiter === undefined ? '' : element('Delimiter', encode(delimiter)),
    encodingType === undefined ? '' : element('EncodingType', encodingType),
    `<IsTruncated>${truncated}</IsTruncated>`,
    ...entries.map((entry) => ('key' in entry ? versionXml(encode(entry.key), entry.version) : '')),
    ...entries.map((entry) =>
      'prefix' in entry ? `<CommonPrefixes>${element('Prefix', encode(entry.prefix))}</CommonPrefixes>` : '',
    ),
    '</ListVersionsResult>',
  ].join('');
}

/** A `<Version>` or `<DeleteMarker>` of ListVersionsResult, its elements in S3's order. */
function versionXml(key: string, version: ListedVersion): string {
  // S3 keeps LastModified to the second: listings show `.000Z`, as HeadObject's header shows none.
  const lastModified = new Date(Math.floor(version.lastModified.getTime() / 1000) * 1000).toISOString();
  const common = `<Key>${escapeXml(key)}</Key><VersionId>${escapeXml(version.versionId)}</VersionId><IsLatest>${version.isLatest}</IsLatest><LastModified>${lastModified}</LastModified>`;
  const object = version.object;
  if (!object) return `<DeleteMarker>${common}${OWNER}</DeleteMarker>`;
  const checksum = object.checksumAlgorithm
    ? `<ChecksumAlgorithm>${object.checksumAlgorithm}</ChecksumAlgorithm><ChecksumType>${object.checksumType ?? 'FULL_OBJECT'}</ChecksumType>`
    : '';
  return `<Version>${common}<ETag>${escapeXml(object.etag)}</ETag>${checksum}<Size>${object.size}</Size>${OWNER}<StorageClass>STANDARD</StorageClass></Version>`;
}

function versioningConfigurationXml(configuration: VersioningConfiguration | undefined): string {
  if (!configuration) return `${XML_DECLARATION}\n<VersioningConfiguration xmlns="${S3_NAMESPACE}"/>`;
  const mfaDelete = configuration.mfaDelete ? `<MfaDelete>${configuration.mfaDelete}</MfaDelete>` : '';
  return `${XML_DECLARATION}\n<VersioningConfiguration xmlns="${S3_NAMESPACE}"><Status>${configuration.status}</Status>${mfaDelete}</VersioningConfiguration>`;
}

/**
 * The VersioningConfiguration document of a PutBucketVersioning, with S3's answers to what its
 * schema refuses (Status and MfaDelete once each, nothing else; the namespace may be left out).
 */
function versioningConfigurationOf(body: unknown): VersioningConfiguration {
  const text = Buffer.isBuffer(body) ? body.toString('utf8') : typeof body === 'string' ? body : '';
  if (text === '') throw new S3ErrorResponse(400, 'MissingRequestBodyError', 'Request Body is empty');
  const malformed = new S3ErrorResponse(
    400,
    'MalformedXML',
    'The XML you provided was not well-formed or did not validate against our published schema',
  );
  const document =
    /^(?:<\?xml[^>]*\?>)?\s*<VersioningConfiguration(?:\s+xmlns="[^"]*")?\s*(?:\/>|>([\s\S]*)<\/VersioningConfiguration>)\s*$/.exec(
      text,
    );
  if (!document) throw malformed;
  const children = (document[1] ?? '').trim();
  const child = /\s*(?:<(Status|MfaDelete)>([^<]*)<\/\1>|<(Status|MfaDelete)\s*\/>)\s*/y;
  const fields = new Map<string, string>();
  while (child.lastIndex < children.length) {
    const match = child.exec(children);
    const name = match?.[1] ?? match?.[3];
    if (!match || !name || fields.has(name)) throw malformed;
    fields.set(name, match[2] ?? '');
  }
  const status = fields.get('Status') ?? '';
  const mfaDelete = fields.get('MfaDelete') ?? '';
  if (!['', 'Enabled', 'Suspended'].includes(status) || !['', 'Enabled', 'Disabled'].includes(mfaDelete)) {
    throw malformed;
  }
  if (status !== 'Enabled' && status !== 'Suspended') {
    throw new S3ErrorResponse(
      400,
      'IllegalVersioningConfigurationException',
      'The Versioning element must be specified',
    );
  }
  if (mfaDelete === 'Enabled') {
    throw new S3ErrorResponse(
      501,
      'NotImplemented',
      'The local cloud does not serve MFA delete: PutBucketVersioning with MfaDelete Enabled is not implemented',
    );
  }
  return { status, ...(mfaDelete === 'Disabled' ? { mfaDelete } : {}) };
}
