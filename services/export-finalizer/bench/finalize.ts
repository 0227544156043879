// The export-finalizer's benchmark: S3 requests, time and peak RSS against the number of parts and
// the bytes of an export. Parts are uploaded gzip (level 0, so their size is what the scenario says)
// into the export's multipart upload, as the batch-worker does, in fauxqs as the local cloud runs it;
// each finalize runs in a child process (bench/finalize-run.ts) whose VmHWM is reported. Prints a
// Markdown table; `--write` also replaces bench/results.json.
// Run: `npx pnpm --filter @sidestep/export-finalizer bench [-- --write]`.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { combinePartsCrc64Nvme } from '@sidestep/contracts/crc64-nvme';
import { crc64Nvme } from '@sidestep/contracts/crc64-nvme-hash';
import { startLocalS3 } from '../tests/export-fixture.ts';

const MiB = 1024 * 1024;
const BUCKET = 'sidestep-bench-exports';
const HEADER = 'external_id,email,name,attributes,created_at,updated_at\n';
const SCENARIOS: readonly { parts: number; partMiB: number; lastMiB?: number }[] = [
  { parts: 1, partMiB: 6 },
  { parts: 4, partMiB: 6 },
  { parts: 16, partMiB: 6 },
  { parts: 4, partMiB: 24 },
  { parts: 8, partMiB: 24 },
];

/** Data rows of ~100 bytes filling `mib` MiB of CSV; returns the text and the row count. */
function csvRows(mib: number, from: number): { text: string; rows: number } {
  let text = '';
  let rows = 0;
  while (text.length < mib * MiB) {
    const n = from + rows;
    text += `u${n},u${n}@example.com,User ${n},"{""n"": ${n}}",2026-11-01 00:00:00+00,2026-11-02 00:00:00+00\n`;
    rows += 1;
  }
  return { text, rows };
}

const { endpoint, s3, stop } = await startLocalS3(BUCKET);

const results = [];
for (const [index, scenario] of SCENARIOS.entries()) {
  const jobId = `exp_bench${index + 1}`;
  const body = csvRows(scenario.partMiB, 0);
  const key = `exports/${jobId}/bench.csv.gz`;
  const { UploadId: uploadId = '' } = await s3.send(
    new CreateMultipartUploadCommand({
      Bucket: BUCKET,
      Key: key,
      ChecksumAlgorithm: 'CRC64NVME',
      ChecksumType: 'FULL_OBJECT',
    }),
  );
  const parts = [];
  for (let p = 0; p < scenario.parts; p += 1) {
    const gz = gzipSync(p === 0 ? HEADER + body.text : body.text, { level: 0 });
    const crc64nvme = crc64Nvme(gz);
    const { ETag: etag = '' } = await s3.send(
      new UploadPartCommand({
        Bucket: BUCKET,
        Key: key,
        UploadId: uploadId,
        PartNumber: p + 1,
        Body: gz,
        ChecksumCRC64NVME: crc64nvme,
      }),
    );
    parts.push({ partNumber: p + 1, rows: body.rows, bytes: gz.length, etag, crc64nvme });
  }
  const manifest = {
    version: 2,
    jobId,
    header: true,
    key,
    uploadId,
    columns: HEADER.trim().split(','),
    parts,
    rows: parts.reduce((sum, part) => sum + part.rows, 0),
    bytes: parts.reduce((sum, part) => sum + part.bytes, 0),
    crc64nvme: combinePartsCrc64Nvme(parts),
    byteOrderMark: false,
  };
  await s3.send(
    new PutObjectCommand({
      Bucket: BUCKET,
      Key: `exports/${jobId}/parts/manifest.json`,
      Body: JSON.stringify(manifest),
    }),
  );
  const child = spawn(
    process.execPath,
    [join(import.meta.dirname, 'finalize-run.ts'), endpoint.url, BUCKET, jobId],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (data: string) => {
    out += data;
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`finalize of ${jobId} failed (exit ${code})`);
  const run = JSON.parse(out.trim().split('\n').at(-1) as string);
  results.push({ ...scenario, totalMiB: Math.round((manifest.bytes / MiB) * 10) / 10, ...run });
  // Free the emulator's memory for the next scenario.
  await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
}
await stop();

// Only with --write: a run on another machine prints its numbers without replacing the committed ones.
if (process.argv.includes('--write')) {
  writeFileSync(
    join(import.meta.dirname, 'results.json'),
    `${JSON.stringify({ node: process.version, date: new Date().toISOString(), results }, null, 2)}\n`,
  );
}
process.stdout.write('| parts | part MiB | total MiB | rows | S3 requests | ms | peak RSS MiB |\n');
process.stdout.write('| ---: | ---: | ---: | ---: | --- | ---: | ---: |\n');
for (const r of results) {
  const total = Object.values(r.requests as Record<string, number>).reduce((a, b) => a + b, 0);
  const detail = Object.entries(r.requests as Record<string, number>)
    .map(([op, n]) => `${op} ${n}`)
    .join(', ');
  process.stdout.write(
    `| ${r.parts} | ${r.partMiB} | ${r.totalMiB} | ${r.rows} | ${total} (${detail}) | ${r.durationMs} | ${r.peakRssMiB} |\n`,
  );
}
