import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { STAGING, synthStack } from './environment-fixture.ts';
import { all, type Json } from './terraform-json.ts';

// The README's "What an environment costs while nothing runs" counts what AWS bills by the hour or the
// month whether or not anything runs. This keeps its table true to the synthesized stack: a resource
// added, an endpoint more, a zone more, and the table (its counts, its arithmetic) fails here.

const HOURS_A_MONTH = 730;
const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

const { vpc: _own, ...withoutVpc } = STAGING;
const created = synthStack({ ...withoutVpc, network: { database: { securityGroupId: 'sg-database' } } });
const own = synthStack(STAGING);

/** Each table row's label (its first words) and how to count it in a stack. */
const COUNTED: Readonly<Record<string, (tf: Json) => number>> = {
  'interface endpoint in a zone': (tf) =>
    all(tf, 'aws_vpc_endpoint')
      .filter(([, endpoint]) => endpoint.vpc_endpoint_type === 'Interface')
      .reduce((zones, [, endpoint]) => zones + endpoint.subnet_ids.length, 0),
  'KMS key': (tf) => all(tf, 'aws_kms_key').length,
  'Secrets Manager secret': (tf) => all(tf, 'aws_secretsmanager_secret').length,
  'CloudWatch alarm': (tf) => all(tf, 'aws_cloudwatch_metric_alarm').length,
};

/** Resource types AWS bills while idle that the table says sidestep does not create. */
const ABSENT = [
  'aws_nat_gateway',
  'aws_eip',
  'aws_instance',
  'aws_lb',
  'aws_ecs_service',
  'aws_db_instance',
  'aws_rds_cluster',
  'aws_db_proxy',
  'aws_lambda_provisioned_concurrency_config',
  'aws_cloudwatch_dashboard',
  'aws_route53_zone',
  'aws_ec2_client_vpn_endpoint',
  'aws_kinesis_stream',
];

interface Row {
  readonly label: string;
  readonly cells: readonly string[];
}

/** The rows of the section's first table, header and rule left out. */
function tableRows(): Row[] {
  const start = README.indexOf('### What an environment costs while nothing runs');
  expect(start).toBeGreaterThan(-1);
  const section = README.slice(start, README.indexOf('\n## ', start));
  const lines = section.split('\n').filter((line) => line.startsWith('|'));
  return lines.slice(2).map((line) => {
    const cells = line
      .split('|')
      .slice(1, -1)
      .map((cell) => cell.trim());
    return { label: cells[0] ?? '', cells };
  });
}

const dollars = (text: string): number => {
  const match = /^\$(\d+(?:\.\d+)?)/.exec(text);
  if (!match) throw new Error(`"${text}" does not start with a dollar amount`);
  return Number(match[1]);
};

describe("README, what an environment costs while nothing runs (the synthesized stack's idle-billed resources)", () => {
  const rows = tableRows();
  const priced = rows.filter((row) => !row.label.startsWith('total'));

  it('lists every idle-billed resource the stack creates, with its count in a created network and in one of your own', () => {
    expect(priced.map((row) => Object.keys(COUNTED).find((label) => row.label.startsWith(label)))).toEqual(
      Object.keys(COUNTED),
    );
    for (const row of priced) {
      const count = COUNTED[Object.keys(COUNTED).find((label) => row.label.startsWith(label)) ?? ''];
      expect([row.label, Number(row.cells[1]), Number(row.cells[2])]).toEqual([
        row.label,
        count?.(created),
        count?.(own),
      ]);
    }
    for (const type of ABSENT) {
      expect([type, all(created, type).length, all(own, type).length]).toEqual([type, 0, 0]);
    }
  });

  it('prices each row as its count times its unit price, and totals them (730 hours a month)', () => {
    const monthly = (row: Row, count: number) => {
      const unit = dollars(row.cells[3] ?? '');
      if (/^\$[\d.]+ an hour/.test(row.cells[3] ?? '')) return count * unit * HOURS_A_MONTH;
      expect(row.cells[3]).toMatch(/^\$[\d.]+ a month/);
      return count * unit;
    };
    let [totalCreated, totalOwn] = [0, 0];
    for (const row of priced) {
      const [inCreated, inOwn] = [monthly(row, Number(row.cells[1])), monthly(row, Number(row.cells[2]))];
      expect([row.label, dollars(row.cells[4] ?? ''), dollars(row.cells[5] ?? '')]).toEqual([
        row.label,
        Number(inCreated.toFixed(2)),
        Number(inOwn.toFixed(2)),
      ]);
      totalCreated += inCreated;
      totalOwn += inOwn;
    }
    const total = rows.find((row) => row.label.startsWith('total'));
    expect(total && [dollars(total.cells[4] ?? ''), dollars(total.cells[5] ?? '')]).toEqual(
      [totalCreated, totalOwn].map((sum) => Number(sum.toFixed(2))),
    );
  });
});
