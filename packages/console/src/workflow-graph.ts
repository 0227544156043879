import dagre from '@dagrejs/dagre';
import { escapeHtml, raw, type SafeHtml } from './html.ts';

/** How a state ended in one execution; states it never entered have none. */
export type StateOutcome = 'succeeded' | 'failed' | 'running';

/** A state of a definition as the graph draws it. */
export interface GraphNode {
  readonly id: string;
  readonly type: string;
}

/** A transition: `next`, a Choice's rule or default, a Catch (`catch`), or into and out of a branch. */
export interface GraphEdge {
  readonly from: string;
  readonly to: string;
  readonly kind: 'next' | 'choice' | 'catch' | 'branch';
  readonly label: string | null;
}

interface StateJson {
  readonly Type?: string;
  readonly Next?: string;
  readonly End?: boolean;
  readonly Default?: string;
  readonly Choices?: readonly { readonly Next?: string }[];
  readonly Catch?: readonly { readonly ErrorEquals?: readonly string[]; readonly Next?: string }[];
  readonly Branches?: readonly BranchJson[];
  readonly ItemProcessor?: BranchJson;
  readonly Iterator?: BranchJson;
}

interface BranchJson {
  readonly StartAt?: string;
  readonly States?: Readonly<Record<string, StateJson>>;
}

/**
 * The states and transitions of an Amazon States Language definition. A Parallel's branches and a
 * Map's item processor are drawn beside it: an edge into each branch's StartAt, and from the
 * branch's end states back to it (names are unique across a whole definition in Step Functions).
 */
export function graphOf(definition: unknown): { nodes: GraphNode[]; edges: GraphEdge[] } {
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  const visit = (branch: BranchJson) => {
    for (const [id, state] of Object.entries(branch.States ?? {})) {
      nodes.push({ id, type: state.Type ?? 'Unknown' });
      if (state.Next) edges.push({ from: id, to: state.Next, kind: 'next', label: null });
      if (state.Default) edges.push({ from: id, to: state.Default, kind: 'choice', label: 'default' });
      for (const choice of state.Choices ?? []) {
        if (choice.Next) edges.push({ from: id, to: choice.Next, kind: 'choice', label: null });
      }
      for (const handler of state.Catch ?? []) {
        if (handler.Next) {
          edges.push({
            from: id,
            to: handler.Next,
            kind: 'catch',
            label: (handler.ErrorEquals ?? []).join(', ') || null,
          });
        }
      }
      const branches = [...(state.Branches ?? []), ...[state.ItemProcessor ?? state.Iterator ?? []].flat()];
      for (const inner of branches) {
        if (inner.StartAt) edges.push({ from: id, to: inner.StartAt, kind: 'branch', label: null });
        for (const [innerId, innerState] of Object.entries(inner.States ?? {})) {
          if (innerState.End || innerState.Type === 'Succeed') {
            edges.push({ from: innerId, to: id, kind: 'branch', label: null });
          }
        }
        visit(inner);
      }
    }
  };
  visit(definition as BranchJson);
  const names = new Set(nodes.map((node) => node.id));
  return { nodes, edges: edges.filter((edge) => names.has(edge.from) && names.has(edge.to)) };
}

const NODE_HEIGHT = 40;
const CHAR_WIDTH = 7.2;

/**
 * The sign after a state's type for how it ended, so the outcome is not told by colour alone
 * (WCAG 1.4.1); a page's legend shows the same signs.
 */
export const OUTCOME_SIGNS: Readonly<Record<StateOutcome, string>> = {
  succeeded: '✓',
  failed: '✗',
  running: '▶',
};

/**
 * The definition drawn as an SVG, laid out by dagre (top to bottom), each state coloured by its
 * `outcomes` (class `state-succeeded`, `state-failed`, `state-running`, else `state-idle`) and
 * marked with its {@link OUTCOME_SIGNS}; the stylesheet gives the colours. The SVG is an image named
 * by `label` (what a screen reader says of it). Every state is a `<g data-state="<name>">` so a page
 * (or a test) can find it.
 */
export function workflowGraph(
  definition: unknown,
  options: { readonly label: string; readonly outcomes?: ReadonlyMap<string, StateOutcome> },
): SafeHtml {
  const outcomes = options.outcomes ?? new Map<string, StateOutcome>();
  const { nodes, edges, layout } = laidOut(definition);
  const { width, height } = layout;
  const parts: string[] = [];
  edges.forEach((edge, index) => {
    const points = (layout.edges[index] ?? []).map((point) => `${point.x.toFixed(1)},${point.y.toFixed(1)}`);
    if (points.length === 0) return;
    const title = edge.label ? `<title>${escapeHtml(edge.label)}</title>` : '';
    parts.push(
      `<polyline class="edge edge-${edge.kind}" points="${points.join(' ')}" marker-end="url(#arrow)">${title}</polyline>`,
    );
  });
  nodes.forEach((node, index) => {
    const laid = layout.nodes[index] as LaidOutNode;
    const outcome = outcomes.get(node.id) ?? 'idle';
    const type = outcome === 'idle' ? node.type : `${node.type} ${OUTCOME_SIGNS[outcome]}`;
    const x = laid.x - laid.width / 2;
    const y = laid.y - laid.height / 2;
    parts.push(
      `<g class="state state-${outcome}" data-state="${escapeHtml(node.id)}" data-outcome="${outcome}">` +
        `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${laid.width}" height="${laid.height}" rx="${node.type === 'Choice' ? 16 : 6}"/>` +
        `<text x="${laid.x.toFixed(1)}" y="${(laid.y - 3).toFixed(1)}" class="state-name">${escapeHtml(node.id)}</text>` +
        `<text x="${laid.x.toFixed(1)}" y="${(laid.y + 12).toFixed(1)}" class="state-type">${escapeHtml(type)}</text>` +
        '</g>',
    );
  });
  return raw(
    `<svg class="workflow-graph" role="img" aria-label="${escapeHtml(options.label)}" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg">` +
      '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>' +
      `${parts.join('')}</svg>`,
  );
}

interface LaidOutNode {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** Where dagre put a graph's states (in `nodes`' order) and its edges' points (in `edges`' order). */
interface GraphLayout {
  readonly width: number;
  readonly height: number;
  readonly nodes: readonly LaidOutNode[];
  readonly edges: readonly (readonly { x: number; y: number }[])[];
}

/** The layouts of the definitions drawn lately, by their graph: a live page redraws its graph every refresh. */
const layouts = new Map<string, GraphLayout>();
const KEPT_LAYOUTS = 32;

/**
 * The graph of `definition` laid out by dagre (top to bottom). A layout depends on the states and
 * transitions only, not on an execution's outcomes: each graph is laid out once and kept (the
 * {@link KEPT_LAYOUTS} latest), instead of again for every page and every refresh of a live one.
 */
function laidOut(definition: unknown): { nodes: GraphNode[]; edges: GraphEdge[]; layout: GraphLayout } {
  const { nodes, edges } = graphOf(definition);
  const key = JSON.stringify([nodes, edges]);
  let layout = layouts.get(key);
  if (layout) {
    // The latest used goes last: the first is the one to forget.
    layouts.delete(key);
  } else {
    layout = layoutOf(nodes, edges);
    if (layouts.size >= KEPT_LAYOUTS) layouts.delete(layouts.keys().next().value as string);
  }
  layouts.set(key, layout);
  return { nodes, edges, layout };
}

function layoutOf(nodes: readonly GraphNode[], edges: readonly GraphEdge[]): GraphLayout {
  const graph = new dagre.graphlib.Graph({ multigraph: true });
  graph.setGraph({ rankdir: 'TB', nodesep: 28, ranksep: 36, marginx: 8, marginy: 8 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const node of nodes) {
    const width = Math.max(110, Math.ceil(Math.max(node.id.length, node.type.length + 4) * CHAR_WIDTH) + 24);
    graph.setNode(node.id, { width, height: NODE_HEIGHT });
  }
  edges.forEach((edge, index) => {
    graph.setEdge(edge.from, edge.to, { label: edge.label ?? '' }, String(index));
  });
  dagre.layout(graph);
  const size = graph.graph();
  return {
    width: Math.ceil(size.width ?? 0),
    height: Math.ceil(size.height ?? 0),
    nodes: nodes.map((node) => {
      const { x, y, width, height } = graph.node(node.id);
      return { x, y, width, height };
    }),
    edges: edges.map((edge, index) =>
      (
        (graph.edge({ v: edge.from, w: edge.to, name: String(index) })?.points ?? []) as {
          x: number;
          y: number;
        }[]
      ).map(({ x, y }) => ({ x, y })),
    ),
  };
}
