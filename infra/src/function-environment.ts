import { LAMBDA_ENVIRONMENT_LIMIT_BYTES, lambdaEnvironmentSize, resourceName } from '@sidestep/manifest';
import type { EnvironmentConfig } from './config.ts';
import { InfraConfigError } from './errors.ts';
import type { SynthesizedTerraform } from './security-policy.ts';

/** A Lambda function of a synthesized stack, with its environment variables' size as Lambda measures it. */
export interface FunctionEnvironmentSize {
  /** `sidestep-<env>-<name>`. */
  readonly functionName: string;
  /** `<name>.environment`: what an error about the size names. */
  readonly field: string;
  /** The variables' size as Lambda measures it, every reference as the value AWS gives it. */
  readonly bytes: number;
  /** Over Lambda's limit: CreateFunction would fail. */
  readonly exceeded: boolean;
}

/** Where the stack deploys: what the values of its references are built from. */
type Deployment = Pick<EnvironmentConfig, 'name' | 'region' | 'accountId'>;

const REFERENCE = /\$\{([^{}]*)\}/g;

/**
 * The values AWS gives the attributes a function's variables refer to, from the referenced resource's
 * literal arguments. What AWS picks itself is stood in for by as many characters, which is all a size
 * needs: a secret's ARN ends in `-` and six random characters (CreateSecret's `Name`,
 * https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html),
 * a function URL's id is 32 (`https://<url-id>.lambda-url.<region>.on.aws/`,
 * https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html, ids as Lambda issues them).
 */
const ATTRIBUTE_VALUES: Readonly<
  Record<string, (literal: (argument: string) => string | undefined, at: Deployment) => string | undefined>
> = {
  'aws_sqs_queue.url': (literal, at) => {
    const name = literal('name');
    return name && `https://sqs.${at.region}.amazonaws.com/${at.accountId}/${name}`;
  },
  'aws_secretsmanager_secret.arn': (literal, at) => {
    const name = literal('name');
    return name && `arn:aws:secretsmanager:${at.region}:${at.accountId}:secret:${name}-XXXXXX`;
  },
  'aws_lambda_function_url.function_url': (_literal, at) =>
    `https://${'x'.repeat(32)}.lambda-url.${at.region}.on.aws/`,
  'aws_sesv2_configuration_set.configuration_set_name': (literal) => literal('configuration_set_name'),
};

/**
 * Every `aws_lambda_function` of a synthesized stack with the size of its environment variables as
 * Lambda measures them at CreateFunction ({@link lambdaEnvironmentSize}), each Terraform reference
 * counted as the value AWS will give it.
 * @throws InfraConfigError naming `<name>.environment.<variable>` when a variable refers to anything
 *   whose value is not known here (give {@link ATTRIBUTE_VALUES} its form): its size would be a guess.
 */
export function functionEnvironmentSizes(
  terraform: SynthesizedTerraform,
  at: Deployment,
): FunctionEnvironmentSize[] {
  return Object.values(terraform.resource?.aws_lambda_function ?? {}).map((fn) => {
    const functionName = String(fn.function_name);
    const field = `${functionName.replace(resourceName(at.name, ''), '')}.environment`;
    const variables = (fn.environment as { variables?: Record<string, string> } | undefined)?.variables ?? {};
    const deployed = Object.fromEntries(
      Object.entries(variables).map(([key, value]) => [
        key,
        value.replace(REFERENCE, (_whole, reference: string) => {
          const resolved = referenceValue(terraform, reference, at);
          if (resolved === undefined) {
            throw new InfraConfigError(
              `${field}.${key}`,
              `refers to \${${reference}}, whose value AWS gives it is not known here, so the size Lambda measures is not either`,
            );
          }
          return resolved;
        }),
      ]),
    );
    const { bytes, exceeded } = lambdaEnvironmentSize(deployed);
    return { functionName, field, bytes, exceeded };
  });
}

/** The value AWS gives `<type>.<id>.<attribute>`, or `undefined`. */
function referenceValue(
  terraform: SynthesizedTerraform,
  reference: string,
  at: Deployment,
): string | undefined {
  const [type = '', id = '', attribute = '', ...rest] = reference.split('.');
  const resource = terraform.resource?.[type]?.[id];
  const value = ATTRIBUTE_VALUES[`${type}.${attribute}`];
  if (rest.length > 0 || !resource || !value) return undefined;
  return value((argument) => {
    const found = resource[argument];
    return typeof found === 'string' && !found.includes('${') ? found : undefined;
  }, at);
}

/**
 * Refuses a stack with a function whose environment variables Lambda would refuse: over 4 KB as Lambda
 * measures them (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html, "Function
 * resource quotas"), which CreateFunction and UpdateFunctionConfiguration answer with
 * InvalidParameterValueException, in the middle of `terraform apply`.
 * @throws InfraConfigError naming `<name>.environment`
 */
export function checkFunctionEnvironments(terraform: SynthesizedTerraform, at: Deployment): void {
  for (const { functionName, field, bytes, exceeded } of functionEnvironmentSizes(terraform, at)) {
    if (exceeded) {
      throw new InfraConfigError(
        field,
        `the environment variables of ${functionName} measure ${bytes} bytes as Lambda measures them (their JSON, references as AWS resolves them), over Lambda's limit of ${LAMBDA_ENVIRONMENT_LIMIT_BYTES}: CreateFunction would fail with InvalidParameterValueException; keep large values in S3, SSM or Secrets Manager and pass their names`,
      );
    }
  }
}
