import { type JobSource, shorten } from '@sidestep/contracts';

/** The identity of an S3 object version, as the ledger's unique constraint compares it. */
export interface SourceIdentity {
  readonly bucket: string;
  readonly key: string;
  /** The versionId when the bucket is versioned, else the ETag. */
  readonly version: string;
  /** What the job's mails call the file: the key's last segment, safe for one mail header line. */
  readonly fileName: string;
}

/** The longest file name a mail accepts (`SingleLine` in the mail contracts). */
export const MAX_FILE_NAME_LENGTH = 1000;

/**
 * The identity of `source`: the upload, so every PUT is a new job and a redelivered event is not. A
 * versioned bucket gives every upload its own versionId; an unversioned one has the event's
 * `sequencer`, greater for every write of the key and the same in a redelivery of one event (the
 * ETag would make a re-upload of the same bytes a no-op, the retry that does nothing). The ETag is
 * the last resort, for a source without either. Its quotes are dropped: S3 sends it quoted in some
 * APIs and not in others (EventBridge's `detail.object.etag` has none).
 */
export function sourceIdentity(source: JobSource): SourceIdentity {
  const version = source.versionId ?? source.sequencer ?? source.etag?.replaceAll('"', '');
  // The contract refuses a source with neither; this guards callers that skip it.
  if (version === undefined || version === '') throw new TypeError('source: versionId or etag is required');
  return { bucket: source.bucket, key: source.key, version, fileName: fileNameOf(source.key) };
}

/**
 * The last `/`-separated segment of an S3 key (the key itself when that is empty). S3 keys may hold
 * any UTF-8, control characters included; they are replaced so the name can go into a mail subject.
 * A name over {@link MAX_FILE_NAME_LENGTH} is cut to fit, at a character boundary, ending in `…`.
 */
export function fileNameOf(key: string): string {
  const segment = key.slice(key.lastIndexOf('/') + 1) || key;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: replacing control characters is the point
  const printable = segment.replace(/[\u0000-\u001f\u007f]/g, '\uFFFD');
  return shorten(printable, MAX_FILE_NAME_LENGTH);
}
