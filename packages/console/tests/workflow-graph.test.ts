import { describe, expect, it } from '@jest/globals';
import { graphOf, workflowGraph } from '../src/workflow-graph.ts';

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

describe('workflowGraph', () => {
  it("draws each state once, laid out apart, coloured by the execution's outcomes", () => {
    const svg = workflowGraph(
      DEFINITION,
      new Map([
        ['Check', 'succeeded'],
        ['Work', 'failed'],
      ]),
    ).value;
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

  it('escapes state names', () => {
    const svg = workflowGraph({ StartAt: '<x>', States: { '<x>': { Type: 'Pass', End: true } } }).value;
    expect(svg).toContain('data-state="&lt;x&gt;"');
    expect(svg).not.toContain('<x>');
  });
});
