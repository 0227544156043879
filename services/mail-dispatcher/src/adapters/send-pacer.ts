import { setTimeout as sleep } from 'node:timers/promises';
import type { OutgoingMail } from '../domain/compose-mail.ts';
import type { MailSender, SendOptions } from '../domain/dispatch-mail.ts';
import { SendDeferredError } from '../errors.ts';

/**
 * One sandbox's share of the function's send rate: sends spaced `1 / perSecond` seconds apart per
 * recipient, in the order they ask. SES accepts at most the account's maximum send rate each second
 * and throttles the rest (https://docs.aws.amazon.com/ses/latest/dg/manage-sending-quotas-errors.html),
 * and counts recipients, not messages ("Quotas are based on the number of recipients":
 * https://docs.aws.amazon.com/ses/latest/dg/quotas.html): a mail to three takes three slots. Every
 * sandbox keeping to `MAIL_MAX_SEND_RATE / maximumConcurrency` keeps the function within it.
 *
 * Written here rather than with p-throttle (which the project could take): a send must know, before
 * it waits, whether its slot comes before the invocation's deadline, and a mail given back must not
 * take a slot; p-throttle queues the call and can only abort it while it waits.
 */
export class SendPacer {
  readonly perSecond: number;
  readonly intervalMs: number;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<unknown>;
  #next = Number.NEGATIVE_INFINITY;

  constructor(
    perSecond: number,
    clock: { readonly now?: () => number; readonly sleep?: (ms: number) => Promise<unknown> } = {},
  ) {
    if (!Number.isFinite(perSecond) || perSecond <= 0) {
      throw new RangeError(`perSecond must be a positive number, got ${perSecond}`);
    }
    this.perSecond = perSecond;
    this.intervalMs = 1000 / perSecond;
    this.#now = clock.now ?? Date.now;
    this.#sleep = clock.sleep ?? sleep;
  }

  /**
   * Takes the next `count` slots (one per recipient) and waits for the first: `true` when it is time
   * to send. `false` at once, taking nothing, when it would come after `notAfter` (ms since the epoch).
   */
  async slot(notAfter = Number.POSITIVE_INFINITY, count = 1): Promise<boolean> {
    const now = this.#now();
    const at = Math.max(now, this.#next);
    if (at > notAfter) return false;
    this.#next = at + this.intervalMs * count;
    if (at > now) await this.#sleep(at - now);
    return true;
  }
}

/**
 * `sender`, each send first waiting for its slot of `pacer`. A mail whose slot would come after the
 * send's `notAfter` is not sent: a {@link SendDeferredError} (its idempotency record is released and
 * SQS delivers it again after the queue's visibility timeout) rather than a send the invocation would
 * be stopped in the middle of.
 */
export function pacedSender(sender: MailSender, pacer: SendPacer): MailSender {
  return {
    async send(mail: OutgoingMail, options: SendOptions = {}) {
      if (!(await pacer.slot(options.notAfter, mail.to.length))) throw new SendDeferredError(pacer.perSecond);
      return sender.send(mail, options);
    },
  };
}
