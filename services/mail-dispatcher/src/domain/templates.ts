import type { MailLocale, MailTemplateName, MailTemplateParamsOf } from '@sidestep/contracts';
import { type Html, html } from './html.ts';

/** A rendered mail body: subject, plain text and HTML (every param escaped). */
export interface RenderedMail {
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

interface Parts {
  readonly subject: string;
  readonly lines: readonly string[];
  readonly body: Html;
}

/** Formats values for the mail's locale. */
interface Format {
  /** A count: `1,234,567` / `1,234,567`. */
  readonly n: (x: number) => string;
  /** An ISO 8601 instant, in UTC: `December 1, 2026 at 09:00 UTC` / `2026年12月1日 9:00 UTC`. */
  readonly date: (iso: string) => string;
}

type Template<T extends MailTemplateName> = Record<
  MailLocale,
  (params: MailTemplateParamsOf<T>, format: Format) => Parts
>;

/** Every template in every locale. The contract's params are all a template may show. */
const TEMPLATES: { readonly [T in MailTemplateName]: Template<T> } = {
  'import.completed': {
    en: (p, { n }) => {
      const rejected = rejectedRowsOf(p, {
        heading: (count) =>
          `${n(count)} ${count === 1 ? 'row was' : 'rows were'} rejected and not imported${p.rejectedSamples?.length ? ':' : '.'}`,
        sample: (s) => `line ${s.line}${s.field ? ` (${s.field})` : ''}: ${s.reason}`,
        rest: (count) =>
          `${n(count)} more ${count === 1 ? 'is' : 'are'} kept with the job (sidestep job rejected ${p.jobId}).`,
      });
      const imported = `${n(p.rows)} ${p.rows === 1 ? 'row was' : 'rows were'} imported${
        typeof p.usersWritten === 'number'
          ? `: ${n(p.usersWritten)} ${p.usersWritten === 1 ? 'user' : 'users'} new or changed.`
          : '.'
      }`;
      return {
        subject: `Import finished: ${inSubject(p.fileName)}`,
        lines: [`Your import of ${p.fileName} finished.`, imported, ...rejected.lines, `Job: ${p.jobId}`],
        body: html`<p>Your import of <strong>${p.fileName}</strong> finished.</p><p>${imported}</p>${rejected.body}<p>Job: <code>${p.jobId}</code></p>`,
      };
    },
    ja: (p, { n }) => {
      const rejected = rejectedRowsOf(p, {
        heading: (count) => `${n(count)} 件は取り込まれませんでした${p.rejectedSamples?.length ? ':' : '。'}`,
        sample: (s) => `${s.line} 行目${s.field ? ` (${s.field})` : ''}: ${s.reason}`,
        rest: (count) =>
          `残りの ${n(count)} 件はジョブに記録されています (sidestep job rejected ${p.jobId})。`,
      });
      const imported = `${n(p.rows)} 件を取り込みました${
        typeof p.usersWritten === 'number'
          ? ` (新規または変更されたユーザー: ${n(p.usersWritten)} 件)。`
          : '。'
      }`;
      return {
        subject: `インポートが完了しました: ${inSubject(p.fileName)}`,
        lines: [
          `${p.fileName} のインポートが完了しました。`,
          imported,
          ...rejected.lines,
          `ジョブ: ${p.jobId}`,
        ],
        body: html`<p><strong>${p.fileName}</strong> のインポートが完了しました。</p><p>${imported}</p>${rejected.body}<p>ジョブ: <code>${p.jobId}</code></p>`,
      };
    },
  },
  'import.failed': {
    en: (p) => ({
      subject: `Import failed: ${inSubject(p.fileName)}`,
      lines: [`Your import of ${p.fileName} failed.`, `Reason: ${p.reason}`, `Job: ${p.jobId}`],
      body: html`<p>Your import of <strong>${p.fileName}</strong> failed.</p><p>Reason: ${p.reason}</p><p>Job: <code>${p.jobId}</code></p>`,
    }),
    ja: (p) => ({
      subject: `インポートに失敗しました: ${inSubject(p.fileName)}`,
      lines: [`${p.fileName} のインポートに失敗しました。`, `理由: ${p.reason}`, `ジョブ: ${p.jobId}`],
      body: html`<p><strong>${p.fileName}</strong> のインポートに失敗しました。</p><p>理由: ${p.reason}</p><p>ジョブ: <code>${p.jobId}</code></p>`,
    }),
  },
  'export.ready': {
    en: (p, { n, date }) => {
      const until = p.downloadExpiresAt ? date(p.downloadExpiresAt) : undefined;
      const ready = `Your export of ${n(p.rows)} ${p.rows === 1 ? 'row' : 'rows'} is ready.`;
      return {
        subject: 'Your export is ready',
        lines: [
          ready,
          `Download: ${p.downloadUrl}`,
          ...(until ? [`The link works until ${until}.`] : []),
          `Job: ${p.jobId}`,
        ],
        body: html`<p>${ready}</p><p><a href="${p.downloadUrl}">Download the file</a></p>${until ? html`<p>The link works until ${until}.</p>` : html``}<p>Job: <code>${p.jobId}</code></p>`,
      };
    },
    ja: (p, { n, date }) => {
      const until = p.downloadExpiresAt ? date(p.downloadExpiresAt) : undefined;
      return {
        subject: 'エクスポートの準備ができました',
        lines: [
          `${n(p.rows)} 件のエクスポートの準備ができました。`,
          `ダウンロード: ${p.downloadUrl}`,
          ...(until ? [`リンクの有効期限: ${until}`] : []),
          `ジョブ: ${p.jobId}`,
        ],
        body: html`<p>${n(p.rows)} 件のエクスポートの準備ができました。</p><p><a href="${p.downloadUrl}">ファイルをダウンロード</a></p>${until ? html`<p>リンクの有効期限: ${until}</p>` : html``}<p>ジョブ: <code>${p.jobId}</code></p>`,
      };
    },
  },
  'export.failed': {
    en: (p) => ({
      subject: 'Your export failed',
      lines: ['Your export failed.', `Reason: ${p.reason}`, `Job: ${p.jobId}`],
      body: html`<p>Your export failed.</p><p>Reason: ${p.reason}</p><p>Job: <code>${p.jobId}</code></p>`,
    }),
    ja: (p) => ({
      subject: 'エクスポートに失敗しました',
      lines: ['エクスポートに失敗しました。', `理由: ${p.reason}`, `ジョブ: ${p.jobId}`],
      body: html`<p>エクスポートに失敗しました。</p><p>理由: ${p.reason}</p><p>ジョブ: <code>${p.jobId}</code></p>`,
    }),
  },
};

/** The most characters of a producer's value (a file name) a subject shows; the body shows it whole. */
const SUBJECT_VALUE_MAX_CHARACTERS = 200;

let graphemes: Intl.Segmenter | undefined;

/**
 * A producer's value as a subject shows it: whole up to {@link SUBJECT_VALUE_MAX_CHARACTERS}
 * user-perceived characters, else its start and end around an ellipsis (a file name keeps its
 * extension). The contract allows 1000 characters, and a header is folded only at spaces: a name of
 * ~1000 ASCII characters without one made a Subject line over the 998 characters RFC 5322 2.1.1
 * allows, which SES refuses ("The length of any single line of text in the message can't exceed
 * 1,000 characters", https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_RawMessage.html).
 * A non-ASCII subject is sent as encoded words, which nodemailer folds; a short one costs a length
 * check, and only a long one is split into graphemes (so an accent or emoji is never cut in two).
 */
function inSubject(value: string): string {
  // UTF-16 units are never fewer than graphemes.
  if (value.length <= SUBJECT_VALUE_MAX_CHARACTERS) return value;
  graphemes ??= new Intl.Segmenter(undefined, { granularity: 'grapheme' });
  const characters = Array.from(graphemes.segment(value), ({ segment }) => segment);
  if (characters.length <= SUBJECT_VALUE_MAX_CHARACTERS) return value;
  const kept = SUBJECT_VALUE_MAX_CHARACTERS - 1;
  const head = Math.ceil(kept / 2);
  return `${characters.slice(0, head).join('')}…${characters.slice(characters.length - (kept - head)).join('')}`;
}

type RejectedRowSample = NonNullable<MailTemplateParamsOf<'import.completed'>['rejectedSamples']>[number];

/** How one locale words the rejected rows of an import. */
interface RejectedRowsWording {
  readonly heading: (count: number) => string;
  readonly sample: (sample: RejectedRowSample) => string;
  /** The rejected rows not listed, which the jobs ledger keeps with the job (`import_rejected_rows`). */
  readonly rest: (count: number) => string;
}

/**
 * The part of an `import.completed` mail about the rows left out: how many, the first ones with
 * their line and reason, and how many more the jobs ledger keeps with the job. Nothing when none was
 * rejected, or when the mail was queued before the params existed.
 */
function rejectedRowsOf(
  p: MailTemplateParamsOf<'import.completed'>,
  wording: RejectedRowsWording,
): { lines: string[]; body: Html } {
  const count = p.rejectedRows ?? 0;
  if (count === 0) return { lines: [], body: html`` };
  const samples = (p.rejectedSamples ?? []).map(wording.sample);
  const rest = count - samples.length;
  const items = samples.reduce((list, sample) => html`${list}<li>${sample}</li>`, html``);
  return {
    lines: [
      wording.heading(count),
      ...samples.map((sample) => `- ${sample}`),
      ...(rest > 0 ? [wording.rest(rest)] : []),
    ],
    body: html`<p>${wording.heading(count)}</p>${samples.length > 0 ? html`<ul>${items}</ul>` : html``}${rest > 0 ? html`<p>${wording.rest(rest)}</p>` : html``}`,
  };
}

/**
 * Each locale's formatters, built once per sandbox: constructing the two `Intl` formatters loads
 * their locale data and took ~0.5 ms per mail (measured here), more than rendering the rest of it.
 */
const FORMATS = new Map<MailLocale, Format>();

function formatOf(locale: MailLocale): Format {
  let format = FORMATS.get(locale);
  if (!format) {
    const tag = locale === 'ja' ? 'ja-JP' : 'en-US';
    const numbers = new Intl.NumberFormat(tag);
    // UTC, named: a mail cannot know the reader's time zone, and a bare time would be misread.
    const dates = new Intl.DateTimeFormat(tag, {
      dateStyle: 'long',
      timeStyle: 'short',
      timeZone: 'UTC',
      hourCycle: 'h23',
    });
    format = {
      n: (x) => numbers.format(x),
      date: (iso) => `${dates.format(new Date(iso))} UTC`,
    };
    FORMATS.set(locale, format);
  }
  return format;
}

/** Renders one template in one locale. Pure: same input, same output. */
export function renderTemplate<T extends MailTemplateName>(
  template: T,
  locale: MailLocale,
  params: MailTemplateParamsOf<T>,
): RenderedMail {
  const parts = TEMPLATES[template][locale](params, formatOf(locale));
  return {
    subject: parts.subject,
    text: `${parts.lines.join('\n')}\n`,
    html: `<!doctype html><html lang="${locale}"><head><meta charset="utf-8"><title>${html`${parts.subject}`}</title></head><body>${parts.body}</body></html>`,
  };
}
