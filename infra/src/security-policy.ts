/**
 * sidestep's security policy over synthesized Terraform JSON: the checkov rules that matter here,
 * re-implemented because checkov (Python, pip) cannot be installed on the build machines. Runs in
 * the tests and after every `pnpm run synth`, so a violating stack never reaches the deploy pipeline.
 */

/** A rule of the policy, with the checkov check it mirrors where there is one. */
export const SECURITY_RULES = {
  /** CKV_AWS_27: SQS queues are encrypted at rest (SSE-SQS or KMS). */
  'sqs-encrypted': 'SQS queue must set sqs_managed_sse_enabled = true or kms_master_key_id',
  /** Every queue that is not itself a dead-letter queue has a redrive policy (no poison-message loops). */
  'sqs-redrive': 'SQS queue that is no dead-letter queue must have a redrive policy',
  /** CKV_AWS_66: log groups expire their logs. */
  'log-retention': 'CloudWatch log group must set retention_in_days',
  /** CKV_AWS_50: Lambda functions are traced with X-Ray. */
  'lambda-tracing': 'Lambda function must set tracing_config.mode = Active',
  /** CKV_AWS_51: ECR image tags are immutable. */
  'ecr-immutable': 'ECR repository must set image_tag_mutability = IMMUTABLE',
  /** CKV_AWS_163: ECR scans images on push. */
  'ecr-scan-on-push': 'ECR repository must set image_scanning_configuration.scan_on_push = true',
  /** CKV_AWS_49 / CKV_AWS_63 / CKV_AWS_62: no `*` or `service:*` (or any wildcard) actions, no NotAction. */
  'iam-wildcard-action': 'Allow statement must list exact actions (no *, no service:*, no NotAction)',
  /** CKV_AWS_355 / CKV_AWS_290: no `*` resource except for actions that have no resource type. */
  'iam-wildcard-resource':
    'Allow statement must name exact resources (* only for unscopable actions, no NotResource)',
  /**
   * STYLE.md: permissions live in the role's own inline policy. The one exception is a customer-managed
   * policy of the same stack attached with `aws_iam_role_policy_attachment` (its document is checked like
   * an inline one): what a role that outgrows IAM's 10,240 inline characters (the deploy role) does.
   */
  'iam-managed-attachment':
    'Use an inline aws_iam_role_policy, or an aws_iam_policy of the same stack attached with aws_iam_role_policy_attachment',
  /**
   * A permissions boundary (a policy that roles name in `permissions_boundary` or that an
   * `iam:PermissionsBoundary` condition requires) grants nothing, so it may allow whole services
   * (`service:*`); never everything, nor IAM, STS, Organizations or account actions by wildcard.
   */
  'iam-boundary-scope':
    'Permissions boundary may allow service:* but not *, iam:*, sts:*, organizations:* or account:*',
  /** A policy that is not literal JSON (a data source, a function call) cannot be checked, so it fails. */
  'iam-policy-literal': 'Policy must be a literal JSON document',
  /** CKV_AWS_53..56 / CKV2_AWS_6: all four public access block settings on every bucket. */
  's3-public-access-block':
    'S3 bucket must have a public access block with all four settings true (block/ignore ACLs, block/restrict policies)',
  /** CKV_AWS_19 / CKV_AWS_145: buckets encrypt objects at rest by default. */
  's3-encrypted': 'S3 bucket must have a server-side encryption configuration',
  /** AWS Config s3-bucket-ssl-requests-only: a bucket policy denies every request without TLS. */
  's3-tls-only':
    'S3 bucket must have a policy denying s3:* on the bucket and its objects when aws:SecureTransport is false',
  /** CKV_AWS_21: versioning keeps overwritten and deleted objects recoverable. */
  's3-versioning': 'S3 bucket must have versioning Enabled',
  /** CKV_AWS_336: containers cannot write to their root filesystem (only mounted volumes such as /tmp). */
  'ecs-readonly-root': 'ECS container must set readonlyRootFilesystem = true',
  /** CKV_AWS_334: no container runs privileged. */
  'ecs-not-privileged': 'ECS container must not set privileged = true',
  /** Every container ships its logs to CloudWatch Logs, where the log group sets retention. */
  'ecs-awslogs': 'ECS container must log with the awslogs driver',
  /** CKV_AWS_65: clusters publish Container Insights metrics. */
  'ecs-container-insights': 'ECS cluster must enable containerInsights',
  /** CKV_AWS_285: state machines log execution history. */
  'sfn-logging': 'Step Functions state machine must log to a log group (level not OFF)',
  /** CKV_AWS_284: state machines are traced with X-Ray. */
  'sfn-tracing': 'Step Functions state machine must set tracing_configuration.enabled = true',
  /** A firing that cannot be delivered is kept (retried, then dead-lettered), not dropped. */
  'scheduler-dlq': 'EventBridge Scheduler schedule target must set a retry_policy and a dead_letter_config',
  /** An event a rule cannot deliver is kept (retried, then dead-lettered), not dropped. */
  'event-target-dlq': 'EventBridge rule target must set a retry_policy and a dead_letter_config',
  /**
   * CKV_AWS_364 (and beyond): a Lambda permission for a service principal names the source ARN; one for
   * everyone (`*`) is only the public function URL pair (`function_url_auth_type = NONE` or
   * `invoked_via_function_url`), whose requests the function itself authorizes.
   */
  'lambda-permission-scoped':
    'Lambda permission must name a source_arn, or be the function URL pair for principal *',
  /** Pipes log what failed (a start that was refused) somewhere with retention. */
  'pipe-logging': 'EventBridge Pipe must log (level not OFF) to a CloudWatch Logs log group',
  /** CKV_AWS_26: SNS topics encrypt messages at rest. */
  'sns-encrypted': 'SNS topic must set kms_master_key_id',
  /** CKV_AWS_7: customer-managed KMS keys rotate. */
  'kms-rotation': 'KMS key must set enable_key_rotation = true',
  /** CKV_AWS_24 / CKV_AWS_260 / CKV_AWS_277: no security group admits the whole internet. */
  'sg-no-public-ingress': 'Security group ingress must not allow 0.0.0.0/0 or ::/0',
  /** CKV2_AWS_12: a VPC's default security group has no rules (nothing relies on it). */
  'vpc-default-sg-closed': 'VPC must have an aws_default_security_group without ingress or egress rules',
} as const;

/** A rule id of {@link SECURITY_RULES}. */
export type SecurityRule = keyof typeof SECURITY_RULES;

/** One broken rule, at a Terraform address. */
export interface SecurityViolation {
  readonly rule: SecurityRule;
  /** `aws_sqs_queue.mail-queue_E5897CA1` */
  readonly address: string;
  readonly message: string;
}

/**
 * What a state machine with logging needs to set up its vended log delivery: its execution role at
 * run time, and whoever creates or updates it (the deploy role). CloudWatch Logs lists no resource
 * types for them.
 */
export const VENDED_LOG_DELIVERY_ACTIONS = [
  'logs:CreateLogDelivery',
  'logs:GetLogDelivery',
  'logs:UpdateLogDelivery',
  'logs:DeleteLogDelivery',
  'logs:ListLogDeliveries',
  'logs:PutResourcePolicy',
  'logs:DescribeResourcePolicies',
  'logs:DescribeLogGroups',
] as const;

/**
 * What the provider reads of a created network (`Network`) besides its subnets, security groups and
 * VPC: the deploy role applying it needs them. EC2 Describe actions support no resource-level
 * permissions.
 */
export const NETWORK_DESCRIBE_ACTIONS = [
  'ec2:DescribeAvailabilityZones',
  'ec2:DescribeVpcAttribute',
  'ec2:DescribeNetworkAcls',
  'ec2:DescribeRouteTables',
  'ec2:DescribeSecurityGroupRules',
  'ec2:DescribeVpcEndpoints',
  'ec2:DescribeVpcEndpointServices',
  'ec2:DescribePrefixLists',
] as const;

/** Actions that IAM cannot scope to a resource, so `Resource: "*"` is their only form. */
export const UNSCOPABLE_ACTIONS: ReadonlySet<string> = new Set([
  // X-Ray defines no resource types for these.
  'xray:PutTraceSegments',
  'xray:PutTelemetryRecords',
  // Lambda's VPC ENI management (AWSLambdaVPCAccessExecutionRole): Describe* has no resource type and
  // the ENIs do not exist before Lambda creates them.
  'ec2:CreateNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DeleteNetworkInterface',
  'ec2:AssignPrivateIpAddresses',
  'ec2:UnassignPrivateIpAddresses',
  // Lambda's VPC checks of the caller (the deploy role) and of the execution role: EC2 Describe actions
  // support no resource-level permissions.
  'ec2:DescribeSubnets',
  'ec2:DescribeSecurityGroups',
  'ec2:DescribeVpcs',
  // The registry authorization token is account-wide: ECR lists no resource type for it.
  'ecr:GetAuthorizationToken',
  ...VENDED_LOG_DELIVERY_ACTIONS,
  // ...and deleting the account's resource policy EventBridge writes SES's mail events through.
  'logs:DeleteResourcePolicy',
  // The deploy role (`DeployRole`) applying the stack: Lambda lists no resource type for creating an
  // event source mapping (the grant carries a lambda:FunctionArn condition), ECS none for task
  // definition registration, deregistration and describe.
  'lambda:CreateEventSourceMapping',
  'ecs:RegisterTaskDefinition',
  'ecs:DeregisterTaskDefinition',
  'ecs:DescribeTaskDefinition',
  // ...a changed state machine definition validated at plan time: IAM checks it against
  // `stateMachine:*` (hashicorp/terraform-provider-aws#39472), not the machine's ARN.
  'states:ValidateStateMachineDefinition',
  ...NETWORK_DESCRIBE_ACTIONS,
  // ...the alarm topic's email subscription: SNS lists no resource type for subscription calls.
  'sns:GetSubscriptionAttributes',
  'sns:SetSubscriptionAttributes',
  'sns:Unsubscribe',
  // ...the alarm topic's key: CreateKey has no resource type, and tags on create need kms:TagResource
  // on every key of the account (the grant carries aws:RequestTag conditions).
  'kms:CreateKey',
  'kms:TagResource',
  // ...and the preflight (scripts/src/preflight): account-level reads with no resource type.
  'lambda:GetAccountSettings',
  'ses:GetAccount',
  // The operators' `sidestep status` (OperatorPolicy): CloudWatch metric reads have no resource type.
  'cloudwatch:GetMetricData',
  // X-Ray sampling (Step Functions tracing): no resource types either.
  'xray:GetSamplingRules',
  'xray:GetSamplingTargets',
]);

/** The part of a synthesized `cdk.tf.json` the policy reads. */
export interface SynthesizedTerraform {
  readonly resource?: Readonly<Record<string, Readonly<Record<string, Readonly<Record<string, unknown>>>>>>;
}

/** Identity policies (attached to a principal): actions and resources are checked. */
const IDENTITY_POLICIES: Readonly<Record<string, string>> = {
  aws_iam_role_policy: 'policy',
  aws_iam_policy: 'policy',
  aws_iam_user_policy: 'policy',
  aws_iam_group_policy: 'policy',
};
/** Resource policies (the resource is implied): actions are checked. */
const RESOURCE_POLICIES: Readonly<Record<string, string>> = {
  aws_ecr_repository_policy: 'policy',
  aws_sqs_queue_policy: 'policy',
  aws_sqs_queue: 'policy',
  aws_sns_topic_policy: 'policy',
  aws_s3_bucket_policy: 'policy',
  aws_secretsmanager_secret_policy: 'policy',
  aws_kms_key: 'policy',
};
const ATTACHMENTS = new Set([
  'aws_iam_policy_attachment',
  'aws_iam_role_policy_attachment',
  'aws_iam_user_policy_attachment',
  'aws_iam_group_policy_attachment',
]);

/** A block rendered either as an object (single nested block) or a one-element list. */
function block(value: unknown): Record<string, unknown> | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  return first !== null && typeof first === 'object' ? (first as Record<string, unknown>) : undefined;
}

function asList(value: unknown): unknown[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** `${aws_sqs_queue.x.arn}` -> `aws_sqs_queue.x`. */
function referencedAddress(value: unknown, type: string): string | undefined {
  if (typeof value !== 'string') return undefined;
  return new RegExp(`^\\$\\{(${type}\\.[^.}]+)\\.(arn|url|id|bucket)\\}$`).exec(value)?.[1];
}

function parseJson(value: unknown): unknown {
  if (typeof value !== 'string') return undefined;
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

/** Returns every violation of {@link SECURITY_RULES} in one synthesized stack; empty means compliant. */
export function checkSecurityPolicy(synthesized: SynthesizedTerraform): SecurityViolation[] {
  const violations: SecurityViolation[] = [];
  const report = (rule: SecurityRule, address: string, detail?: string): void => {
    violations.push({
      rule,
      address,
      message: detail ? `${SECURITY_RULES[rule]}: ${detail}` : SECURITY_RULES[rule],
    });
  };
  const resources = synthesized.resource ?? {};
  const ofType = (type: string): [string, Readonly<Record<string, unknown>>][] =>
    Object.entries(resources[type] ?? {}).map(([name, body]) => [`${type}.${name}`, body]);

  // A queue is a dead-letter queue when some redrive policy targets it.
  const deadLetterQueues = new Set<string>();
  const redriven = new Set<string>();
  for (const [address, queue] of ofType('aws_sqs_queue')) {
    const redrive = parseJson(queue.redrive_policy) as { deadLetterTargetArn?: unknown } | undefined;
    if (redrive) {
      redriven.add(address);
      const target = referencedAddress(redrive.deadLetterTargetArn, 'aws_sqs_queue');
      if (target) deadLetterQueues.add(target);
    }
  }
  for (const [, policy] of ofType('aws_sqs_queue_redrive_policy')) {
    const source = referencedAddress(policy.queue_url, 'aws_sqs_queue');
    if (source) redriven.add(source);
    const redrive = parseJson(policy.redrive_policy) as { deadLetterTargetArn?: unknown } | undefined;
    const target = referencedAddress(redrive?.deadLetterTargetArn, 'aws_sqs_queue');
    if (target) deadLetterQueues.add(target);
  }
  // An EventBridge target's dead-letter queue is a dead-letter queue too.
  for (const [, target] of ofType('aws_cloudwatch_event_target')) {
    const queue = referencedAddress(block(target.dead_letter_config)?.arn, 'aws_sqs_queue');
    if (queue) deadLetterQueues.add(queue);
  }
  // ...and so is a schedule's.
  for (const [, schedule] of ofType('aws_scheduler_schedule')) {
    const queue = referencedAddress(block(block(schedule.target)?.dead_letter_config)?.arn, 'aws_sqs_queue');
    if (queue) deadLetterQueues.add(queue);
  }
  // ...and so is a function's on-failure destination for its asynchronous invocations.
  for (const [, config] of ofType('aws_lambda_function_event_invoke_config')) {
    const onFailure = block(block(config.destination_config)?.on_failure)?.destination;
    const queue = referencedAddress(onFailure, 'aws_sqs_queue');
    if (queue) deadLetterQueues.add(queue);
  }
  for (const [address, queue] of ofType('aws_sqs_queue')) {
    if (queue.sqs_managed_sse_enabled !== true && !queue.kms_master_key_id) report('sqs-encrypted', address);
    if (!redriven.has(address) && !deadLetterQueues.has(address)) report('sqs-redrive', address);
  }

  for (const [address, group] of ofType('aws_cloudwatch_log_group')) {
    if (typeof group.retention_in_days !== 'number' || group.retention_in_days <= 0)
      report('log-retention', address);
  }
  for (const [address, fn] of ofType('aws_lambda_function')) {
    if (block(fn.tracing_config)?.mode !== 'Active') report('lambda-tracing', address);
  }
  for (const [address, repository] of ofType('aws_ecr_repository')) {
    if (repository.image_tag_mutability !== 'IMMUTABLE') report('ecr-immutable', address);
    if (block(repository.image_scanning_configuration)?.scan_on_push !== true)
      report('ecr-scan-on-push', address);
  }

  checkBuckets(ofType, report);
  checkContainers(ofType, report);
  for (const [address, machine] of ofType('aws_sfn_state_machine')) {
    const logging = block(machine.logging_configuration);
    if (!logging?.log_destination || logging.level === undefined || logging.level === 'OFF')
      report('sfn-logging', address);
    if (block(machine.tracing_configuration)?.enabled !== true) report('sfn-tracing', address);
  }

  checkEventDelivery(ofType, report);
  checkNetworkAndKeys(ofType, report);

  for (const type of Object.keys(resources)) {
    if (!ATTACHMENTS.has(type)) continue;
    for (const [address, attachment] of ofType(type)) {
      const policy = referencedAddress(attachment.policy_arn, 'aws_iam_policy');
      const ownPolicy = policy !== undefined && resources.aws_iam_policy?.[policy.split('.')[1] ?? ''];
      if (type !== 'aws_iam_role_policy_attachment' || !ownPolicy) report('iam-managed-attachment', address);
    }
  }
  const boundaries = permissionsBoundaries(ofType);
  for (const [address, role] of ofType('aws_iam_role')) {
    if (asList(role.managed_policy_arns).length > 0)
      report('iam-managed-attachment', address, 'managed_policy_arns');
    for (const inline of asList(role.inline_policy)) {
      checkPolicy(block(inline)?.policy, address, true, report);
    }
  }
  for (const [type, attribute] of Object.entries(IDENTITY_POLICIES)) {
    for (const [address, body] of ofType(type)) {
      if (type === 'aws_iam_policy' && boundaries.has(address))
        checkBoundary(body[attribute], address, report);
      else checkPolicy(body[attribute], address, true, report);
    }
  }
  for (const [type, attribute] of Object.entries(RESOURCE_POLICIES)) {
    for (const [address, body] of ofType(type)) {
      if (body[attribute] !== undefined) checkPolicy(body[attribute], address, false, report);
    }
  }
  return violations;
}

type OfType = (type: string) => [string, Readonly<Record<string, unknown>>][];
type Report = (rule: SecurityRule, address: string, detail?: string) => void;

/**
 * Addresses of the stack's `aws_iam_policy` resources used as permissions boundaries: named by a role's
 * `permissions_boundary`, or required by an `iam:PermissionsBoundary` condition of a policy of the stack
 * (the deploy stack creates the boundary the environment stack's roles carry), by reference or by ARN.
 */
function permissionsBoundaries(ofType: OfType): Set<string> {
  const named = new Set<string>();
  for (const [, role] of ofType('aws_iam_role')) {
    if (typeof role.permissions_boundary === 'string') named.add(role.permissions_boundary);
  }
  const documents = [
    ...ofType('aws_iam_role_policy').map(([, body]) => body.policy),
    ...ofType('aws_iam_policy').map(([, body]) => body.policy),
  ];
  for (const document of documents) {
    for (const raw of asList((parseJson(document) as { Statement?: unknown } | undefined)?.Statement)) {
      const conditions = (raw as { Condition?: Record<string, Record<string, unknown>> }).Condition ?? {};
      for (const keys of Object.values(conditions)) {
        for (const [key, value] of Object.entries(keys)) {
          if (key.toLowerCase() === 'iam:permissionsboundary')
            for (const v of asList(value)) named.add(String(v));
        }
      }
    }
  }
  return new Set(
    ofType('aws_iam_policy')
      .filter(
        ([address, policy]) =>
          named.has(`\${${address}.arn}`) ||
          [...named].some((arn) => arn.endsWith(`:policy/${String(policy.name)}`)),
      )
      .map(([address]) => address),
  );
}

/**
 * The Allow statements of a policy document with their labels (Deny statements may use wildcards: they
 * only take permissions away); a document that is not literal JSON is reported and yields none.
 */
function allowStatements(
  policy: unknown,
  address: string,
  report: Report,
): [label: string, statement: Record<string, unknown>][] {
  const document = parseJson(policy) as { Statement?: unknown } | undefined;
  if (!document || typeof document !== 'object') {
    report('iam-policy-literal', address, String(policy).slice(0, 80));
    return [];
  }
  return asList(document.Statement)
    .map((raw) => raw as Record<string, unknown>)
    .filter((statement) => statement.Effect === 'Allow')
    .map((statement) => [
      typeof statement.Sid === 'string' ? statement.Sid : 'statement without Sid',
      statement,
    ]);
}

/** A boundary's Allow statements: whole services at most, and never IAM, STS, Organizations or account ones. */
function checkBoundary(policy: unknown, address: string, report: Report): void {
  for (const [label, statement] of allowStatements(policy, address, report)) {
    if (statement.NotAction !== undefined) report('iam-boundary-scope', address, `${label}: NotAction`);
    for (const action of asList(statement.Action).map(String)) {
      const service = action.split(':')[0] ?? '';
      const sensitive = ['iam', 'sts', 'organizations', 'account'].includes(service) && action.includes('*');
      if (action === '*' || sensitive) report('iam-boundary-scope', address, `${label}: ${action}`);
    }
  }
}

/**
 * Each bucket's settings live in separate resources that reference it (`bucket = aws_s3_bucket.x.id`),
 * so a bucket complies when such resources exist with the right values.
 */
function checkBuckets(ofType: OfType, report: Report): void {
  const buckets = ofType('aws_s3_bucket');
  if (buckets.length === 0) return;
  const settingsOf = (type: string): Map<string, Readonly<Record<string, unknown>>> =>
    new Map(
      ofType(type).flatMap(([, body]) => {
        const bucket = referencedAddress(body.bucket, 'aws_s3_bucket');
        return bucket ? [[bucket, body] as const] : [];
      }),
    );
  const blocks = settingsOf('aws_s3_bucket_public_access_block');
  const encryption = settingsOf('aws_s3_bucket_server_side_encryption_configuration');
  const versioning = settingsOf('aws_s3_bucket_versioning');
  const policies = settingsOf('aws_s3_bucket_policy');
  for (const [address, bucket] of buckets) {
    const access = blocks.get(address);
    const flags = [
      'block_public_acls',
      'block_public_policy',
      'ignore_public_acls',
      'restrict_public_buckets',
    ];
    const off = flags.filter((flag) => access?.[flag] !== true);
    if (off.length > 0) report('s3-public-access-block', address, off.join(', '));
    const rule = block(encryption.get(address)?.rule);
    if (!block(rule?.apply_server_side_encryption_by_default)?.sse_algorithm) report('s3-encrypted', address);
    if (block(versioning.get(address)?.versioning_configuration)?.status !== 'Enabled')
      report('s3-versioning', address);
    const names = [`\${${address}.arn}`, `arn:aws:s3:::${String(bucket.bucket)}`];
    if (!deniesInsecureTransport(policies.get(address)?.policy, names)) report('s3-tls-only', address);
  }
}

/** A Deny of s3:* (or *) on the bucket and its objects unless `aws:SecureTransport` is true. */
function deniesInsecureTransport(policy: unknown, bucketArns: readonly string[]): boolean {
  const document = parseJson(policy) as { Statement?: unknown } | undefined;
  return asList(document?.Statement).some((raw) => {
    const statement = raw as Record<string, unknown>;
    const condition = (statement.Condition as Record<string, Record<string, unknown>> | undefined)?.Bool;
    const resources = asList(statement.Resource).map(String);
    return (
      statement.Effect === 'Deny' &&
      String(condition?.['aws:SecureTransport']) === 'false' &&
      asList(statement.Action).some((action) => action === 's3:*' || action === '*') &&
      bucketArns.some((arn) => resources.includes(arn) && resources.includes(`${arn}/*`))
    );
  });
}

/** Schedules, rule targets and pipes: nothing they fail to deliver is dropped unseen. */
function checkEventDelivery(ofType: OfType, report: Report): void {
  for (const [address, schedule] of ofType('aws_scheduler_schedule')) {
    const target = block(schedule.target);
    if (!block(target?.retry_policy) || !block(target?.dead_letter_config)?.arn)
      report('scheduler-dlq', address);
  }
  for (const [address, target] of ofType('aws_cloudwatch_event_target')) {
    if (!block(target.retry_policy) || !block(target.dead_letter_config)?.arn)
      report('event-target-dlq', address);
  }
  for (const [address, permission] of ofType('aws_lambda_permission')) {
    const urlOnly =
      (permission.action === 'lambda:InvokeFunctionUrl' && permission.function_url_auth_type === 'NONE') ||
      (permission.action === 'lambda:InvokeFunction' && permission.invoked_via_function_url === true);
    if (permission.principal === '*' ? !urlOnly : !permission.source_arn)
      report('lambda-permission-scoped', address, String(permission.principal));
  }
  for (const [address, pipe] of ofType('aws_pipes_pipe')) {
    const logging = block(pipe.log_configuration);
    if (!logging || logging.level === 'OFF' || !block(logging.cloudwatch_logs_log_destination)?.log_group_arn)
      report('pipe-logging', address);
  }
}

/** Topics, keys, security groups and VPCs. */
function checkNetworkAndKeys(ofType: OfType, report: Report): void {
  for (const [address, topic] of ofType('aws_sns_topic')) {
    if (!topic.kms_master_key_id) report('sns-encrypted', address);
  }
  for (const [address, key] of ofType('aws_kms_key')) {
    if (key.enable_key_rotation !== true) report('kms-rotation', address);
  }
  const open = (cidrs: unknown): boolean =>
    asList(cidrs).some((cidr) => cidr === '0.0.0.0/0' || cidr === '::/0');
  for (const [address, rule] of ofType('aws_vpc_security_group_ingress_rule')) {
    if (open(rule.cidr_ipv4) || open(rule.cidr_ipv6)) report('sg-no-public-ingress', address);
  }
  for (const [address, rule] of ofType('aws_security_group_rule')) {
    if (rule.type === 'ingress' && (open(rule.cidr_blocks) || open(rule.ipv6_cidr_blocks)))
      report('sg-no-public-ingress', address);
  }
  for (const type of ['aws_security_group', 'aws_default_security_group']) {
    for (const [address, group] of ofType(type)) {
      for (const ingress of asList(group.ingress)) {
        const rule = block(ingress);
        if (open(rule?.cidr_blocks) || open(rule?.ipv6_cidr_blocks)) report('sg-no-public-ingress', address);
      }
    }
  }
  const closedDefaults = new Set(
    ofType('aws_default_security_group')
      .filter(([, group]) => asList(group.ingress).length === 0 && asList(group.egress).length === 0)
      .map(([, group]) => group.vpc_id),
  );
  for (const [address] of ofType('aws_vpc')) {
    if (!closedDefaults.has(`\${${address}.id}`)) report('vpc-default-sg-closed', address);
  }
}

/** Container definitions are a JSON string per task definition (references inside stay valid JSON). */
function checkContainers(ofType: OfType, report: Report): void {
  for (const [address, definition] of ofType('aws_ecs_task_definition')) {
    const containers = parseJson(definition.container_definitions);
    if (!Array.isArray(containers)) {
      // Containers that cannot be read cannot be shown to comply.
      report('ecs-readonly-root', address, 'container_definitions is not literal JSON');
      continue;
    }
    for (const raw of containers) {
      const container = raw as Record<string, unknown>;
      const label = `container ${String(container.name)}`;
      if (container.readonlyRootFilesystem !== true) report('ecs-readonly-root', address, label);
      if (container.privileged === true) report('ecs-not-privileged', address, label);
      const logging = container.logConfiguration as { logDriver?: unknown } | undefined;
      if (logging?.logDriver !== 'awslogs') report('ecs-awslogs', address, label);
    }
  }
  for (const [address, cluster] of ofType('aws_ecs_cluster')) {
    const insights = asList(cluster.setting).find(
      (setting) => (setting as Record<string, unknown>).name === 'containerInsights',
    ) as Record<string, unknown> | undefined;
    if (insights?.value !== 'enabled' && insights?.value !== 'enhanced')
      report('ecs-container-insights', address);
  }
}

function checkPolicy(
  policy: unknown,
  address: string,
  identityPolicy: boolean,
  report: (rule: SecurityRule, address: string, detail?: string) => void,
): void {
  for (const [label, statement] of allowStatements(policy, address, report)) {
    const actions = asList(statement.Action).map(String);
    if (statement.NotAction !== undefined) report('iam-wildcard-action', address, `${label}: NotAction`);
    for (const action of actions) {
      if (action.includes('*')) report('iam-wildcard-action', address, `${label}: ${action}`);
    }
    if (!identityPolicy) continue;
    if (statement.NotResource !== undefined)
      report('iam-wildcard-resource', address, `${label}: NotResource`);
    if (asList(statement.Resource).includes('*')) {
      const scopable = actions.filter((action) => !UNSCOPABLE_ACTIONS.has(action));
      if (scopable.length > 0)
        report('iam-wildcard-resource', address, `${label}: * for ${scopable.join(', ')}`);
    }
  }
}
