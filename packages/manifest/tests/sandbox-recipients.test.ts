import { describe, expect, it } from '@jest/globals';
import { InvalidSandboxRecipientError, parseSandboxRecipients } from '../src/index.ts';

describe('parseSandboxRecipients', () => {
  it('reads a comma-separated list of addresses, trimmed, empty entries left out', () => {
    expect(parseSandboxRecipients(' ops@example.com, qa@example.org ,,', 'F')).toEqual([
      'ops@example.com',
      'qa@example.org',
    ]);
    expect(parseSandboxRecipients('', 'F')).toEqual([]);
  });

  it('refuses an entry that is not an email address, naming the setting and the entry', () => {
    for (const entry of ['ops', 'ops@localhost', 'a b@example.com']) {
      expect(() =>
        parseSandboxRecipients(`ops@example.com,${entry}`, 'SIDESTEP_STAGING_MAIL_SANDBOX_RECIPIENTS'),
      ).toThrow(new InvalidSandboxRecipientError('SIDESTEP_STAGING_MAIL_SANDBOX_RECIPIENTS', entry));
    }
  });
});
