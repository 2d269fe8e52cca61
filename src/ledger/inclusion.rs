//! Inclusion proofs (RFC 9162, section 2.1.3): verification, and generation as a
//! [`ProofPlan`] of the nodes to fetch.

use super::error::ProofError;
use super::hash::{Hash, hashes_equal, node_hash};
use super::plan::{MAX_TREE_SIZE, ProofPlan, push_path};

/// The longest proof any tree can have (one hash per level of a 2^64-leaf tree), a bound
/// checked before any hashing.
pub const MAX_PROOF_LEN: usize = 64;

/// Verifies that `leaf` is the leaf hash at `index` in the tree of `size` leaves whose root is
/// `root` (RFC 9162, section 2.1.3.2). The root is compared in constant time.
///
/// # Errors
/// [`ProofError::IndexOutOfRange`] when `index >= size`; [`ProofError::WrongProofLength`] when
/// the proof has the wrong number of hashes; [`ProofError::RootMismatch`] otherwise.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    let computed = root_from_inclusion(index, size, leaf, proof)?;
    if hashes_equal(&computed, root) {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// The root that an inclusion proof leads to; callers compare it with a trusted root.
///
/// # Errors
/// As [`verify_inclusion`], except that no root is compared.
pub fn root_from_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
) -> Result<Hash, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (inner, border) = split_path(index, size);
    check_len(proof.len(), inner + border)?;
    let (inner_part, border_part) = proof.split_at(inner);
    let h = chain_inner(*leaf, inner_part, index);
    Ok(chain_border(h, border_part))
}

/// The nodes making up the inclusion proof of leaf `index` in the tree of `size` leaves.
///
/// # Errors
/// [`ProofError::IndexOutOfRange`] when `index >= size` or `size` exceeds [`MAX_TREE_SIZE`].
pub fn inclusion_plan(index: u64, size: u64) -> Result<ProofPlan, ProofError> {
    if index >= size || size > MAX_TREE_SIZE {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut items = Vec::new();
    push_path(&mut items, 0, index, size, 0);
    Ok(ProofPlan::from_items(items))
}

/// Splits the audit path of `index` in a tree of `size` leaves at the level where its path
/// joins the right edge: below it siblings lie either side ("inner"), above it only left
/// siblings remain ("border"). Returns the two lengths.
pub(crate) fn split_path(index: u64, size: u64) -> (usize, usize) {
    let inner = bit_len(index ^ (size - 1));
    let border = (index.checked_shr(inner as u32).unwrap_or(0)).count_ones() as usize;
    (inner, border)
}

/// Number of significant bits of `v`.
pub(crate) fn bit_len(v: u64) -> usize {
    (64 - v.leading_zeros()) as usize
}

pub(crate) fn check_len(got: usize, want: usize) -> Result<(), ProofError> {
    if got == want {
        Ok(())
    } else {
        Err(ProofError::WrongProofLength { got, want })
    }
}

/// Hashes `seed` up through `proof`, taking each sibling's side from the bits of `index`.
pub(crate) fn chain_inner(mut seed: Hash, proof: &[Hash], index: u64) -> Hash {
    for (i, p) in proof.iter().enumerate() {
        seed = if (index >> i) & 1 == 0 {
            node_hash(&seed, p)
        } else {
            node_hash(p, &seed)
        };
    }
    seed
}

/// Like [`chain_inner`] but skips right siblings: the result is the same subtree as it was
/// before those right siblings existed.
pub(crate) fn chain_inner_left_only(mut seed: Hash, proof: &[Hash], index: u64) -> Hash {
    for (i, p) in proof.iter().enumerate() {
        if (index >> i) & 1 == 1 {
            seed = node_hash(p, &seed);
        }
    }
    seed
}

/// Hashes `seed` up the right edge, where every sibling is on the left.
pub(crate) fn chain_border(mut seed: Hash, proof: &[Hash]) -> Hash {
    for p in proof {
        seed = node_hash(p, &seed);
    }
    seed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::hash::leaf_hash;
    use crate::ledger::reference::{MemoryTree, reference_inclusion_proof, root_of};

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn every_proof_up_to_64_leaves_matches_reference_and_verifies() {
        for n in 1..=64u64 {
            let l = leaves(n);
            let tree = MemoryTree::new(&l);
            let root = root_of(&l);
            for i in 0..n {
                let want = reference_inclusion_proof(&l, i).unwrap();
                let got = inclusion_plan(i, n)
                    .unwrap()
                    .assemble_with(|id| tree.node(id))
                    .unwrap();
                assert_eq!(got, want, "n={n} i={i}");
                verify_inclusion(i, n, &l[i as usize], &got, &root).unwrap();
            }
        }
    }

    #[test]
    fn rejects_tampering() {
        let l = leaves(13);
        let root = root_of(&l);
        let proof = reference_inclusion_proof(&l, 6).unwrap();
        assert!(verify_inclusion(6, 13, &l[6], &proof, &root).is_ok());
        assert_eq!(
            verify_inclusion(7, 13, &l[6], &proof, &root),
            Err(ProofError::RootMismatch)
        );
        // Sizes with the same path shape yield the same root, so change the shape: 13 * 2.
        assert!(verify_inclusion(6, 26, &l[6], &proof, &root).is_err());
        assert_eq!(
            verify_inclusion(13, 13, &l[6], &proof, &root),
            Err(ProofError::IndexOutOfRange {
                index: 13,
                size: 13
            })
        );
        assert_eq!(
            verify_inclusion(6, 13, &l[6], &proof[1..], &root),
            Err(ProofError::WrongProofLength { got: 3, want: 4 })
        );
        let mut bad = proof.clone();
        bad[2][0] ^= 1;
        assert_eq!(
            verify_inclusion(6, 13, &l[6], &bad, &root),
            Err(ProofError::RootMismatch)
        );
    }

    #[test]
    fn known_rfc_vector() {
        // transparency-dev/merkle's 8-leaf reference tree, leaf 5 (index 5 holds
        // "40414243"): proof and root from its verify_test.go, an independent implementation.
        let data: [&[u8]; 8] = [
            b"",
            &[0x00],
            &[0x10],
            &[0x20, 0x21],
            &[0x30, 0x31],
            &[0x40, 0x41, 0x42, 0x43],
            &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            &[
                0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d,
                0x6e, 0x6f,
            ],
        ];
        let l: Vec<Hash> = data.iter().map(|d| leaf_hash(d)).collect();
        let root = root_of(&l);
        assert_eq!(
            hex::encode(root),
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
        );
        let proof = reference_inclusion_proof(&l, 5).unwrap();
        let want = [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ];
        let got: Vec<String> = proof.iter().map(hex::encode).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn plan_refuses_bad_index() {
        assert!(inclusion_plan(0, 0).is_err());
        assert!(inclusion_plan(5, 5).is_err());
        assert!(inclusion_plan(0, 1).unwrap().is_empty());
    }
}
