import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { BUNDLE_INPUTS, type BundleInputs, bundleInputs, freshBundle } from '../src/fresh-bundle.ts';

// A package as build.ts leaves it: sources, the bundle's files and dist/inputs.json recording them.
let packageDir: string;
const source = () => join(packageDir, 'src', 'main.ts');
const lockfile = () => join(packageDir, 'pnpm-lock.yaml');
const entry = () => join(packageDir, 'dist', 'index.mjs');
const chunk = () => join(packageDir, 'dist', 'chunk-A.mjs');

function build(): void {
  writeFileSync(
    join(packageDir, BUNDLE_INPUTS),
    JSON.stringify(bundleInputs(packageDir, [source(), lockfile()], [entry(), chunk()])),
  );
}

beforeEach(() => {
  packageDir = mkdtempSync(join(tmpdir(), 'sidestep-fresh-bundle-'));
  mkdirSync(join(packageDir, 'src'));
  mkdirSync(join(packageDir, 'dist'));
  writeFileSync(source(), 'export const answer = 42;\n');
  writeFileSync(lockfile(), "lockfileVersion: '9.0'\n");
  writeFileSync(entry(), 'export const answer = 42;\n');
  writeFileSync(chunk(), 'export {};\n');
  build();
});

afterEach(() => rmSync(packageDir, { recursive: true, force: true }));

describe('freshBundle', () => {
  it('names the bundle while its sources and files are as built', () => {
    expect(freshBundle(packageDir)).toBe(entry());
  });

  it('takes a source touched but unchanged (a checkout, a cache restore) as current, by its content', () => {
    const later = new Date(Date.now() + 60_000);
    utimesSync(source(), later, later);
    expect(freshBundle(packageDir)).toBe(entry());
  });

  it('refuses a source edited to the same size once its modification time moves', () => {
    const mtime = new Date(Date.now() - 60_000);
    utimesSync(source(), mtime, mtime);
    build();
    writeFileSync(source(), 'export const answer = 43;\n');
    utimesSync(source(), mtime, mtime);
    // Same size and time: as make would, it is taken as unchanged (the record is what build saw).
    expect(freshBundle(packageDir)).toBe(entry());
    const later = new Date(mtime.getTime() + 1000);
    utimesSync(source(), later, later);
    expect(freshBundle(packageDir)).toBeUndefined();
  });

  it('refuses a source of another size, a removed source and a changed lockfile', () => {
    writeFileSync(source(), 'export const answer = 4200;\n');
    expect(freshBundle(packageDir)).toBeUndefined();
    writeFileSync(source(), 'export const answer = 42;\n');
    expect(freshBundle(packageDir)).toBe(entry());
    rmSync(source());
    expect(freshBundle(packageDir)).toBeUndefined();
    writeFileSync(source(), 'export const answer = 42;\n');
    writeFileSync(lockfile(), "lockfileVersion: '9.1'\n");
    expect(freshBundle(packageDir)).toBeUndefined();
  });

  it('refuses a bundle missing a file or with a file of another size', () => {
    rmSync(chunk());
    expect(freshBundle(packageDir)).toBeUndefined();
    writeFileSync(chunk(), 'export {};\n');
    expect(freshBundle(packageDir)).toBe(entry());
    writeFileSync(entry(), '');
    expect(freshBundle(packageDir)).toBeUndefined();
  });

  it('refuses a bundle another Node built', () => {
    const record = JSON.parse(readFileSync(join(packageDir, BUNDLE_INPUTS), 'utf8')) as BundleInputs;
    writeFileSync(join(packageDir, BUNDLE_INPUTS), JSON.stringify({ ...record, node: 'v22.0.0' }));
    expect(freshBundle(packageDir)).toBeUndefined();
  });

  it('refuses a package without a record (never built) or with one it cannot read', () => {
    writeFileSync(join(packageDir, BUNDLE_INPUTS), '{"sources": [');
    expect(freshBundle(packageDir)).toBeUndefined();
    rmSync(join(packageDir, BUNDLE_INPUTS));
    expect(freshBundle(packageDir)).toBeUndefined();
  });
});
