// The SES sandbox's verified recipients as a setting lists them, in one place for the two that read
// one: infra from SIDESTEP_<ENV>_MAIL_SANDBOX_RECIPIENTS (their identities get the mail identity's
// grant), and `npm start --mail-sandbox-recipients` (its SMTP sink refusing any other recipient).

/** A sandbox recipients setting with an entry that is not an email address. */
export class InvalidSandboxRecipientError extends Error {
  override readonly name = 'InvalidSandboxRecipientError';
  /** The option or setting that held it. */
  readonly field: string;
  readonly value: string;
  constructor(field: string, value: string) {
    super(`${field}: "${value}" is not an email address`);
    this.field = field;
    this.value = value;
  }
}

const ADDRESS = /^[^@\s,]+@[^@\s,]+\.[^@\s,]+$/;

/**
 * The addresses of a comma-separated list (`ops@example.com, qa@example.com`), trimmed, empty entries
 * left out: the verified identities mail may go to while the account's SES is in the sandbox.
 * @throws {InvalidSandboxRecipientError} naming `field` and the entry that is not an address
 */
export function parseSandboxRecipients(text: string, field: string): string[] {
  const addresses = text
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
  for (const address of addresses) {
    if (!ADDRESS.test(address)) throw new InvalidSandboxRecipientError(field, address);
  }
  return addresses;
}
