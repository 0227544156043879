// Lambda's limit on a function's environment variables, in one place for the two that enforce it:
// infra refuses at synth a function whose variables would fail CreateFunction, and the local cloud's
// Lambda refuses to start it.

/**
 * The most a function's environment variables may take together, as Lambda measures them: 4 KB
 * (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html, "Function resource quotas";
 * not adjustable).
 */
export const LAMBDA_ENVIRONMENT_LIMIT_BYTES = 4096;

/** A function's environment variables as Lambda measures them. */
export interface LambdaEnvironmentSize {
  /** The string measured: the variables as JSON without spaces (`{"A":"x","B":"y"}`). */
  readonly measured: string;
  /** Its length in bytes. */
  readonly bytes: number;
  /** Over {@link LAMBDA_ENVIRONMENT_LIMIT_BYTES}: Lambda refuses the function. */
  readonly exceeded: boolean;
}

/**
 * The size of `variables` as Lambda measures them: the JSON of the `Variables` map without spaces,
 * names, quotes and punctuation included, refused past 4096 bytes. Lambda's error quotes that string
 * ("String measured: {...}", {@link lambdaEnvironmentLimitMessage}), and LocalStack's Lambda measures
 * the same (`json.dumps(variables, separators=(",", ":"))`, its UTF-8 bytes). A character outside
 * ASCII is counted as its `\uXXXX` escape, as LocalStack's `json.dumps` writes it: AWS documents no
 * measure of one, and the escape (6 bytes, 12 outside the Basic Multilingual Plane) is more than its
 * UTF-8 bytes or UTF-16 units, so nothing measured here under the limit is over it on AWS.
 */
export function lambdaEnvironmentSize(variables: Readonly<Record<string, string>>): LambdaEnvironmentSize {
  const measured = JSON.stringify(variables).replace(
    /[\u0080-\uffff]/g,
    (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  // Every character is ASCII now: one byte each.
  return { measured, bytes: measured.length, exceeded: measured.length > LAMBDA_ENVIRONMENT_LIMIT_BYTES };
}

/** The message of the `InvalidParameterValueException` Lambda refuses variables with, quoting what it measured. */
export function lambdaEnvironmentLimitMessage(measured: string): string {
  return `Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: ${measured}`;
}
