import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { ConditionClause } from './policy.ts';
import { arnMatch, wildcardMatch } from './wildcard-match.ts';

/** A condition key's value in a request: single-valued keys hold one, multivalued keys a list. */
export type ContextValue = string | number | boolean | readonly (string | number | boolean)[];

/** The request's condition keys (`aws:SourceArn`, `s3:prefix`, ...); names are case-insensitive. */
export type RequestContext = Readonly<Record<string, ContextValue | undefined>>;

/** A request context with lower-cased keys and string values, as the operators read it. */
export type NormalizedContext = ReadonlyMap<string, readonly string[]>;

/** Lower-cases the keys (IAM condition key names are case-insensitive) and stringifies values. */
export function normalizeContext(...contexts: readonly (RequestContext | undefined)[]): NormalizedContext {
  const map = new Map<string, string[]>();
  for (const context of contexts) {
    for (const [key, value] of Object.entries(context ?? {})) {
      if (value === undefined) continue;
      map.set(key.toLowerCase(), (Array.isArray(value) ? value : [value]).map(String));
    }
  }
  return map;
}

type Compare = (policy: string, request: string) => boolean;

function numeric(test: (a: number, b: number) => boolean): Compare {
  return (policy, request) => {
    const a = Number(request);
    const b = Number(policy);
    return !Number.isNaN(a) && !Number.isNaN(b) && test(a, b);
  };
}

/** Dates are ISO 8601 text or epoch seconds (both forms IAM accepts). */
function epochMillis(value: string): number {
  return /^\d+$/.test(value) ? Number(value) * 1000 : Date.parse(value);
}

function date(test: (a: number, b: number) => boolean): Compare {
  return (policy, request) => {
    const a = epochMillis(request);
    const b = epochMillis(policy);
    return !Number.isNaN(a) && !Number.isNaN(b) && test(a, b);
  };
}

/** `IpAddress` ranges, IPv4 and IPv6 CIDR or single addresses, checked by node's own BlockList. */
function ipInRange(policy: string, request: string): boolean {
  const [address = '', bits] = policy.split('/');
  const type = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
  if (!type || !(isIPv4(request) || isIPv6(request))) return false;
  const list = new BlockList();
  if (bits === undefined) list.addAddress(address, type);
  else list.addSubnet(address, Number(bits), type);
  return list.check(request, isIPv4(request) ? 'ipv4' : 'ipv6');
}

/** The positive form of each operator; the negated ones are `!` of these over all policy values. */
const POSITIVE: Record<string, Compare> = {
  StringEquals: (p, r) => p === r,
  StringEqualsIgnoreCase: (p, r) => p.toLowerCase() === r.toLowerCase(),
  StringLike: (p, r) => wildcardMatch(p, r),
  NumericEquals: numeric((a, b) => a === b),
  NumericLessThan: numeric((a, b) => a < b),
  NumericLessThanEquals: numeric((a, b) => a <= b),
  NumericGreaterThan: numeric((a, b) => a > b),
  NumericGreaterThanEquals: numeric((a, b) => a >= b),
  DateEquals: date((a, b) => a === b),
  DateLessThan: date((a, b) => a < b),
  DateLessThanEquals: date((a, b) => a <= b),
  DateGreaterThan: date((a, b) => a > b),
  DateGreaterThanEquals: date((a, b) => a >= b),
  Bool: (p, r) => p.toLowerCase() === r.toLowerCase(),
  BinaryEquals: (p, r) => p === r,
  IpAddress: ipInRange,
  ArnEquals: arnMatch,
  ArnLike: arnMatch,
};

const NEGATED: Record<string, string> = {
  StringNotEquals: 'StringEquals',
  StringNotEqualsIgnoreCase: 'StringEqualsIgnoreCase',
  StringNotLike: 'StringLike',
  NumericNotEquals: 'NumericEquals',
  DateNotEquals: 'DateEquals',
  NotIpAddress: 'IpAddress',
  ArnNotEquals: 'ArnEquals',
  ArnNotLike: 'ArnLike',
};

/**
 * Evaluates one condition clause against the request, with AWS's rules for absent keys
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html):
 * a key missing from the request makes a positive operator false and a negated one true;
 * `...IfExists` makes any operator true when the key is missing; `Null` tests presence itself;
 * `ForAllValues` is true and `ForAnyValue` false for a missing or empty key.
 *
 * @param values the clause's policy values after policy-variable substitution; `undefined` stands
 *   for a value whose variable the request lacks, which matches nothing.
 */
export function conditionClauseMatches(
  clause: ConditionClause,
  values: readonly (string | undefined)[],
  context: NormalizedContext,
): boolean {
  const present = context.get(clause.key.toLowerCase());
  if (clause.base === 'Null') {
    const absent = present === undefined || present.length === 0;
    return values.some((v) => v !== undefined && v.toLowerCase() === String(absent));
  }
  const negatedOf = NEGATED[clause.base];
  const compare = POSITIVE[negatedOf ?? clause.base];
  if (!compare) return false;
  const defined = values.filter((v): v is string => v !== undefined);
  // The clause's value for one request value: any policy value matches (positive), none does (negated).
  const single = (request: string): boolean => {
    const any = defined.some((p) => compare(p, request));
    return negatedOf ? !any : any;
  };
  if (present === undefined || present.length === 0) {
    if (clause.set === 'ForAllValues') return true;
    if (clause.set === 'ForAnyValue') return false;
    return clause.ifExists || negatedOf !== undefined;
  }
  if (clause.set === 'ForAllValues') return present.every(single);
  if (clause.set === 'ForAnyValue') return present.some(single);
  // A single-valued operator on a multivalued key: positive if any value matches, negated if none does.
  if (negatedOf) return present.every(single);
  return present.some(single);
}
