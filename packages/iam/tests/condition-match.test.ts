import { describe, expect, it } from '@jest/globals';
import { evaluateRequest, parsePolicy, type RequestContext } from '../src/index.ts';

const principal = { type: 'role', roleArn: 'arn:aws:iam::123456789012:role/r' } as const;

/** Whether an Allow with this Condition block grants, for a request with this context. */
function grants(condition: object, context: RequestContext): boolean {
  const policy = parsePolicy(
    {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: '*', Resource: '*', Condition: condition }],
    },
    'p',
  );
  return (
    evaluateRequest(
      { principal, action: 's3:GetObject', resource: '*', context },
      { identityPolicies: [policy] },
    ).decision === 'allow'
  );
}

// IAM User Guide, "IAM JSON policy elements: Condition operators" and "Multivalued context keys".
describe('condition operators', () => {
  it('is false for a positive operator on an absent key and true for a negated one', () => {
    expect(grants({ StringEquals: { 'aws:SourceAccount': '123456789012' } }, {})).toBe(false);
    expect(grants({ StringNotEquals: { 'aws:SourceAccount': '123456789012' } }, {})).toBe(true);
    expect(grants({ ArnNotLike: { 'aws:SourceArn': 'arn:aws:sqs:*:*:q' } }, {})).toBe(true);
  });

  it('is true for ...IfExists on an absent key and tests the value when present', () => {
    const condition = { StringEqualsIfExists: { 'ec2:InstanceType': ['t2.micro', 't2.small'] } };
    expect(grants(condition, {})).toBe(true);
    expect(grants(condition, { 'ec2:InstanceType': 't2.small' })).toBe(true);
    expect(grants(condition, { 'ec2:InstanceType': 'm5.large' })).toBe(false);
  });

  it('tests presence with Null', () => {
    expect(grants({ Null: { 'aws:TokenIssueTime': 'true' } }, {})).toBe(true);
    expect(
      grants({ Null: { 'aws:TokenIssueTime': 'true' } }, { 'aws:TokenIssueTime': '2026-01-01T00:00:00Z' }),
    ).toBe(false);
    expect(
      grants({ Null: { 'aws:TokenIssueTime': 'false' } }, { 'aws:TokenIssueTime': '2026-01-01T00:00:00Z' }),
    ).toBe(true);
  });

  it('ORs the values of one key and ANDs the keys and the operators', () => {
    // The shape of sidestep's trust policies: two keys under one StringEquals.
    const condition = {
      StringEquals: { 'aws:SourceAccount': '000000000000', 'aws:SourceArn': ['arn:a', 'arn:b'] },
    };
    expect(grants(condition, { 'aws:SourceAccount': '000000000000', 'aws:SourceArn': 'arn:b' })).toBe(true);
    expect(grants(condition, { 'aws:SourceAccount': '000000000000', 'aws:SourceArn': 'arn:c' })).toBe(false);
    expect(grants(condition, { 'aws:SourceAccount': '111111111111', 'aws:SourceArn': 'arn:a' })).toBe(false);
    expect(
      grants({ StringNotEquals: { 'aws:SourceArn': ['arn:a', 'arn:b'] } }, { 'aws:SourceArn': 'arn:b' }),
    ).toBe(false);
  });

  it('compares condition key names case-insensitively and values case-sensitively', () => {
    // The synthesized ECR repository policies write `aws:sourceArn`.
    expect(
      grants(
        { StringLike: { 'aws:sourceArn': 'arn:aws:lambda:*:function:x' } },
        { 'aws:SourceArn': 'arn:aws:lambda:us-east-1:1:function:x' },
      ),
    ).toBe(true);
    expect(grants({ StringEquals: { 's3:prefix': 'Exports/' } }, { 's3:prefix': 'exports/' })).toBe(false);
    expect(grants({ StringEqualsIgnoreCase: { 's3:prefix': 'Exports/' } }, { 's3:prefix': 'exports/' })).toBe(
      true,
    );
  });

  // "StringLike: Case-sensitive matching" (IAM User Guide, condition operators:
  // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_String).
  it('matches StringLike case-sensitively', () => {
    expect(grants({ StringLike: { 's3:prefix': 'exports/*' } }, { 's3:prefix': 'exports/a.csv' })).toBe(true);
    expect(grants({ StringLike: { 's3:prefix': 'Exports/*' } }, { 's3:prefix': 'exports/a.csv' })).toBe(
      false,
    );
  });

  it('is true for a negated operator on a multivalued key only when no value matches', () => {
    expect(grants({ StringNotEquals: { 'aws:TagKeys': 'env' } }, { 'aws:TagKeys': ['team', 'cost'] })).toBe(
      true,
    );
    expect(grants({ StringNotEquals: { 'aws:TagKeys': 'env' } }, { 'aws:TagKeys': ['env', 'team'] })).toBe(
      false,
    );
  });

  it('compares dates strictly with DateGreaterThan, and reads epoch seconds', () => {
    const at = { 'aws:CurrentTime': '2026-01-01T00:00:00Z' };
    expect(grants({ DateGreaterThan: { 'aws:CurrentTime': '2026-01-01T00:00:00Z' } }, at)).toBe(false);
    expect(grants({ DateGreaterThanEquals: { 'aws:CurrentTime': '2026-01-01T00:00:00Z' } }, at)).toBe(true);
    expect(grants({ DateGreaterThan: { 'aws:CurrentTime': '2025-12-31T23:59:59Z' } }, at)).toBe(true);
    // 1782777600 is 2026-06-30T00:00:00Z in seconds (not milliseconds, which would be January 1970).
    expect(grants({ DateLessThan: { 'aws:CurrentTime': '1782777600' } }, at)).toBe(true);
    expect(grants({ DateGreaterThan: { 'aws:CurrentTime': '1782777600' } }, at)).toBe(false);
  });

  it('applies ForAnyValue and ForAllValues to multivalued keys, with their empty-key rules', () => {
    const any = { 'ForAnyValue:StringEquals': { 'aws:TagKeys': ['env', 'team'] } };
    const all = { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['env', 'team'] } };
    expect(grants(any, { 'aws:TagKeys': ['env', 'cost'] })).toBe(true);
    expect(grants(all, { 'aws:TagKeys': ['env', 'cost'] })).toBe(false);
    expect(grants(all, { 'aws:TagKeys': ['env', 'team'] })).toBe(true);
    expect(grants(any, {})).toBe(false);
    expect(grants(all, {})).toBe(true);
  });

  it('reads Bool, Numeric, Date and IpAddress values', () => {
    expect(grants({ Bool: { 'aws:SecureTransport': 'true' } }, { 'aws:SecureTransport': true })).toBe(true);
    expect(grants({ Bool: { 'aws:SecureTransport': true } }, { 'aws:SecureTransport': 'false' })).toBe(false);
    expect(grants({ NumericLessThan: { 's3:max-keys': '10' } }, { 's3:max-keys': 9 })).toBe(true);
    expect(grants({ NumericLessThan: { 's3:max-keys': '10' } }, { 's3:max-keys': 10 })).toBe(false);
    expect(
      grants(
        { DateLessThan: { 'aws:CurrentTime': '2026-06-30T00:00:00Z' } },
        { 'aws:CurrentTime': '2026-01-01T00:00:00Z' },
      ),
    ).toBe(true);
    expect(
      grants({ IpAddress: { 'aws:SourceIp': '203.0.113.0/24' } }, { 'aws:SourceIp': '203.0.113.9' }),
    ).toBe(true);
    expect(
      grants({ IpAddress: { 'aws:SourceIp': '203.0.113.0/24' } }, { 'aws:SourceIp': '198.51.100.1' }),
    ).toBe(false);
    expect(
      grants({ NotIpAddress: { 'aws:SourceIp': '2001:db8::/32' } }, { 'aws:SourceIp': '2001:db8::1' }),
    ).toBe(false);
  });

  it('matches ArnEquals and ArnLike with wildcards, case-sensitively', () => {
    const rule = 'arn:aws:events:us-east-1:000000000000:rule/sidestep-local-nightly';
    expect(grants({ ArnEquals: { 'aws:SourceArn': rule } }, { 'aws:SourceArn': rule })).toBe(true);
    expect(
      grants(
        { ArnLike: { 'aws:SourceArn': 'arn:aws:events:us-east-1:000000000000:rule/*' } },
        { 'aws:SourceArn': rule },
      ),
    ).toBe(true);
    expect(grants({ ArnEquals: { 'aws:SourceArn': rule.toUpperCase() } }, { 'aws:SourceArn': rule })).toBe(
      false,
    );
  });
});
