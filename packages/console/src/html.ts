/** HTML that is already escaped (or trusted markup), as {@link html} builds it. */
export class SafeHtml {
  readonly value: string;
  constructor(value: string) {
    this.value = value;
  }
  toString(): string {
    return this.value;
  }
}

/** The characters {@link escapeHtml} escapes, with their entities. */
export const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** `text` with the characters HTML gives meaning to escaped, for text and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => ESCAPES[character] ?? character);
}

/** A value placed in {@link html}: escaped unless already {@link SafeHtml}; arrays joined; null and false render nothing. */
type Interpolated = SafeHtml | string | number | boolean | null | undefined | readonly Interpolated[];

function render(value: Interpolated): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

/**
 * Server-rendered HTML by tagged template: every interpolated value is escaped unless it is itself
 * `html`, so data from AWS or the ledger (an error cause, a mail subject) can never become markup.
 * Written here rather than taken from a template engine: these ~30 lines are the whole need.
 */
export function html(strings: TemplateStringsArray, ...values: Interpolated[]): SafeHtml {
  let out = strings[0] ?? '';
  values.forEach((value, index) => {
    out += render(value) + (strings[index + 1] ?? '');
  });
  return new SafeHtml(out);
}

/** Trusted markup as is (an SVG built here from escaped parts). */
export function raw(markup: string): SafeHtml {
  return new SafeHtml(markup);
}
