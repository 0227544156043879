import type { CheckResult } from './preflight-check.ts';

const MARK = { pass: 'ok', warn: 'WARN', fail: 'FAIL' } as const;

/** The results as a plain-text table (one row per result, its fix on the next line). */
export function formatPreflightTable(results: readonly CheckResult[]): string {
  const width = (pick: (result: CheckResult) => string) =>
    Math.max(...results.map((result) => pick(result).length), 0);
  const checkWidth = Math.max(
    width((r) => r.check),
    'CHECK'.length,
  );
  const verdictWidth = 'VERDICT'.length;
  const subjectWidth = Math.min(
    Math.max(
      width((r) => r.subject),
      'SUBJECT'.length,
    ),
    60,
  );
  const row = (check: string, verdict: string, subject: string, detail: string) =>
    `${check.padEnd(checkWidth)}  ${verdict.padEnd(verdictWidth)}  ${subject.padEnd(subjectWidth)}  ${detail}`;
  const lines = [row('CHECK', 'VERDICT', 'SUBJECT', 'DETAIL')];
  for (const result of results) {
    lines.push(row(result.check, MARK[result.verdict], result.subject, result.detail));
    if (result.fix) lines.push(`${' '.repeat(checkWidth + verdictWidth + 4)}fix: ${result.fix}`);
  }
  const failed = results.filter((result) => result.verdict === 'fail').length;
  const warned = results.filter((result) => result.verdict === 'warn').length;
  lines.push('', `${failed} failed, ${warned} warning(s), ${results.length - failed - warned} passed`);
  return lines.join('\n');
}
