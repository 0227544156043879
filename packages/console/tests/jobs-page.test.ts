import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { sampleJobDetail } from '@sidestep/ledger/testing';
import { createOpsContext, type JobDetail, type Ledger, type OpsContext } from '@sidestep/ops';
import { type RunningConsole, startConsole } from '../src/index.ts';

// The jobs list and a job's page on a local context whose ledger is a stub.
const stopDate = new Date('2026-12-05T01:00:00Z');
const JOBS: readonly JobDetail[] = [
  sampleJobDetail({
    id: 'exp_done',
    kind: 'export',
    state: 'succeeded',
    fileName: null,
    rowsTotal: 1000,
  }),
  sampleJobDetail({
    id: 'exp_running',
    kind: 'export',
    fileName: null,
    exportProgress: { rows: 4_200_000, parts: 7, bytes: 58_720_256, updatedAt: stopDate },
  }),
];
let context: OpsContext;
let running: RunningConsole;

beforeAll(async () => {
  const ledger = {
    describeJob: async (id: string) => JOBS.find((job) => job.id === id),
    listJobs: async () => ({ jobs: JOBS, next: null }),
  } as unknown as Ledger;
  context = {
    ...createOpsContext({ environment: 'local', env: { USER: 'tester' }, warn: () => undefined }),
    ledger: async () => ledger,
  };
  running = await startConsole({ context, port: 0 });
});

afterAll(async () => {
  await running.close();
  await context.close();
});

const page = async (path: string) => (await fetch(new URL(path, running.url))).text();

describe('the job page', () => {
  it('shows a succeeded export as all its rows exported, and a running one without an import’s count', async () => {
    const done = await page('/jobs/exp_done');
    expect(done).toContain(
      '<progress max="1000" value="1000"></progress>\n      <span class="count">1000 rows exported</span>',
    );
    expect(done).not.toContain('0 of 1000');
    const exporting = await page('/jobs/exp_running');
    expect(exporting).not.toContain('0 rows so far');
    expect(exporting).toContain('4,200,000 rows read');
  });
});

describe('the jobs list', () => {
  it('shows a succeeded export as all its rows exported, not as none of them imported', async () => {
    const list = await page('/jobs');
    const row = (id: string) =>
      new RegExp(`<tr><td><a href="/jobs/${id}">[\\s\\S]*?</tr>`).exec(list)?.[0] ?? '';
    expect(row('exp_done')).toContain('<progress max="1000" value="1000"></progress>');
    expect(row('exp_done')).toContain('1000 rows exported');
    expect(row('exp_done')).not.toContain('0 of 1000 rows');
    // A running export's rows read are on its page; the ledger's import count would say 0.
    expect(row('exp_running')).toContain('<progress></progress>');
    expect(row('exp_running')).not.toContain('rows so far');
  });
});
