import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { listOutbox, readOutboxMail } from '../src/outbox.ts';

let dir: string;

function mail(subject: string, body: string): string {
  return `From: a@example.com\r\nTo: b@example.com\r\nSubject: ${subject}\r\n\r\n${body}\r\n`;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'outbox-'));
  writeFileSync(join(dir, '20261124T100000000Z-a.eml'), mail('first', 'job imp_1'));
  writeFileSync(join(dir, '20261124T110000000Z-b.eml'), mail('second', 'job imp_2'));
  writeFileSync(join(dir, '20261124T120000000Z-c.eml'), mail('third', 'job imp_1'));
  writeFileSync(join(dir, '.20261124T130000000Z-d.eml.tmp'), 'half written');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('listOutbox', () => {
  it('pages newest first by file name, without temporary files', async () => {
    const first = await listOutbox(dir, { limit: 2 });
    expect(first.items.map((item) => item.subject)).toEqual(['third', 'second']);
    expect(first.next).toBe('20261124T110000000Z-b.eml');
    const second = await listOutbox(dir, { limit: 2, cursor: first.next ?? '' });
    expect(second.items.map((item) => item.subject)).toEqual(['first']);
    expect(second.next).toBeNull();
  });

  it("keeps only the mails that mention a job's id", async () => {
    const page = await listOutbox(dir, { mentioning: 'imp_1' });
    expect(page.items.map((item) => item.subject)).toEqual(['third', 'first']);
  });

  it('is empty for an outbox that does not exist yet', async () => {
    expect(await listOutbox(join(dir, 'missing'))).toEqual({ items: [], next: null });
  });
});

describe('readOutboxMail', () => {
  it('refuses a name that is not an outbox file, naming the field', async () => {
    await expect(readOutboxMail(dir, '../etc/passwd.eml')).rejects.toMatchObject({
      name: 'ConsoleError',
      field: 'file',
      status: 404,
    });
    await expect(readOutboxMail(dir, 'missing.eml')).rejects.toMatchObject({ status: 404 });
  });
});
