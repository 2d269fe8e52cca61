//! Consistency proofs (RFC 9162, section 2.1.4): verification, and generation as a
//! [`ProofPlan`].
//!
//! The algorithm is written once for the general case of a subtree `[start, end)` inside a tree
//! of `size` leaves (the Merkle Tree Certificates draft's subtree consistency proof); the
//! RFC 9162 proof between two tree sizes is the case `start = 0`.

use super::error::ProofError;
use super::hash::{Hash, hashes_equal};
use super::inclusion::{
    bit_len, chain_border, chain_inner, chain_inner_left_only, check_len, split_path,
};
use super::plan::{MAX_TREE_SIZE, NodeId, ProofNode, ProofPlan, push_path};

/// Verifies that the tree of `size1` leaves with root `root1` is a prefix of the tree of
/// `size2` leaves with root `root2` (RFC 9162, section 2.1.4.2). Roots compare in constant
/// time.
///
/// # Errors
/// [`ProofError::FromEmptyTree`] when `size1` is 0 (such a proof proves nothing);
/// [`ProofError::SizeDecreased`]; [`ProofError::WrongProofLength`];
/// [`ProofError::RootMismatch`].
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    proof: &[Hash],
    root1: &Hash,
    root2: &Hash,
) -> Result<(), ProofError> {
    if size1 == 0 {
        return Err(ProofError::FromEmptyTree);
    }
    if size2 < size1 {
        return Err(ProofError::SizeDecreased { size1, size2 });
    }
    let computed = root_from_subtree_consistency(0, size1, size2, proof, root1)?;
    if hashes_equal(&computed, root2) {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// The nodes making up the consistency proof from `size1` to `size2` leaves.
///
/// # Errors
/// [`ProofError::FromEmptyTree`] when `size1` is 0; [`ProofError::SizeDecreased`] when
/// `size2 < size1` or `size2` exceeds [`MAX_TREE_SIZE`].
pub fn consistency_plan(size1: u64, size2: u64) -> Result<ProofPlan, ProofError> {
    if size1 == 0 {
        return Err(ProofError::FromEmptyTree);
    }
    subtree_consistency_plan_inner(0, size1, size2)
}

/// Checks that `[start, end)` is a subtree: non-empty, and `start` a multiple of the smallest
/// power of two at least `end - start`.
pub(crate) fn check_subtree(start: u64, end: u64) -> Result<(), ProofError> {
    let bad = ProofError::InvalidSubtree { start, end };
    if start >= end {
        return Err(bad);
    }
    let width = end - start;
    match width.checked_next_power_of_two() {
        Some(p) if start.is_multiple_of(p) => Ok(()),
        // Width above 2^63: only start = 0 is aligned.
        None if start == 0 => Ok(()),
        _ => Err(bad),
    }
}

/// The root of the tree of `size` leaves that a subtree consistency proof leads to, after
/// checking that the proof's nodes inside the subtree hash to `sub_root`.
pub(crate) fn root_from_subtree_consistency(
    start: u64,
    end: u64,
    size: u64,
    proof: &[Hash],
    sub_root: &Hash,
) -> Result<Hash, ProofError> {
    check_subtree(start, end)?;
    if end > size {
        return Err(ProofError::SizeDecreased {
            size1: end,
            size2: size,
        });
    }
    if start == 0 && end == size {
        check_len(proof.len(), 0)?;
        return Ok(*sub_root);
    }
    let width = end - start;
    // Level of the node that is the subtree's root.
    let height = bit_len((end - 1) ^ start);
    if end == size {
        // The subtree is a node on the tree's right edge: only left siblings remain above it.
        let index = start.checked_shr(height as u32).unwrap_or(0);
        check_len(proof.len(), index.count_ones() as usize)?;
        return Ok(chain_border(*sub_root, proof));
    }
    // Paths to leaves `end - 1` and `size - 1` part at `fork`; `shift` is the level of the
    // rightmost complete subtree inside [start, end), where the proof starts.
    let (fork, border) = split_path(end - 1, size);
    let shift = width.trailing_zeros() as usize;
    // fork > shift whenever end < size: the low `shift` bits of end - 1 are all ones.
    let inner = fork.checked_sub(shift).ok_or(ProofError::RootMismatch)?;
    let complete = width.is_power_of_two();
    // A complete subtree is its own rightmost part: its root is known, not sent.
    let (seed, rest) = if complete {
        (*sub_root, proof)
    } else {
        match proof.split_first() {
            Some((first, rest)) => (*first, rest),
            None => {
                return Err(ProofError::WrongProofLength {
                    got: 0,
                    want: inner + border + 1,
                });
            }
        }
    };
    check_len(rest.len(), inner + border).map_err(|_| ProofError::WrongProofLength {
        got: proof.len(),
        want: inner + border + usize::from(!complete),
    })?;
    let mask = (end - 1) >> shift;
    let (inner_part, border_part) = rest.split_at(inner);
    if !complete {
        // Rebuild the subtree's root from the proof's nodes inside it: left siblings below
        // its height, found in the inner part and in the lowest border hashes.
        let sub_inner = height.min(fork).saturating_sub(shift);
        let above = (end - 1)
            .checked_shr(height as u32)
            .unwrap_or(0)
            .count_ones() as usize;
        let sub_border = border.saturating_sub(above);
        let h = chain_inner_left_only(seed, &inner_part[..sub_inner], mask);
        let h = chain_border(h, &border_part[..sub_border]);
        if !hashes_equal(&h, sub_root) {
            return Err(ProofError::RootMismatch);
        }
    }
    let h = chain_inner(seed, inner_part, mask);
    Ok(chain_border(h, border_part))
}

/// The plan of a subtree consistency proof for `[start, end)` inside `size` leaves.
pub(crate) fn subtree_consistency_plan_inner(
    start: u64,
    end: u64,
    size: u64,
) -> Result<ProofPlan, ProofError> {
    check_subtree(start, end)?;
    if end > size || size > MAX_TREE_SIZE {
        return Err(ProofError::SizeDecreased {
            size1: end,
            size2: size,
        });
    }
    let mut items = Vec::new();
    let width = end - start;
    if end == size || width.is_power_of_two() {
        // The subtree is itself a node of the tree: its audit path is the proof.
        let height = bit_len((end - 1) ^ start) as u32;
        if !(start == 0 && end == size) {
            push_path(&mut items, height, start, size, 0);
        }
    } else {
        let shift = width.trailing_zeros();
        let seed = NodeId::new(shift as u8, (end - 1) >> shift);
        items.push(ProofNode::Node(seed));
        push_path(&mut items, shift, end - 1, size, 0);
    }
    Ok(ProofPlan::from_items(items))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::hash::leaf_hash;
    use crate::ledger::reference::{MemoryTree, reference_consistency_proof, root_of};

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect()
    }

    #[test]
    fn every_proof_up_to_48_leaves_matches_reference_and_verifies() {
        let all = leaves(48);
        let tree = MemoryTree::new(&all);
        for n in 1..=48u64 {
            let l = &all[..n as usize];
            let root2 = root_of(l);
            for m in 1..=n {
                let want = reference_consistency_proof(l, m).unwrap();
                let got = consistency_plan(m, n)
                    .unwrap()
                    .assemble_with(|id| tree.node(id).filter(|_| id.end() <= n))
                    .unwrap();
                assert_eq!(got, want, "m={m} n={n}");
                let root1 = root_of(&l[..m as usize]);
                verify_consistency(m, n, &got, &root1, &root2).unwrap();
                if m < n {
                    assert!(verify_consistency(m, n, &got, &root2, &root1).is_err());
                }
            }
        }
    }

    #[test]
    fn edge_cases() {
        let r = leaf_hash(b"x");
        assert_eq!(
            verify_consistency(0, 0, &[], &r, &r),
            Err(ProofError::FromEmptyTree)
        );
        assert_eq!(
            verify_consistency(0, 5, &[], &r, &r),
            Err(ProofError::FromEmptyTree)
        );
        assert!(verify_consistency(3, 3, &[], &r, &r).is_ok());
        assert_eq!(
            verify_consistency(3, 3, &[r], &r, &r),
            Err(ProofError::WrongProofLength { got: 1, want: 0 })
        );
        assert_eq!(
            verify_consistency(4, 3, &[], &r, &r),
            Err(ProofError::SizeDecreased { size1: 4, size2: 3 })
        );
        assert!(matches!(
            verify_consistency(3, 4, &[], &r, &r),
            Err(ProofError::WrongProofLength { .. })
        ));
        assert!(consistency_plan(0, 1).is_err());
        assert!(consistency_plan(2, 1).is_err());
        assert!(consistency_plan(7, 7).unwrap().is_empty());
    }

    #[test]
    fn subtree_validity() {
        assert!(check_subtree(0, 5).is_ok());
        assert!(check_subtree(8, 13).is_ok());
        assert!(check_subtree(4, 8).is_ok());
        assert!(check_subtree(4, 9).is_err());
        assert!(check_subtree(3, 3).is_err());
        assert!(check_subtree(2, 1).is_err());
        assert!(check_subtree(1, (1 << 63) + 2).is_err());
        assert!(check_subtree(0, u64::MAX).is_ok());
    }
}
