import { BlockList, isIP } from 'node:net';

/**
 * EventBridge event patterns, matched locally.
 *
 * Written here because no maintained JavaScript matcher exists: AWS's own matcher (event-ruler) is
 * Java, and the npm packages that match patterns (e.g. inside serverless-offline plugins) are not
 * exported libraries and miss operators the rules use. Semantics follow the EventBridge user guide
 * (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-content-based-filtering.html):
 * - every field of the pattern must match (AND); the values listed for a field are alternatives (OR);
 * - a pattern leaf is an array of values and operators; an event array matches when any element does;
 * - exact values compare strings exactly and numbers numerically (`300` matches `3.0e2`);
 * - operators: `prefix`, `suffix` (both optionally `{ "equals-ignore-case": ... }`),
 *   `equals-ignore-case`, `wildcard` (`*`; `\*` a literal star, `\\` a backslash), `anything-but` (a value,
 *   a list, or `prefix` / `suffix` / `equals-ignore-case` / `wildcard`), `numeric`, `exists`, `cidr`,
 *   and `$or` (a list of sub-patterns at any level);
 * - a field that is absent (or an empty array) matches only `{ "exists": false }`.
 * Patterns are compiled once; an unknown operator or a malformed operand throws
 * {@link InvalidEventPatternError} naming the field, as PutRule would refuse the rule.
 */
export type EventPattern = { readonly [field: string]: unknown };

/** A compiled pattern: tells whether an event matches. */
export type EventMatcher = (event: unknown) => boolean;

/** A pattern PutRule would refuse: the message names the field path and the problem. */
export class InvalidEventPatternError extends Error {
  override readonly name = 'InvalidEventPatternError';
  /** Dotted path of the offending field, e.g. `detail.object.key`. */
  readonly field: string;
  constructor(field: string, message: string) {
    super(`event pattern field "${field || '(root)'}": ${message}`);
    this.field = field;
  }
}

/** Compiles an EventBridge event pattern into a matcher; throws {@link InvalidEventPatternError}. */
export function compileEventPattern(pattern: unknown): EventMatcher {
  if (!isPlainObject(pattern)) throw new InvalidEventPatternError('', 'a pattern must be a JSON object');
  const node = compileObject(pattern, '');
  return (event) => node(event);
}

/** Whether `event` matches `pattern` (compiles the pattern each call; compile once for a rule). */
export function matchesEventPattern(pattern: unknown, event: unknown): boolean {
  return compileEventPattern(pattern)(event);
}

/** Matches the value at some level of the event (`undefined` when that level is absent). */
type NodeMatcher = (value: unknown) => boolean;
/** Matches one leaf value (never an array; `undefined` means absent). */
type LeafMatcher = (value: unknown) => boolean;

const ABSENT = undefined;

function compileObject(pattern: Record<string, unknown>, path: string): NodeMatcher {
  const fields: NodeMatcher[] = [];
  for (const [key, value] of Object.entries(pattern)) {
    const fieldPath = path ? `${path}.${key}` : key;
    if (key === '$or') {
      if (!Array.isArray(value) || value.length < 2 || !value.every(isPlainObject)) {
        throw new InvalidEventPatternError(fieldPath, '$or takes a list of at least two patterns');
      }
      const alternatives = value.map((alternative) => compileObject(alternative, path));
      fields.push((level) => alternatives.some((alternative) => alternative(level)));
    } else if (Array.isArray(value)) {
      const leaf = compileLeaf(value, fieldPath);
      fields.push((level) => leaf(child(level, key)));
    } else if (isPlainObject(value)) {
      const nested = compileObject(value, fieldPath);
      fields.push((level) => {
        const inner = child(level, key);
        // An array of objects matches when any of its elements does (EventBridge flattens arrays).
        if (Array.isArray(inner)) return inner.length === 0 ? nested(ABSENT) : inner.some(nested);
        return nested(isPlainObject(inner) ? inner : ABSENT);
      });
    } else {
      throw new InvalidEventPatternError(fieldPath, 'a value must be a list or a nested pattern object');
    }
  }
  return (level) => fields.every((field) => field(level));
}

function child(level: unknown, key: string): unknown {
  return isPlainObject(level) && Object.hasOwn(level, key) ? level[key] : ABSENT;
}

function compileLeaf(conditions: readonly unknown[], path: string): NodeMatcher {
  if (conditions.length === 0) throw new InvalidEventPatternError(path, 'a list must not be empty');
  const matchers = conditions.map((condition) => compileCondition(condition, path));
  return (value) => {
    // Objects are not leaves: no leaf condition matches them (not even `exists: true`).
    if (isPlainObject(value)) return false;
    const values = Array.isArray(value)
      ? value.filter((v) => !isPlainObject(v) && !Array.isArray(v))
      : [value];
    if (values.length === 0) return matchers.some((matcher) => matcher(ABSENT));
    return values.some((v) => matchers.some((matcher) => matcher(v)));
  };
}

function compileCondition(condition: unknown, path: string): LeafMatcher {
  if (!isPlainObject(condition)) {
    if (Array.isArray(condition)) throw new InvalidEventPatternError(path, 'lists cannot be nested');
    // Numbers compare by value, so `3.0e2` in a pattern matches `300` in an event.
    return (value) => value !== ABSENT && condition === value;
  }
  const entries = Object.entries(condition);
  const [entry] = entries;
  if (entries.length !== 1 || !entry) {
    throw new InvalidEventPatternError(path, 'an operator object has exactly one operator');
  }
  const [operator, operand] = entry;
  switch (operator) {
    case 'prefix':
      return stringTest(operand, path, operator, (value, text, fold) =>
        fold ? value.toLowerCase().startsWith(text.toLowerCase()) : value.startsWith(text),
      );
    case 'suffix':
      return stringTest(operand, path, operator, (value, text, fold) =>
        fold ? value.toLowerCase().endsWith(text.toLowerCase()) : value.endsWith(text),
      );
    case 'equals-ignore-case': {
      const text = requireString(operand, path, operator);
      return (value) => typeof value === 'string' && value.toLowerCase() === text.toLowerCase();
    }
    case 'wildcard': {
      const regex = wildcardRegex(requireString(operand, path, operator), path);
      return (value) => typeof value === 'string' && regex.test(value);
    }
    case 'anything-but':
      return compileAnythingBut(operand, path);
    case 'numeric':
      return compileNumeric(operand, path);
    case 'exists': {
      if (typeof operand !== 'boolean')
        throw new InvalidEventPatternError(path, 'exists takes true or false');
      return operand ? (value) => value !== ABSENT : (value) => value === ABSENT;
    }
    case 'cidr':
      return compileCidr(operand, path);
    default:
      throw new InvalidEventPatternError(path, `unknown operator "${operator}"`);
  }
}

/** `prefix` / `suffix`: a string, or `{ "equals-ignore-case": string }`. */
function stringTest(
  operand: unknown,
  path: string,
  operator: string,
  test: (value: string, text: string, foldCase: boolean) => boolean,
): LeafMatcher {
  if (isPlainObject(operand)) {
    const text = requireString(operand['equals-ignore-case'], path, `${operator}.equals-ignore-case`);
    if (Object.keys(operand).length !== 1) {
      throw new InvalidEventPatternError(
        path,
        `${operator} takes a string or { "equals-ignore-case": string }`,
      );
    }
    return (value) => typeof value === 'string' && test(value, text, true);
  }
  const text = requireString(operand, path, operator);
  return (value) => typeof value === 'string' && test(value, text, false);
}

function compileAnythingBut(operand: unknown, path: string): LeafMatcher {
  let excluded: LeafMatcher;
  if (isPlainObject(operand)) {
    const entries = Object.entries(operand);
    const [entry] = entries;
    if (entries.length !== 1 || !entry) {
      throw new InvalidEventPatternError(path, 'anything-but takes a value, a list or one operator');
    }
    const [operator, inner] = entry;
    if (operator === 'prefix' || operator === 'suffix') {
      excluded = compileCondition(
        { [operator]: requireString(inner, path, `anything-but.${operator}`) },
        path,
      );
    } else if (operator === 'equals-ignore-case' || operator === 'wildcard') {
      const texts = Array.isArray(inner) ? inner : [inner];
      if (texts.length === 0) throw new InvalidEventPatternError(path, `anything-but.${operator} is empty`);
      const each = texts.map((text) =>
        compileCondition({ [operator]: requireString(text, path, `anything-but.${operator}`) }, path),
      );
      excluded = (value) => each.some((matcher) => matcher(value));
    } else {
      throw new InvalidEventPatternError(path, `anything-but does not take "${operator}"`);
    }
  } else {
    const values = Array.isArray(operand) ? operand : [operand];
    if (values.length === 0 || !values.every((v) => typeof v === 'string' || typeof v === 'number')) {
      throw new InvalidEventPatternError(path, 'anything-but takes strings or numbers');
    }
    excluded = (value) => values.some((v) => v === value);
  }
  // The field must be present: anything-but never matches an absent field.
  return (value) => value !== ABSENT && !excluded(value);
}

const NUMERIC_OPERATORS: Readonly<Record<string, (a: number, b: number) => boolean>> = {
  '=': (a, b) => a === b,
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
};

function compileNumeric(operand: unknown, path: string): LeafMatcher {
  if (!Array.isArray(operand) || (operand.length !== 2 && operand.length !== 4)) {
    throw new InvalidEventPatternError(path, 'numeric takes [op, number] or [op, number, op, number]');
  }
  const tests: ((value: number) => boolean)[] = [];
  for (let i = 0; i < operand.length; i += 2) {
    const op = operand[i];
    const bound = operand[i + 1];
    const compare = typeof op === 'string' ? NUMERIC_OPERATORS[op] : undefined;
    if (!compare || typeof bound !== 'number' || !Number.isFinite(bound)) {
      throw new InvalidEventPatternError(
        path,
        `numeric: "${String(op)}" ${String(bound)} is not a comparison`,
      );
    }
    tests.push((value) => compare(value, bound));
  }
  return (value) => typeof value === 'number' && tests.every((test) => test(value));
}

function compileCidr(operand: unknown, path: string): LeafMatcher {
  const text = requireString(operand, path, 'cidr');
  const [network, bits] = text.split('/');
  const family = network ? isIP(network) : 0;
  const prefix = Number(bits);
  if (family === 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) {
    throw new InvalidEventPatternError(path, `cidr "${text}" is not an IP range`);
  }
  const type = family === 4 ? 'ipv4' : 'ipv6';
  // node:net's BlockList does the range arithmetic for both families.
  const range = new BlockList();
  range.addSubnet(network as string, prefix, type);
  return (value) => typeof value === 'string' && isIP(value) === family && range.check(value, type);
}

/**
 * `*` matches any run of characters (including none); `\*` is a literal star and `\\` a literal
 * backslash. As EventBridge's matcher (aws/event-ruler, WildcardParser) refuses them: two stars in a
 * row ("Consecutive wildcard characters") and a backslash before anything else ("Invalid escape
 * character"). https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html#eb-filtering-wildcard-matching
 */
function wildcardRegex(text: string, path: string): RegExp {
  let source = '';
  for (let i = 0; i < text.length; i++) {
    const char = text[i] as string;
    if (char === '\\') {
      const next = text[i + 1];
      if (next !== '*' && next !== '\\') {
        throw new InvalidEventPatternError(path, `wildcard "${text}": invalid escape character at ${i}`);
      }
      source += `\\${next}`;
      i++;
    } else if (char === '*') {
      if (text[i + 1] === '*') {
        throw new InvalidEventPatternError(
          path,
          `wildcard "${text}": consecutive wildcard characters at ${i}`,
        );
      }
      source += '.*';
    } else {
      source += char.replace(/[.+?^${}()|[\]\\/-]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`, 's');
}

function requireString(value: unknown, path: string, operator: string): string {
  if (typeof value !== 'string') throw new InvalidEventPatternError(path, `${operator} takes a string`);
  return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
