import { createHash } from 'node:crypto';
import type { Queryable } from '@sidestep/db';
import { auditedInLedger } from './audit.ts';
import { MailRecordNotReleasableError } from './errors.ts';
import type { OpsContext } from './ops-context.ts';

/** A mail's idempotency record in `idempotency_records` (the mail-dispatcher's send-once store). */
export interface MailRecord {
  readonly idempotencyKey: string;
  readonly recordId: string;
  readonly status: string;
  readonly createdAt: Date;
}

/**
 * The hash Powertools idempotency keys a record by: md5, base64, of the JSON of the value the
 * mail-dispatcher's `eventKeyJmesPath` (`key`) selects, after the function-name prefix and `#`
 * (`BasePersistenceLayer.getHashedIdempotencyKey`). The prefix differs per deployment (the Lambda's
 * name), so records are matched on the hash.
 */
export function idempotencyRecordHash(idempotencyKey: string): string {
  return createHash('md5').update(JSON.stringify(idempotencyKey)).digest('base64');
}

/** The records of these mail keys (`<template>:<jobId>`), whatever their prefix. */
export async function mailRecords(db: Queryable, keys: readonly string[]): Promise<MailRecord[]> {
  if (keys.length === 0) return [];
  const byHash = new Map(keys.map((key) => [idempotencyRecordHash(key), key]));
  const { rows } = await db.query<{ id: string; status: string; created_at: Date }>(
    `SELECT id, status, created_at FROM idempotency_records
     WHERE split_part(id, '#', 2) = ANY($1::text[]) ORDER BY created_at`,
    [[...byHash.keys()]],
  );
  return rows.map((row) => ({
    idempotencyKey: byHash.get(row.id.split('#')[1] ?? '') ?? '',
    recordId: row.id,
    status: row.status,
    createdAt: row.created_at,
  }));
}

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
export async function releaseMail(
  context: OpsContext,
  idempotencyKey: string,
): Promise<{ idempotencyKey: string; recordId: string; released: 'deleted INPROGRESS record' }> {
  return auditedInLedger(context, 'mail-release', idempotencyKey, async (tx) => {
    const [record] = await mailRecords(tx, [idempotencyKey]);
    if (!record) throw new MailRecordNotReleasableError(idempotencyKey, undefined);
    if (record.status !== 'INPROGRESS') throw new MailRecordNotReleasableError(idempotencyKey, record.status);
    await tx.query(`DELETE FROM idempotency_records WHERE id = $1 AND status = 'INPROGRESS'`, [
      record.recordId,
    ]);
    return { idempotencyKey, recordId: record.recordId, released: 'deleted INPROGRESS record' as const };
  });
}
