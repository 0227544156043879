import { ListPartsCommand, type S3Client } from '@aws-sdk/client-s3';

/** ListParts' page size: S3 lists at most 1,000 parts per call (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListParts.html). */
const LIST_PARTS_PAGE = 1000;

/** A part of a multipart upload as ListParts lists it. */
export interface ListedUploadPart {
  readonly partNumber: number;
  readonly bytes: number;
  /** Quoted, as UploadPart returned it. */
  readonly etag: string;
  /** Base64; listed for an upload created with the CRC64NVME algorithm. */
  readonly crc64nvme: string | undefined;
}

/**
 * Every part of a multipart upload, in part-number order, or `undefined` when S3 knows no such upload
 * (`NoSuchUpload`: never created, completed or aborted). Any other failure is thrown as the SDK threw
 * it, for the caller to map.
 *
 * Pages by hand on `IsTruncated` and `NextPartNumberMarker`: the SDK's `paginateListParts` stops only
 * when the marker is absent, and S3 always sends it (the last listed part's number, 0 on an empty
 * page), so the paginator would never end.
 */
export async function listUploadParts(
  client: Pick<S3Client, 'send'>,
  upload: { readonly Bucket: string; readonly Key: string; readonly UploadId: string },
): Promise<ListedUploadPart[] | undefined> {
  const parts: ListedUploadPart[] = [];
  let marker: string | undefined;
  try {
    for (;;) {
      const page = await client.send(
        new ListPartsCommand({
          ...upload,
          MaxParts: LIST_PARTS_PAGE,
          ...(marker === undefined ? {} : { PartNumberMarker: marker }),
        }),
      );
      for (const part of page.Parts ?? []) {
        parts.push({
          partNumber: part.PartNumber ?? 0,
          bytes: part.Size ?? 0,
          etag: part.ETag ?? '',
          crc64nvme: part.ChecksumCRC64NVME,
        });
      }
      if (!page.IsTruncated || page.NextPartNumberMarker === undefined) return parts;
      marker = page.NextPartNumberMarker;
    }
  } catch (error) {
    if ((error as { name?: unknown }).name === 'NoSuchUpload') return undefined;
    throw error;
  }
}
