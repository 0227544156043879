import { GetAccountCommand, GetEmailIdentityCommand } from '@aws-sdk/client-sesv2';
import { errorName } from './aws-error.ts';
import type { CheckResult, PreflightCheck } from './preflight-check.ts';

/**
 * SES: the account can send and is out of the sandbox (in it, mail reaches only verified addresses,
 * 200 a day), and the stack's identity (the mail domain, else the from address) is verified with its
 * DKIM records published. Only a paused account fails: the rest blocks mail, not the deploy.
 */
export const mailCheck: PreflightCheck = {
  id: 'ses',
  actions: ['ses:GetAccount', 'ses:GetEmailIdentity'],
  run: async ({ config, clients }) => {
    const results: CheckResult[] = [];
    const account = await clients.sesv2.send(new GetAccountCommand({}));
    if (account.SendingEnabled === false) {
      results.push({
        check: 'ses',
        subject: 'account',
        verdict: 'fail',
        detail: `sending is paused for this account in ${config.region}`,
        fix: 'see the SES console (Reputation metrics) for why, then `aws sesv2 put-account-sending-attributes --sending-enabled`',
      });
    } else if (account.ProductionAccessEnabled !== true) {
      results.push({
        check: 'ses',
        subject: 'account',
        verdict: 'warn',
        detail: `the account is in the SES sandbox in ${config.region}: mail reaches only verified addresses (${config.mail.notifyAddress} included only if verified)`,
        fix:
          'request production access (SES console > Account dashboard, or `aws sesv2 put-account-details --production-access-enabled ...`); ' +
          `until then verify the recipients as SES identities and list them in SIDESTEP_${config.name.toUpperCase()}_MAIL_SANDBOX_RECIPIENTS ` +
          "(in the sandbox SES authorizes each send against the recipients' identities too, and the mail-dispatcher is granted those listed)",
      });
    } else {
      results.push({
        check: 'ses',
        subject: 'account',
        verdict: 'pass',
        detail: 'sending, production access',
      });
    }

    const identity = config.mail.domain ?? config.mail.fromAddress;
    try {
      const found = await clients.sesv2.send(new GetEmailIdentityCommand({ EmailIdentity: identity }));
      const dkim = found.DkimAttributes?.Status ?? 'NOT_STARTED';
      results.push(
        found.VerifiedForSendingStatus === true
          ? {
              check: 'ses',
              subject: identity,
              verdict: 'pass',
              detail: `verified for sending (DKIM ${dkim})`,
            }
          : {
              check: 'ses',
              subject: identity,
              verdict: 'warn',
              detail: `not verified for sending yet (DKIM ${dkim})`,
              fix: "publish the identity's three DKIM CNAME records (the stack's DKIM token outputs, or the SES console) in the domain's DNS",
            },
      );
    } catch (error) {
      if (errorName(error) !== 'NotFoundException') throw error;
      results.push({
        check: 'ses',
        subject: identity,
        verdict: 'warn',
        detail: 'no such identity yet: the first apply creates it',
        fix: "after the apply, publish its three DKIM CNAME records in the domain's DNS",
      });
    }
    return results;
  },
};
