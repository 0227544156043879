import type { ReleasedMail } from '@sidestep/ledger';
import { auditedInLedger } from './audit.ts';
import type { OpsContext } from './ops-context.ts';

/**
 * Releases the send-once record of mail `idempotencyKey` so a redrive of its message sends it. Only an
 * INPROGRESS record is released: that is the record a crash between sending and marking the mail
 * sent leaves behind (the mail-dispatcher dead-letters the message as "delivery outcome unknown"
 * and never reclaims it on its own). Call it only after checking the mail was NOT delivered: a
 * released key is sent again. A COMPLETED record (the mail was sent) is refused. Recorded in the
 * audit trail.
 *
 * @throws {MailRecordNotReleasableError} no record for the key, or it is not INPROGRESS.
 */
export async function releaseMail(context: OpsContext, idempotencyKey: string): Promise<ReleasedMail> {
  return auditedInLedger(context, 'mail-release', idempotencyKey, (ledger) =>
    ledger.releaseMail(idempotencyKey),
  );
}
