import type { JobDetail } from './ledger.ts';

/**
 * A job as `describeJob` returns it, for tests of what shows one (the console's job page, the CLI's
 * `jobs show`): a running import of users.csv with nothing recorded yet, unless `overrides` say more.
 */
export function sampleJobDetail(overrides: Partial<JobDetail> = {}): JobDetail {
  return {
    id: 'imp_sample',
    kind: 'import',
    state: 'running',
    attempt: 1,
    fileName: 'users.csv',
    rowsTotal: null,
    rowsImported: null,
    rowsRejected: null,
    error: null,
    executionId: null,
    createdAt: new Date('2026-12-04T00:00:00Z'),
    updatedAt: new Date('2026-12-04T00:01:00Z'),
    requestedBy: null,
    resultKey: null,
    downloadUrl: null,
    deadlineAt: null,
    rowErrors: [],
    workerError: null,
    transitions: [],
    executions: [],
    mails: [],
    ...overrides,
  };
}
