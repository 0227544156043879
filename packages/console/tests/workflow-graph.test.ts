import { describe, expect, it } from '@jest/globals';
import { graphOf, OUTCOME_SIGNS, type StateOutcome, workflowGraph } from '../src/workflow-graph.ts';

const DEFINITION = {
  StartAt: 'Check',
  States: {
    Check: { Type: 'Choice', Choices: [{ Next: 'Work' }], Default: 'Skip' },
    Skip: { Type: 'Succeed' },
    Work: {
      Type: 'Task',
      Next: 'Fan',
      Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Failed' }],
    },
    Fan: {
      Type: 'Parallel',
      End: true,
      Branches: [{ StartAt: 'Inner', States: { Inner: { Type: 'Pass', End: true } } }],
    },
    Failed: { Type: 'Fail' },
  },
};

describe('graphOf', () => {
  it('finds every state, branches included, and each kind of transition', () => {
    const { nodes, edges } = graphOf(DEFINITION);
    expect(nodes.map((node) => node.id).sort()).toEqual(['Check', 'Failed', 'Fan', 'Inner', 'Skip', 'Work']);
    expect(edges).toEqual(
      expect.arrayContaining([
        { from: 'Check', to: 'Work', kind: 'choice', label: null },
        { from: 'Check', to: 'Skip', kind: 'choice', label: 'default' },
        { from: 'Work', to: 'Fan', kind: 'next', label: null },
        { from: 'Work', to: 'Failed', kind: 'catch', label: 'States.ALL' },
        { from: 'Fan', to: 'Inner', kind: 'branch', label: null },
        { from: 'Inner', to: 'Fan', kind: 'branch', label: null },
      ]),
    );
    expect(edges).toHaveLength(6);
  });
});

/** How an execution's states ended: Check succeeded, Work failed, Fan runs, the others never ran. */
const OUTCOMES = new Map<string, StateOutcome>([
  ['Check', 'succeeded'],
  ['Work', 'failed'],
  ['Fan', 'running'],
]);

describe('workflowGraph', () => {
  it("draws each state once, laid out apart, coloured by the execution's outcomes", () => {
    const svg = workflowGraph(DEFINITION, { label: 'The import workflow', outcomes: OUTCOMES }).value;
    expect(svg.match(/<g class="state /g)).toHaveLength(6);
    expect(svg).toContain('<g class="state state-failed" data-state="Work" data-outcome="failed">');
    expect(svg).toContain('data-state="Check" data-outcome="succeeded"');
    expect(svg).toContain('data-state="Skip" data-outcome="idle"');
    expect(svg.match(/class="edge edge-catch"/g)).toHaveLength(1);
    const corners = [...svg.matchAll(/<rect x="([\d.]+)" y="([\d.]+)"/g)].map(
      (match) => `${match[1]},${match[2]}`,
    );
    expect(new Set(corners).size).toBe(6);
  });

  it('is an image named by its label, each outcome marked by a sign as well as a colour', () => {
    const svg = workflowGraph(DEFINITION, {
      label: 'The import workflow: Check succeeded, Work failed',
      outcomes: OUTCOMES,
    }).value;
    expect(svg).toMatch(
      /^<svg class="workflow-graph" role="img" aria-label="The import workflow: Check succeeded, Work failed"/,
    );
    const typeLine = (state: string) =>
      new RegExp(`data-state="${state}"[^]*?<text[^>]*class="state-type">([^<]*)</text>`).exec(svg)?.[1];
    expect(typeLine('Check')).toBe(`Choice ${OUTCOME_SIGNS.succeeded}`);
    expect(typeLine('Work')).toBe(`Task ${OUTCOME_SIGNS.failed}`);
    expect(typeLine('Fan')).toBe(`Parallel ${OUTCOME_SIGNS.running}`);
    expect(typeLine('Skip')).toBe('Succeed');
    expect(new Set(Object.values(OUTCOME_SIGNS)).size).toBe(3);
  });

  it('escapes state names', () => {
    const svg = workflowGraph(
      { StartAt: '<x>', States: { '<x>': { Type: 'Pass', End: true } } },
      { label: '"<x>"' },
    ).value;
    expect(svg).toContain('data-state="&lt;x&gt;"');
    expect(svg).toContain('aria-label="&quot;&lt;x&gt;&quot;"');
    expect(svg).not.toContain('<x>');
  });
});
