import { describe, expect, it } from '@jest/globals';
import { checkSecurityPolicy, environmentConfigs } from '../src/index.ts';
import { STAGING, synthStack } from './environment-fixture.ts';
import { all, one, ref, statementFor } from './terraform-json.ts';

const withZone = synthStack({ ...STAGING, mail: { ...STAGING.mail, hostedZoneId: 'Z0123456789ABCDEFGHIJ' } });
const withoutZone = synthStack(STAGING);

describe('MailIdentity DNS (SIDESTEP_<ENV>_HOSTED_ZONE_ID)', () => {
  const [identityAddress] = one(withZone, 'aws_sesv2_email_identity');
  const tokens = ref(identityAddress, 'dkim_signing_attributes[0].tokens');

  it('outputs the DKIM tokens to publish, with or without a hosted zone', () => {
    for (const tf of [withZone, withoutZone]) {
      const [address] = one(tf, 'aws_sesv2_email_identity');
      expect(tf.output.mail_dkim_tokens.value).toBe(ref(address, 'dkim_signing_attributes[0].tokens'));
    }
  });

  it('publishes the 3 DKIM CNAMEs in the hosted zone', () => {
    const cnames = all(withZone, 'aws_route53_record')
      .map(([, record]) => record)
      .filter((record) => record.type === 'CNAME');
    expect(cnames).toHaveLength(3);
    cnames.forEach((record, index) => {
      const token = `\${element(${tokens.slice(2, -1)}, ${index})}`;
      expect(record).toMatchObject({
        zone_id: 'Z0123456789ABCDEFGHIJ',
        name: `${token}._domainkey.mail.example.com`,
        ttl: 1800,
        records: [`${token}.dkim.amazonses.com`],
      });
    });
  });

  it('sends from a custom MAIL FROM domain with its MX and SPF records', () => {
    const [, mailFrom] = one(withZone, 'aws_sesv2_email_identity_mail_from_attributes');
    expect(mailFrom).toMatchObject({
      email_identity: ref(identityAddress, 'email_identity'),
      mail_from_domain: 'bounce.mail.example.com',
      behavior_on_mx_failure: 'USE_DEFAULT_VALUE',
    });
    const [, mx] = one(withZone, 'aws_route53_record', { type: 'MX' });
    expect(mx).toMatchObject({
      name: 'bounce.mail.example.com',
      records: ['10 feedback-smtp.eu-west-1.amazonses.com'],
    });
    const [, spf] = one(withZone, 'aws_route53_record', { type: 'TXT' });
    expect(spf).toMatchObject({
      name: 'bounce.mail.example.com',
      records: ['v=spf1 include:amazonses.com ~all'],
    });
    expect(checkSecurityPolicy(withZone)).toEqual([]);
  });

  it('creates no DNS records and no MAIL FROM domain without a hosted zone', () => {
    expect(all(withoutZone, 'aws_route53_record')).toHaveLength(0);
    expect(all(withoutZone, 'aws_sesv2_email_identity_mail_from_attributes')).toHaveLength(0);
  });

  it('reads the zone from SIDESTEP_<ENV>_HOSTED_ZONE_ID', () => {
    const { staging, production } = environmentConfigs({
      SIDESTEP_STAGING_HOSTED_ZONE_ID: 'Z0123456789ABCDEFGHIJ',
    });
    expect(staging.mail.hostedZoneId).toBe('Z0123456789ABCDEFGHIJ');
    expect(production.mail.hostedZoneId).toBeUndefined();
  });
});

// https://docs.aws.amazon.com/ses/latest/dg/control-user-access.html: in the SES sandbox a send is
// authorized against each recipient's identity too.
describe('MailIdentity in the SES sandbox (SIDESTEP_<ENV>_MAIL_SANDBOX_RECIPIENTS)', () => {
  it('grants the mail-dispatcher sending to the verified recipients while the account is in the sandbox', () => {
    const recipients = ['ops@corp.example.org', 'tester@corp.example.org'];
    const sandboxed = synthStack({ ...STAGING, mail: { ...STAGING.mail, sandboxRecipients: recipients } });
    const send = statementFor(sandboxed, 'sidestep-staging-mail-dispatcher', 'ses:SendRawEmail');
    expect(send.Resource).toEqual(
      expect.arrayContaining(
        recipients.map((address) => `arn:aws:ses:${STAGING.region}:${STAGING.accountId}:identity/${address}`),
      ),
    );
    // Without the setting, only the sending identity and its configuration set.
    expect(
      statementFor(withoutZone, 'sidestep-staging-mail-dispatcher', 'ses:SendRawEmail').Resource,
    ).toHaveLength(2);
  });

  it('reads the recipients from SIDESTEP_<ENV>_MAIL_SANDBOX_RECIPIENTS, and refuses one that is not an address', () => {
    const { staging, production } = environmentConfigs({
      SIDESTEP_STAGING_MAIL_SANDBOX_RECIPIENTS: 'ops@corp.example.org, tester@corp.example.org',
    });
    expect(staging.mail.sandboxRecipients).toEqual(['ops@corp.example.org', 'tester@corp.example.org']);
    expect(production.mail.sandboxRecipients).toBeUndefined();
    expect(() =>
      environmentConfigs({ SIDESTEP_STAGING_MAIL_SANDBOX_RECIPIENTS: 'ops@corp.example.org,ops' }),
    ).toThrow(expect.objectContaining({ field: 'staging.mail.sandboxRecipients' }));
  });

  // An identity exists once per account and region: CreateEmailIdentity of one that exists fails with
  // AlreadyExistsException (https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_CreateEmailIdentity.html),
  // so the second environment's first apply would fail half-way.
  it('refuses staging and production creating the same SES identity in one account and region, naming the variable', () => {
    const shared = {
      SIDESTEP_STAGING_ACCOUNT_ID: '123456789012',
      SIDESTEP_PRODUCTION_ACCOUNT_ID: '123456789012',
      SIDESTEP_STAGING_MAIL_FROM: 'staging@mail.example.org',
      SIDESTEP_STAGING_MAIL_DOMAIN: 'mail.example.org',
      SIDESTEP_PRODUCTION_MAIL_FROM: 'no-reply@mail.example.org',
      SIDESTEP_PRODUCTION_MAIL_DOMAIN: 'Mail.Example.org',
    };
    expect(() => environmentConfigs(shared)).toThrow(
      expect.objectContaining({
        field: 'production.mail.domain',
        message: expect.stringContaining('SIDESTEP_PRODUCTION_MAIL_DOMAIN'),
      }),
    );
    // Another domain, another region or another account: two identities.
    expect(() =>
      environmentConfigs({
        ...shared,
        SIDESTEP_STAGING_MAIL_FROM: 'no-reply@staging.mail.example.org',
        SIDESTEP_STAGING_MAIL_DOMAIN: 'staging.mail.example.org',
      }),
    ).not.toThrow();
    expect(() => environmentConfigs({ ...shared, SIDESTEP_STAGING_REGION: 'us-east-1' })).not.toThrow();
    expect(() =>
      environmentConfigs({ ...shared, SIDESTEP_STAGING_ACCOUNT_ID: '210987654321' }),
    ).not.toThrow();
  });
});
