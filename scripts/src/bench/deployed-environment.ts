import type { SynthesizedTerraformJson } from '@sidestep/iam';
import { environmentConfigs, synthStack } from '@sidestep/infra';
import { type ReservedEnvironmentSettings, reservedLambdaEnvironment } from '@sidestep/lambda-runtime';
/**
 * The environment a Lambda service runs with on AWS, read from the stack infra synthesizes (its
 * `aws_lambda_function`'s `environment.variables`), with every reference to another resource of the
 * stack resolved to a loopback stand-in, and the variables Lambda itself sets added: what the bench's
 * "as deployed" measure runs a bundle with. Read from the synthesized stack rather than rebuilt from
 * the manifests, so that a variable infra adds (a secret's ARN, `MAIL_TRANSPORT=ses`) is measured
 * the day it is added.
 */

/** A variable of the synthesized function that this module cannot give a loopback value. */
export class DeployedEnvironmentError extends Error {
  override readonly name = 'DeployedEnvironmentError';
  /** `<function name>.<variable>`, or `<function name>` when the function itself is missing. */
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}

/** Where the loopback stand-ins of the AWS services listen. */
export interface LoopbackEndpoints {
  /** The Secrets Manager double (`AWS_ENDPOINT_URL_SECRETS_MANAGER`). */
  readonly secretsManager: string;
  /** The SES v2 double (`AWS_ENDPOINT_URL_SESV2`). */
  readonly sesv2: string;
  /** S3 (`AWS_ENDPOINT_URL_S3`); also where a function URL is said to be (never requested). */
  readonly s3: string;
  /** SQS (`AWS_ENDPOINT_URL_SQS`). */
  readonly sqs: string;
  /** Step Functions (`AWS_ENDPOINT_URL_SFN`): the job-sweeper's scheduled sweep lists ended executions. */
  readonly stepFunctions: string;
}

/** The JSON `cdk.tf.json` a synthesized stack is, as @sidestep/iam reads it for its policies. */
export type SynthesizedStack = SynthesizedTerraformJson;

/** The account id of every ARN and queue URL of the stand-ins (the local cloud's). */
const ACCOUNT_ID = '000000000000';

/** `${<type>.<id>.<attribute>}`: a Terraform reference, the whole value. */
const REFERENCE = /^\$\{([\w-]+)\.([\w-]+)\.([\w-]+)\}$/;

/**
 * The synthesized environment of the function `functionName`, its references resolved: a queue's
 * `url` to its name on the loopback SQS, a secret's `arn` to an ARN of its name (the double answers
 * any ARN it was given a value for), a function URL to a loopback URL, an SES configuration set's
 * name to its literal name.
 *
 * @throws {DeployedEnvironmentError} naming the variable when a value refers to anything else (a
 *   new kind of resource: give it a stand-in here), or naming the function when the stack has none
 *   of that name.
 */
export function synthesizedFunctionEnvironment(
  stack: SynthesizedStack,
  functionName: string,
  endpoints: LoopbackEndpoints,
): Record<string, string> {
  const functions = stack.resource?.aws_lambda_function ?? {};
  const fn = Object.values(functions).find((resource) => resource.function_name === functionName);
  if (!fn) {
    throw new DeployedEnvironmentError(
      functionName,
      'the synthesized stack has no aws_lambda_function of this name',
    );
  }
  const variables = (fn.environment as { variables?: Record<string, unknown> } | undefined)?.variables ?? {};
  const region = awsRegion(stack);
  const resolved: Record<string, string> = {};
  for (const [name, value] of Object.entries(variables)) {
    const field = `${functionName}.${name}`;
    if (typeof value !== 'string') throw new DeployedEnvironmentError(field, 'is not a string');
    const reference = REFERENCE.exec(value);
    if (!reference) {
      if (value.includes('${')) {
        throw new DeployedEnvironmentError(
          field,
          `embeds a Terraform expression (${value}) this bench cannot resolve`,
        );
      }
      resolved[name] = value;
      continue;
    }
    const [, type = '', id = '', attribute = ''] = reference;
    const target = stack.resource?.[type]?.[id];
    if (!target)
      throw new DeployedEnvironmentError(field, `refers to ${type}.${id}, which the stack does not have`);
    const literal = (key: string): string => {
      const found = target[key];
      if (typeof found !== 'string' || found.includes('${')) {
        throw new DeployedEnvironmentError(field, `${type}.${id} has no literal ${key}`);
      }
      return found;
    };
    switch (`${type}.${attribute}`) {
      case 'aws_sqs_queue.url':
        resolved[name] = `${endpoints.sqs}/${ACCOUNT_ID}/${literal('name')}`;
        break;
      case 'aws_secretsmanager_secret.arn':
        resolved[name] = `arn:aws:secretsmanager:${region}:${ACCOUNT_ID}:secret:${literal('name')}`;
        break;
      case 'aws_lambda_function_url.function_url':
        resolved[name] = `${endpoints.s3}/lambda-url/${id}/`;
        break;
      case 'aws_sesv2_configuration_set.configuration_set_name':
        resolved[name] = literal('configuration_set_name');
        break;
      default:
        throw new DeployedEnvironmentError(
          field,
          `refers to ${type}.${id}.${attribute}, for which this bench has no loopback stand-in`,
        );
    }
  }
  return resolved;
}

/** The stack's AWS provider region (`us-east-1` for the local stack). */
export function awsRegion(stack: SynthesizedStack): string {
  // Terraform JSON gives a provider as one block or a list of them (aliases).
  const providers = stack.provider?.aws;
  const region = ((Array.isArray(providers) ? providers[0] : providers) as { region?: unknown } | undefined)
    ?.region;
  if (typeof region !== 'string' || region.includes('${')) {
    throw new DeployedEnvironmentError('provider.aws.region', 'the synthesized stack has no literal region');
  }
  return region;
}

/** What {@link lambdaEnvironment} describes: the function as Lambda runs it. */
export type LambdaFunctionSettings = ReservedEnvironmentSettings;

/**
 * The variables Lambda sets in every function's environment that the runtime, Powertools or the AWS
 * SDK read: the reserved ones that describe the function (@sidestep/lambda-runtime's, as its local
 * sandbox sets them), the execution role's temporary credentials (the SDK's credential chain takes
 * them from the environment first, so no credential lookup leaves the process), and the JSON log
 * format infra configures (`loggingConfig`).
 */
export function lambdaEnvironment(settings: LambdaFunctionSettings): Record<string, string> {
  return {
    ...reservedLambdaEnvironment(settings),
    AWS_ACCESS_KEY_ID: 'ASIABENCHBENCHBENCH0',
    AWS_SECRET_ACCESS_KEY: 'bench',
    AWS_SESSION_TOKEN: 'bench',
    AWS_LAMBDA_LOG_FORMAT: 'JSON',
    TZ: ':UTC',
  };
}

/**
 * The AWS SDK's service-specific endpoint variables pointing every client a service may build at
 * its loopback stand-in (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html:
 * `AWS_ENDPOINT_URL_<serviceId, spaces as underscores, upper case>`, the identifiers in
 * https://docs.aws.amazon.com/sdkref/latest/guide/ss-endpoints-table.html). No generic
 * `AWS_ENDPOINT_URL`: a client of a service not named here would then be answered by the stand-in of
 * another, where now it reaches for AWS itself and the bench's check of the first invocation fails.
 */
export function loopbackEndpointEnvironment(endpoints: LoopbackEndpoints): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoints.secretsManager,
    AWS_ENDPOINT_URL_SESV2: endpoints.sesv2,
    AWS_ENDPOINT_URL_S3: endpoints.s3,
    AWS_ENDPOINT_URL_SQS: endpoints.sqs,
    AWS_ENDPOINT_URL_SFN: endpoints.stepFunctions,
  };
}

/** The environment whose synthesized functions the "as deployed" cold starts take their settings from. */
export const DEPLOYED_ENVIRONMENT = 'staging';

/**
 * A staging stack with placeholder settings, as infra synthesizes it: what a deployed function is
 * given, including what infra gives AWS environments and not the local one (`MAIL_MAX_SEND_RATE`).
 */
export function deployedStack(): SynthesizedStack {
  return JSON.parse(synthStack({}, environmentConfigs()[DEPLOYED_ENVIRONMENT])) as SynthesizedStack;
}
