import { IamPolicyError } from './errors.ts';
import { type Policy, parsePolicy, type Statement } from './policy.ts';

/** The parts of a synthesized Terraform JSON document (`cdk.tf.json`) the loader reads. */
export interface SynthesizedTerraformJson {
  readonly resource?: Readonly<Record<string, Readonly<Record<string, Readonly<Record<string, unknown>>>>>>;
  readonly provider?: Readonly<Record<string, unknown>>;
}

/**
 * Turns a Terraform reference (the text inside `${...}`, e.g. `aws_sqs_queue.mail_E5897CA1.arn`)
 * into its value, or `undefined` when the caller does not know it.
 */
export type ReferenceResolver = (reference: string) => string | undefined;

export interface LoadStackPoliciesOptions {
  /** The account the stack deploys to (`data.aws_caller_identity.*.account_id`). */
  readonly accountId: string;
  /** The stack's region; defaults to the `aws` provider's `region`. */
  readonly region?: string;
  /** @default 'aws' */
  readonly partition?: string;
  /**
   * Resolves references first, before the loader derives an ARN from the referenced resource's
   * literal attributes (a queue's `name`, a bucket's `bucket`). The local cloud passes what it knows
   * (a secret's ARN, whose suffix only Secrets Manager picks).
   */
  readonly resolve?: ReferenceResolver;
}

/** An IAM role of the stack, with the policies that deploy with it. */
export interface StackRole {
  /** Terraform address, `aws_iam_role.<id>`. */
  readonly address: string;
  /** The role's name as synthesized (`sidestep-local-mail-dispatcher`): the local access key id. */
  readonly name: string;
  readonly arn: string;
  /** `assume_role_policy`: who may assume the role. */
  readonly trustPolicy?: Policy;
  /** Inline policies: `aws_iam_role_policy` resources of the role and its `inline_policy` blocks. */
  readonly policies: readonly Policy[];
  /** The policy named by `permissions_boundary`, when the role has one. */
  readonly permissionsBoundary?: Policy;
}

/** What the loader found in a stack. */
export interface StackPolicies {
  /** Roles by name. */
  readonly roles: ReadonlyMap<string, StackRole>;
  /**
   * Resource-based policies by the ARN of the resource they are attached to: a queue's ARN, a bucket's
   * ARN (it also governs the bucket's objects), a function's unqualified ARN (its `aws_lambda_permission`
   * statements, merged as Lambda does).
   */
  readonly resourcePolicies: ReadonlyMap<string, Policy>;
  /** Everything the loader could not read or resolve; statements with unresolved references fail closed. */
  readonly warnings: readonly string[];
}

type Resource = Readonly<Record<string, unknown>>;

// An IAM policy variable (`${aws:username}`, `${aws:PrincipalTag/team, 'x'}`) or escape (`${*}`),
// which IAM substitutes at request time; every other `${...}` is a Terraform expression.
const POLICY_VARIABLE = /^\s*(?:[*?$]|[\w-]+:[^\s,]+(?:\s*,\s*'[^']*')?)\s*$/;
const TOKEN = /\$\{([^{}]*)\}/g;

/**
 * How the ARN and name attributes of each resource type follow from its literal arguments, per the
 * ARN formats of the Service Authorization Reference. `secretsmanager` is absent: a secret's ARN
 * ends in a random suffix that only the caller can know.
 */
type Derive = (r: Resource, lit: (value: unknown) => string | undefined, at: Arn) => string | undefined;
interface Arn {
  readonly partition: string;
  readonly region: string;
  readonly accountId: string;
}
const arn = (at: Arn, service: string, resource: string, global = false) =>
  `arn:${at.partition}:${service}:${global ? '' : at.region}:${service === 's3' ? '' : at.accountId}:${resource}`;
const named = (
  attribute: string,
  service: string,
  format: (name: string, r: Resource, lit: (v: unknown) => string | undefined) => string | undefined,
  global = false,
): Record<string, Derive> => ({
  [attribute]: (r, lit) => lit(r[attribute]),
  arn: (r, lit, at) => {
    const name = lit(r[attribute]);
    const resource = name === undefined ? undefined : format(name, r, lit);
    return resource === undefined ? undefined : arn(at, service, resource, global);
  },
});
const DERIVED: Record<string, Record<string, Derive>> = {
  aws_iam_role: {
    ...named('name', 'iam', (name, r, lit) => `role${lit(r.path) ?? '/'}${name}`, true),
    id: (r, lit) => lit(r.name),
  },
  aws_iam_policy: named('name', 'iam', (name, r, lit) => `policy${lit(r.path) ?? '/'}${name}`, true),
  aws_sqs_queue: { ...named('name', 'sqs', (name) => name), id: () => undefined },
  aws_s3_bucket: {
    ...named('bucket', 's3', (name) => name, true),
    id: (r, lit) => lit(r.bucket),
  },
  aws_lambda_function: named('function_name', 'lambda', (name) => `function:${name}`),
  aws_sfn_state_machine: {
    ...named('name', 'states', (name) => `stateMachine:${name}`),
    id: (r, lit, at) => DERIVED.aws_sfn_state_machine?.arn?.(r, lit, at),
  },
  aws_cloudwatch_event_bus: named('name', 'events', (name) => `event-bus/${name}`),
  aws_cloudwatch_event_rule: named('name', 'events', (name, r, lit) => {
    const bus = r.event_bus_name === undefined ? 'default' : lit(r.event_bus_name);
    if (bus === undefined) return undefined;
    return bus === 'default' ? `rule/${name}` : `rule/${bus}/${name}`;
  }),
  aws_cloudwatch_log_group: named('name', 'logs', (name) => `log-group:${name}`),
  aws_ecs_cluster: named('name', 'ecs', (name) => `cluster/${name}`),
  aws_ecs_task_definition: {
    family: (r, lit) => lit(r.family),
    arn_without_revision: (r, lit, at) => {
      const family = lit(r.family);
      return family === undefined ? undefined : arn(at, 'ecs', `task-definition/${family}`);
    },
  },
  aws_ecr_repository: named('name', 'ecr', (name) => `repository/${name}`),
  aws_sesv2_email_identity: named('email_identity', 'ses', (name) => `identity/${name}`),
  aws_sesv2_configuration_set: named('configuration_set_name', 'ses', (name) => `configuration-set/${name}`),
  aws_scheduler_schedule_group: named('name', 'scheduler', (name) => `schedule-group/${name}`),
  aws_scheduler_schedule: named('name', 'scheduler', (name, r, lit) => {
    const group = r.group_name === undefined ? 'default' : lit(r.group_name);
    return group === undefined ? undefined : `schedule/${group}/${name}`;
  }),
  aws_pipes_pipe: named('name', 'pipes', (name) => `pipe/${name}`),
};

class Loader {
  readonly warnings: string[] = [];
  private readonly at: Arn;

  private readonly terraform: SynthesizedTerraformJson;
  private readonly options: LoadStackPoliciesOptions;

  constructor(terraform: SynthesizedTerraformJson, options: LoadStackPoliciesOptions) {
    this.terraform = terraform;
    this.options = options;
    const providers = terraform.provider?.aws;
    const provider = (Array.isArray(providers) ? providers[0] : providers) as Resource | undefined;
    const region = options.region ?? (typeof provider?.region === 'string' ? provider.region : undefined);
    if (region === undefined) {
      throw new IamPolicyError('the stack has no aws provider region and options.region is not set', {
        field: 'options.region',
      });
    }
    this.at = { partition: options.partition ?? 'aws', region, accountId: options.accountId };
  }

  resources(type: string): [string, Resource][] {
    return Object.entries(this.terraform.resource?.[type] ?? {});
  }

  /** The value of one Terraform reference, or `undefined`. */
  reference(expression: string, depth = 0): string | undefined {
    const fromCaller = this.options.resolve?.(expression);
    if (fromCaller !== undefined) return fromCaller;
    const parts = expression.trim().split('.');
    if (parts[0] === 'data' && parts.length === 4) {
      const [, type, , attribute] = parts;
      if (type === 'aws_caller_identity' && attribute === 'account_id') return this.at.accountId;
      if (type === 'aws_region' && (attribute === 'name' || attribute === 'region' || attribute === 'id')) {
        return this.at.region;
      }
      if (type === 'aws_partition' && attribute === 'partition') return this.at.partition;
      if (type === 'aws_partition' && attribute === 'dns_suffix') return 'amazonaws.com';
      return undefined;
    }
    if (parts.length !== 3 || depth > 4) return undefined;
    const [type = '', id = '', attribute = ''] = parts;
    const resource = this.terraform.resource?.[type]?.[id];
    const derive = DERIVED[type]?.[attribute];
    if (!resource || !derive) return undefined;
    return derive(resource, (value) => this.literal(value, depth + 1), this.at);
  }

  /** Resolves the Terraform tokens of a string, adding those it cannot resolve to `missing`. */
  private substitute(value: string, missing: Set<string>, depth = 0): string {
    return value.replace(TOKEN, (whole, inner: string) => {
      if (POLICY_VARIABLE.test(inner)) return whole;
      const resolved = this.reference(inner, depth);
      if (resolved === undefined) missing.add(inner);
      return resolved ?? whole;
    });
  }

  /** A string with every Terraform token resolved, or `undefined` if one cannot be. */
  literal(value: unknown, depth = 0): string | undefined {
    if (typeof value !== 'string') return undefined;
    const missing = new Set<string>();
    const out = this.substitute(value, missing, depth);
    return missing.size > 0 ? undefined : out;
  }

  /**
   * Parses a policy with its Terraform tokens resolved; statements keep the tokens they could not
   * resolve in `unresolved` (they fail closed) and each one is reported once in the warnings.
   */
  policy(document: unknown, name: string, address: string): Policy | undefined {
    let raw = document;
    if (typeof raw === 'string') {
      try {
        raw = JSON.parse(raw);
      } catch {
        this.warnings.push(`${address}: policy is not JSON (a Terraform expression?); not loaded`);
        return undefined;
      }
    }
    const statements = (raw as { Statement?: unknown })?.Statement;
    const list = Array.isArray(statements) ? statements : statements === undefined ? [] : [statements];
    const unresolved: string[][] = [];
    const resolvedStatements = list.map((statement, i) => {
      const missing = new Set<string>();
      const walk = (node: unknown): unknown => {
        if (typeof node === 'string') return this.substitute(node, missing);
        if (Array.isArray(node)) return node.map(walk);
        if (node && typeof node === 'object') {
          return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, walk(v)]));
        }
        return node;
      };
      const out = walk(statement);
      unresolved[i] = [...missing];
      for (const reference of missing) {
        this.warnings.push(
          `${address}: statement ${i} of ${name} fails closed: cannot resolve \${${reference}}`,
        );
      }
      return out;
    });
    try {
      const parsed = parsePolicy({ ...(raw as object), Statement: resolvedStatements }, name);
      return {
        ...parsed,
        statements: parsed.statements.map(
          (s): Statement =>
            unresolved[s.index]?.length ? { ...s, unresolved: unresolved[s.index] ?? [] } : s,
        ),
      };
    } catch (error) {
      if (!(error instanceof IamPolicyError)) throw error;
      this.warnings.push(`${address}: ${error.message}; not loaded`);
      return undefined;
    }
  }

  /** The Terraform address an attribute refers to (`${aws_iam_role.x.name}` -> `aws_iam_role.x`). */
  static target(value: unknown): string | undefined {
    if (typeof value !== 'string') return undefined;
    const m = /^\$\{([\w-]+)\.([\w-]+)\.[\w-]+\}$/.exec(value);
    return m ? `${m[1]}.${m[2]}` : undefined;
  }

  /** The ARN of the resource an attribute names: a reference to it, or a literal name or ARN. */
  targetArn(value: unknown, literalArn: (literal: string) => string): string | undefined {
    const target = Loader.target(value);
    if (target) return this.reference(`${target}.arn`);
    const literal = this.literal(value);
    if (literal === undefined) return undefined;
    return literal.startsWith('arn:') ? literal : literalArn(literal);
  }

  roles(): Map<string, StackRole> {
    const inline = new Map<string, Policy[]>();
    const roleAddresses = new Map<string, string>();
    for (const [id, r] of this.resources('aws_iam_role')) {
      const name = this.literal(r.name);
      if (name !== undefined) roleAddresses.set(name, `aws_iam_role.${id}`);
    }
    for (const [id, p] of this.resources('aws_iam_role_policy')) {
      const address = `aws_iam_role_policy.${id}`;
      const role = Loader.target(p.role) ?? roleAddresses.get(this.literal(p.role) ?? '');
      if (!role) {
        this.warnings.push(`${address}: role ${String(p.role)} is not a role of this stack; not loaded`);
        continue;
      }
      const policy = this.policy(p.policy, this.literal(p.name) ?? address, address);
      if (policy) inline.set(role, [...(inline.get(role) ?? []), policy]);
    }
    for (const [id, a] of this.resources('aws_iam_role_policy_attachment')) {
      this.warnings.push(
        `aws_iam_role_policy_attachment.${id}: managed policy ${String(a.policy_arn)} is not loaded; the role's permissions are narrower than on AWS`,
      );
    }
    const roles = new Map<string, StackRole>();
    for (const [id, r] of this.resources('aws_iam_role')) {
      const address = `aws_iam_role.${id}`;
      const name = this.literal(r.name);
      const roleArn = this.reference(`${address}.arn`);
      if (name === undefined || roleArn === undefined) {
        this.warnings.push(
          `${address}: its name is not a literal (name_prefix or an expression); not loaded`,
        );
        continue;
      }
      const policies = [...(inline.get(address) ?? [])];
      const blocks = Array.isArray(r.inline_policy)
        ? r.inline_policy
        : r.inline_policy
          ? [r.inline_policy]
          : [];
      for (const block of blocks as Resource[]) {
        const policy = this.policy(
          block.policy,
          this.literal(block.name) ?? `${name} inline policy`,
          address,
        );
        if (policy) policies.push(policy);
      }
      if (r.managed_policy_arns !== undefined) {
        this.warnings.push(
          `${address}: managed_policy_arns are not loaded; the role's permissions are narrower than on AWS`,
        );
      }
      const trustPolicy =
        r.assume_role_policy === undefined
          ? undefined
          : this.policy(r.assume_role_policy, `trust policy of ${name}`, address);
      roles.set(name, {
        address,
        name,
        arn: roleArn,
        ...(trustPolicy ? { trustPolicy } : {}),
        policies,
        ...(r.permissions_boundary !== undefined
          ? { permissionsBoundary: this.boundary(r.permissions_boundary, name, address) }
          : {}),
      });
    }
    return roles;
  }

  /**
   * The boundary policy, read from the stack's `aws_iam_policy`. One the loader cannot read (an AWS
   * managed policy) becomes a boundary that allows nothing: the role fails closed, with a warning.
   */
  boundary(value: unknown, roleName: string, address: string): Policy {
    const target = Loader.target(value);
    const policyResource = target?.startsWith('aws_iam_policy.')
      ? this.terraform.resource?.aws_iam_policy?.[target.slice('aws_iam_policy.'.length)]
      : this.resources('aws_iam_policy').find(
          ([id]) => this.reference(`aws_iam_policy.${id}.arn`) === this.literal(value),
        )?.[1];
    const policy = policyResource
      ? this.policy(policyResource.policy, `permissions boundary of ${roleName}`, address)
      : undefined;
    if (policy) return policy;
    this.warnings.push(
      `${address}: permissions boundary ${String(value)} cannot be read; the role is denied everything`,
    );
    return {
      name: `permissions boundary of ${roleName} (unreadable)`,
      version: '2012-10-17',
      statements: [],
    };
  }

  resourcePolicies(): Map<string, Policy> {
    const byArn = new Map<string, Policy>();
    const add = (resourceArn: string | undefined, policy: Policy | undefined, address: string) => {
      if (!policy) return;
      if (resourceArn === undefined) {
        this.warnings.push(`${address}: the resource it is attached to cannot be resolved; not loaded`);
        return;
      }
      const existing = byArn.get(resourceArn);
      // Several lambda permissions make one function policy, as Lambda keeps them.
      byArn.set(
        resourceArn,
        existing
          ? {
              ...existing,
              statements: [
                ...existing.statements,
                ...policy.statements.map((s, i) => ({ ...s, index: existing.statements.length + i })),
              ],
            }
          : policy,
      );
    };
    const { partition, region, accountId } = this.at;
    for (const [id, q] of this.resources('aws_sqs_queue_policy')) {
      const address = `aws_sqs_queue_policy.${id}`;
      const queueArn = this.targetArn(q.queue_url, (url) => {
        const [account, name] = new URL(url).pathname.split('/').filter(Boolean);
        return `arn:${partition}:sqs:${region}:${account}:${name}`;
      });
      add(queueArn, this.policy(q.policy, `queue policy of ${queueArn}`, address), address);
    }
    for (const [id, b] of this.resources('aws_s3_bucket_policy')) {
      const address = `aws_s3_bucket_policy.${id}`;
      const bucketArn = this.targetArn(b.bucket, (name) => `arn:${partition}:s3:::${name}`);
      add(bucketArn, this.policy(b.policy, `bucket policy of ${bucketArn}`, address), address);
    }
    for (const [id, p] of this.resources('aws_lambda_permission')) {
      const address = `aws_lambda_permission.${id}`;
      const functionArn = this.targetArn(
        p.function_name,
        (name) => `arn:${partition}:lambda:${region}:${accountId}:function:${name}`,
      );
      const document = functionArn === undefined ? undefined : this.lambdaPermissionStatement(p, functionArn);
      add(
        functionArn,
        document && this.policy(document, `function policy of ${functionArn}`, address),
        address,
      );
    }
    return byArn;
  }

  /**
   * The statement Lambda's AddPermission writes into the function policy for one `aws_lambda_permission`
   * (https://docs.aws.amazon.com/lambda/latest/dg/access-control-resource-based.html).
   */
  lambdaPermissionStatement(p: Resource, functionArn: string): object {
    const principal = String(p.principal);
    const qualifier = typeof p.qualifier === 'string' ? `:${p.qualifier}` : '';
    const equals: Record<string, unknown> = {};
    if (p.source_account !== undefined) equals['AWS:SourceAccount'] = p.source_account;
    if (p.function_url_auth_type !== undefined)
      equals['lambda:FunctionUrlAuthType'] = p.function_url_auth_type;
    if (p.principal_org_id !== undefined) equals['aws:PrincipalOrgID'] = p.principal_org_id;
    if (p.event_source_token !== undefined) equals['lambda:EventSourceToken'] = p.event_source_token;
    const condition: Record<string, Record<string, unknown>> = {};
    if (Object.keys(equals).length > 0) condition.StringEquals = equals;
    if (p.source_arn !== undefined) condition.ArnLike = { 'AWS:SourceArn': p.source_arn };
    if (p.invoked_via_function_url === true) condition.Bool = { 'lambda:InvokedViaFunctionUrl': 'true' };
    return {
      Version: '2012-10-17',
      Statement: [
        {
          ...(typeof p.statement_id === 'string' ? { Sid: p.statement_id } : {}),
          Effect: 'Allow',
          Principal:
            principal === '*'
              ? '*'
              : /\.amazonaws\.com$|\.amazon\.com$/.test(principal)
                ? { Service: principal }
                : {
                    AWS: /^\d{12}$/.test(principal)
                      ? `arn:${this.at.partition}:iam::${principal}:root`
                      : principal,
                  },
          Action: p.action,
          Resource: `${functionArn}${qualifier}`,
          ...(Object.keys(condition).length > 0 ? { Condition: condition } : {}),
        },
      ],
    };
  }
}

/**
 * Reads a stack's IAM roles (name, ARN, inline policies, boundary, trust policy) and its
 * resource-based policies (queue, bucket and function policies) from its synthesized Terraform JSON,
 * the same document that deploys. Terraform references inside policies are resolved through
 * `options.resolve`, the `data.aws_*` context, and the referenced resources' literal attributes;
 * a statement with a reference none of them resolves fails closed and is listed in `warnings`.
 */
export function loadStackPolicies(
  terraform: SynthesizedTerraformJson,
  options: LoadStackPoliciesOptions,
): StackPolicies {
  const loader = new Loader(terraform, options);
  const roles = loader.roles();
  const resourcePolicies = loader.resourcePolicies();
  return { roles, resourcePolicies, warnings: loader.warnings };
}

/**
 * The resource policy that governs an ARN: its own, or for an S3 object its bucket's
 * (`arn:aws:s3:::bucket/key` -> `arn:aws:s3:::bucket`), or for a qualified function ARN the function's.
 */
export function resourcePolicyFor(stack: StackPolicies, resourceArn: string): Policy | undefined {
  const own = stack.resourcePolicies.get(resourceArn);
  if (own) return own;
  const parts = resourceArn.split(':');
  if (parts[2] === 's3') return stack.resourcePolicies.get(resourceArn.split('/')[0] ?? '');
  if (parts[2] === 'lambda' && parts[5] === 'function') {
    return stack.resourcePolicies.get(parts.slice(0, 7).join(':'));
  }
  return undefined;
}
