import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import spdxLicences from 'spdx-license-list/full.js';
import {
  bundleService,
  licenceVerdict,
  PrebuiltWorkspaceInputError,
  RefusedLicenceError,
  SOURCE_CONDITION,
} from '../src/index.ts';

const MIT_TEXT = 'MIT License\n\nCopyright (c) 2026 Permissive Author\n\nPermission is hereby granted...\n';
const APACHE_NOTICE =
  'Apache Noticed\nCopyright 2026 The Noticed Authors\n\nThis product includes software developed at Example.\n';

/** A dependency in the fixture's node_modules: its package.json fields and its files. */
function dependency(
  name: string,
  fields: Record<string, unknown>,
  files: Record<string, string> = {},
): Record<string, string> {
  return Object.fromEntries([
    [
      `node_modules/${name}/package.json`,
      JSON.stringify({ name, version: '1.2.3', main: 'index.js', ...fields }),
    ],
    [`node_modules/${name}/index.js`, `exports.value = ${JSON.stringify(name)};`],
    ...Object.entries(files).map(([file, text]) => [`node_modules/${name}/${file}`, text]),
  ]);
}

const importing = (...names: string[]) =>
  `${names.map((name, index) => `import { value as v${index} } from '${name}';`).join('\n')}\nexport const handler = async () => [${names.map((_, index) => `v${index}`).join(', ')}];\n`;

const FILES: Record<string, string> = {
  'package.json': JSON.stringify({ name: '@fixture/licensed-service', private: true, type: 'module' }),
  ...dependency(
    'permissive-mit',
    { license: 'MIT' },
    {
      LICENSE: MIT_TEXT,
      // A licence comment esbuild keeps (legalComments), which must reach the notices file.
      'index.js': `/*! permissive-mit v1.2.3 | (c) Permissive Author | MIT */\nexports.value = 'permissive-mit';`,
    },
  ),
  ...dependency(
    '@scope/apache-noticed',
    { license: 'Apache-2.0' },
    { 'LICENSE.txt': 'Apache License\nVersion 2.0, January 2004\n(the text)\n', NOTICE: APACHE_NOTICE },
  ),
  // The same licence text as @scope/apache-noticed's: printed once, then named.
  ...dependency(
    'apache-twin',
    { license: 'Apache-2.0' },
    { LICENSE: 'Apache License\nVersion 2.0, January 2004\n(the text)\n' },
  ),
  ...dependency('no-file-isc', { license: 'ISC' }),
  ...dependency('dual-gpl', { license: '(MIT OR GPL-3.0)' }, { 'LICENSE-MIT': 'dual-gpl MIT text\n' }),
  ...dependency(
    'mpl-lib',
    { license: 'MPL-2.0', repository: { type: 'git', url: 'git+https://example.com/mpl-lib.git' } },
    { LICENSE: 'Mozilla Public License Version 2.0\n(the text)\n' },
  ),
  ...dependency(
    'legacy-licenses',
    { licenses: [{ type: 'BSD-3-Clause' }] },
    { COPYING: 'legacy BSD text\n' },
  ),
  ...dependency('with-exception', { license: 'Apache-2.0 WITH LLVM-exception' }, { LICENCE: 'llvm text\n' }),
  ...dependency('lazy-chunked', { license: 'MIT', version: '4.5.6' }, { LICENSE: 'lazy-chunked MIT text\n' }),
  // In node_modules, never imported: not in the bundle, so not in its notices.
  ...dependency('never-imported', { license: 'MIT' }, { LICENSE: 'never-imported text\n' }),
  ...dependency('gpl-only', { license: 'GPL-3.0' }),
  ...dependency('mit-and-gpl', { license: 'MIT AND GPL-2.0' }),
  ...dependency('no-licence', {}),
  ...dependency('gpl-classpath', { license: 'GPL-2.0-only WITH Classpath-exception-2.0' }),
  'src/accepted.ts': `${importing(
    'permissive-mit',
    '@scope/apache-noticed',
    'apache-twin',
    'no-file-isc',
    'dual-gpl',
    'mpl-lib',
    'legacy-licenses',
    'with-exception',
  )}export const later = async () => (await import('lazy-chunked')).value;\n`,
  'src/gpl.ts': importing('permissive-mit', 'gpl-only'),
  'src/and.ts': importing('mit-and-gpl'),
  'src/none.ts': importing('no-licence'),
  'src/classpath.ts': importing('gpl-classpath'),
  'src/two-refused.ts': importing('no-licence', 'gpl-only'),
};

let packageDir: string;

beforeAll(async () => {
  packageDir = await mkdtemp(join(tmpdir(), 'bundle-licences-'));
  for (const [file, content] of Object.entries(FILES)) {
    await mkdir(dirname(join(packageDir, file)), { recursive: true });
    await writeFile(join(packageDir, file), content);
  }
});

afterAll(async () => {
  await rm(packageDir, { recursive: true, force: true });
});

/** The notices file's sections, by their `name@version` heading. */
function sections(notices: string): Map<string, string> {
  const parts = notices.split(/^={80}\n/m).slice(1);
  return new Map(parts.map((part) => [part.slice(0, part.indexOf('\n')), part]));
}

describe('licenceVerdict (SPDX expressions, https://spdx.github.io/spdx-spec/v2.3/SPDX-license-expressions/)', () => {
  it.each([
    ['MIT', ['MIT']],
    ['Apache-2.0', ['Apache-2.0']],
    ['(MIT OR GPL-3.0)', ['MIT']],
    ['(GPL-3.0-or-later OR MIT)', ['MIT']],
    ['(MIT OR EUPL-1.1+)', ['MIT']],
    ['MIT AND BSD-3-Clause', ['MIT', 'BSD-3-Clause']],
    ['(MIT OR (GPL-3.0 AND BSD-3-Clause))', ['MIT']],
    ['((GPL-3.0 AND MIT) OR (ISC AND 0BSD))', ['ISC', '0BSD']],
    ['Apache-2.0 WITH LLVM-exception', ['Apache-2.0 WITH LLVM-exception']],
    ['MPL-2.0', ['MPL-2.0']],
  ])('accepts %s, used under %j', (expression, usedUnder) => {
    expect(licenceVerdict(expression)).toEqual({ allowed: true, usedUnder });
  });

  it.each([
    ['GPL-3.0', /GPL-3\.0 is not an allowed licence/],
    ['AGPL-3.0-only', /AGPL-3\.0-only is not an allowed licence/],
    ['LGPL-2.1-or-later', /LGPL-2\.1-or-later is not an allowed licence/],
    ['SSPL-1.0', /SSPL-1\.0 is not an allowed licence/],
    ['MIT AND GPL-2.0', /GPL-2\.0 is not an allowed licence/],
    ['(GPL-2.0 OR AGPL-3.0)', /GPL-2\.0 is not an allowed licence/],
    ['GPL-2.0-only WITH Classpath-exception-2.0', /GPL-2\.0-only is not an allowed licence/],
    ['EUPL-1.1+', /EUPL-1\.1 is not an allowed licence/],
    ['LicenseRef-Proprietary', /LicenseRef-Proprietary is not an allowed licence/],
    [undefined, /no licence/],
    ['', /no licence/],
    ['UNLICENSED', /UNLICENSED/],
    ['SEE LICENSE IN EULA.txt', /not an SPDX expression/],
    ['MIT OR', /not an SPDX expression/],
  ])('refuses %s', (expression, reason) => {
    const verdict = licenceVerdict(expression);
    expect(verdict.allowed).toBe(false);
    expect(!verdict.allowed && verdict.reason).toMatch(reason);
  });
});

describe('bundleService third-party notices', () => {
  it('writes dist/THIRD-PARTY-NOTICES.txt naming every bundled package, chunks included, with its licence, licence and NOTICE files', async () => {
    const result = await bundleService({ packageDir, entry: 'src/accepted.ts', splitting: true });
    expect(result.chunks.length).toBeGreaterThan(0);
    const notices = await readFile(join(packageDir, 'dist/THIRD-PARTY-NOTICES.txt'), 'utf8');
    const byPackage = sections(notices);
    // Sorted by name, each bundled package once; never-imported is in node_modules only.
    expect([...byPackage.keys()]).toEqual([
      '@scope/apache-noticed@1.2.3',
      'apache-twin@1.2.3',
      'dual-gpl@1.2.3',
      'lazy-chunked@4.5.6',
      'legacy-licenses@1.2.3',
      'mpl-lib@1.2.3',
      'no-file-isc@1.2.3',
      'permissive-mit@1.2.3',
      'with-exception@1.2.3',
    ]);
    expect(byPackage.get('permissive-mit@1.2.3')).toContain(`Licence: MIT\n`);
    expect(byPackage.get('permissive-mit@1.2.3')).toContain(MIT_TEXT);
    expect(byPackage.get('@scope/apache-noticed@1.2.3')).toContain('--- LICENSE.txt ---\nApache License\n');
    expect(byPackage.get('@scope/apache-noticed@1.2.3')).toContain(`--- NOTICE ---\n${APACHE_NOTICE}`);
    // A text already printed is named, not printed again.
    expect(notices.split('Version 2.0, January 2004')).toHaveLength(2);
    expect(byPackage.get('apache-twin@1.2.3')).toContain(
      "--- LICENSE ---\n(the same text as @scope/apache-noticed@1.2.3's LICENSE.txt above)\n",
    );
    expect(byPackage.get('dual-gpl@1.2.3')).toContain('Licence: (MIT OR GPL-3.0), used under MIT\n');
    expect(byPackage.get('legacy-licenses@1.2.3')).toContain('--- COPYING ---\nlegacy BSD text\n');
    expect(byPackage.get('with-exception@1.2.3')).toContain('--- LICENCE ---\nllvm text\n');
    // A package without a licence file: its licence's standard text from the SPDX License List.
    expect(byPackage.get('no-file-isc@1.2.3')).toContain('has no licence file');
    expect(byPackage.get('no-file-isc@1.2.3')).toContain(spdxLicences.ISC?.licenseText.trim());
    // MPL-2.0's file-level copyleft: the covered files are unmodified and their source is named.
    expect(byPackage.get('mpl-lib@1.2.3')).toMatch(
      /MPL-2\.0.*unmodified.*source.*https:\/\/example\.com\/mpl-lib\.git/s,
    );
    // esbuild's legal comments are folded in, and no LEGAL.txt is left for an image to miss.
    expect(notices).toContain('permissive-mit v1.2.3 | (c) Permissive Author | MIT');
    expect((await readdir(join(packageDir, 'dist'))).filter((file) => file.endsWith('.LEGAL.txt'))).toEqual(
      [],
    );
  });

  it('writes the same bytes for the same inputs', async () => {
    await bundleService({ packageDir, entry: 'src/accepted.ts', splitting: true, outdir: 'dist-a' });
    await bundleService({ packageDir, entry: 'src/accepted.ts', splitting: true, outdir: 'dist-b' });
    const [a, b] = await Promise.all(
      ['dist-a', 'dist-b'].map((outdir) => readFile(join(packageDir, outdir, 'THIRD-PARTY-NOTICES.txt'))),
    );
    expect(a?.equals(b as Buffer)).toBe(true);
  });

  it.each([
    ['src/gpl.ts', 'gpl-only', 'GPL-3.0'],
    ['src/and.ts', 'mit-and-gpl', 'MIT AND GPL-2.0'],
    ['src/none.ts', 'no-licence', undefined],
    ['src/classpath.ts', 'gpl-classpath', 'GPL-2.0-only WITH Classpath-exception-2.0'],
  ])(
    'refuses to bundle %s, naming %s, its version, its licence and the service, and leaves no bundle',
    async (entry, name, licence) => {
      const failure = bundleService({ packageDir, entry, outdir: 'dist-refused' });
      await expect(failure).rejects.toBeInstanceOf(RefusedLicenceError);
      await expect(failure).rejects.toMatchObject({
        name: 'RefusedLicenceError',
        service: '@fixture/licensed-service',
        packages: [{ name, version: '1.2.3', licence }],
      });
      const { message } = (await failure.catch((error: unknown) => error)) as Error;
      expect(message).toContain('@fixture/licensed-service');
      expect(message).toContain(`${name}@1.2.3 (${licence ?? 'no licence'})`);
      expect(existsSync(join(packageDir, 'dist-refused/index.mjs'))).toBe(false);
    },
  );

  it('names every refused package at once', async () => {
    await expect(
      bundleService({ packageDir, entry: 'src/two-refused.ts', outdir: 'dist-refused' }),
    ).rejects.toMatchObject({
      packages: [{ name: 'gpl-only' }, { name: 'no-licence' }],
    });
  });
});

// A workspace package may ship a pre-built bundle (the producer does, for other teams' apps): its
// dist file can inline third-party code whose package and licence the metafile cannot name.
describe('bundleService and workspace packages built ahead', () => {
  let workspaceDir: string;

  beforeAll(async () => {
    workspaceDir = await mkdtemp(join(tmpdir(), 'bundle-prebuilt-'));
    const files: Record<string, string> = {
      'package.json': JSON.stringify({ name: '@fixture/service', private: true, type: 'module' }),
      // The workspace package: its dist inlines gpl-only's code; its source imports it.
      'packages/prebuilt/package.json': JSON.stringify({
        name: '@fixture/prebuilt',
        version: '0.0.0',
        type: 'module',
        exports: { '.': { 'sidestep-source': './src/index.js', default: './dist/index.js' } },
      }),
      'packages/prebuilt/src/index.js': "export { value } from 'gpl-only';\n",
      'packages/prebuilt/dist/index.js': "var value = 'gpl-only, inlined';\nexport { value };\n",
      'packages/opaque/package.json': JSON.stringify({
        name: '@fixture/opaque',
        version: '0.0.0',
        type: 'module',
        exports: { '.': { default: './dist/index.js' } },
      }),
      'packages/opaque/dist/index.js': "var value = 'inlined code of some package';\nexport { value };\n",
      ...Object.fromEntries(
        Object.entries(dependency('gpl-only', { license: 'GPL-3.0' })).map(([file, text]) => [
          `packages/prebuilt/${file}`,
          text,
        ]),
      ),
      'src/prebuilt.ts': "export { value as handler } from '@fixture/prebuilt';\n",
      'src/opaque.ts': "export { value as handler } from '@fixture/opaque';\n",
    };
    for (const [file, content] of Object.entries(files)) {
      await mkdir(dirname(join(workspaceDir, file)), { recursive: true });
      await writeFile(join(workspaceDir, file), content);
    }
    // As pnpm links a workspace package: esbuild follows the link to packages/<name>.
    await mkdir(join(workspaceDir, 'node_modules/@fixture'), { recursive: true });
    for (const name of ['prebuilt', 'opaque']) {
      await symlink(join(workspaceDir, 'packages', name), join(workspaceDir, 'node_modules/@fixture', name));
    }
  });

  afterAll(async () => {
    await rm(workspaceDir, { recursive: true, force: true });
  });

  it(`bundles a workspace package's source under the ${SOURCE_CONDITION} condition, so its dependencies are checked`, async () => {
    const failure = bundleService({ packageDir: workspaceDir, entry: 'src/prebuilt.ts' });
    await expect(failure).rejects.toMatchObject({
      name: 'RefusedLicenceError',
      packages: [{ name: 'gpl-only', licence: 'GPL-3.0' }],
    });
  });

  it("refuses a workspace package's built output, naming it, and leaves no bundle", async () => {
    const failure = bundleService({ packageDir: workspaceDir, entry: 'src/opaque.ts' });
    await expect(failure).rejects.toBeInstanceOf(PrebuiltWorkspaceInputError);
    await expect(failure).rejects.toMatchObject({ inputs: ['packages/opaque/dist/index.js'] });
    expect(existsSync(join(workspaceDir, 'dist/index.mjs'))).toBe(false);
  });
});
