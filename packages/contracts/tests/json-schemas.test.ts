import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { Ajv2020 } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';
import { parseJob } from '../src/index.ts';

// ajv-formats is CommonJS: its default import is `module.exports`, whose `default` is the plugin.
const addFormats = formats.default;

function committedSchema(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(import.meta.dirname, '..', 'schemas', file), 'utf8'));
}

// A producer in another language validates with the committed schema, formats asserted (ajv-formats;
// Python's jsonschema with a FormatChecker), as the README offers them.
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
const validateMail = ajv.compile(committedSchema('mail.send.v1.json'));
const validateExport = ajv.compile(committedSchema('export.requested.v1.json'));

function zodAccepts(value: unknown): boolean {
  try {
    parseJob(value);
    return true;
  } catch {
    return false;
  }
}

function mail(template: string, params: Record<string, unknown>) {
  return { type: 'mail.send', version: 1, id: 'm-1', payload: { template, to: 'ops@example.com', params } };
}
const importCompleted = (fileName: string) =>
  mail('import.completed', { jobId: 'imp_01', fileName, rows: 1 });
const exportReady = (downloadUrl: string) => mail('export.ready', { jobId: 'exp_01', rows: 1, downloadUrl });
const exportRequested = (fileName: string) => ({
  type: 'export.requested',
  version: 1,
  id: 'req-1',
  payload: { requestedBy: 'ops@example.com', fileName },
});

describe('the committed JSON Schemas', () => {
  it.each([
    ['a plain file name', importCompleted('users.csv'), true],
    ['a file name with spaces and non-ASCII', importCompleted('ユーザー 一覧 (11月).csv'), true],
    ['a file name with a TAB', importCompleted('users\t.csv'), false],
    ['a file name with a CR', importCompleted('users\r.csv'), false],
    ['a file name with CRLF and a header', importCompleted('users.csv\r\nBcc: x@example.com'), false],
    ['a file name ending in LF', importCompleted('users.csv\n'), false],
    ['a file name with NUL', importCompleted('users\u0000.csv'), false],
    ['a file name with DEL', importCompleted('users\u007f.csv'), false],
    ['an empty file name', importCompleted(''), false],
    ['an https download URL', exportReady('https://example.com/exports/exp_01.csv.gz'), true],
    [
      'an http download URL',
      exportReady('http://localhost:4566/exports/exp_01.csv.gz?X-Amz-Signature=ab'),
      true,
    ],
    ['an ftp download URL', exportReady('ftp://example.com/exports/exp_01.csv.gz'), false],
    ['a javascript: download URL', exportReady('javascript:alert(1)'), false],
    ['a download URL with a port past 65535', exportReady('https://example.com:99999/x'), false],
    ['a download URL with a percent-encoded host', exportReady('https://exa%20mple.com/x'), false],
    ['a download URL with a port', exportReady('https://example.com:8443/exports/x.csv.gz'), true],
    ['a data: download URL', exportReady('data:text/html,<script>alert(1)</script>'), false],
    ['a download URL without a host', exportReady('https://'), false],
    ['a download URL that is no URL', exportReady('not a url'), false],
    ['a download URL with a space in its host', exportReady('https://exa mple.com/x'), false],
    ['an export file name', exportRequested('users-2026-11-24'), true],
    ['an export file name with a slash', exportRequested('../users'), false],
  ])('agree with parseJob on %s', (_case, job, accepted) => {
    const validateJson = job.type === 'mail.send' ? validateMail : validateExport;
    expect({ zod: zodAccepts(job), jsonSchema: validateJson(job) }).toEqual({
      zod: accepted,
      jsonSchema: accepted,
    });
  });

  it('leave zod naming the field with its own message', () => {
    expect(() => parseJob(importCompleted('users\t.csv'))).toThrow(
      'payload.params.fileName: must be one line without control characters',
    );
    expect(() => parseJob(exportReady('ftp://example.com/x'))).toThrow(
      'payload.params.downloadUrl: not a valid url',
    );
  });

  // https://docs.python.org/3/library/re.html: `$` "matches the end of the string or just before the
  // newline at the end of the string", and Python's jsonschema applies `pattern` with `re.search`:
  // a `$`-anchored pattern lets a producer's value with a trailing LF through (`"m-1\n"` as an id,
  // `"ops@example.com\n"` as an address), which parseJob then refuses. ECMAScript's `$` (no `m`
  // flag) is the end of input only, so ajv alone cannot show it: the patterns are read instead.
  it.each(['mail.send.v1.json', 'export.requested.v1.json'])(
    'anchor no pattern of %s with `$`, which Python lets match before a final newline',
    (file) => {
      const patterns: string[] = [];
      const collect = (node: unknown): void => {
        if (Array.isArray(node)) node.forEach(collect);
        else if (node !== null && typeof node === 'object') {
          for (const [key, value] of Object.entries(node)) {
            if (key === 'pattern' && typeof value === 'string') patterns.push(value);
            else collect(value);
          }
        }
      };
      collect(committedSchema(file));
      expect(patterns.length).toBeGreaterThan(0);
      // Escapes and character classes first: `\$` and `[$]` are a dollar sign, not an anchor.
      const anchoredWithDollar = patterns.filter((pattern) =>
        pattern
          .replace(/\\[\s\S]/g, '')
          .replace(/\[(?:\\[\s\S]|[^\]\\])*\]/g, '')
          .includes('$'),
      );
      expect(anchoredWithDollar).toEqual([]);
    },
  );
});
