import { unescapeXml } from './xml-text.ts';

/** One object a DeleteObjects request names: its key, and the version when it names one. */
export interface DeleteObjectsEntry {
  readonly key: string;
  readonly versionId?: string;
}

/**
 * The objects of a DeleteObjects request body, raw or as a string (`<Delete><Quiet>?<Object><Key>k</Key><VersionId>v
 * </VersionId>?</Object>...</Delete>`, https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html)
 * and its quiet flag, read the way the endpoint reads every XML request (the predefined entities).
 */
export function deleteObjectsRequest(requestBody: unknown): {
  quiet: boolean;
  objects: DeleteObjectsEntry[];
} {
  const body = Buffer.isBuffer(requestBody) ? requestBody.toString('utf8') : String(requestBody ?? '');
  const objects = [...body.matchAll(/<Object>([\s\S]*?)<\/Object>/g)].map(([, object = '']) => {
    const key = /<Key>([\s\S]*?)<\/Key>/.exec(object)?.[1] ?? '';
    const versionId = /<VersionId>([\s\S]*?)<\/VersionId>/.exec(object)?.[1];
    return {
      key: unescapeXml(key),
      ...(versionId === undefined ? {} : { versionId: unescapeXml(versionId) }),
    };
  });
  return { quiet: /<Quiet>\s*true\s*<\/Quiet>/i.test(body), objects };
}

/** The objects IAM denied in a DeleteObjects request, by request (see {@link denyDeletes}). */
const deniedDeletes = new WeakMap<object, readonly DeleteObjectsEntry[]>();

/** Records the objects of `request` (a DeleteObjects) that IAM denied: they are answered, not deleted. */
export function denyDeletes(request: object, objects: readonly DeleteObjectsEntry[]): void {
  deniedDeletes.set(request, objects);
}

/** The objects of `request` that IAM denied; none unless {@link denyDeletes} recorded some. */
export function deniedDeletesOf(request: object): readonly DeleteObjectsEntry[] {
  return deniedDeletes.get(request) ?? [];
}
