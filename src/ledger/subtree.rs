//! Subtree proofs (Merkle Tree Certificates draft, "Subtrees"): inclusion of a leaf in a subtree
//! `[start, end)`, and consistency of a subtree with a whole tree. They let one signed or
//! timestamped subtree root stand for a batch of entries, each with its own short path.

use super::consistency::{
    check_subtree, root_from_subtree_consistency, subtree_consistency_plan_inner,
};
use super::error::ProofError;
use super::hash::{Hash, empty_root, hashes_equal};
use super::inclusion::{check_len, root_from_inclusion};
use super::plan::{MAX_TREE_SIZE, ProofNode, ProofPlan, ephemeral, push_path};

/// Verifies that `leaf` is the leaf at `index` within the subtree `[start, end)` whose hash is
/// `sub_root`.
///
/// # Errors
/// [`ProofError::InvalidSubtree`], [`ProofError::IndexOutOfRange`],
/// [`ProofError::WrongProofLength`], [`ProofError::RootMismatch`].
pub fn verify_subtree_inclusion(
    index: u64,
    start: u64,
    end: u64,
    leaf: &Hash,
    proof: &[Hash],
    sub_root: &Hash,
) -> Result<(), ProofError> {
    check_subtree(start, end)?;
    if index < start || index >= end {
        return Err(ProofError::IndexOutOfRange { index, size: end });
    }
    let computed = root_from_inclusion(index - start, end - start, leaf, proof)?;
    if hashes_equal(&computed, sub_root) {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// Verifies that the subtree `[start, end)` with hash `sub_root` is part of the tree of `size`
/// leaves with root `root`. An empty subtree (`start == end <= size`) verifies with an empty
/// proof when `sub_root` is the empty tree's hash, whatever `root` is: it claims no leaf.
///
/// # Errors
/// [`ProofError::InvalidSubtree`], [`ProofError::SizeDecreased`] when `end > size`,
/// [`ProofError::WrongProofLength`], [`ProofError::RootMismatch`].
pub fn verify_subtree_consistency(
    start: u64,
    end: u64,
    size: u64,
    proof: &[Hash],
    sub_root: &Hash,
    root: &Hash,
) -> Result<(), ProofError> {
    if start == end && end <= size {
        // The empty subtree, as the reference vectors define it: its hash is the empty tree's,
        // its proof is empty, and it says nothing about the tree.
        check_len(proof.len(), 0)?;
        return if hashes_equal(sub_root, &empty_root()) {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    let computed = root_from_subtree_consistency(start, end, size, proof, sub_root)?;
    if hashes_equal(&computed, root) {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// The nodes making up the inclusion proof of leaf `index` in the subtree `[start, end)`.
///
/// # Errors
/// [`ProofError::InvalidSubtree`] or [`ProofError::IndexOutOfRange`].
pub fn subtree_inclusion_plan(index: u64, start: u64, end: u64) -> Result<ProofPlan, ProofError> {
    check_subtree(start, end)?;
    if index < start || index >= end || end > MAX_TREE_SIZE {
        return Err(ProofError::IndexOutOfRange { index, size: end });
    }
    let mut items = Vec::new();
    push_path(&mut items, 0, index - start, end - start, start);
    Ok(ProofPlan::from_items(items))
}

/// The nodes making up the consistency proof of the subtree `[start, end)` in a tree of `size`
/// leaves.
///
/// # Errors
/// [`ProofError::InvalidSubtree`] or [`ProofError::SizeDecreased`] when `end > size`.
pub fn subtree_consistency_plan(start: u64, end: u64, size: u64) -> Result<ProofPlan, ProofError> {
    subtree_consistency_plan_inner(start, end, size)
}

/// How to obtain the hash of the subtree `[start, end)` itself: one stored node when it is
/// complete, else an ephemeral combination.
///
/// # Errors
/// [`ProofError::InvalidSubtree`].
pub fn subtree_root_node(start: u64, end: u64) -> Result<ProofNode, ProofError> {
    check_subtree(start, end)?;
    Ok(ephemeral(start, end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::hash::leaf_hash;
    use crate::ledger::reference::{MemoryTree, root_of};

    fn subtrees(n: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        for start in 0..n {
            for end in start + 1..=n {
                if check_subtree(start, end).is_ok() {
                    out.push((start, end));
                }
            }
        }
        out
    }

    #[test]
    fn every_subtree_proof_up_to_40_leaves_verifies() {
        let all: Vec<Hash> = (0u32..40).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let tree = MemoryTree::new(&all);
        let get = |id| tree.node(id);
        for n in 1..=40u64 {
            let root = root_of(&all[..n as usize]);
            for (start, end) in subtrees(n) {
                let sub = root_of(&all[start as usize..end as usize]);
                let via_plan = subtree_root_node(start, end).unwrap();
                let plan = ProofPlan::from_items(vec![via_plan]);
                assert_eq!(plan.assemble_with(get).unwrap(), vec![sub]);
                let proof = subtree_consistency_plan(start, end, n)
                    .unwrap()
                    .assemble_with(|id| tree.node(id).filter(|_| id.end() <= n))
                    .unwrap();
                verify_subtree_consistency(start, end, n, &proof, &sub, &root)
                    .unwrap_or_else(|e| panic!("[{start},{end}) in {n}: {e}"));
                let wrong = leaf_hash(b"wrong");
                assert!(verify_subtree_consistency(start, end, n, &proof, &wrong, &root).is_err());
                for i in start..end {
                    let p = subtree_inclusion_plan(i, start, end)
                        .unwrap()
                        .assemble_with(get)
                        .unwrap();
                    verify_subtree_inclusion(i, start, end, &all[i as usize], &p, &sub).unwrap();
                }
            }
        }
    }

    #[test]
    fn refuses_invalid_subtrees() {
        let h = leaf_hash(b"");
        assert!(matches!(
            verify_subtree_inclusion(3, 3, 5, &h, &[], &h),
            Err(ProofError::InvalidSubtree { .. })
        ));
        assert!(verify_subtree_inclusion(0, 1, 2, &h, &[], &h).is_err());
        assert!(verify_subtree_inclusion(1, 1, 2, &h, &[], &h).is_ok());
        assert!(verify_subtree_consistency(2, 6, 8, &[], &h, &h).is_err());
        assert!(subtree_consistency_plan(0, 9, 8).is_err());
        let e = empty_root();
        assert!(verify_subtree_consistency(2, 2, 3, &[], &e, &h).is_ok());
        assert!(verify_subtree_consistency(2, 2, 3, &[e], &e, &h).is_err());
        assert!(verify_subtree_consistency(2, 2, 3, &[], &h, &h).is_err());
        assert!(verify_subtree_consistency(4, 4, 3, &[], &e, &h).is_err());
    }
}
