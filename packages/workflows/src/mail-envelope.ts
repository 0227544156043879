import { MAIL_NOT_QUEUED_ERROR, type MailLocale, type MailTemplateName } from '@sidestep/contracts';
import type { Catcher, PayloadTemplate, State, TaskState } from './asl.ts';
import { catchAll } from './catch-all.ts';
import { INTEGRATION } from './integration.ts';
import { retry, TRANSIENT_SQS_ERRORS } from './retry.ts';

/** Who a mail goes to: a fixed address (a prop) or a path into the state's input (the requester). */
export type MailRecipient = { readonly address: string } | { readonly path: string };

/**
 * Which language the mail-dispatcher renders a mail in: a fixed locale (a prop, such as the import's
 * `notifyLocale`) or a path into the state's input (the export request's `locale`).
 */
export type MailLocaleSource = MailLocale | { readonly path: string };

/**
 * A `mail.send` v1 envelope (see `MailSendJob` in @sidestep/contracts) as a payload template. Its `id`
 * and `idempotencyKey` are `<template>:<attemptKey>` (`jobMailKey` of @sidestep/jobs:
 * `<template>:<jobId>` for a job's first attempt, `<template>:<jobId>:<n>` for an operator's retry n):
 * a retried or redriven step sends the same envelope, and the mail-dispatcher sends once per key,
 * while a retried job's outcome is mailed again. The job is read from `$.job` (the status step's output).
 * `locale` is always written, so the envelope says which language it asked for rather than leaving
 * it to the contract's default.
 */
export function mailEnvelope(
  template: MailTemplateName,
  to: MailRecipient,
  locale: MailLocaleSource,
  params: PayloadTemplate,
): PayloadTemplate {
  const key = `States.Format('${template}:{}', $.job.attemptKey)`;
  const recipient: PayloadTemplate = 'address' in to ? { to: to.address } : { 'to.$': to.path };
  const language: PayloadTemplate = typeof locale === 'string' ? { locale } : { 'locale.$': locale.path };
  return {
    type: 'mail.send',
    version: 1,
    'id.$': key,
    payload: {
      template,
      ...recipient,
      ...language,
      'jobId.$': '$.job.jobId',
      'idempotencyKey.$': key,
      params,
    },
  };
}

/** Sends the envelope at `$.mail` to the mail queue. `MessageBody` must be a string: the envelope as JSON. */
export function sendMail(queueUrl: string, next: string, onError: Catcher[]): TaskState {
  return {
    Type: 'Task',
    Resource: INTEGRATION.sqsSendMessage,
    Parameters: { QueueUrl: queueUrl, 'MessageBody.$': 'States.JsonToString($.mail)' },
    ResultSelector: { 'messageId.$': '$.MessageId' },
    ResultPath: '$.notification',
    Retry: [retry(TRANSIENT_SQS_ERRORS, 1, 5)],
    Catch: onError,
    Next: next,
  };
}

/**
 * `Notify<mail>`'s end when the mail at `$.mail` could not be queued after its retries (the send
 * error at `$.notificationError`): `Unsent<mail>Mail` keeps the envelope as JSON, and `<mail>MailNotSent`
 * ends the execution FAILED with {@link MAIL_NOT_QUEUED_ERROR} and that envelope as its Cause, which
 * the workflow-ended rule hands the job-sweeper to queue again. (A Pass state makes the JSON: the Fail
 * state's own `CausePath` takes intrinsic functions on AWS, but not in aws-local-stepfunctions, which
 * runs the workflows locally.)
 */
export function mailNotQueued(
  mail: string,
  comment: string,
): { catch: Catcher[]; states: Record<string, State> } {
  const unsent = `Unsent${mail}Mail`;
  const notSent = `${mail}MailNotSent`;
  return {
    catch: catchAll(unsent, '$.notificationError'),
    states: {
      [unsent]: {
        Type: 'Pass',
        Parameters: { 'envelope.$': 'States.JsonToString($.mail)' },
        ResultPath: '$.unsentMail',
        Next: notSent,
      },
      [notSent]: {
        Type: 'Fail',
        Comment: comment,
        Error: MAIL_NOT_QUEUED_ERROR,
        CausePath: '$.unsentMail.envelope',
      },
    },
  };
}
