/** HTML that is safe to embed: produced only by {@link html}, which escapes every interpolated value. */
export class Html {
  readonly value: string;
  constructor(value: string) {
    this.value = value;
  }
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ESCAPES[char] ?? char);
}

/**
 * Tagged template that escapes every interpolation unless it is already {@link Html}. Written here
 * rather than pulling a template engine: four short templates need escaping, not a language.
 */
export function html(strings: TemplateStringsArray, ...values: ReadonlyArray<string | number | Html>): Html {
  let out = strings[0] ?? '';
  values.forEach((value, index) => {
    out += value instanceof Html ? value.value : escapeHtml(String(value));
    out += strings[index + 1] ?? '';
  });
  return new Html(out);
}
