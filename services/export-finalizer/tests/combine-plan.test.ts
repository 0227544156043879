import { describe, expect, it } from '@jest/globals';
import { type CombinedPart, MIN_PART_BYTES, planCombine } from '../src/domain/combine-plan.ts';

const MiB = 1024 * 1024;
const parts = (...sizes: number[]) => sizes.map((bytes, index) => ({ key: `p${index + 1}`, bytes }));

/** The source bytes a plan writes, in order, as `key[start,end)` strings. */
function coverage(plan: readonly CombinedPart[]): string[] {
  return plan.flatMap((part) =>
    part.kind === 'copy'
      ? [`${part.source.key}[${part.source.start},${part.source.end})`]
      : part.slices.map((slice) => `${slice.key}[${slice.start},${slice.end})`),
  );
}

function partBytes(part: CombinedPart): number {
  return part.kind === 'copy' ? part.source.end - part.source.start : part.bytes;
}

/** S3's rule: every part but the last at least 5 MiB; part numbers 1..n. */
function expectValid(plan: readonly CombinedPart[]): void {
  plan.forEach((part, index) => {
    expect(part.partNumber).toBe(index + 1);
    if (index < plan.length - 1) expect(partBytes(part)).toBeGreaterThanOrEqual(MIN_PART_BYTES);
  });
}

describe('planCombine', () => {
  it('copies every part of at least 5 MiB server-side, whatever its size, and a short last part too', () => {
    const plan = planCombine(parts(5 * MiB, 40 * MiB, 5 * MiB, 1000));
    expect(plan.map((part) => part.kind)).toEqual(['copy', 'copy', 'copy', 'copy']);
    expect(plan.every((part) => part.kind === 'copy' && part.whole)).toBe(true);
    expectValid(plan);
  });

  it('uploads a run of small parts as one part, flushed once it reaches 5 MiB', () => {
    const plan = planCombine(parts(2 * MiB, 2 * MiB, 2 * MiB, 2 * MiB, 2 * MiB, 1 * MiB));
    expect(plan.map((part) => part.kind)).toEqual(['upload', 'upload']);
    expect(plan.map(partBytes)).toEqual([6 * MiB, 5 * MiB]);
    expectValid(plan);
  });

  it('borrows the head of a large part for a short run and copies the rest of it by range', () => {
    const plan = planCombine(parts(1 * MiB, 20 * MiB));
    expect(plan).toEqual([
      {
        kind: 'upload',
        partNumber: 1,
        bytes: 5 * MiB,
        slices: [
          { key: 'p1', start: 0, end: MiB },
          { key: 'p2', start: 0, end: 4 * MiB },
        ],
      },
      { kind: 'copy', partNumber: 2, source: { key: 'p2', start: 4 * MiB, end: 20 * MiB }, whole: false },
    ]);
  });

  it('takes a large part whole into a short run when the rest of it would be too short to copy', () => {
    const plan = planCombine(parts(1 * MiB, 8 * MiB, 1 * MiB));
    expect(plan.map((part) => part.kind)).toEqual(['upload', 'copy']);
    expect(plan.map(partBytes)).toEqual([9 * MiB, 1 * MiB]);
    expectValid(plan);
  });

  it('writes every source byte exactly once, in order, for mixed sizes', () => {
    const sizes = [3 * MiB, 1 * MiB, 12 * MiB, 6 * MiB, 100, 200, 5 * MiB, 7 * MiB, 4 * MiB, 2 * MiB];
    const plan = planCombine(parts(...sizes));
    expectValid(plan);
    const covered = coverage(plan);
    // Consecutive slices of one key join up; each key is covered from 0 to its size.
    const byKey = new Map<string, number>();
    for (const slice of covered) {
      const [, key, start, end] = /^(p\d+)\[(\d+),(\d+)\)$/.exec(slice) as unknown as [
        string,
        string,
        string,
        string,
      ];
      expect(Number(start)).toBe(byKey.get(key) ?? 0);
      byKey.set(key, Number(end));
    }
    expect([...byKey.keys()]).toEqual(sizes.map((_, index) => `p${index + 1}`));
    sizes.forEach((size, index) => {
      expect(byKey.get(`p${index + 1}`)).toBe(size);
    });
    // The re-uploaded bytes stay below two minimum parts per upload.
    for (const part of plan)
      if (part.kind === 'upload') expect(part.bytes).toBeLessThan(2 * MIN_PART_BYTES + 5 * MiB);
  });

  it('copies a part larger than the largest S3 part in equal ranges', () => {
    const plan = planCombine(parts(1 * MiB, 25 * MiB, 3 * MiB), { maxPartBytes: 10 * MiB });
    expectValid(plan);
    expect(plan.map((part) => part.kind)).toEqual(['upload', 'copy', 'copy', 'copy', 'copy']);
    for (const part of plan) expect(partBytes(part)).toBeLessThanOrEqual(10 * MiB);
    expect(coverage(plan)).toEqual([
      `p1[0,${MiB})`,
      `p2[0,${4 * MiB})`,
      `p2[${4 * MiB},${11 * MiB})`,
      `p2[${11 * MiB},${18 * MiB})`,
      `p2[${18 * MiB},${25 * MiB})`,
      `p3[0,${3 * MiB})`,
    ]);
  });

  it('plans one part for one source of any size', () => {
    expect(planCombine(parts(10))).toEqual([
      { kind: 'copy', partNumber: 1, source: { key: 'p1', start: 0, end: 10 }, whole: true },
    ]);
    expect(planCombine(parts(6 * MiB)).map((part) => part.kind)).toEqual(['copy']);
  });
});
