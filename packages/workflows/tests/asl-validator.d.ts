// asl-validator 4 ships JavaScript only; this is the part of its API the tests call
// (https://github.com/ChristopheBougere/asl-validator#usage).
declare module 'asl-validator' {
  interface ValidationResult {
    isValid: boolean;
    errors: { 'Error code': string; Message: string; path?: string }[];
    errorsText(separator?: string): string;
  }
  /** Validates a definition. Mutates it (adds `QueryLanguage` to every state): pass a copy. */
  export default function aslValidator(
    definition: unknown,
    options?: { checkPaths?: boolean; checkArn?: boolean },
  ): ValidationResult;
}
