import { describe, expect, it } from '@jest/globals';
import { renderTemplate } from '../src/domain/templates.ts';

const base = { jobId: 'imp_1', fileName: 'users.csv', rows: 299 };
const rejected = {
  ...base,
  rejectedRows: 12,
  rejectedSamples: [
    { line: 152, field: 'email', reason: 'not a valid email address' },
    { line: 160, reason: '<b>too</b> many fields & "more"' },
  ],
};

describe('import.completed with rejected rows', () => {
  it('says in English how many rows were left out, lists the first with line and reason, and where the rest are', () => {
    const mail = renderTemplate('import.completed', 'en', rejected);
    expect(mail.text).toContain('299 rows were imported.');
    expect(mail.text).toContain('12 rows were rejected and not imported');
    expect(mail.text).toContain('line 152 (email): not a valid email address');
    expect(mail.text).toContain('line 160: <b>too</b> many fields & "more"');
    expect(mail.text).toContain('10 more are kept with the job (sidestep job rejected imp_1).');
    expect(mail.html).toContain('10 more are kept with the job (sidestep job rejected imp_1).');
    expect(mail.html).toContain('line 152 (email): not a valid email address');
  });

  it('says it in Japanese too', () => {
    const mail = renderTemplate('import.completed', 'ja', rejected);
    expect(mail.text).toContain('12 件は取り込まれませんでした');
    expect(mail.text).toContain('152 行目 (email): not a valid email address');
    expect(mail.text).toContain('残りの 10 件はジョブに記録されています (sidestep job rejected imp_1)。');
    expect(mail.html).toContain('152 行目');
  });

  it('escapes the reasons in HTML', () => {
    for (const locale of ['en', 'ja'] as const) {
      const { html } = renderTemplate('import.completed', locale, rejected);
      expect(html).toContain('&lt;b&gt;too&lt;/b&gt; many fields &amp; &quot;more&quot;');
      expect(html).not.toContain('<b>too</b>');
    }
  });

  it('says one row in the singular and nothing more when every rejected row is listed', () => {
    const mail = renderTemplate('import.completed', 'en', {
      ...base,
      rejectedRows: 1,
      rejectedSamples: [{ line: 152, field: 'email', reason: 'not a valid email address' }],
    });
    expect(mail.text).toContain('1 row was rejected and not imported');
    expect(mail.text).not.toContain('more');
  });

  it('says nothing about rejected rows when there are none or the job predates the params', () => {
    for (const params of [base, { ...base, rejectedRows: 0, rejectedSamples: [] }]) {
      for (const locale of ['en', 'ja'] as const) {
        const mail = renderTemplate('import.completed', locale, params);
        expect(mail.text).not.toMatch(/rejected|取り込まれませんでした/);
      }
    }
  });
});

describe('import.completed with the users written', () => {
  it('says how many users the rows made new or changed, in English and Japanese', () => {
    const en = renderTemplate('import.completed', 'en', { ...base, rows: 1000, usersWritten: 3 });
    expect(en.text).toContain('1,000 rows were imported: 3 users new or changed.');
    expect(en.html).toContain('<p>1,000 rows were imported: 3 users new or changed.</p>');
    const ja = renderTemplate('import.completed', 'ja', { ...base, rows: 1000, usersWritten: 3 });
    expect(ja.text).toContain('1,000 件を取り込みました (新規または変更されたユーザー: 3 件)。');
  });

  it('says none and one as such: a file equal to the users writes nothing', () => {
    expect(renderTemplate('import.completed', 'en', { ...base, usersWritten: 0 }).text).toContain(
      '299 rows were imported: 0 users new or changed.',
    );
    expect(renderTemplate('import.completed', 'en', { ...base, rows: 1, usersWritten: 1 }).text).toContain(
      '1 row was imported: 1 user new or changed.',
    );
  });

  it('says nothing about users when the ledger does not know (null) or the job predates the param', () => {
    for (const params of [base, { ...base, usersWritten: null }]) {
      expect(renderTemplate('import.completed', 'en', params).text).toContain('299 rows were imported.\n');
      expect(renderTemplate('import.completed', 'ja', params).text).toContain('299 件を取り込みました。\n');
    }
  });
});
