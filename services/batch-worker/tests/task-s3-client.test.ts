import { createServer, type Socket } from 'node:net';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { taskS3Client } from '../src/run-task.ts';
import { isTransientFailure } from '../src/transient-failure.ts';

// The AWS SDK's S3 client sets no socket timeout (@smithy/node-http-handler applies one only when
// configured): a connection that goes silent would hold a part's upload, or a stop's last progress
// record, until ECS's SIGKILL.

let server: ReturnType<typeof createServer>;
let port: number;
const sockets: Socket[] = [];

beforeAll(async () => {
  // Accepts connections and never answers.
  server = createServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
});
afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => server.close(resolve));
});

describe('taskS3Client', () => {
  it('gives up on a connection that stays silent, with an error the task takes for transient', async () => {
    const s3 = taskS3Client(
      { s3ForcePathStyle: true },
      { socketTimeoutMs: 300, connectionTimeoutMs: 300 },
      {
        maxAttempts: 1,
        endpoint: `http://127.0.0.1:${port}`,
        region: 'us-east-1',
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      },
    );
    try {
      const error = await s3.send(new HeadObjectCommand({ Bucket: 'b', Key: 'k' })).catch((caught) => caught);
      expect(error).toMatchObject({ name: 'TimeoutError' });
      expect(isTransientFailure(error)).toBe(true);
    } finally {
      s3.destroy();
    }
  });
});
