//! The witness's decision on a checkpoint whose log signature verified, given what it last
//! cosigned: the checks of C2SP tlog-witness, in the spec's order, as a pure function.

use crate::ledger::{Checkpoint, Hash, ProofError, hashes_equal, verify_consistency};

/// What the witness last cosigned for a log: its size and root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every check passed: cosign and record the checkpoint as the latest.
    Cosign,
    /// The old size is larger than the checkpoint's (400).
    OldTooLarge,
    /// The old size is not what the witness holds (409 with `current`).
    SizeMismatch {
        /// The size the witness holds (0 when it holds nothing).
        current: u64,
    },
    /// Same size as held, another root: a split view (409, alarm).
    SplitView,
    /// The proof is malformed for these sizes (422).
    BadProof(ProofError),
    /// A well-formed proof that does not connect the held root to the new root (422, alarm):
    /// the log signed a tree that does not extend the one cosigned, or sent a wrong proof.
    Inconsistent(ProofError),
}

/// Judges a checkpoint offered with `old` and `proof` against what the witness holds.
pub fn judge(held: Option<Held>, old: u64, proof: &[Hash], cp: &Checkpoint) -> Verdict {
    if old > cp.size {
        return Verdict::OldTooLarge;
    }
    let current = held.map_or(0, |h| h.size);
    if old != current {
        return Verdict::SizeMismatch { current };
    }
    let Some(held) = held else {
        // Never cosigned this log: trust on first use, and the proof must be empty.
        return empty_proof(proof);
    };
    if cp.size == held.size {
        if let Verdict::BadProof(e) = empty_proof(proof) {
            return Verdict::BadProof(e);
        }
        return if hashes_equal(&cp.root, &held.root) {
            Verdict::Cosign
        } else {
            Verdict::SplitView
        };
    }
    if held.size == 0 {
        // Every tree extends the empty one; the spec wants an empty proof from size 0.
        return empty_proof(proof);
    }
    match verify_consistency(held.size, cp.size, proof, &held.root, &cp.root) {
        Ok(()) => Verdict::Cosign,
        Err(e @ ProofError::RootMismatch) => Verdict::Inconsistent(e),
        Err(e) => Verdict::BadProof(e),
    }
}

fn empty_proof(proof: &[Hash]) -> Verdict {
    if proof.is_empty() {
        Verdict::Cosign
    } else {
        Verdict::BadProof(ProofError::WrongProofLength {
            got: proof.len(),
            want: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{leaf_hash, reference_consistency_proof, root_of};

    fn leaves(tag: u8, n: u32) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(&[&[tag][..], &i.to_be_bytes()].concat()))
            .collect()
    }

    fn cp(size: u64, root: Hash) -> Checkpoint {
        Checkpoint::new("log.example", size, root)
    }

    #[test]
    fn first_checkpoint_is_trusted_with_an_empty_proof() {
        let l = leaves(0, 10);
        let c = cp(10, root_of(&l));
        assert_eq!(judge(None, 0, &[], &c), Verdict::Cosign);
        assert_eq!(
            judge(None, 3, &[], &c),
            Verdict::SizeMismatch { current: 0 }
        );
        assert!(matches!(
            judge(None, 0, &[[0u8; 32]], &c),
            Verdict::BadProof(_)
        ));
        assert_eq!(judge(None, 11, &[], &c), Verdict::OldTooLarge);
    }

    #[test]
    fn growing_log_is_cosigned_and_forks_are_caught() {
        let l = leaves(0, 40);
        let held = Held {
            size: 13,
            root: root_of(&l[..13]),
        };
        let new = cp(40, root_of(&l));
        let proof = reference_consistency_proof(&l, 13).unwrap();
        assert_eq!(judge(Some(held), 13, &proof, &new), Verdict::Cosign);
        // The old size must be exactly what is held, above or below.
        assert_eq!(
            judge(Some(held), 12, &proof, &new),
            Verdict::SizeMismatch { current: 13 }
        );
        assert_eq!(
            judge(Some(held), 14, &proof, &new),
            Verdict::SizeMismatch { current: 13 }
        );
        // An older checkpoint can never be cosigned: its old size cannot match.
        let older = cp(10, root_of(&l[..10]));
        assert_eq!(
            judge(Some(held), 10, &[], &older),
            Verdict::SizeMismatch { current: 13 }
        );
        assert_eq!(judge(Some(held), 13, &[], &older), Verdict::OldTooLarge);
        // A fork: leaf 5 differs, so the log's tree at 13 is not the one cosigned; its own
        // (honest) proof fails against the held root.
        let mut forked = l.clone();
        forked[5] = leaf_hash(b"rewritten");
        let fproof = reference_consistency_proof(&forked, 13).unwrap();
        let fnew = cp(40, root_of(&forked));
        assert_eq!(
            judge(Some(held), 13, &fproof, &fnew),
            Verdict::Inconsistent(ProofError::RootMismatch)
        );
        // Another tree extending the same prefix is fine: consistency is all that is asked.
        let mut other = l[..13].to_vec();
        other.extend(leaves(1, 27));
        let oproof = reference_consistency_proof(&other, 13).unwrap();
        assert_eq!(
            judge(Some(held), 13, &oproof, &cp(40, root_of(&other))),
            Verdict::Cosign
        );
        // A truncated proof is malformed, not evidence.
        assert!(matches!(
            judge(Some(held), 13, &proof[1..], &new),
            Verdict::BadProof(ProofError::WrongProofLength { .. })
        ));
    }

    #[test]
    fn same_size_needs_the_same_root() {
        let l = leaves(0, 8);
        let held = Held {
            size: 8,
            root: root_of(&l),
        };
        assert_eq!(
            judge(Some(held), 8, &[], &cp(8, root_of(&l))),
            Verdict::Cosign
        );
        assert_eq!(
            judge(Some(held), 8, &[], &cp(8, [7u8; 32])),
            Verdict::SplitView
        );
        assert!(matches!(
            judge(Some(held), 8, &[[1u8; 32]], &cp(8, root_of(&l))),
            Verdict::BadProof(_)
        ));
    }

    #[test]
    fn from_the_empty_tree() {
        let held = Held {
            size: 0,
            root: root_of(&[]),
        };
        let l = leaves(0, 3);
        assert_eq!(
            judge(Some(held), 0, &[], &cp(3, root_of(&l))),
            Verdict::Cosign
        );
        assert_eq!(
            judge(Some(held), 0, &[], &cp(0, [1u8; 32])),
            Verdict::SplitView
        );
    }
}
