import { expect } from '@jest/globals';

// biome-ignore lint/suspicious/noExplicitAny: synthesized Terraform JSON is untyped; tests read it freely.
export type Json = any;

/** `${address.attribute}`: how synthesized Terraform refers to another resource's attribute. */
export const ref = (address: string, attribute: string): string => `\${${address}.${attribute}}`;

/** `[address, body]` of every resource of a type. */
export function all(tf: Json, type: string): [string, Json][] {
  return Object.entries(tf.resource?.[type] ?? {}).map(([name, body]) => [`${type}.${name}`, body]);
}

/** The one resource of a type whose properties include `match`; fails unless exactly one matches. */
export function one(tf: Json, type: string, match: Record<string, unknown> = {}): [string, Json] {
  const found = all(tf, type).filter(([, body]) =>
    Object.entries(match).every(([key, value]) => body[key] === value),
  );
  expect(found).toHaveLength(1);
  return found[0] as [string, Json];
}

/** The statements of the inline policy of the role named `roleName`. */
export function statements(tf: Json, roleName: string): Json[] {
  const [roleAddress] = one(tf, 'aws_iam_role', { name: roleName });
  const [, policy] = one(tf, 'aws_iam_role_policy', { role: ref(roleAddress, 'name') });
  return JSON.parse(policy.policy).Statement;
}

/** The one statement of role `roleName`'s inline policy that grants `action`. */
export function statementFor(tf: Json, roleName: string, action: string): Json {
  const found = statements(tf, roleName).filter((s) => [s.Action].flat().includes(action));
  expect(found).toHaveLength(1);
  return found[0];
}

/** The first statement of the trust policy of the role named `roleName`. */
export function trust(tf: Json, roleName: string): Json {
  return JSON.parse(one(tf, 'aws_iam_role', { name: roleName })[1].assume_role_policy).Statement[0];
}

/**
 * The batch-worker target a workflow definition runs the task with, as the stack references it: the
 * cluster and task definition at these addresses, `task`'s container and timeout, in `network`.
 */
export function batchWorkerTarget(
  addresses: { readonly cluster: string; readonly taskDefinition: string },
  task: { readonly containerName: string; readonly timeoutSeconds: number },
  network: { readonly subnetIds: readonly string[]; readonly securityGroupIds: readonly string[] },
) {
  return {
    clusterArn: ref(addresses.cluster, 'arn'),
    taskDefinitionArn: ref(addresses.taskDefinition, 'arn'),
    containerName: task.containerName,
    subnetIds: network.subnetIds,
    securityGroupIds: network.securityGroupIds,
    timeoutSeconds: task.timeoutSeconds,
  };
}
