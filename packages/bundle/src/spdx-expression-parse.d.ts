/** spdx-expression-parse ships no types; the shape of its result, as its README documents it. */
declare module 'spdx-expression-parse' {
  /** One licence, `EUPL-1.1+` as `{ license: 'EUPL-1.1', plus: true }`. */
  export interface LicenseInfo {
    readonly license: string;
    readonly plus?: true;
    readonly exception?: string;
  }
  /** `A AND B`, `A OR B`; parentheses only group. */
  export interface ConjunctionInfo {
    readonly conjunction: 'and' | 'or';
    readonly left: LicenseInfo | ConjunctionInfo;
    readonly right: LicenseInfo | ConjunctionInfo;
  }
  /** Throws on anything that is not a valid SPDX expression of known identifiers. */
  export default function parse(expression: string): LicenseInfo | ConjunctionInfo;
}
