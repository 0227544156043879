// cdktn's `Testing.app()` gives every app a new empty directory under the temporary directory
// (`mkdtemp` of `cdktf.outdir.`) and never removes it: the infra suite made ~160 of them a run. The
// suite runs with a temporary directory of its own instead, which jest's global teardown removes
// with whatever the suite left in it. Set in the global setup, before jest starts its workers, so
// they inherit it (Node's `os.tmpdir()` reads TMPDIR at each call).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const OWN = 'SIDESTEP_INFRA_TEST_TMPDIR';

/** Points TMPDIR at a new directory of the suite's own (remembering the one it replaces). */
export function useOwnTmpdir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sidestep-infra-tests-'));
  process.env[`${OWN}_PREVIOUS`] = process.env.TMPDIR ?? '';
  process.env[OWN] = dir;
  process.env.TMPDIR = dir;
  return dir;
}

/** Removes the suite's temporary directory and everything in it, and restores TMPDIR. */
export function removeOwnTmpdir(): void {
  const dir = process.env[OWN];
  if (dir === undefined) return;
  rmSync(dir, { recursive: true, force: true });
  const previous = process.env[`${OWN}_PREVIOUS`];
  if (previous) process.env.TMPDIR = previous;
  else delete process.env.TMPDIR;
  delete process.env[OWN];
  delete process.env[`${OWN}_PREVIOUS`];
}

export default useOwnTmpdir;
