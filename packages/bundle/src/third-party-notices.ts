import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Metafile } from 'esbuild';
import parseSpdx, { type ConjunctionInfo, type LicenseInfo } from 'spdx-expression-parse';
import spdxLicences from 'spdx-license-list/full.js';
import type { RefusedPackage } from './errors.ts';

/**
 * The licences allowed in what users run: permissive ones, whose conditions a copy meets by carrying
 * the licence text and notices (THIRD-PARTY-NOTICES.txt does), and MPL-2.0. CC-BY-3.0/4.0 are
 * attribution-only licences of data (the SPDX exceptions list that spdx-expression-parse reads).
 *
 * MPL-2.0 is allowed: its copyleft is per file (MPL-2.0 section 3.2: distributing the Covered
 * Software's executable form requires its source to be available and recipients told how to get
 * it; the larger work may be under other terms, section 3.3). The bundle carries such files
 * unmodified, and the notices file gives each MPL package's licence text and where its source is.
 * A modified MPL file would have to be published: change none (a `substitutes` replacement of one
 * is new code of ours, not a modification of theirs, but keep it out of MPL files all the same).
 *
 * Everything else is refused: GPL, AGPL, LGPL (relinking obligations a bundle cannot meet), SSPL,
 * EUPL, CC-BY-SA, `LicenseRef-*`, UNLICENSED and anything that is not an SPDX expression.
 */
export const ALLOWED_LICENCES: ReadonlySet<string> = new Set([
  '0BSD',
  'Apache-2.0',
  'BlueOak-1.0.0',
  'BSD-2-Clause',
  'BSD-3-Clause',
  'CC-BY-3.0',
  'CC-BY-4.0',
  'CC0-1.0',
  'ISC',
  'MIT',
  'MIT-0',
  'MPL-2.0',
  'Python-2.0',
  'Unlicense',
  'Zlib',
]);

/** What {@link licenceVerdict} decides of a licence expression. */
export type LicenceVerdict =
  | {
      readonly allowed: true;
      /** The licences the package is used under: for `(MIT OR GPL-3.0)`, `['MIT']`. */
      readonly usedUnder: readonly string[];
    }
  | { readonly allowed: false; readonly reason: string };

/**
 * Decides whether code under an SPDX licence expression (a package.json `license`) may be in what
 * users run, by {@link ALLOWED_LICENCES}: `A OR B` needs one allowed alternative, `A AND B` both;
 * `A WITH exception` is decided by A (an exception only grants more: `GPL-2.0-only WITH
 * Classpath-exception-2.0` is still refused), `A+` by A.
 *
 * spdx-expression-parse (MIT; what npm itself validates `license` with) parses the expression.
 * spdx-satisfies is not used for the decision: it wants every `WITH` exception in the allowed list
 * (so `Apache-2.0 WITH LLVM-exception` would be refused) and answers only yes or no, where the
 * notices need the alternative used and a refusal the term refused.
 */
export function licenceVerdict(expression: string | undefined): LicenceVerdict {
  if (expression === undefined || expression.trim() === '') {
    return { allowed: false, reason: 'the package declares no licence' };
  }
  if (expression === 'UNLICENSED') {
    return { allowed: false, reason: 'UNLICENSED: the package grants no one the right to use it' };
  }
  let tree: LicenseInfo | ConjunctionInfo;
  try {
    tree = parseSpdx(expression);
  } catch (error) {
    return {
      allowed: false,
      reason: `not an SPDX expression (${error instanceof Error ? error.message : String(error)})`,
    };
  }
  return decide(tree);
}

function decide(tree: LicenseInfo | ConjunctionInfo): LicenceVerdict {
  if (!('conjunction' in tree)) {
    if (!ALLOWED_LICENCES.has(tree.license)) {
      return { allowed: false, reason: `${tree.license} is not an allowed licence` };
    }
    const term = `${tree.license}${tree.plus ? '+' : ''}${tree.exception ? ` WITH ${tree.exception}` : ''}`;
    return { allowed: true, usedUnder: [term] };
  }
  const left = decide(tree.left);
  const right = decide(tree.right);
  if (tree.conjunction === 'and') {
    if (!left.allowed) return left;
    if (!right.allowed) return right;
    return { allowed: true, usedUnder: [...left.usedUnder, ...right.usedUnder] };
  }
  const allowed = [left, right].filter((verdict) => verdict.allowed);
  if (allowed.length === 0) return left;
  // Of two allowed alternatives, one without MPL-2.0's file-level copyleft.
  return allowed.find((verdict) => !verdict.usedUnder.some((term) => term.startsWith('MPL-'))) ?? allowed[0]!;
}

/** A third-party package whose code is in the bundle. */
export interface BundledPackage {
  readonly name: string;
  readonly version: string;
  /** The `license` of its package.json (legacy `licenses: [{ type }]` as their OR), if any. */
  readonly licence: string | undefined;
  /** Its directory (the package root under node_modules). */
  readonly dir: string;
  /** Its repository URL, from package.json, if any. */
  readonly repository: string | undefined;
}

/**
 * The third-party packages with code in the bundle's JavaScript: every input with bytes in an
 * `.mjs` output that lies under a `node_modules` directory, by the package directory after its last
 * `node_modules/` (`.pnpm/zod@4.6.7/node_modules/zod/...` is zod's); sorted by name and version.
 * The workspace's own packages resolve to their real paths (packages/...), outside node_modules.
 */
export async function bundledPackages(meta: Metafile, packageDir: string): Promise<BundledPackage[]> {
  const dirs = new Set<string>();
  for (const input of inputsInJavaScript(meta)) {
    const dir = packageDirOf(input);
    if (dir !== undefined) dirs.add(resolve(packageDir, dir));
  }
  const packages = await Promise.all([...dirs].map(readPackage));
  // One package may be installed in two places (two peers' variants under .pnpm): once in the notices.
  const unique = new Map(packages.map((found) => [`${found.name}@${found.version}`, found]));
  return [...unique.values()].sort((a, b) => compare(a.name, b.name) || compare(a.version, b.version));
}

/**
 * The inputs with bytes in an `.mjs` output that are a workspace package's build output
 * (`packages/<name>/dist/...`, outside node_modules): a file that may inline third-party code the
 * metafile cannot name.
 */
export function prebuiltWorkspaceInputs(meta: Metafile): string[] {
  return [...inputsInJavaScript(meta)]
    .filter((input) => !input.includes('node_modules/') && /(^|\/)packages\/[^/]+\/dist\//.test(input))
    .sort(compare);
}

/** The metafile's inputs with bytes in one of its `.mjs` outputs (code the bundle's JavaScript holds). */
function inputsInJavaScript(meta: Metafile): Set<string> {
  const found = new Set<string>();
  for (const [output, { inputs }] of Object.entries(meta.outputs)) {
    if (!output.endsWith('.mjs')) continue;
    for (const [input, { bytesInOutput }] of Object.entries(inputs)) {
      if (bytesInOutput > 0) found.add(input);
    }
  }
  return found;
}

/** `node_modules/@scope/name` or `node_modules/name` of the last node_modules in `input`, if any. */
function packageDirOf(input: string): string | undefined {
  const at = input.lastIndexOf('node_modules/');
  if (at === -1) return undefined;
  const [first = '', second = ''] = input.slice(at + 'node_modules/'.length).split('/');
  return input.slice(0, at) + ['node_modules', first, ...(first.startsWith('@') ? [second] : [])].join('/');
}

async function readPackage(dir: string): Promise<BundledPackage> {
  const json = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as {
    name?: string;
    version?: string;
    license?: string | { type?: string };
    licenses?: Array<{ type?: string }>;
    repository?: string | { url?: string };
  };
  return {
    name: json.name ?? dir,
    version: json.version ?? 'unknown',
    licence: declaredLicence(json),
    dir,
    repository: typeof json.repository === 'string' ? json.repository : json.repository?.url,
  };
}

/** npm's `license`, or the deprecated `license: { type }` and `licenses: [{ type }]` (either one applies). */
function declaredLicence(json: {
  license?: string | { type?: string };
  licenses?: Array<{ type?: string }>;
}): string | undefined {
  if (typeof json.license === 'string') return json.license;
  if (json.license?.type) return json.license.type;
  const types = (json.licenses ?? []).flatMap((entry) => (entry.type ? [entry.type] : []));
  if (types.length === 0) return undefined;
  return types.length === 1 ? types[0] : `(${types.map((type) => `(${type})`).join(' OR ')})`;
}

/** The bundled packages {@link licenceVerdict} refuses, with why. */
export function refusedPackages(packages: readonly BundledPackage[]): RefusedPackage[] {
  return packages.flatMap(({ name, version, licence }) => {
    const verdict = licenceVerdict(licence);
    return verdict.allowed ? [] : [{ name, version, licence, reason: verdict.reason }];
  });
}

/** The notices file, next to the bundle in `outdir`, which the images copy with it. */
export const THIRD_PARTY_NOTICES = 'THIRD-PARTY-NOTICES.txt';

/** Licence and notice files as packages name them: LICENSE, LICENCE.md, LICENSE-MIT, COPYING, NOTICE.txt. */
const LICENCE_FILE = /^(licen[cs]e|copying|notice)([.\-_].*)?$/i;

/**
 * Writes `<outdir>/THIRD-PARTY-NOTICES.txt`: for each package (sorted), `name@version`, its licence
 * (and the alternative used), its licence and NOTICE files, or the SPDX standard text of its
 * licence when it ships none, and for MPL-2.0 where its source is; then the licence comments
 * esbuild moved out of the code (`<output>.LEGAL.txt`, which are removed: no image copies them,
 * and one file carries every notice). The same inputs give the same bytes: images are rebuilt on
 * every deploy.
 */
export async function writeThirdPartyNotices(
  outdir: string,
  service: string,
  packages: readonly BundledPackage[],
): Promise<void> {
  const sections = deduplicated(await Promise.all(packages.map(packageSection)));
  const legal = (await readdir(outdir)).filter((file) => file.endsWith('.LEGAL.txt')).sort(compare);
  const comments: string[] = [];
  for (const file of legal) {
    const text = normalise(await readFile(join(outdir, file), 'utf8'));
    comments.push(text.replace(/^Bundled license information:\n\n/, ''));
    await rm(join(outdir, file));
  }
  const text = [
    `Third-party software in ${service}\n`,
    'The JavaScript files next to this one (index.mjs and its chunks) contain code of the packages',
    'below, each under the licence named. Each section holds the licence and NOTICE files the package',
    'ships; a package that ships none is given the standard text of its licence from the SPDX License',
    'List. The licence comments kept from the bundled code follow the packages.\n',
    ...sections,
    `${'*'.repeat(80)}\nLicence comments kept from the bundled code\n`,
    comments.length > 0 ? comments.join('\n') : '(none)\n',
  ].join('\n');
  await writeFile(join(outdir, THIRD_PARTY_NOTICES), text);
}

/** A package's section: its heading lines and its licence texts, each under its label. */
interface PackageSection {
  readonly id: string;
  readonly lines: readonly string[];
  readonly files: readonly { readonly label: string; readonly text: string }[];
}

/**
 * The sections as text, a licence text printed once: a later package with the same text (the
 * Apache-2.0 text of every AWS SDK package, the MIT-0 text of every Powertools package) names the
 * section that printed it. The notices were ~300 KiB per image, mostly the same texts again.
 */
function deduplicated(sections: readonly PackageSection[]): string[] {
  const printed = new Map<string, string>();
  return sections.map(({ id, lines, files }) => {
    const texts = files.map(({ label, text }) => {
      const first = printed.get(text);
      if (first !== undefined) return `--- ${label} ---\n(the same text as ${first} above)\n`;
      printed.set(text, `${id}'s ${label}`);
      return `--- ${label} ---\n${text}`;
    });
    return `${lines.join('\n')}\n\n${texts.join('')}`;
  });
}

async function packageSection(found: BundledPackage): Promise<PackageSection> {
  const verdict = licenceVerdict(found.licence);
  const usedUnder = verdict.allowed ? verdict.usedUnder : [];
  const licenceLine =
    usedUnder.length === 1 && usedUnder[0] === found.licence
      ? `Licence: ${found.licence}`
      : `Licence: ${found.licence}, used under ${usedUnder.join(' AND ')}`;
  const id = `${found.name}@${found.version}`;
  const lines = [`${'='.repeat(80)}\n${id}`, licenceLine];
  if (usedUnder.some((term) => term.startsWith('MPL-2.0'))) {
    const where = [
      found.repository?.replace(/^git\+/, ''),
      `https://www.npmjs.com/package/${found.name}/v/${found.version}`,
    ]
      .filter(Boolean)
      .join(' and ');
    lines.push(
      `MPL-2.0: its files are included unmodified; their source code form is available from ${where}.`,
    );
  }
  const files: { label: string; text: string }[] = [];
  for (const file of (await readdir(found.dir)).filter((name) => LICENCE_FILE.test(name)).sort(compare)) {
    if (!(await stat(join(found.dir, file))).isFile()) continue;
    files.push({ label: file, text: normalise(await readFile(join(found.dir, file), 'utf8')) });
  }
  if (files.length === 0) {
    lines.push(
      `${found.name} has no licence file; the standard text of its licence follows (SPDX License List).`,
    );
    for (const term of usedUnder) {
      const spdx = (term.split(' WITH ')[0] ?? term).replace(/\+$/, '');
      const standard = spdxLicences[spdx];
      files.push(
        standard
          ? { label: `${spdx}: ${standard.name}`, text: normalise(standard.licenseText) }
          : { label: spdx, text: `https://spdx.org/licenses/${spdx}.html\n` },
      );
    }
  }
  return { id, lines, files };
}

/** LF line ends and one final newline, whatever the file had. */
function normalise(text: string): string {
  return `${text.replace(/\r\n?/g, '\n').trimEnd()}\n`;
}

/** Code-point order: the same on every machine, unlike localeCompare. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
