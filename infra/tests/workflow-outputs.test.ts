import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { environmentConfigs } from '../src/index.ts';
import { synthStack } from './environment-fixture.ts';
import { all } from './terraform-json.ts';

// The deploy job reads the stack's outputs by name (the smoke check's function, the migration's task);
// an output infra does not declare fails that deploy half way, after the images were pushed.
const workflow = readFileSync(
  join(import.meta.dirname, '..', '..', '.github', 'workflows', 'deploy-environment.yml'),
  'utf8',
);

/** Output names the workflow reads: `terraform output -raw|-json <name>` and its `output <name>` helper. */
function outputsRead(text: string): string[] {
  const direct = [...text.matchAll(/terraform\b[^\n]*?\boutput\s+-(?:raw|json)\s+([a-z0-9_]+)/g)];
  const helper = [...text.matchAll(/\$\(output\s+([a-z0-9_]+)/g)];
  return [...new Set([...direct, ...helper].map((match) => match[1] as string))].sort();
}

const configs = {
  'with the configured task network': environmentConfigs({
    SIDESTEP_STAGING_TASK_SUBNET_IDS: 'subnet-0a1b2c3d,subnet-0e1f2a3b',
    SIDESTEP_STAGING_TASK_SECURITY_GROUP_IDS: 'sg-0a1b2c3d',
  }).staging,
  'with a created network': environmentConfigs({ SIDESTEP_STAGING_NETWORK: 'create' }).staging,
};

describe('the outputs the deploy workflow reads', () => {
  const names = outputsRead(workflow);

  it('finds the migration’s and the smoke check’s outputs in the workflow', () => {
    expect(names).toEqual(
      expect.arrayContaining([
        'batch_worker_cluster_arn',
        'batch_worker_task_definition_arn',
        'batch_worker_container_name',
        'batch_worker_subnet_ids',
        'batch_worker_security_group_ids',
        'batch_worker_assign_public_ip',
        'job_sweeper_function_name',
      ]),
    );
  });

  it.each(Object.entries(configs))('are all declared by the staging stack (%s)', (_label, config) => {
    const declared = Object.keys(synthStack(config).output ?? {});
    expect(names.filter((name) => !declared.includes(name))).toEqual([]);
  });

  it('gives the migration the task network as JSON lists and a boolean', () => {
    const output = synthStack(configs['with the configured task network']).output;
    expect(output.batch_worker_subnet_ids.value).toEqual(['subnet-0a1b2c3d', 'subnet-0e1f2a3b']);
    expect(output.batch_worker_security_group_ids.value).toEqual(['sg-0a1b2c3d']);
    // jq's `if $public` is true for any string, "false" included.
    expect(output.batch_worker_assign_public_ip.value).toBe(false);
    expect(output.batch_worker_task_definition_arn.value).toMatch(
      /^\$\{aws_ecs_task_definition\.[^.]+\.arn\}$/,
    );
  });
});

describe('the batch-worker task definition', () => {
  it('keeps the previous revision registered when a new one replaces it', () => {
    // The deploy registers the new revision before the workflows move to it: the old one must still run.
    const definitions = all(
      synthStack(configs['with the configured task network']),
      'aws_ecs_task_definition',
    );
    expect(definitions.length).toBeGreaterThan(0);
    for (const [address, body] of definitions) expect([address, body.skip_destroy]).toEqual([address, true]);
  });
});
