// One finalize in its own process, so its peak RSS (VmHWM) is the finalizer's alone: the S3
// emulator holding the objects runs in the parent (bench/finalize.ts). Prints one JSON line.
import { readFileSync } from 'node:fs';
import { S3Client } from '@aws-sdk/client-s3';
import { S3ExportStore } from '../src/adapters/s3.ts';
import { downloadLinkFactory } from '../src/domain/download-link.ts';
import type { ExportObjectStore } from '../src/domain/export-object-store.ts';
import { finalizeExport } from '../src/finalize-export.ts';

const [endpoint, bucket, jobId] = process.argv.slice(2) as [string, string, string];
const s3 = new S3Client({
  endpoint,
  region: 'us-east-1',
  forcePathStyle: true,
  credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
});
const real = new S3ExportStore(s3);
const requests: Record<string, number> = {};
function counted<A extends unknown[], R>(operation: string, fn: (...args: A) => R): (...args: A) => R {
  return (...args) => {
    requests[operation] = (requests[operation] ?? 0) + 1;
    return fn(...args);
  };
}
// Every S3 request the finalizer makes, counted by operation.
const store: ExportObjectStore = {
  head: counted('HeadObject', real.head.bind(real)),
  readText: counted('GetObject', real.readText.bind(real)),
  putJson: counted('PutObject', real.putJson.bind(real)),
  listParts: counted('ListParts', real.listParts.bind(real)),
  completeMultipartUpload: counted('CompleteMultipartUpload', real.completeMultipartUpload.bind(real)),
  abortMultipartUpload: counted('AbortMultipartUpload', real.abortMultipartUpload.bind(real)),
};

const started = performance.now();
const { output, stats } = await finalizeExport(
  store,
  { jobId, bucket, manifestKey: `exports/${jobId}/parts/manifest.json`, fileName: 'bench' },
  {
    downloadLink: downloadLinkFactory({
      baseUrl: 'http://127.0.0.1/',
      signingKey: 'b'.repeat(32),
      ttlSeconds: 60,
    }),
  },
);
const durationMs = Math.round(performance.now() - started);
const peakRssMiB = Math.round(
  Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) / 1024,
);
process.stdout.write(
  `${JSON.stringify({ rows: output.rows, bytes: output.bytes, durationMs, peakRssMiB, requests, stats })}\n`,
);
s3.destroy();
