//! The compiled route table: one compressed radix trie over bytes, keyed by each route's literal
//! text (the whole path for Exact, PriorityPrefix and Prefix routes; the text before the first
//! placeholder for Param routes), flattened into a few arrays after build.
//!
//! One walk of the request path down the trie finds the deepest node whose key is a prefix of the
//! path. Every candidate then hangs off that node: its exact routes (when the key is the whole
//! path); the PriorityPrefix and Prefix routes of it and its ancestors, reached longest first by a
//! link from each route-bearing node to the next shorter one; and the Param routes filed under it
//! or an ancestor, merged at build time into one list in definition order. So a lookup costs one
//! walk plus the candidates it tries, whatever the number of routes, and needs no scratch memory.
//!
//! The price of the merged lists is memory: a node with Param routes repeats those of its
//! ancestors, so Param literal prefixes nested `d` deep cost `O(d × routes)` four-byte indices.
//! Real route sets nest a few levels (`/`, `/user/`, `/user/{id}/orders/`).

use std::ops::Range;

use super::pattern::{starts_with, ParamPattern};
use super::{ApiIndex, ApiMethod, Lookup, PathKind, PathParams, RouteSpec};

/// Index of a node in [`Trie::nodes`].
type NodeIndex = u32;
/// "No such node": the end of a shorter-prefix chain.
const NO_NODE: NodeIndex = NodeIndex::MAX;
/// The root's key is the empty string.
const ROOT: NodeIndex = 0;

/// A run of elements in one of the trie's flat arrays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    len: u32,
}

impl Span {
    /// The span covering what `array` gained since it had `start` elements.
    fn since<T>(start: usize, array: &[T]) -> Span {
        Span { start: to_u32(start), len: to_u32(array.len() - start) }
    }

    fn range(self) -> Range<usize> {
        self.start as usize..(self.start + self.len) as usize
    }

    fn is_empty(self) -> bool {
        self.len == 0
    }
}

fn to_u32(value: usize) -> u32 {
    u32::try_from(value).expect("route table larger than 4 GiB")
}

/// A non-Param route as stored in a node.
#[derive(Debug, Clone, Copy)]
struct RouteEntry {
    api: ApiIndex,
    method: ApiMethod,
}

/// A Param route; its position in [`Trie::param_routes`] is its definition rank.
#[derive(Debug, Clone)]
struct ParamRoute {
    api: ApiIndex,
    method: ApiMethod,
    pattern: ParamPattern,
}

#[derive(Debug, Clone, Default)]
struct Node {
    /// This node's part of its key (the key is the labels from the root down), in `label_bytes`.
    /// Never empty except at the root.
    label: Span,
    /// The children's label first bytes (sorted, distinct) in `child_first_bytes`, and at the same
    /// positions their ids in `child_nodes`.
    children: Span,
    /// Routes in `entries` whose path is this node's key, one span per kind.
    exact: Span,
    priority_prefix: Span,
    prefix: Span,
    /// Every Param route filed here or at an ancestor, in definition order, in `param_order`.
    param_candidates: Span,
    /// Nearest strict ancestor with PriorityPrefix routes, or `NO_NODE`.
    shorter_priority_prefix: NodeIndex,
    /// Nearest strict ancestor with Prefix routes, or `NO_NODE`.
    shorter_prefix: NodeIndex,
}

/// See the module docs.
#[derive(Debug, Clone)]
pub(super) struct Trie {
    nodes: Vec<Node>,
    label_bytes: Vec<u8>,
    child_first_bytes: Vec<u8>,
    child_nodes: Vec<NodeIndex>,
    entries: Vec<RouteEntry>,
    param_routes: Vec<ParamRoute>,
    param_order: Vec<u32>,
}

/// A node while the trie is being built: plain vectors, turned into spans by [`Trie::flatten`].
#[derive(Default)]
struct BuildNode {
    label: Vec<u8>,
    /// Sorted by the first byte of their labels.
    children: Vec<NodeIndex>,
    exact: Vec<RouteEntry>,
    priority_prefix: Vec<RouteEntry>,
    prefix: Vec<RouteEntry>,
    /// Indices into `param_routes`, ascending.
    params: Vec<u32>,
}

impl Trie {
    /// Compiles routes that `check_routes` accepted (no conflicts, placeholder counts in range).
    pub(super) fn build(routes: &[RouteSpec<'_>]) -> Trie {
        let mut nodes = vec![BuildNode::default()];
        let mut param_routes = Vec::new();
        for route in routes {
            let path = route.path.path.as_bytes();
            let entry = RouteEntry { api: route.api, method: route.method };
            match route.path.kind {
                PathKind::Exact => insert(&mut nodes, path).exact.push(entry),
                PathKind::PriorityPrefix => insert(&mut nodes, path).priority_prefix.push(entry),
                PathKind::Prefix => insert(&mut nodes, path).prefix.push(entry),
                PathKind::Param => {
                    let pattern = ParamPattern::compile(path);
                    insert(&mut nodes, pattern.literal_prefix()).params.push(to_u32(param_routes.len()));
                    param_routes.push(ParamRoute { api: route.api, method: route.method, pattern });
                }
            }
        }
        Trie::flatten(nodes, param_routes)
    }

    /// Turns the build nodes into spans over flat arrays and fills in the links that depend on
    /// ancestors (shorter prefixes, inherited Param candidates), parents before children.
    fn flatten(build_nodes: Vec<BuildNode>, param_routes: Vec<ParamRoute>) -> Trie {
        let mut trie = Trie {
            nodes: vec![Node::default(); build_nodes.len()],
            label_bytes: Vec::new(),
            child_first_bytes: Vec::new(),
            child_nodes: Vec::new(),
            entries: Vec::new(),
            param_routes,
            param_order: Vec::new(),
        };
        // (node, nearest ancestor with PriorityPrefix routes, nearest ancestor with Prefix routes,
        // the Param candidates it inherits)
        let mut pending = vec![(ROOT, NO_NODE, NO_NODE, Span::default())];
        while let Some((id, shorter_priority_prefix, shorter_prefix, inherited_params)) = pending.pop() {
            let built = &build_nodes[id as usize];
            let mut node = Node { shorter_priority_prefix, shorter_prefix, ..Node::default() };

            let start = trie.label_bytes.len();
            trie.label_bytes.extend_from_slice(&built.label);
            node.label = Span::since(start, &trie.label_bytes);

            let start = trie.child_nodes.len();
            for &child in &built.children {
                trie.child_first_bytes.push(build_nodes[child as usize].label[0]);
                trie.child_nodes.push(child);
            }
            node.children = Span::since(start, &trie.child_nodes);

            for (routes, span) in [
                (&built.exact, &mut node.exact),
                (&built.priority_prefix, &mut node.priority_prefix),
                (&built.prefix, &mut node.prefix),
            ] {
                let start = trie.entries.len();
                trie.entries.extend_from_slice(routes);
                *span = Span::since(start, &trie.entries);
            }

            node.param_candidates = if built.params.is_empty() {
                inherited_params
            } else {
                let merged = merge_ascending(&trie.param_order[inherited_params.range()], &built.params);
                let start = trie.param_order.len();
                trie.param_order.extend_from_slice(&merged);
                Span::since(start, &trie.param_order)
            };

            let below_priority_prefix = if node.priority_prefix.is_empty() { shorter_priority_prefix } else { id };
            let below_prefix = if node.prefix.is_empty() { shorter_prefix } else { id };
            for &child in &built.children {
                pending.push((child, below_priority_prefix, below_prefix, node.param_candidates));
            }
            trie.nodes[id as usize] = node;
        }
        trie
    }

    /// See [`super::RouteTable::lookup`]; the caller has cleared `params`.
    pub(super) fn lookup(&self, method: &[u8], path: &[u8], params: &mut PathParams) -> Lookup {
        let (deepest, depth) = self.walk(path);
        let node = &self.nodes[deepest as usize];
        let mut path_matched = false;

        if depth == path.len() {
            if let Some(api) = self.first_accepting(node.exact, method, &mut path_matched) {
                return Lookup::Found(api);
            }
        }

        let mut current = if node.priority_prefix.is_empty() { node.shorter_priority_prefix } else { deepest };
        while current != NO_NODE {
            let candidate = &self.nodes[current as usize];
            if let Some(api) = self.first_accepting(candidate.priority_prefix, method, &mut path_matched) {
                return Lookup::Found(api);
            }
            current = candidate.shorter_priority_prefix;
        }

        for &index in &self.param_order[node.param_candidates.range()] {
            let route = &self.param_routes[index as usize];
            let accepted = route.method.accepts(method);
            // A route that cannot win is only worth matching to tell 405 from 404.
            if !accepted && path_matched {
                continue;
            }
            if route.pattern.match_into(path, params) {
                if accepted {
                    return Lookup::Found(route.api);
                }
                path_matched = true;
            }
        }
        params.clear();

        let mut current = if node.prefix.is_empty() { node.shorter_prefix } else { deepest };
        while current != NO_NODE {
            let candidate = &self.nodes[current as usize];
            if let Some(api) = self.first_accepting(candidate.prefix, method, &mut path_matched) {
                return Lookup::Found(api);
            }
            current = candidate.shorter_prefix;
        }

        if path_matched {
            Lookup::MethodNotAllowed
        } else {
            Lookup::NotFound
        }
    }

    /// Follows `path` down from the root as far as whole labels match: returns the deepest node
    /// reached and the length of its key.
    fn walk(&self, path: &[u8]) -> (NodeIndex, usize) {
        let mut id = ROOT;
        let mut depth = 0;
        while let Some(&next_byte) = path.get(depth) {
            let node = &self.nodes[id as usize];
            let children = node.children.range();
            // A plain scan: nodes have a handful of children, and `memchr`'s dispatch cost more
            // than the scan in measurements.
            let first_bytes = &self.child_first_bytes[children.clone()];
            let Some(position) = first_bytes.iter().position(|&byte| byte == next_byte) else {
                break;
            };
            let child = self.child_nodes[children.start + position];
            let label = &self.label_bytes[self.nodes[child as usize].label.range()];
            if !starts_with(&path[depth..], label) {
                break;
            }
            id = child;
            depth += label.len();
        }
        (id, depth)
    }

    /// The route among `entries` that accepts `method`; conflicts were refused at build, so there
    /// is at most one. Any route there at all means the path matched.
    fn first_accepting(&self, entries: Span, method: &[u8], path_matched: &mut bool) -> Option<ApiIndex> {
        let entries = &self.entries[entries.range()];
        *path_matched |= !entries.is_empty();
        entries.iter().find(|entry| entry.method.accepts(method)).map(|entry| entry.api)
    }

    /// Panics if a structural invariant the lookup relies on does not hold.
    #[cfg(test)]
    pub(super) fn check_invariants(&self) {
        let mut pending = vec![(ROOT, Vec::new(), Vec::<NodeIndex>::new())];
        while let Some((id, key, ancestors)) = pending.pop() {
            let node = &self.nodes[id as usize];
            assert_eq!(node.label.is_empty(), id == ROOT, "only the root has an empty label");
            let first_bytes = &self.child_first_bytes[node.children.range()];
            assert!(first_bytes.windows(2).all(|pair| pair[0] < pair[1]), "children sorted, distinct");
            for (link, kind_of) in [
                (node.shorter_priority_prefix, (|n: &Node| n.priority_prefix) as fn(&Node) -> Span),
                (node.shorter_prefix, |n: &Node| n.prefix),
            ] {
                let expected = ancestors.iter().rev().copied().find(|&a| !kind_of(&self.nodes[a as usize]).is_empty());
                assert_eq!(link, expected.unwrap_or(NO_NODE), "shorter link is the nearest such ancestor");
            }
            let candidates = &self.param_order[node.param_candidates.range()];
            assert!(candidates.windows(2).all(|pair| pair[0] < pair[1]), "param candidates in definition order");
            for &index in candidates {
                let prefix = self.param_routes[index as usize].pattern.literal_prefix();
                assert!(key.starts_with(prefix), "param candidate's literal prefix is a prefix of the key");
            }
            for (position, &child) in self.child_nodes[node.children.range()].iter().enumerate() {
                let label = &self.label_bytes[self.nodes[child as usize].label.range()];
                assert_eq!(label[0], first_bytes[position], "first byte index matches the label");
                let mut child_ancestors = ancestors.clone();
                child_ancestors.push(id);
                pending.push((child, [key.as_slice(), label].concat(), child_ancestors));
            }
        }
    }
}

/// Inserts `key` into the build trie, splitting a label where the key leaves it, and returns the
/// node whose key is exactly `key`.
fn insert<'n>(nodes: &'n mut Vec<BuildNode>, key: &[u8]) -> &'n mut BuildNode {
    let mut id = ROOT as usize;
    let mut rest = key;
    while let Some(&first) = rest.first() {
        let found = nodes[id].children.binary_search_by_key(&first, |&child| nodes[child as usize].label[0]);
        let position = match found {
            Ok(position) => position,
            Err(position) => {
                nodes.push(BuildNode { label: rest.to_vec(), ..BuildNode::default() });
                let new = nodes.len() - 1;
                nodes[id].children.insert(position, to_u32(new));
                return &mut nodes[new];
            }
        };
        let child = nodes[id].children[position] as usize;
        let shared = common_prefix_len(&nodes[child].label, rest);
        if shared < nodes[child].label.len() {
            let tail = nodes[child].label.split_off(shared);
            let head = std::mem::replace(&mut nodes[child].label, tail);
            nodes.push(BuildNode { label: head, children: vec![to_u32(child)], ..BuildNode::default() });
            let middle = nodes.len() - 1;
            nodes[id].children[position] = to_u32(middle);
            id = middle;
        } else {
            id = child;
        }
        rest = &rest[shared..];
    }
    &mut nodes[id]
}

fn common_prefix_len(first: &[u8], second: &[u8]) -> usize {
    first.iter().zip(second).take_while(|(a, b)| a == b).count()
}

fn merge_ascending(first: &[u32], second: &[u32]) -> Vec<u32> {
    let mut merged = Vec::with_capacity(first.len() + second.len());
    let (mut i, mut j) = (0, 0);
    while i < first.len() && j < second.len() {
        if first[i] < second[j] {
            merged.push(first[i]);
            i += 1;
        } else {
            merged.push(second[j]);
            j += 1;
        }
    }
    merged.extend_from_slice(&first[i..]);
    merged.extend_from_slice(&second[j..]);
    merged
}
