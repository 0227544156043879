import { Sesv2ConfigurationSet } from '@cdktn/provider-aws/lib/sesv2-configuration-set/index.js';
import { Sesv2EmailIdentity } from '@cdktn/provider-aws/lib/sesv2-email-identity/index.js';
import { resourceName } from '@sidestep/manifest';
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
   * Require TLS to the receiving mail server; mail to a server without TLS bounces instead of
   * travelling in clear text.
   * @default true
   */
  readonly requireTls?: boolean;
}

const ADDRESS = /^[^@\s]+@([a-z0-9-]+(\.[a-z0-9-]+)+)$/i;

/**
 * The SES v2 email identity sidestep sends mail from, with a configuration set (reputation metrics on,
 * sending enabled) set as the identity's default, so every send is counted in the set's metrics.
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
  }

  /**
   * SES authorizes a send against the identity and against the configuration set it uses (here the
   * identity's default set), so both ARNs are named.
   */
  get resourceArns(): readonly string[] {
    return [this.identityArn, this.configurationSetArn];
  }

  /**
   * What a manifest's `mail-identity` permission resolves to: these ARNs, `MAIL_FROM`,
   * `MAIL_TRANSPORT=ses`, and `SES_CONFIGURATION_SET` (the identity's default set, named explicitly so
   * the sender does not depend on the default).
   */
  get permissionTarget(): PermissionTarget {
    return {
      resourceArns: this.resourceArns,
      servicePrefixes: ['ses'],
      environment: {
        MAIL_FROM: this.fromAddress,
        MAIL_TRANSPORT: 'ses',
        SES_CONFIGURATION_SET: this.configurationSet.configurationSetName,
      },
    };
  }

  /** Lets a grantee send mail from this identity (`ses:SendEmail`, the SES v2 SendEmail action). */
  grantSend(grantee: PolicyGrantee): void {
    grantee.addToPolicy({
      sid: statementId('send', 'mail'),
      actions: ['ses:SendEmail'],
      resources: [...this.resourceArns],
    });
  }
}
