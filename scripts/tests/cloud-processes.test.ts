import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { sentMails } from '../src/chaos/chaos-snapshot.ts';
import { cloudProcesses, signalProcesses } from '../src/chaos/cloud-processes.ts';

const outbox = mkdtempSync(join(tmpdir(), 'chaos-outbox-'));
afterAll(() => rmSync(outbox, { recursive: true, force: true }));

/** A child that idles with `env`, as a sandbox or a task container would run. */
function idle(env: Record<string, string>) {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { env, stdio: 'ignore' });
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.once('exit', (_code, signal) => resolve(signal)),
  );
  return { child, exited };
}

describe('cloudProcesses', () => {
  it('finds a sandbox and a task container among the descendants by their environment, and kills them', async () => {
    const sandbox = idle({ AWS_LAMBDA_FUNCTION_NAME: 'sidestep-local-status-updater' });
    const task = idle({ AWS_EXECUTION_ENV: 'AWS_ECS_FARGATE' });
    const other = idle({});
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      const found = cloudProcesses(process.pid);
      expect(found).toEqual(
        expect.arrayContaining([
          { pid: sandbox.child.pid, functionName: 'sidestep-local-status-updater', fargateTask: false },
          { pid: task.child.pid, functionName: undefined, fargateTask: true },
        ]),
      );
      expect(found.map((process) => process.pid)).not.toContain(other.child.pid);

      expect(signalProcesses(found, 'SIGKILL').sort()).toEqual(found.map((process) => process.pid).sort());
      expect(await sandbox.exited).toBe('SIGKILL');
      expect(await task.exited).toBe('SIGKILL');
      expect(signalProcesses(found, 'SIGKILL')).toEqual([]);
    } finally {
      for (const { child } of [sandbox, task, other]) child.kill('SIGKILL');
    }
  });
});

describe('sentMails', () => {
  it('reads the template and job id headers of each .eml, and skips other files and mails without them', async () => {
    const headers = (template: string) =>
      `From: a@example.com\r\nX-Sidestep-Template: ${template}\r\nX-Sidestep-Job-Id: imp_1\r\nSubject: x\r\n\r\nX-Sidestep-Job-Id: body\r\n`;
    writeFileSync(join(outbox, '1-a.eml'), headers('import.completed'));
    writeFileSync(join(outbox, '2-b.eml'), 'From: a@example.com\r\n\r\nno headers\r\n');
    writeFileSync(join(outbox, '.3-c.eml.tmp'), headers('import.failed'));
    expect(await sentMails(outbox)).toEqual([
      { template: 'import.completed', jobId: 'imp_1', file: '1-a.eml' },
    ]);
  });

  it('reads an outbox that does not exist yet as empty', async () => {
    expect(await sentMails(join(outbox, 'missing'))).toEqual([]);
  });
});
