import { IamPolicyError } from './errors.ts';

/** A statement as written in a policy document (the IAM JSON policy language). */
export interface PolicyStatementDocument {
  readonly Sid?: string;
  readonly Effect: string;
  readonly Action?: string | readonly string[];
  readonly NotAction?: string | readonly string[];
  readonly Resource?: string | readonly string[];
  readonly NotResource?: string | readonly string[];
  readonly Principal?: PrincipalDocument;
  readonly NotPrincipal?: PrincipalDocument;
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

/** `"*"` or `{ "AWS": ..., "Service": ... }` as written in a resource-based policy. */
export type PrincipalDocument = string | Readonly<Record<string, string | readonly string[]>>;

/** A policy document as written (the JSON that IAM, S3, SQS and Lambda store). */
export interface PolicyDocument {
  readonly Version?: string;
  readonly Id?: string;
  readonly Statement: PolicyStatementDocument | readonly PolicyStatementDocument[];
}

/** The principals a `Principal` or `NotPrincipal` element names; `'*'` is everyone. */
export type PrincipalSet = '*' | Readonly<Record<string, readonly string[]>>;

/** One key test of a `Condition` block, e.g. `StringEquals` `aws:SourceAccount` `["0000"]`. */
export interface ConditionClause {
  /** The operator as written (`ForAnyValue:StringLikeIfExists`). */
  readonly operator: string;
  /** The operator without set prefix and `IfExists` suffix (`StringLike`). */
  readonly base: ConditionOperator;
  readonly ifExists: boolean;
  readonly set?: 'ForAnyValue' | 'ForAllValues';
  /** The condition key as written; keys are compared case-insensitively. */
  readonly key: string;
  readonly values: readonly string[];
}

/** A statement ready to evaluate. */
export interface Statement {
  readonly sid?: string;
  /** Position in the policy's `Statement` list, for messages when there is no `Sid`. */
  readonly index: number;
  readonly effect: 'Allow' | 'Deny';
  readonly action?: readonly string[];
  readonly notAction?: readonly string[];
  readonly resource?: readonly string[];
  readonly notResource?: readonly string[];
  readonly principal?: PrincipalSet;
  readonly notPrincipal?: PrincipalSet;
  readonly conditions: readonly ConditionClause[];
  /**
   * References (Terraform `${...}` tokens) the loader could not resolve. Such a statement fails
   * closed: an Allow never matches, a Deny matches on its action alone.
   */
  readonly unresolved: readonly string[];
  /** The statement as written, for error messages. */
  readonly source: PolicyStatementDocument;
}

/** A parsed policy, named so a decision can say where its statement came from. */
export interface Policy {
  readonly name: string;
  readonly version: string;
  readonly statements: readonly Statement[];
}

/** The condition operators the evaluator implements (IAM User Guide, "Condition operators"). */
export const CONDITION_OPERATORS = [
  'StringEquals',
  'StringNotEquals',
  'StringEqualsIgnoreCase',
  'StringNotEqualsIgnoreCase',
  'StringLike',
  'StringNotLike',
  'NumericEquals',
  'NumericNotEquals',
  'NumericLessThan',
  'NumericLessThanEquals',
  'NumericGreaterThan',
  'NumericGreaterThanEquals',
  'DateEquals',
  'DateNotEquals',
  'DateLessThan',
  'DateLessThanEquals',
  'DateGreaterThan',
  'DateGreaterThanEquals',
  'Bool',
  'BinaryEquals',
  'IpAddress',
  'NotIpAddress',
  'ArnEquals',
  'ArnLike',
  'ArnNotEquals',
  'ArnNotLike',
  'Null',
] as const;

export type ConditionOperator = (typeof CONDITION_OPERATORS)[number];

const OPERATORS = new Set<string>(CONDITION_OPERATORS);

function list(value: unknown, field: string): string[] {
  const values = Array.isArray(value) ? value : [value];
  return values.map((item, i) => {
    if (typeof item === 'string') return item;
    if (typeof item === 'boolean' || typeof item === 'number') return String(item);
    throw new IamPolicyError(`${field}${Array.isArray(value) ? `[${i}]` : ''} must be a string`, {
      field: Array.isArray(value) ? `${field}[${i}]` : field,
    });
  });
}

function principalSet(value: unknown, field: string): PrincipalSet {
  if (value === '*') return '*';
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new IamPolicyError(`${field} must be "*" or an object such as {"AWS": ...}`, { field });
  }
  const set: Record<string, string[]> = {};
  for (const [type, names] of Object.entries(value)) set[type] = list(names, `${field}.${type}`);
  return set;
}

function conditionClauses(value: unknown, field: string): ConditionClause[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new IamPolicyError(`${field} must be an object of operators`, { field });
  }
  const clauses: ConditionClause[] = [];
  for (const [operator, block] of Object.entries(value)) {
    const match = /^(?:(ForAnyValue|ForAllValues):)?(.+?)(IfExists)?$/.exec(operator);
    const base = match?.[2];
    if (!match || base === undefined || !OPERATORS.has(base) || (base === 'Null' && match[3])) {
      throw new IamPolicyError(`${field}.${operator} is not a condition operator sidestep evaluates`, {
        field: `${field}.${operator}`,
      });
    }
    if (block === null || typeof block !== 'object' || Array.isArray(block)) {
      throw new IamPolicyError(`${field}.${operator} must map condition keys to values`, {
        field: `${field}.${operator}`,
      });
    }
    for (const [key, values] of Object.entries(block)) {
      clauses.push({
        operator,
        base: base as ConditionOperator,
        ifExists: match[3] !== undefined,
        ...(match[1] ? { set: match[1] as 'ForAnyValue' | 'ForAllValues' } : {}),
        key,
        values: list(values, `${field}.${operator}.${key}`),
      });
    }
  }
  return clauses;
}

function exclusive(
  statement: Record<string, unknown>,
  a: string,
  b: string,
  field: string,
  required: boolean,
): void {
  if (statement[a] !== undefined && statement[b] !== undefined) {
    throw new IamPolicyError(`${field} has both ${a} and ${b}`, { field: `${field}.${b}` });
  }
  if (required && statement[a] === undefined && statement[b] === undefined) {
    throw new IamPolicyError(`${field} has neither ${a} nor ${b}`, { field: `${field}.${a}` });
  }
}

/** Parses one statement; `field` names it in errors (`mail-dispatcher.Statement[2]`). */
function parseStatement(raw: unknown, index: number, field: string): Statement {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new IamPolicyError(`${field} must be an object`, { field });
  }
  const s = raw as Record<string, unknown>;
  if (s.Effect !== 'Allow' && s.Effect !== 'Deny') {
    throw new IamPolicyError(`${field}.Effect must be "Allow" or "Deny"`, { field: `${field}.Effect` });
  }
  exclusive(s, 'Action', 'NotAction', field, true);
  exclusive(s, 'Resource', 'NotResource', field, false);
  exclusive(s, 'Principal', 'NotPrincipal', field, false);
  if (s.Sid !== undefined && typeof s.Sid !== 'string') {
    throw new IamPolicyError(`${field}.Sid must be a string`, { field: `${field}.Sid` });
  }
  return {
    ...(typeof s.Sid === 'string' ? { sid: s.Sid } : {}),
    index,
    effect: s.Effect,
    ...(s.Action !== undefined ? { action: list(s.Action, `${field}.Action`) } : {}),
    ...(s.NotAction !== undefined ? { notAction: list(s.NotAction, `${field}.NotAction`) } : {}),
    ...(s.Resource !== undefined ? { resource: list(s.Resource, `${field}.Resource`) } : {}),
    ...(s.NotResource !== undefined ? { notResource: list(s.NotResource, `${field}.NotResource`) } : {}),
    ...(s.Principal !== undefined ? { principal: principalSet(s.Principal, `${field}.Principal`) } : {}),
    ...(s.NotPrincipal !== undefined
      ? { notPrincipal: principalSet(s.NotPrincipal, `${field}.NotPrincipal`) }
      : {}),
    conditions: s.Condition === undefined ? [] : conditionClauses(s.Condition, `${field}.Condition`),
    unresolved: [],
    source: raw as PolicyStatementDocument,
  };
}

/**
 * Parses a policy document (an object or its JSON text) into statements the evaluator reads.
 * Fails with an {@link IamPolicyError} naming the element for anything it cannot evaluate, so an
 * unknown operator is a load-time error instead of a silently ignored condition.
 *
 * @param name names the policy in decisions and errors (a role policy's name, `bucket policy of x`).
 */
export function parsePolicy(document: unknown, name: string): Policy {
  let doc = document;
  if (typeof doc === 'string') {
    try {
      doc = JSON.parse(doc);
    } catch (cause) {
      throw new IamPolicyError(`${name} is not valid JSON`, { field: name, cause });
    }
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new IamPolicyError(`${name} must be a policy document object`, { field: name });
  }
  const { Version, Statement: statements } = doc as Record<string, unknown>;
  if (Version !== undefined && Version !== '2012-10-17' && Version !== '2008-10-17') {
    throw new IamPolicyError(`${name}.Version must be "2012-10-17" or "2008-10-17"`, {
      field: `${name}.Version`,
    });
  }
  if (statements === undefined) {
    throw new IamPolicyError(`${name} has no Statement`, { field: `${name}.Statement` });
  }
  const all = Array.isArray(statements) ? statements : [statements];
  return {
    name,
    // Without a Version, IAM reads the document as 2008-10-17, where ${...} is literal text.
    version: typeof Version === 'string' ? Version : '2008-10-17',
    statements: all.map((raw, i) => parseStatement(raw, i, `${name}.Statement[${i}]`)),
  };
}
