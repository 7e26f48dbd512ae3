// A radix tree over the exact and prefix location paths of one level: the
// shape of the generated decision tree. Each node is a string the path may
// start with; an edge is the run of characters between two nodes.

export interface TrieNode {
  /** The characters from the parent's string to this node's. */
  label: string;
  /** The length of this node's string: the path index just after the label. */
  depth: number;
  /** The prefix location ending here (a caller's value), or -1. */
  prefix: number;
  /** The exact location ending here, or -1. */
  exact: number;
  /** Children in increasing order of their label's first character. */
  children: TrieNode[];
  /** Nodes in this subtree, itself included. */
  size: number;
}

export interface TrieItem {
  path: string;
  kind: 'prefix' | 'exact';
  value: number;
}

interface Raw {
  prefix: number;
  exact: number;
  next: Map<number, Raw>;
}

/**
 * Builds the tree for `items`, all of whose paths start with `known` (the
 * caller has already checked those characters). Of two items with the same
 * path and kind, the first is kept.
 */
export function buildTrie(items: readonly TrieItem[], known: string): TrieNode {
  const root: Raw = { prefix: -1, exact: -1, next: new Map() };
  for (const item of items) {
    if (!item.path.startsWith(known)) throw new Error(`trie item ${item.path} does not start with ${known}`);
    let node = root;
    for (let i = known.length; i < item.path.length; i++) {
      const c = item.path.charCodeAt(i);
      let child = node.next.get(c);
      if (!child) { child = { prefix: -1, exact: -1, next: new Map() }; node.next.set(c, child); }
      node = child;
    }
    if (item.kind === 'prefix' && node.prefix < 0) node.prefix = item.value;
    if (item.kind === 'exact' && node.exact < 0) node.exact = item.value;
  }
  return compress(root, '', known.length);
}

function compress(raw: Raw, label: string, depth: number): TrieNode {
  // Follow single-child chains without values: they become one edge.
  let node = raw;
  let text = label;
  let at = depth;
  while (text !== '' && node.prefix < 0 && node.exact < 0 && node.next.size === 1) {
    const [c, child] = node.next.entries().next().value!;
    text += String.fromCharCode(c);
    at++;
    node = child;
  }
  const children = [...node.next.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([c, child]) => compress(child, String.fromCharCode(c), at + 1));
  return { label: text, depth: at, prefix: node.prefix, exact: node.exact, children, size: 1 + children.reduce((n, c) => n + c.size, 0) };
}
