import { Route53Record } from '@cdktn/provider-aws/lib/route53-record/index.js';
import { Sesv2ConfigurationSet } from '@cdktn/provider-aws/lib/sesv2-configuration-set/index.js';
import { Sesv2EmailIdentity } from '@cdktn/provider-aws/lib/sesv2-email-identity/index.js';
import { Sesv2EmailIdentityMailFromAttributes } from '@cdktn/provider-aws/lib/sesv2-email-identity-mail-from-attributes/index.js';
import { resourceName, sendRateText } from '@sidestep/manifest';
import { Fn } from 'cdktn';
import { Construct } from 'constructs';
import { InfraConfigError } from '../errors.ts';
import { type PolicyGrantee, statementId } from './grantable-role.ts';
import type { PermissionTarget } from './manifest-permissions.ts';

/** Props of {@link MailIdentity}. */
export interface MailIdentityProps {
  /** Environment name (`staging`); the configuration set is `sidestep-<env>-mail`. */
  readonly environment: string;
  /** The address mail is sent from (`MAIL_FROM`), e.g. `no-reply@mail.example.com`. */
  readonly fromAddress: string;
  /**
   * Verify the whole domain instead of the single address (DKIM records to publish in DNS). The
   * from-address must be in this domain.
   * @default none: the from-address itself is the identity
   */
  readonly domain?: string;
  /**
   * While the account is in the SES sandbox: the verified recipient addresses, whose identities SES
   * also authorizes each send against (https://docs.aws.amazon.com/ses/latest/dg/control-user-access.html:
   * in the sandbox a send needs permission on the recipients' identities too). Their ARNs join
   * {@link MailIdentity.resourceArns}, in `account`'s region.
   * @default none
   */
  readonly sandboxRecipients?: {
    readonly region: string;
    readonly accountId: string;
    readonly addresses: readonly string[];
  };
  /**
   * The most mails per second the sender may send, all its concurrent sandboxes together (the SES
   * account's maximum send rate or a share of it): the sender's `MAIL_MAX_SEND_RATE`, written as a
   * plain decimal (`14`, `0.5`, never an exponent). Above the account's rate SES throttles a send:
   * https://docs.aws.amazon.com/ses/latest/dg/manage-sending-quotas-errors.html
   * @default none: the sender sends as fast as it can
   */
  readonly maxSendRate?: number;
  /**
   * Require TLS to the receiving mail server; mail to a server without TLS bounces instead of
   * travelling in clear text.
   * @default true
   */
  readonly requireTls?: boolean;
  /**
   * Publish the domain's records in Route 53: the 3 DKIM CNAMEs, and a custom MAIL FROM domain with
   * its MX and SPF records (bounces then come from the domain, which SPF-aligns it for DMARC).
   * Needs `domain`.
   * @default none: publish the DKIM records of {@link MailIdentity.dkimTokens} yourself
   */
  readonly dns?: {
    /** The hosted zone of `domain` (or of a parent domain). */
    readonly hostedZoneId: string;
    /** Region of the SES identity: names the MAIL FROM domain's MX target. */
    readonly region: string;
    /** Subdomain of `domain` bounces are sent from. @default 'bounce' */
    readonly mailFromSubdomain?: string;
  };
}

/** SES Easy DKIM: 3 tokens, each published as `<token>._domainkey.<domain>` CNAME `<token>.dkim.amazonses.com`. */
const DKIM_TOKEN_COUNT = 3;
/** The TTL SES's console proposes for the DKIM records. */
const DKIM_TTL_SECONDS = 1800;

const ADDRESS = /^[^@\s]+@([a-z0-9-]+(\.[a-z0-9-]+)+)$/i;

/**
 * The SES v2 email identity sidestep sends mail from, with a configuration set (reputation metrics on,
 * sending enabled) set as the identity's default, so every send is counted in the set's metrics. With
 * `dns`, the domain's DKIM and MAIL FROM records are published in Route 53; without, the DKIM tokens
 * ({@link MailIdentity.dkimTokens}) are for whoever runs the domain's DNS. A new account is in the SES
 * sandbox either way (only verified recipients) until AWS grants production access.
 */
export class MailIdentity extends Construct {
  /** The identity resource. */
  readonly identity: Sesv2EmailIdentity;
  /** The configuration set resource. */
  readonly configurationSet: Sesv2ConfigurationSet;
  /** Identity ARN (`arn:aws:ses:<region>:<account>:identity/<domain or address>`). */
  readonly identityArn: string;
  /** Configuration set ARN. */
  readonly configurationSetArn: string;
  /** The address mail is sent from. */
  readonly fromAddress: string;
  /** The 3 DKIM tokens SES generated for the domain (publish them, or let `dns` do it). */
  readonly dkimTokens: string[];
  readonly #sandboxRecipientArns: readonly string[];
  readonly #maxSendRate: number | undefined;

  constructor(scope: Construct, id: string, props: MailIdentityProps) {
    super(scope, id);
    const address = ADDRESS.exec(props.fromAddress);
    if (!address)
      throw new InfraConfigError(`${props.environment}.mail.fromAddress`, 'is not an email address');
    if (props.domain && address[1]?.toLowerCase() !== props.domain.toLowerCase()) {
      throw new InfraConfigError(
        `${props.environment}.mail.fromAddress`,
        `${props.fromAddress} is not in the verified domain ${props.domain}`,
      );
    }
    this.fromAddress = props.fromAddress;
    this.#maxSendRate = props.maxSendRate;
    this.configurationSet = new Sesv2ConfigurationSet(this, 'configuration-set', {
      configurationSetName: resourceName(props.environment, 'mail'),
      reputationOptions: { reputationMetricsEnabled: true },
      sendingOptions: { sendingEnabled: true },
      deliveryOptions: (props.requireTls ?? true) ? { tlsPolicy: 'REQUIRE' } : undefined,
    });
    this.identity = new Sesv2EmailIdentity(this, 'identity', {
      emailIdentity: props.domain ?? props.fromAddress,
      configurationSetName: this.configurationSet.configurationSetName,
    });
    this.identityArn = this.identity.arn;
    this.configurationSetArn = this.configurationSet.arn;
    const sandbox = props.sandboxRecipients;
    this.#sandboxRecipientArns = (sandbox?.addresses ?? []).map(
      (address) => `arn:aws:ses:${sandbox?.region}:${sandbox?.accountId}:identity/${address}`,
    );
    this.dkimTokens = this.identity.dkimSigningAttributes.tokens;
    if (props.dns) {
      if (!props.domain) {
        throw new InfraConfigError(
          `${props.environment}.mail.hostedZoneId`,
          'needs mail.domain, whose records it holds',
        );
      }
      this.publishRecords(props.domain, props.dns);
    }
  }

  /** The DKIM CNAMEs, the MAIL FROM domain and its MX and SPF records, in the hosted zone. */
  private publishRecords(domain: string, dns: NonNullable<MailIdentityProps['dns']>): void {
    for (let index = 0; index < DKIM_TOKEN_COUNT; index += 1) {
      const token = Fn.element(this.dkimTokens, index);
      new Route53Record(this, `dkim-${index}`, {
        zoneId: dns.hostedZoneId,
        name: `${token}._domainkey.${domain}`,
        type: 'CNAME',
        ttl: DKIM_TTL_SECONDS,
        records: [`${token}.dkim.amazonses.com`],
      });
    }
    // https://docs.aws.amazon.com/ses/latest/dg/mail-from.html
    const mailFromDomain = `${dns.mailFromSubdomain ?? 'bounce'}.${domain}`;
    new Sesv2EmailIdentityMailFromAttributes(this, 'mail-from', {
      emailIdentity: this.identity.emailIdentity,
      mailFromDomain,
      // Until the MX record resolves, SES sends from amazonses.com instead of refusing to send.
      behaviorOnMxFailure: 'USE_DEFAULT_VALUE',
    });
    new Route53Record(this, 'mail-from-mx', {
      zoneId: dns.hostedZoneId,
      name: mailFromDomain,
      type: 'MX',
      ttl: DKIM_TTL_SECONDS,
      records: [`10 feedback-smtp.${dns.region}.amazonses.com`],
    });
    new Route53Record(this, 'mail-from-spf', {
      zoneId: dns.hostedZoneId,
      name: mailFromDomain,
      type: 'TXT',
      ttl: DKIM_TTL_SECONDS,
      records: ['v=spf1 include:amazonses.com ~all'],
    });
  }

  /**
   * SES authorizes a send against the identity and against the configuration set it uses (here the
   * identity's default set), so both ARNs are named.
   */
  get resourceArns(): readonly string[] {
    return [this.identityArn, this.configurationSetArn, ...this.#sandboxRecipientArns];
  }

  /**
   * What a manifest's `mail-identity` permission resolves to: these ARNs, `MAIL_FROM`,
   * `MAIL_TRANSPORT=ses`, `SES_CONFIGURATION_SET` (the identity's default set, named explicitly so
   * the sender does not depend on the default), and `MAIL_MAX_SEND_RATE` with a `maxSendRate`.
   */
  get permissionTarget(): PermissionTarget {
    return {
      resourceArns: this.resourceArns,
      servicePrefixes: ['ses'],
      environment: {
        MAIL_FROM: this.fromAddress,
        MAIL_TRANSPORT: 'ses',
        SES_CONFIGURATION_SET: this.configurationSet.configurationSetName,
        ...(this.#maxSendRate === undefined ? {} : { MAIL_MAX_SEND_RATE: sendRateText(this.#maxSendRate) }),
      },
    };
  }

  /**
   * Lets a grantee send mail from this identity: `ses:SendEmail`, the SES v2 SendEmail action, and
   * `ses:SendRawEmail`, which SES also checks for a SendEmail of raw content (a MIME message, as
   * the mail-dispatcher sends) though AWS's action table does not list it
   * (aws/aws-actionmailer-ses-ruby#10, anymail/django-anymail#384).
   */
  grantSend(grantee: PolicyGrantee): void {
    grantee.addToPolicy({
      sid: statementId('send', 'mail'),
      actions: ['ses:SendEmail', 'ses:SendRawEmail'],
      resources: [...this.resourceArns],
    });
  }
}
