import { beforeAll, expect, it } from '@jest/globals';
import type { JobKind, JobState } from '@sidestep/contracts';
import type { Database, Queryable, QueryOptions } from '@sidestep/db/postgres';
import { describeEachDatabase, suiteDatabase } from '@sidestep/db/testing';
import { idempotencyRecordHash, jobMailKeys, SqlLedger } from '../src/index.ts';

// The operator's reads that the console refreshes every 3 s (the jobs page, the overview's failed
// list and counts, a job's page) must read a range of an index, not the whole table: an audit on
// 3M jobs and 1M idempotency records found listJobs at 0.75-2.4 s, countJobs at 1.1-1.4 s and a
// job's mails at 300 ms, each growing with the tables towards the ops-ledger's statement_timeout.
// These tests read the plans of the very statements SqlLedger sends (recorded as it runs them) on a
// few thousand analysed rows, with sequential scans discouraged (a table this small is otherwise read
// whole whatever its indexes), both as sent (a custom plan, its values known) and as a generic plan
// of a prepared statement, which must serve every value of its parameters.

/** One node of `EXPLAIN (FORMAT JSON)`. */
interface PlanNode {
  readonly 'Node Type': string;
  readonly 'Relation Name'?: string;
  readonly 'Index Name'?: string;
  readonly 'Index Cond'?: string;
  readonly 'Scan Direction'?: string;
  readonly Plans?: readonly PlanNode[];
}

/** A statement as the ledger sent it. */
interface Statement {
  readonly sql: string;
  readonly params: readonly unknown[];
}

/** `db`, recording each statement sent through it (in a transaction or not) into `statements`. */
function recording(db: Database, statements: Statement[]): Database {
  const record =
    (target: Queryable): Queryable['query'] =>
    (sql: string, params?: unknown[], options?: QueryOptions) => {
      statements.push({ sql, params: params ?? [] });
      return target.query(sql, params, options);
    };
  return {
    kind: db.kind,
    query: record(db),
    transaction: (work) => db.transaction((tx) => work({ query: record(tx) })),
    close: () => db.close(),
  };
}

/** The statements `read` sends through a SqlLedger that name `table` (`FROM <table>`). */
async function statementsOf(db: Database, table: string, read: (ledger: SqlLedger) => Promise<unknown>) {
  const statements: Statement[] = [];
  await read(new SqlLedger(recording(db, statements)));
  const reading = statements.filter((statement) => new RegExp(`\\bFROM ${table}\\b`).test(statement.sql));
  expect(reading.length).toBeGreaterThan(0);
  return reading;
}

let prepared = 0;

/**
 * The plans of `statement` with sequential scans discouraged: as sent (its parameters bound, a custom
 * plan) and as a prepared statement's generic plan (`plan_cache_mode = force_generic_plan`).
 */
async function plansOf(db: Database, statement: Statement): Promise<Record<'custom' | 'generic', PlanNode>> {
  return db.transaction(async (tx) => {
    await tx.query('SET LOCAL enable_seqscan = off');
    const explain = async (sql: string, params?: unknown[]) => {
      const { rows } = await tx.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
        `EXPLAIN (FORMAT JSON) ${sql}`,
        params,
      );
      const plan = rows[0]?.['QUERY PLAN'][0].Plan;
      if (!plan) throw new Error(`no plan for ${sql}`);
      return plan;
    };
    const custom = await explain(statement.sql, [...statement.params]);
    const name = `ledger_plan_${++prepared}`;
    await tx.query(`PREPARE ${name} AS ${statement.sql}`);
    // EXECUTE takes its arguments as literals (a utility statement has no parameters): each value
    // bound as its parameter's type, as the client sends it, and quoted by the server.
    const types = (
      await tx.query<{ type: string }>(
        `SELECT type::text FROM pg_prepared_statements, unnest(parameter_types) WITH ORDINALITY AS p (type, n)
         WHERE name = $1 ORDER BY n`,
        [name],
      )
    ).rows.map((row) => row.type);
    const literals: string[] = [];
    for (const [index, param] of statement.params.entries()) {
      const quoted = await tx.query<{ literal: string }>(
        `SELECT quote_nullable($1::${types[index] ?? 'text'}) AS literal`,
        [param],
      );
      literals.push(quoted.rows[0]?.literal ?? 'NULL');
    }
    await tx.query('SET LOCAL plan_cache_mode = force_generic_plan');
    const generic = await explain(`EXECUTE ${name}(${literals.join(', ')})`);
    await tx.query(`DEALLOCATE ${name}`);
    return { custom, generic };
  });
}

const nodesOf = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodesOf)];

/** How `plan` reads `table`: each scan, the index and its condition (a bitmap scan's from its index scans). */
function readsOf(plan: PlanNode, table: string) {
  return nodesOf(plan)
    .filter((node) => node['Relation Name'] === table)
    .map((node) => {
      const bitmap = nodesOf(node).filter((child) => child['Node Type'] === 'Bitmap Index Scan');
      const indexed = bitmap.length > 0 ? bitmap : [node];
      return {
        scan: node['Node Type'],
        direction: node['Scan Direction'],
        index: indexed.map((child) => child['Index Name']).join(' + ') || undefined,
        cond: indexed.map((child) => child['Index Cond']).join(' + ') || undefined,
      };
    });
}

/** How `plan` reads jobs, and whether it sorts anything. */
function rangeRead(plan: PlanNode) {
  return {
    reads: readsOf(plan, 'jobs'),
    sorted: nodesOf(plan).some((node) => /Sort/.test(node['Node Type'])),
  };
}

/**
 * What {@link rangeRead} answers of a page read newest first from a range of `index`, bounded by
 * conditions matching each of `bounds`, sorting nothing.
 */
function rangeReadOf(index: unknown, bounds: readonly RegExp[]) {
  return {
    reads: [
      expect.objectContaining({
        scan: 'Index Scan',
        direction: 'Backward',
        index,
        ...(bounds.length === 0
          ? {}
          : {
              cond: expect.stringMatching(
                new RegExp(bounds.map((bound) => `(?=.*${bound.source})`).join('')),
              ),
            }),
      }),
    ],
    sorted: false,
  };
}

const HOUR_MS = 3_600_000;

describeEachDatabase('SqlLedger reads by index', (open) => {
  const db = suiteDatabase(open);

  beforeAll(async () => {
    // 4,000 jobs, one every 10 minutes back from now (28 days), two at a time at one instant (the id
    // breaks the tie): a tenth registered or running, a tenth failed, the rest succeeded, a third
    // imports; each finished job finished 5 minutes after it was created.
    await db().query(
      `INSERT INTO jobs (id, kind, state, source_bucket, source_key, source_version, request_id, file_name,
                         created_at, updated_at, finished_at)
       SELECT id, kind, state,
              CASE WHEN kind = 'import' THEN 'sidestep-local-imports' END,
              CASE WHEN kind = 'import' THEN 'imports/' || id END,
              CASE WHEN kind = 'import' THEN 'v1' END,
              CASE WHEN kind = 'export' THEN 'req-' || id END,
              id, at, at + interval '5 minutes',
              CASE WHEN state IN ('succeeded', 'failed') THEN at + interval '5 minutes' END
       FROM (SELECT CASE WHEN n % 3 = 0 THEN 'imp_' ELSE 'exp_' END || lpad(n::text, 5, '0') AS id,
                    CASE WHEN n % 3 = 0 THEN 'import' ELSE 'export' END AS kind,
                    CASE n % 20 WHEN 0 THEN 'registered' WHEN 1 THEN 'running'
                                WHEN 2 THEN 'failed' WHEN 3 THEN 'failed' ELSE 'succeeded' END AS state,
                    now() - (n / 2) * interval '10 minutes' AS at
             FROM generate_series(1, 4000) AS n) AS generated`,
    );
    // 4,000 idempotency records of other mails, keyed as Powertools keys them (<function>#<hash>).
    await db().query(
      `INSERT INTO idempotency_records (id, status, expiry_timestamp)
       SELECT 'sidestep-local-mail-dispatcher#' || md5(n::text), 'COMPLETED', 4102444800
       FROM generate_series(1, 4000) AS n`,
    );
    await db().query('ANALYZE jobs');
    await db().query('ANALYZE idempotency_records');
  });

  /** Each filter `sidestep jobs` and the console can ask for, and the index its pages are read from. */
  const variants: ReadonlyArray<{
    name: string;
    query: { status?: JobState; kind?: JobKind };
    index: string;
  }> = [
    { name: 'every job', query: {}, index: 'jobs_created' },
    { name: 'imports', query: { kind: 'import' }, index: 'jobs_created' },
    { name: 'failed jobs', query: { status: 'failed' }, index: 'jobs_state_created' },
    {
      name: 'registered exports',
      query: { status: 'registered', kind: 'export' },
      index: 'jobs_state_created',
    },
  ];

  it.each(
    variants.flatMap((variant) =>
      [true, false].map((first) => ({ ...variant, page: first ? 'first' : 'next' })),
    ),
  )(
    'lists $name ($page page) newest first from a range of $index, without sorting',
    async ({ query, index, page }) => {
      const ledger = new SqlLedger(db());
      const after =
        page === 'next' ? ((await ledger.listJobs({ ...query, limit: 10 })).next ?? '') : undefined;
      const [statement, ...others] = await statementsOf(db(), 'jobs', (recorded) =>
        recorded.listJobs({ ...query, limit: 10, ...(after === undefined ? {} : { after }) }),
      );
      expect(others).toEqual([]);
      if (!statement) throw new Error('listJobs sent no statement');
      const { custom, generic } = await plansOf(db(), statement);
      const byState = /\(state = /;
      const byCursor = /ROW\(created_at, id\) < ROW\(/;
      const cursor = after === undefined ? [] : [byCursor];
      // As sent (node-postgres's unnamed statement, planned with its values): the state asked for
      // and the cursor bound the range of the index, rather than filter what it reads.
      expect(rangeRead(custom)).toEqual(rangeReadOf(index, [...(query.status ? [byState] : []), ...cursor]));
      // A generic plan cannot know which state: with a cursor it may take reading jobs_created back
      // from the cursor and filtering the state for the cheaper (it is, for a common state), but it
      // still reads an index range in order.
      expect(rangeRead(generic)).toEqual(
        query.status && after !== undefined
          ? rangeReadOf(expect.stringMatching(/^jobs_(state_)?created$/), cursor)
          : rangeReadOf(index, [...(query.status ? [byState] : []), ...cursor]),
      );
    },
  );

  it.each(variants)('pages $name newest first, each once, ties by id', async ({ query }) => {
    const ledger = new SqlLedger(db());
    const { rows } = await db().query<{ id: string; state: string; kind: string }>(
      'SELECT id, state, kind FROM jobs ORDER BY created_at DESC, id DESC',
    );
    const expected = rows
      .filter((row) => (query.status ?? row.state) === row.state && (query.kind ?? row.kind) === row.kind)
      .map((row) => row.id);
    const paged: string[] = [];
    let after: string | undefined;
    do {
      const page = await ledger.listJobs({ ...query, limit: 333, ...(after === undefined ? {} : { after }) });
      paged.push(...page.jobs.map((job) => job.id));
      after = page.next ?? undefined;
    } while (after !== undefined);
    expect(expected.length).toBeGreaterThan(100);
    expect(paged).toEqual(expected);
  });

  it('counts jobs by index ranges: registered and running from jobs_state_created, finished since from jobs_finished', async () => {
    const statements = await statementsOf(db(), 'jobs', (ledger) =>
      ledger.countJobs(new Date(Date.now() - 24 * HOUR_MS)),
    );
    for (const statement of statements) {
      for (const plan of Object.values(await plansOf(db(), statement))) {
        const reads = readsOf(plan, 'jobs');
        for (const read of reads) {
          expect(read.scan).toMatch(/^(Index Only Scan|Index Scan|Bitmap Heap Scan)$/);
          // A range of the index, not all of it.
          expect(read.cond).toBeDefined();
        }
        expect(new Set(reads.map((read) => read.index))).toEqual(
          new Set(['jobs_state_created', 'jobs_finished']),
        );
      }
    }
  });

  it("finds a job's mail records by idempotency_records_key_hash, not by reading every record", async () => {
    const jobId = 'exp_00002';
    await db().query(
      `INSERT INTO idempotency_records (id, status, expiry_timestamp)
       VALUES ('sidestep-local-mail-dispatcher#' || $1, 'COMPLETED', 4102444800)`,
      [idempotencyRecordHash(jobMailKeys(jobId, 1)[0] ?? '')],
    );
    const [statement, ...others] = await statementsOf(db(), 'idempotency_records', async (ledger) => {
      expect((await ledger.describeJob(jobId)).mails).toHaveLength(1);
    });
    expect(others).toEqual([]);
    if (!statement) throw new Error('describeJob read no mail records');
    for (const plan of Object.values(await plansOf(db(), statement))) {
      expect(readsOf(plan, 'idempotency_records')).toEqual([
        expect.objectContaining({
          scan: expect.stringMatching(/^(Index Scan|Bitmap Heap Scan)$/),
          index: 'idempotency_records_key_hash',
          cond: expect.stringMatching(/split_part\(id, '#'::text, 2\) = ANY/),
        }),
      ]);
    }
  });
});
