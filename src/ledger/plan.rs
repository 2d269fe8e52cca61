//! Proof plans: which tree nodes a proof needs, computed purely from sizes and indices, so an
//! async caller can fetch exactly those nodes from storage and then assemble the proof.
//!
//! A proof hash is either a stored complete subtree ([`NodeId`]) or, on the ragged right edge
//! of the tree, an "ephemeral" node: the Merkle tree hash of several complete subtrees that are
//! not yet a complete subtree themselves.

use std::collections::{BTreeMap, HashMap};

use super::error::ProofError;
use super::hash::{Hash, node_hash};

/// The largest tree size this code handles; far beyond any real log, and it keeps every index
/// computation free of overflow.
pub const MAX_TREE_SIZE: u64 = 1 << 62;

/// The root of the complete subtree over leaves `[index << level, (index + 1) << level)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// Height above the leaves: 0 is a leaf hash.
    pub level: u8,
    /// Position among the nodes of that level, from the left, starting at 0.
    pub index: u64,
}

impl NodeId {
    /// The node at `level`, `index`.
    pub const fn new(level: u8, index: u64) -> Self {
        Self { level, index }
    }

    /// First leaf covered (saturating, for nodes beyond any real tree).
    pub fn start(&self) -> u64 {
        shl_saturating(self.index, self.level)
    }

    /// One past the last leaf covered (saturating).
    pub fn end(&self) -> u64 {
        shl_saturating(self.index.saturating_add(1), self.level)
    }
}

fn shl_saturating(v: u64, level: u8) -> u64 {
    if level >= 64 || (level > 0 && v >> (64 - u32::from(level)) != 0) {
        u64::MAX
    } else {
        v << level
    }
}

/// One hash of a proof, as it must be obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofNode {
    /// A complete subtree, stored as is.
    Node(NodeId),
    /// The hash of a range on the right edge: these complete subtrees, listed left to right
    /// (decreasing sizes), combined from the right: `H(a, H(b, c))`.
    Ephemeral(Vec<NodeId>),
}

/// The ordered list of hashes a proof is made of, before they are fetched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProofPlan {
    items: Vec<ProofNode>,
}

impl ProofPlan {
    /// The proof's hashes in proof order (from the leaf upwards).
    pub fn items(&self) -> &[ProofNode] {
        &self.items
    }

    /// Number of hashes in the proof.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the proof is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Every stored node the proof needs, each once, sorted.
    pub fn node_ids(&self) -> Vec<NodeId> {
        let mut ids: Vec<NodeId> = self
            .items
            .iter()
            .flat_map(|item| match item {
                ProofNode::Node(id) => std::slice::from_ref(id),
                ProofNode::Ephemeral(ids) => ids.as_slice(),
            })
            .copied()
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Assembles the proof from a lookup of node hashes.
    ///
    /// # Errors
    /// [`ProofError::MissingNode`] when the lookup lacks a needed node.
    pub fn assemble_with<F>(&self, mut lookup: F) -> Result<Vec<Hash>, ProofError>
    where
        F: FnMut(NodeId) -> Option<Hash>,
    {
        let mut get = |id: NodeId| lookup(id).ok_or(ProofError::MissingNode(id));
        self.items
            .iter()
            .map(|item| match item {
                ProofNode::Node(id) => get(*id),
                ProofNode::Ephemeral(ids) => {
                    let mut acc: Option<Hash> = None;
                    for id in ids.iter().rev() {
                        let h = get(*id)?;
                        acc = Some(match acc {
                            None => h,
                            Some(right) => node_hash(&h, &right),
                        });
                    }
                    // An ephemeral node always lists at least one subtree (see `range_nodes`).
                    acc.ok_or(ProofError::MissingNode(NodeId::new(0, 0)))
                }
            })
            .collect()
    }

    /// Assembles the proof from a map of node hashes.
    ///
    /// # Errors
    /// [`ProofError::MissingNode`] when the map lacks a needed node.
    pub fn assemble(&self, nodes: &HashMap<NodeId, Hash>) -> Result<Vec<Hash>, ProofError> {
        self.assemble_with(|id| nodes.get(&id).copied())
    }

    /// Assembles the proof from an ordered map of node hashes.
    ///
    /// # Errors
    /// [`ProofError::MissingNode`] when the map lacks a needed node.
    pub fn assemble_btree(&self, nodes: &BTreeMap<NodeId, Hash>) -> Result<Vec<Hash>, ProofError> {
        self.assemble_with(|id| nodes.get(&id).copied())
    }

    pub(crate) fn from_items(items: Vec<ProofNode>) -> Self {
        Self { items }
    }
}

/// The complete subtrees that make up leaves `[start, end)`, left to right, where `start` is
/// a multiple of the largest of them (true of every right-edge range a proof asks for).
pub fn range_nodes(start: u64, end: u64) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut at = start;
    while at < end {
        let width = end - at;
        // Largest power of two that fits, and to which `at` is aligned.
        let mut level = 63 - width.leading_zeros();
        if at != 0 {
            level = level.min(at.trailing_zeros());
        }
        out.push(NodeId::new(level as u8, at >> level));
        at += 1u64 << level;
    }
    out
}

/// Appends the audit path of leaf `leaf` in the tree of `size` leaves, from `from_level` up to
/// (not including) the root. `leaf` and `size` are relative to `base`, the first leaf of a
/// subtree aligned to a power of two at least `size`; node ids are absolute.
pub(crate) fn push_path(
    items: &mut Vec<ProofNode>,
    from_level: u32,
    leaf: u64,
    size: u64,
    base: u64,
) {
    let mut level = from_level;
    // While the node holding `leaf` at `level` is not yet the whole tree.
    while level < 63 && (size - 1) >> level > 0 {
        let idx = leaf >> level;
        let sibling = idx ^ 1;
        let sib_start = sibling << level;
        if sibling < idx {
            items.push(ProofNode::Node(abs(level, sibling, base)));
        } else if sib_start < size {
            let sib_end = sib_start + (1u64 << level);
            if sib_end <= size {
                items.push(ProofNode::Node(abs(level, sibling, base)));
            } else {
                items.push(ephemeral(base + sib_start, base + size));
            }
        }
        // else: no right sibling at this level; the node is promoted unchanged.
        level += 1;
    }
}

/// The proof item for the range `[start, end)`: a stored node when it is complete.
pub(crate) fn ephemeral(start: u64, end: u64) -> ProofNode {
    let nodes = range_nodes(start, end);
    match nodes.as_slice() {
        [one] => ProofNode::Node(*one),
        _ => ProofNode::Ephemeral(nodes),
    }
}

fn abs(level: u32, rel_index: u64, base: u64) -> NodeId {
    NodeId::new(level as u8, (base >> level) + rel_index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ranges() {
        let n = NodeId::new(3, 5);
        assert_eq!((n.start(), n.end()), (40, 48));
        assert_eq!(NodeId::new(63, 4).end(), u64::MAX);
    }

    #[test]
    fn range_decomposition() {
        assert_eq!(
            range_nodes(0, 7),
            vec![NodeId::new(2, 0), NodeId::new(1, 2), NodeId::new(0, 6)]
        );
        assert_eq!(
            range_nodes(8, 13),
            vec![NodeId::new(2, 2), NodeId::new(0, 12)]
        );
        assert_eq!(range_nodes(16, 32), vec![NodeId::new(4, 1)]);
        assert!(range_nodes(5, 5).is_empty());
    }

    #[test]
    fn assemble_combines_ephemeral_from_the_right() {
        let plan = ProofPlan::from_items(vec![
            ProofNode::Node(NodeId::new(0, 1)),
            ProofNode::Ephemeral(vec![NodeId::new(1, 2), NodeId::new(0, 6)]),
        ]);
        let a = [1u8; 32];
        let b = [2u8; 32];
        let c = [3u8; 32];
        let mut map = HashMap::new();
        map.insert(NodeId::new(0, 1), a);
        map.insert(NodeId::new(1, 2), b);
        map.insert(NodeId::new(0, 6), c);
        assert_eq!(plan.assemble(&map).unwrap(), vec![a, node_hash(&b, &c)]);
        assert_eq!(plan.node_ids().len(), 3);
        map.remove(&NodeId::new(0, 6));
        assert_eq!(
            plan.assemble(&map),
            Err(ProofError::MissingNode(NodeId::new(0, 6)))
        );
    }
}
