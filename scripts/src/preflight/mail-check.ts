import { GetAccountCommand, type GetAccountResponse, GetEmailIdentityCommand } from '@aws-sdk/client-sesv2';
import { type EnvironmentConfig, environmentMailMaxSendRate, mailMaxSendRateSetting } from '@sidestep/infra';
import { errorName } from './aws-error.ts';
import { type CheckResult, type PreflightCheck, resultsFor } from './preflight-check.ts';

/** How to raise the account's maximum send rate. */
const SEND_RATE_INCREASE =
  'https://docs.aws.amazon.com/ses/latest/dg/manage-sending-quotas-request-increase.html';

/**
 * SES: the account can send and is out of the sandbox (in it, mail reaches only verified addresses,
 * 200 a day), the mail-dispatcher's send rate is the account's, and the stack's identity (the mail
 * domain, else the from address) is verified with its DKIM records published. A paused account and a
 * send rate above the account's fail; the rest blocks or slows mail, not the deploy.
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
    const rate = sendRateResult(config, account);
    if (rate) results.push(rate);
    const quota = dailyQuotaResult(config, account);
    if (quota) results.push(quota);

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

/** At this share of the 24-hour quota used, the quota row warns. */
const DAILY_QUOTA_WARN_SHARE = 0.8;

/**
 * The account's 24-hour sending quota, `SendQuota.Max24HourSend` and `SentLast24Hours` of GetAccount
 * (-1: unlimited; https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendQuota.html). Nothing
 * paces it: past it SES throttles every send ("Daily message quota exceeded",
 * https://docs.aws.amazon.com/ses/latest/dg/manage-sending-quotas-errors.html), and the mail-dispatcher
 * puts each mail off on its queue (15 minutes, then 1, 4 and 12 hours) before dead-lettering it with
 * that reason, for a redrive once the rolling window frees room.
 * The mail-dispatcher puts such a mail off on its queue (15 minutes, then 1, 4 and 12 hours) before
 * dead-lettering it. A warning from 80% used; never a failure (a deploy does not change it).
 */
function dailyQuotaResult(config: EnvironmentConfig, account: GetAccountResponse): CheckResult | undefined {
  const max = account.SendQuota?.Max24HourSend;
  if (max === undefined) return undefined;
  const result = resultsFor('ses', '24-hour quota');
  if (max < 0) return result('pass', `unlimited in ${config.region}`);
  const sent = account.SendQuota?.SentLast24Hours ?? 0;
  const detail = `${sent} of ${max} recipients sent in the last 24 hours in ${config.region}`;
  if (sent < max * DAILY_QUOTA_WARN_SHARE) return result('pass', detail);
  return result(
    'warn',
    `${detail}: past the quota SES throttles every send ("Daily message quota exceeded"), and the mail-dispatcher puts each mail off for up to 17 hours, then dead-letters it`,
    `redrive the mail DLQ (\`sidestep dlq redrive mail\`) once this shows room again, and request a higher quota (${SEND_RATE_INCREASE}) if bursts outgrow it`,
  );
}

/**
 * `SIDESTEP_<ENV>_MAIL_MAX_SEND_RATE` (the mail-dispatcher's `MAIL_MAX_SEND_RATE`) against the
 * account's maximum send rate in the region, `SendQuota.MaxSendRate` of GetAccount
 * (https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendQuota.html). Above it SES throttles
 * the sends of a burst (https://docs.aws.amazon.com/ses/latest/dg/manage-sending-quotas-errors.html),
 * which go back to the queue until dead-lettered: a failure. Below it a burst goes out slower than it
 * could: a warning (a deliberate share of the account's rate is one too, left to the reader).
 */
function sendRateResult(config: EnvironmentConfig, account: GetAccountResponse): CheckResult | undefined {
  const configured = environmentMailMaxSendRate(config);
  if (configured === undefined) return undefined;
  const result = resultsFor('ses', 'send rate');
  const variable = mailMaxSendRateSetting(config.name);
  const allowed = account.SendQuota?.MaxSendRate;
  if (allowed === undefined) {
    return result(
      'warn',
      `GetAccount gave no SendQuota.MaxSendRate in ${config.region}: ${variable} (${configured} mail(s) per second) could not be compared with the account's maximum send rate`,
      `compare it with the maximum send rate the SES console shows (Account dashboard > Sending limits) in ${config.region}`,
    );
  }
  if (configured > allowed) {
    return result(
      'fail',
      `${variable} is ${configured} mail(s) per second where the account allows ${allowed} in ${config.region}: SES would throttle a burst, and its mails be retried until dead-lettered`,
      `set ${variable}=${allowed}, or first raise the account's maximum send rate (${SEND_RATE_INCREASE})`,
    );
  }
  if (configured < allowed) {
    return result(
      'warn',
      `bursts of mail go out at ${configured} mail(s) per second (${variable}) where the account allows ${allowed} in ${config.region}`,
      `set ${variable}=${allowed} (keep the lower rate only if it is sidestep's share of an account other senders use too)`,
    );
  }
  return result(
    'pass',
    `${configured} mail(s) per second, the account's maximum send rate in ${config.region}`,
  );
}
