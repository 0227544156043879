import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { MAIL_LOCALES, MAIL_TEMPLATE_NAMES, MailSendJob, validate } from '@sidestep/contracts';
import { composeMail } from '../src/domain/compose-mail.ts';
import { renderTemplate } from '../src/domain/templates.ts';
import { DeliveryOutcomeUnknownError, HeaderInjectionError } from '../src/errors.ts';

const params = {
  'import.completed': { jobId: 'imp_1', fileName: 'users.csv', rows: 1234567 },
  'import.failed': { jobId: 'imp_1', fileName: 'users.csv', reason: 'missing column email' },
  'export.ready': {
    jobId: 'exp_1',
    rows: 42,
    downloadUrl: 'https://downloads.example.com/exp_1.csv.gz?sig=a&b=c',
  },
  'export.failed': { jobId: 'exp_1', reason: 'database unavailable' },
} as const;

function job(payload: Record<string, unknown>, id = 'msg-1') {
  return validate(MailSendJob, { type: 'mail.send', version: 1, id, payload });
}

afterEach(() => {
  jest.restoreAllMocks();
});

describe('renderTemplate', () => {
  it.each(
    MAIL_TEMPLATE_NAMES.flatMap((template) => MAIL_LOCALES.map((locale) => [template, locale] as const)),
  )('renders %s in %s with the job id in text and HTML', (template, locale) => {
    const mail = renderTemplate(template, locale, params[template] as never);
    expect(mail.subject.length).toBeGreaterThan(0);
    expect(mail.text).toContain(params[template].jobId);
    expect(mail.html).toContain(params[template].jobId);
    expect(mail.html).toContain(`lang="${locale}"`);
  });

  it("builds each locale's Intl formatters once, not once per mail", () => {
    const expires = { ...params['export.ready'], downloadExpiresAt: '2026-12-01T09:00:00Z' };
    const renderAll = () =>
      MAIL_LOCALES.map((locale) => renderTemplate('export.ready', locale, expires).text);
    const first = renderAll();
    const numberFormats = jest.spyOn(Intl, 'NumberFormat');
    const dateFormats = jest.spyOn(Intl, 'DateTimeFormat');
    expect(renderAll()).toEqual(first);
    expect(numberFormats).not.toHaveBeenCalled();
    expect(dateFormats).not.toHaveBeenCalled();
  });

  it('formats row counts for the locale', () => {
    expect(renderTemplate('import.completed', 'en', params['import.completed']).text).toContain(
      '1,234,567 rows',
    );
  });

  it('says "1 row" and "0 rows" / "2 rows" in an English export mail, as the import mail does', () => {
    const rows = (count: number) =>
      renderTemplate('export.ready', 'en', { ...params['export.ready'], rows: count });
    expect(rows(1).text).toContain('Your export of 1 row is ready.');
    expect(rows(1).html).toContain('Your export of 1 row is ready.');
    expect(rows(0).text).toContain('Your export of 0 rows is ready.');
    expect(rows(2).html).toContain('Your export of 2 rows is ready.');
    // Japanese counts with 件, singular or not.
    expect(renderTemplate('export.ready', 'ja', { ...params['export.ready'], rows: 1 }).text).toContain(
      '1 件のエクスポートの準備ができました。',
    );
  });

  it('escapes every param in HTML but keeps the text part literal', () => {
    const hostile = { jobId: 'imp_1', fileName: 'a.csv', reason: '<script>alert("x")</script> & \'more\'' };
    const mail = renderTemplate('import.failed', 'en', hostile);
    expect(mail.html).not.toContain('<script>');
    expect(mail.html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;more&#39;');
    expect(mail.text).toContain('<script>alert("x")</script>');
  });

  it('states until when the download link works, in UTC, in each locale', () => {
    const expiring = { ...params['export.ready'], downloadExpiresAt: '2026-12-01T09:05:00.000Z' };
    const en = renderTemplate('export.ready', 'en', expiring);
    expect(en.text).toContain('The link works until December 1, 2026 at 09:05 UTC.\n');
    expect(en.html).toContain('<p>The link works until December 1, 2026 at 09:05 UTC.</p>');
    const ja = renderTemplate('export.ready', 'ja', expiring);
    expect(ja.text).toContain('リンクの有効期限: 2026年12月1日 9:05 UTC\n');
    expect(ja.html).toContain('<p>リンクの有効期限: 2026年12月1日 9:05 UTC</p>');
    // An offset is read as the instant it names.
    const offset = renderTemplate('export.ready', 'en', {
      ...expiring,
      downloadExpiresAt: '2026-12-01T18:05:00+09:00',
    });
    expect(offset.text).toContain('until December 1, 2026 at 09:05 UTC.');
  });

  it('says nothing about expiry for a job queued without downloadExpiresAt', () => {
    for (const locale of MAIL_LOCALES) {
      const mail = renderTemplate('export.ready', locale, params['export.ready']);
      expect(mail.text).not.toMatch(/until|有効期限/);
      expect(mail.html).not.toMatch(/until|有効期限/);
    }
  });

  it.each(['import.completed', 'import.failed'] as const)(
    'shortens a file name over 200 characters in the %s subject, in the middle, and keeps it whole in the body',
    (template) => {
      // A name of 1000 characters without a space cannot be folded: its subject line would pass the
      // 998 characters RFC 5322 2.1.1 allows, and SES would refuse the mail (tests/raw-message-lines.test.ts).
      const fileName = `${'a'.repeat(600)}${'b'.repeat(396)}.csv`;
      for (const locale of MAIL_LOCALES) {
        const mail = renderTemplate(template, locale, { ...params[template], fileName });
        const shown = /(a+…b+\.csv)/.exec(mail.subject)?.[1];
        expect(shown).toBe(`${'a'.repeat(100)}…${'b'.repeat(95)}.csv`);
        expect(mail.html).toContain(`<title>${mail.subject}</title>`);
        expect(mail.text).toContain(fileName);
        expect(mail.html).toContain(fileName);
      }
    },
  );

  it('keeps a file name of 200 characters whole in the subject, and cuts a longer one between characters, not inside one', () => {
    const exact = `${'x'.repeat(196)}.csv`;
    expect(
      renderTemplate('import.failed', 'en', { ...params['import.failed'], fileName: exact }).subject,
    ).toBe(`Import failed: ${exact}`);
    // 90 user-perceived characters in 990 UTF-16 units: a family emoji is a ZWJ sequence of 11.
    const family = '👨‍👩‍👧‍👦';
    const subject = renderTemplate('import.failed', 'en', {
      ...params['import.failed'],
      fileName: family.repeat(90),
    }).subject;
    expect(subject).toBe(`Import failed: ${family.repeat(90)}`);
    // 250 characters, each an e and its combining acute accent: a cut keeps each accent on its e.
    const accented = 'e\u0301';
    const long = renderTemplate('import.failed', 'en', {
      ...params['import.failed'],
      fileName: accented.repeat(250),
    }).subject;
    expect(long).toBe(`Import failed: ${accented.repeat(100)}…${accented.repeat(99)}`);
  });

  it('escapes the download link inside the href attribute', () => {
    const mail = renderTemplate('export.ready', 'en', params['export.ready']);
    expect(mail.html).toContain('href="https://downloads.example.com/exp_1.csv.gz?sig=a&amp;b=c"');
  });
});

describe('composeMail', () => {
  /** The export.failed mail to a@example.com whose job carries `idempotencyKey`. */
  const mailKeyed = (idempotencyKey: string) =>
    composeMail(
      job({
        template: 'export.failed',
        to: 'a@example.com',
        params: params['export.failed'],
        idempotencyKey,
      }),
      'from@example.com',
    );

  it('uses the idempotency key for a deterministic Message-ID, defaulting to the envelope id', () => {
    const a = composeMail(
      job({ template: 'export.failed', to: 'a@example.com', params: params['export.failed'] }),
      'from@example.com',
    );
    const b = composeMail(
      job({ template: 'export.failed', to: 'a@example.com', params: params['export.failed'] }),
      'from@example.com',
    );
    const c = mailKeyed('k');
    expect(a.messageId).toBe(b.messageId);
    expect(a.idempotencyKey).toBe('msg-1');
    expect(c.idempotencyKey).toBe('k');
    expect(c.messageId).not.toBe(a.messageId);
  });

  // SES replaces a Message-ID with its own ("If you provide a Message-ID header, Amazon SES overrides
  // the header with its own value") and keeps other headers:
  // https://docs.aws.amazon.com/ses/latest/dg/header-fields.html
  it('carries the idempotency key in X-Sidestep-Idempotency-Key, which SES keeps where it replaces the Message-ID', () => {
    const byEnvelope = composeMail(
      job({ template: 'export.failed', to: 'a@example.com', params: params['export.failed'] }, 'env-1'),
      'from@example.com',
    );
    expect(byEnvelope.headers['X-Sidestep-Idempotency-Key']).toBe('env-1');
    const byKey = mailKeyed('export.failed:exp_1:2');
    expect(byKey.headers['X-Sidestep-Idempotency-Key']).toBe('export.failed:exp_1:2');
  });

  it('writes a control character of the idempotency key as \\uXXXX in its header, so a key cannot inject a header', () => {
    // The contract lets a key be any text of 1-256 characters; only the Message-ID used it before.
    const mail = mailKeyed('k\r\nBcc: victim@example.com\u0000é');
    expect(mail.headers['X-Sidestep-Idempotency-Key']).toBe('k\\u000d\\u000aBcc: victim@example.com\\u0000é');
    expect(mail.idempotencyKey).toBe('k\r\nBcc: victim@example.com\u0000é');
  });

  it('names a key whose escapes would make its header line too long by its SHA-256 (RFC 5322: 998 characters a line)', () => {
    const key = '\u0001'.repeat(256);
    const mail = mailKeyed(key);
    expect(mail.headers['X-Sidestep-Idempotency-Key']).toBe(
      `sha256:${createHash('sha256').update(key).digest('hex')}`,
    );
    const plain = 'k'.repeat(256);
    const kept = mailKeyed(plain);
    expect(kept.headers['X-Sidestep-Idempotency-Key']).toBe(plain);
  });

  // RFC 3834 section 5: an automatic responder must not answer a message marked auto-generated.
  // SES takes the header (listed among the fields that may appear once,
  // https://docs.aws.amazon.com/ses/latest/dg/header-fields.html).
  it.each(MAIL_TEMPLATE_NAMES)(
    'marks the %s mail Auto-Submitted: auto-generated, so vacation responders do not answer it',
    (template) => {
      const mail = composeMail(
        job({ template, to: 'a@example.com', params: params[template] }),
        'from@example.com',
      );
      expect(mail.headers['Auto-Submitted']).toBe('auto-generated');
    },
  );

  it('sends to every listed recipient', () => {
    const mail = composeMail(
      job({
        template: 'export.failed',
        to: ['a@example.com', 'b@example.com'],
        params: params['export.failed'],
      }),
      'from@example.com',
    );
    expect(mail.to).toEqual(['a@example.com', 'b@example.com']);
  });

  it('refuses CR/LF in a header value as a permanent HeaderInjectionError', () => {
    // The contract refuses this earlier; compose checks again where the header is made.
    const tampered = job({
      template: 'import.completed',
      to: 'a@example.com',
      params: params['import.completed'],
    });
    (tampered.payload.params as { fileName: string }).fileName = 'x.csv\r\nBcc: victim@example.com';
    let caught: unknown;
    try {
      composeMail(tampered, 'from@example.com');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(HeaderInjectionError);
    expect((caught as HeaderInjectionError).permanent).toBe(true);
    expect((caught as HeaderInjectionError).header).toBe('Subject');
  });
});

describe('smtpOptions', () => {
  it('reads host, port, TLS and credentials from the SMTP URL', async () => {
    const { smtpOptions } = await import('../src/adapters/mail-transport.ts');
    expect(smtpOptions('smtp://127.0.0.1:1025')).toEqual({ host: '127.0.0.1', port: 1025, secure: false });
    expect(smtpOptions('smtps://u%40x:p%3Aw@mail.example.com')).toEqual({
      host: 'mail.example.com',
      port: 465,
      secure: true,
      auth: { user: 'u@x', pass: 'p:w' },
    });
  });
});

describe('DeliveryOutcomeUnknownError', () => {
  it('gives the header as the mail carries it and a release command a shell reads as one word, for a key of any text', () => {
    const key = "import.failed:imp 1's\u0007";
    const { message } = new DeliveryOutcomeUnknownError(key, new Error('socket hang up'));
    expect(message).toContain('"X-Sidestep-Idempotency-Key: import.failed:imp 1\'s\\u0007"');
    expect(message).toContain("`sidestep mail release 'import.failed:imp 1'\\''s\u0007'`");
    expect(new DeliveryOutcomeUnknownError('m-1', undefined).message).toContain(
      '`sidestep mail release m-1`',
    );
  });
});
