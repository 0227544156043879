import { randomBytes, randomUUID } from 'node:crypto';
import { AwsApiError, UnknownOperationError } from './aws-api-errors.ts';
import type { JsonApiHandler } from './json-api-handler.ts';
import { localSecretArn, partialSecretArn } from './local-names.ts';
import { readStateFile, writeStateFile } from './local-state.ts';

/** The `X-Amz-Target` prefix of the Secrets Manager JSON API (`secretsmanager.GetSecretValue`). */
export const SECRETS_MANAGER_TARGET_PREFIX = 'secretsmanager';

/** The staging label of the version GetSecretValue answers by default, which PutSecretValue moves. */
const AWSCURRENT = 'AWSCURRENT';
/** The label Secrets Manager moves to the version AWSCURRENT was taken from. */
const AWSPREVIOUS = 'AWSPREVIOUS';

/** One version of a secret: its value (a string, or binary as the JSON protocol's base64) and labels. */
interface SecretVersion {
  readonly versionId: string;
  readonly secretString?: string;
  /** Base64, as the JSON protocol carries a blob. */
  readonly secretBinary?: string;
  /** Epoch seconds. */
  readonly createdDate: number;
  stages: string[];
}

/** A secret as kept: name, ARN and every version, labelled or not. */
interface Secret {
  readonly arn: string;
  readonly name: string;
  readonly description?: string;
  /** Epoch seconds. */
  readonly createdDate: number;
  lastChangedDate: number;
  readonly versions: SecretVersion[];
}

/**
 * The value the local cloud gives a secret it creates (the stack's, which an operator fills on AWS
 * with put-secret-value): 32 random bytes as hex, a key for the export download links' HMAC.
 */
export function randomSecretValue(): string {
  return randomBytes(32).toString('hex');
}

/** ResourceNotFoundException, with the message Secrets Manager gives. */
function notFound(detail?: string): AwsApiError {
  return new AwsApiError(
    'ResourceNotFoundException',
    'SecretId',
    detail === undefined
      ? "Secrets Manager can't find the specified secret."
      : `Secrets Manager can't find the specified secret value for ${detail}`,
  );
}

/** The local cloud's secrets: what the Secrets Manager API serves, and what the cloud creates. */
export interface LocalSecrets {
  /**
   * The full ARN of the secret a `SecretId` names (its ARN, its name, or its ARN without the suffix),
   * `undefined` when there is none: what IAM authorizes a request on.
   */
  arnOf(secretId: string): string | undefined;
  /**
   * Creates the secret `name` with `value` as its AWSCURRENT version, unless a secret of that name is
   * kept already (its versions stay: a restart keeps what PutSecretValue put). Returns its ARN.
   */
  ensure(name: string, value: () => string): string;
  /**
   * Makes `value` the AWSCURRENT version of the secret whose full ARN is `arn`, creating it (named by
   * the ARN's resource part) when there is none: a secret made outside the stack, whose ARN the stack
   * takes from infra's configuration, as the database's. A current version holding `value` already is
   * kept; otherwise the new version takes AWSCURRENT and the old one AWSPREVIOUS, as PutSecretValue.
   */
  putCurrent(arn: string, value: string): void;
  /** The API the endpoint answers `secretsmanager.*` requests with. */
  readonly api: JsonApiHandler;
}

/**
 * Secrets Manager's CreateSecret, GetSecretValue, PutSecretValue and DescribeSecret over secrets kept
 * in `file` (JSON, owner-only 0600, rewritten at every change), or in memory without one. Staging
 * labels as Secrets Manager moves them: the first version gets AWSCURRENT; a version given AWSCURRENT
 * takes it from the version that had it, which gets AWSPREVIOUS
 * (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html). A version
 * left without labels is kept (Secrets Manager deletes such versions only past 100, and none younger
 * than a day) but is not listed by DescribeSecret.
 */
export function createLocalSecrets(file?: string): LocalSecrets {
  const secrets = new Map<string, Secret>(
    ((file === undefined ? undefined : readStateFile(file, 'array')) as Secret[] | undefined)?.map(
      (secret) => [secret.arn, secret],
    ) ?? [],
  );
  const save = () => {
    if (file !== undefined) writeStateFile(file, [...secrets.values()], 0o600);
  };
  const find = (secretId: string): Secret | undefined => {
    const exact = secrets.get(secretId);
    if (exact) return exact;
    // A name, or an ARN without the suffix Secrets Manager adds
    // (https://docs.aws.amazon.com/secretsmanager/latest/userguide/troubleshoot.html#ARN_secretnamehyphen).
    for (const secret of secrets.values()) {
      if (secret.name === secretId || partialSecretArn(secret.name) === secretId) {
        return secret;
      }
    }
    return undefined;
  };
  const secretOf = (input: Record<string, unknown>): Secret => {
    const secretId = stringField(input, 'SecretId', true);
    const secret = find(secretId);
    if (!secret) throw notFound();
    return secret;
  };
  const now = () => Math.floor(Date.now() / 1000);

  /** Adds a version to `secret` with `stages`, moving each label to it (AWSCURRENT's old holder gets AWSPREVIOUS). */
  const addVersion = (
    secret: Secret,
    value: { secretString?: string; secretBinary?: string },
    versionId: string,
    stages: readonly string[],
  ): SecretVersion => {
    const existing = secret.versions.find((version) => version.versionId === versionId);
    if (existing) {
      // ClientRequestToken makes the call idempotent: the same value again is ignored, another value
      // fails, since a version cannot change.
      if (existing.secretString === value.secretString && existing.secretBinary === value.secretBinary) {
        return existing;
      }
      throw new AwsApiError(
        'ResourceExistsException',
        'ClientRequestToken',
        'A resource with the ID you requested already exists.',
      );
    }
    const first = !secret.versions.some((version) => version.stages.length > 0);
    const labels = first && !stages.includes(AWSCURRENT) ? [...stages, AWSCURRENT] : [...stages];
    // A label is on one version at most: each moves to the new version. AWSCURRENT's old holder takes
    // AWSPREVIOUS from whichever version had it.
    const oldCurrent = labels.includes(AWSCURRENT)
      ? secret.versions.find((version) => version.stages.includes(AWSCURRENT))
      : undefined;
    for (const version of secret.versions) {
      version.stages = version.stages.filter(
        (stage) => !labels.includes(stage) && !(oldCurrent && stage === AWSPREVIOUS),
      );
    }
    if (oldCurrent) oldCurrent.stages = [...oldCurrent.stages, AWSPREVIOUS];
    const created: SecretVersion = { versionId, ...value, createdDate: now(), stages: labels };
    secret.versions.push(created);
    secret.lastChangedDate = created.createdDate;
    return created;
  };

  const create = (name: string, description: string | undefined, arn = localSecretArn(name)): Secret => {
    const secret: Secret = {
      arn,
      name,
      ...(description === undefined ? {} : { description }),
      createdDate: now(),
      lastChangedDate: now(),
      versions: [],
    };
    secrets.set(secret.arn, secret);
    return secret;
  };

  const operations: Record<string, (input: Record<string, unknown>) => unknown> = {
    // https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html
    CreateSecret(input) {
      const name = stringField(input, 'Name', true);
      if (find(name)) {
        throw new AwsApiError(
          'ResourceExistsException',
          'Name',
          `The operation failed because the secret ${name} already exists.`,
        );
      }
      const value = secretValue(input, false);
      const secret = create(name, stringField(input, 'Description'));
      const version = value
        ? addVersion(secret, value, stringField(input, 'ClientRequestToken') ?? randomUUID(), [AWSCURRENT])
        : undefined;
      save();
      return { ARN: secret.arn, Name: secret.name, ...(version ? { VersionId: version.versionId } : {}) };
    },
    // https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html
    GetSecretValue(input) {
      const secret = secretOf(input);
      const versionId = stringField(input, 'VersionId');
      const requestedStage = stringField(input, 'VersionStage');
      const stage = requestedStage ?? (versionId === undefined ? AWSCURRENT : undefined);
      const version = secret.versions.find(
        (candidate) =>
          (versionId === undefined || candidate.versionId === versionId) &&
          (stage === undefined || candidate.stages.includes(stage)),
      );
      if (!version) {
        throw notFound(
          [
            ...(versionId === undefined ? [] : [`VersionId: ${versionId}`]),
            ...(stage === undefined ? [] : [`staging label: ${stage}`]),
          ].join(' and '),
        );
      }
      return {
        ARN: secret.arn,
        Name: secret.name,
        VersionId: version.versionId,
        ...(version.secretString === undefined ? {} : { SecretString: version.secretString }),
        ...(version.secretBinary === undefined ? {} : { SecretBinary: version.secretBinary }),
        VersionStages: version.stages,
        CreatedDate: version.createdDate,
      };
    },
    // https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html
    PutSecretValue(input) {
      const secret = secretOf(input);
      const value = secretValue(input, true) as NonNullable<ReturnType<typeof secretValue>>;
      const stages = input.VersionStages === undefined ? [AWSCURRENT] : stringList(input, 'VersionStages');
      const version = addVersion(
        secret,
        value,
        stringField(input, 'ClientRequestToken') ?? randomUUID(),
        stages,
      );
      save();
      return {
        ARN: secret.arn,
        Name: secret.name,
        VersionId: version.versionId,
        VersionStages: version.stages,
      };
    },
    // https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DescribeSecret.html
    DescribeSecret(input) {
      const secret = secretOf(input);
      const labelled = secret.versions.filter((version) => version.stages.length > 0);
      return {
        ARN: secret.arn,
        Name: secret.name,
        ...(secret.description === undefined ? {} : { Description: secret.description }),
        CreatedDate: secret.createdDate,
        LastChangedDate: secret.lastChangedDate,
        VersionIdsToStages: Object.fromEntries(
          labelled.map((version) => [version.versionId, version.stages]),
        ),
      };
    },
  };

  return {
    arnOf: (secretId) => find(secretId)?.arn,
    ensure(name, value) {
      const kept = find(name);
      if (kept) return kept.arn;
      const secret = create(name, undefined);
      addVersion(secret, { secretString: value() }, randomUUID(), [AWSCURRENT]);
      save();
      return secret.arn;
    },
    putCurrent(arn, value) {
      const secret =
        secrets.get(arn) ?? create(arn.slice(arn.indexOf(':secret:') + ':secret:'.length), undefined, arn);
      const current = secret.versions.find((version) => version.stages.includes(AWSCURRENT));
      if (current?.secretString === value) return;
      addVersion(secret, { secretString: value }, randomUUID(), [AWSCURRENT]);
      save();
    },
    api: async (operation, input) => {
      const answer = Object.hasOwn(operations, operation) ? operations[operation] : undefined;
      if (!answer) throw new UnknownOperationError('Secrets Manager', operation);
      return answer(input);
    },
  };
}

/** A string member of the request; a required one missing, or one of another type, is InvalidParameterException. */
function stringField(input: Record<string, unknown>, field: string, required: true): string;
function stringField(input: Record<string, unknown>, field: string, required?: false): string | undefined;
function stringField(input: Record<string, unknown>, field: string, required = false): string | undefined {
  const value = input[field];
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'string' || value === '') {
    throw new AwsApiError('InvalidParameterException', field, `Invalid parameter: ${field}`);
  }
  return value;
}

function stringList(input: Record<string, unknown>, field: string): string[] {
  const value = input[field];
  if (!Array.isArray(value) || value.length === 0 || !value.every((item) => typeof item === 'string')) {
    throw new AwsApiError('InvalidParameterException', field, `Invalid parameter: ${field}`);
  }
  return value;
}

/**
 * `SecretString` or `SecretBinary`, one at most (both is InvalidParameterException, as Secrets
 * Manager answers); when `required`, one at least (PutSecretValue: InvalidRequestException).
 */
function secretValue(
  input: Record<string, unknown>,
  required: boolean,
): { secretString: string } | { secretBinary: string } | undefined {
  const secretString = stringField(input, 'SecretString');
  const secretBinary = stringField(input, 'SecretBinary');
  if (secretString !== undefined && secretBinary !== undefined) {
    throw new AwsApiError(
      'InvalidParameterException',
      'SecretString',
      "You can't specify both a binary secret value and a string secret value in the same secret.",
    );
  }
  if (secretString !== undefined) return { secretString };
  if (secretBinary !== undefined) return { secretBinary };
  if (required) {
    throw new AwsApiError(
      'InvalidRequestException',
      'SecretString',
      'You must provide either SecretString or SecretBinary.',
    );
  }
  return undefined;
}
