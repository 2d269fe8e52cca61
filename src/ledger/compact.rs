//! The compact range of a tree's right edge: one hash per complete subtree of the
//! decomposition of the tree size. Appending a leaf and taking the root cost O(log n) time and
//! memory, so a sequencer can follow a tree of any size without holding it.

use super::error::ProofError;
use super::hash::{Hash, empty_root, node_hash};
use super::plan::{MAX_TREE_SIZE, NodeId, range_nodes};

/// The right edge of a tree of `size` leaves: the roots of its maximal complete subtrees,
/// largest (leftmost) first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactRange {
    size: u64,
    hashes: Vec<Hash>,
}

impl CompactRange {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds a range from hashes loaded from storage, in the order of
    /// [`CompactRange::node_ids_for`]`(size)`.
    ///
    /// # Errors
    /// [`ProofError::BadCompactRange`] when the count does not match the size;
    /// [`ProofError::TreeTooLarge`] beyond [`MAX_TREE_SIZE`].
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Result<Self, ProofError> {
        if size > MAX_TREE_SIZE {
            return Err(ProofError::TreeTooLarge);
        }
        let want = size.count_ones() as usize;
        if hashes.len() != want {
            return Err(ProofError::BadCompactRange {
                size,
                got: hashes.len(),
                want,
            });
        }
        Ok(Self { size, hashes })
    }

    /// The stored nodes whose hashes make up the range of a tree of `size` leaves.
    pub fn node_ids_for(size: u64) -> Vec<NodeId> {
        range_nodes(0, size)
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The right-edge hashes, largest subtree first.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Appends one leaf hash.
    ///
    /// # Errors
    /// [`ProofError::TreeTooLarge`] beyond [`MAX_TREE_SIZE`].
    pub fn append(&mut self, leaf: Hash) -> Result<(), ProofError> {
        self.append_with(leaf, |_, _| {})
    }

    /// Appends one leaf hash and reports every complete subtree it completes (the leaf itself
    /// first, then each parent), so a caller can store them.
    ///
    /// # Errors
    /// [`ProofError::TreeTooLarge`] beyond [`MAX_TREE_SIZE`].
    pub fn append_with<F>(&mut self, leaf: Hash, mut visit: F) -> Result<(), ProofError>
    where
        F: FnMut(NodeId, &Hash),
    {
        if self.size >= MAX_TREE_SIZE {
            return Err(ProofError::TreeTooLarge);
        }
        let mut h = leaf;
        let mut level = 0u8;
        let mut index = self.size;
        visit(NodeId::new(level, index), &h);
        // Each set low bit of the old size is a left sibling waiting for this leaf's subtree.
        while (self.size >> level) & 1 == 1 {
            match self.hashes.pop() {
                Some(left) => h = node_hash(&left, &h),
                // Unreachable: the invariant keeps one hash per set bit.
                None => return Err(ProofError::TreeTooLarge),
            }
            level += 1;
            index >>= 1;
            visit(NodeId::new(level, index), &h);
        }
        self.hashes.push(h);
        self.size += 1;
        Ok(())
    }

    /// Appends many leaf hashes.
    ///
    /// # Errors
    /// [`ProofError::TreeTooLarge`] beyond [`MAX_TREE_SIZE`]; nothing is appended then.
    pub fn extend(&mut self, leaves: &[Hash]) -> Result<(), ProofError> {
        if self.size.saturating_add(leaves.len() as u64) > MAX_TREE_SIZE {
            return Err(ProofError::TreeTooLarge);
        }
        for leaf in leaves {
            self.append(*leaf)?;
        }
        Ok(())
    }

    /// The tree's root hash.
    pub fn root(&self) -> Hash {
        let mut iter = self.hashes.iter().rev();
        match iter.next() {
            None => empty_root(),
            Some(last) => iter.fold(*last, |acc, left| node_hash(left, &acc)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::hash::leaf_hash;
    use crate::ledger::reference::{MemoryTree, root_of};

    #[test]
    fn roots_match_reference_for_every_size_up_to_300() {
        let leaves: Vec<Hash> = (0u32..300).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let tree = MemoryTree::new(&leaves);
        let mut cr = CompactRange::new();
        assert_eq!(cr.root(), empty_root());
        for (i, leaf) in leaves.iter().enumerate() {
            let mut seen = Vec::new();
            cr.append_with(*leaf, |id, h| seen.push((id, *h))).unwrap();
            // Every reported node is a real complete subtree with the right hash.
            for (id, h) in seen {
                assert_eq!(tree.node(id), Some(h));
            }
            let n = i + 1;
            assert_eq!(cr.root(), root_of(&leaves[..n]), "size {n}");
            let ids = CompactRange::node_ids_for(n as u64);
            let stored: Vec<Hash> = ids.iter().map(|id| tree.node(*id).unwrap()).collect();
            assert_eq!(stored, cr.hashes());
            let rebuilt = CompactRange::from_parts(n as u64, stored).unwrap();
            assert_eq!(rebuilt, cr);
        }
    }

    #[test]
    fn from_parts_checks_count() {
        assert!(CompactRange::from_parts(5, vec![[0u8; 32]]).is_err());
        assert!(CompactRange::from_parts(MAX_TREE_SIZE + 1, vec![]).is_err());
        let mut full = CompactRange::from_parts(MAX_TREE_SIZE, vec![[0u8; 32]]).unwrap();
        assert_eq!(full.append([1u8; 32]), Err(ProofError::TreeTooLarge));
    }
}
