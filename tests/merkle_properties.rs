//! Property tests of proof generation and verification: every generated inclusion and
//! consistency proof verifies, and a flipped bit, another index or another size is refused.
//!
//! Small trees (up to a few hundred leaves) are real trees, checked against the recursive
//! RFC 9162 reference. Large trees (up to 2^40 leaves) use a sparse model: every complete
//! subtree off the proven leaf's path gets an arbitrary ("opaque") hash, and the nodes on the
//! path are computed from their children, which is a consistent Merkle tree over unknown leaves.

use notarium::ledger::{
    Hash, MemoryTree, NodeId, consistency_plan, inclusion_plan, leaf_hash, node_hash,
    reference_consistency_proof, reference_inclusion_proof, root_of, verify_consistency,
    verify_inclusion,
};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

fn leaves(n: u64) -> Vec<Hash> {
    (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
}

/// A huge tree known only along the path of one leaf.
struct Sparse {
    special: u64,
}

impl Sparse {
    fn node(&self, id: NodeId) -> Hash {
        if id.level > 0 && self.special >> id.level == id.index {
            let l = self.node(NodeId::new(id.level - 1, id.index * 2));
            let r = self.node(NodeId::new(id.level - 1, id.index * 2 + 1));
            node_hash(&l, &r)
        } else {
            let mut h = Sha256::new();
            h.update(b"opaque");
            h.update([id.level]);
            h.update(id.index.to_be_bytes());
            h.finalize().into()
        }
    }

    /// MTH of leaves [a, b), straight from the recursive definition.
    fn range(&self, a: u64, b: u64) -> Hash {
        let w = b - a;
        if w.is_power_of_two() && a.is_multiple_of(w) {
            return self.node(NodeId::new(w.trailing_zeros() as u8, a / w));
        }
        let k = if w.is_power_of_two() {
            w / 2
        } else {
            w.next_power_of_two() / 2
        };
        node_hash(&self.range(a, a + k), &self.range(a + k, b))
    }
}

fn flipped(proof: &[Hash], at: usize, bit: u8) -> Vec<Hash> {
    let mut p = proof.to_vec();
    let i = at % p.len();
    p[i][usize::from(bit / 8) % 32] ^= 1 << (bit % 8);
    p
}

#[test]
fn every_proof_in_every_tree_up_to_260_verifies() {
    const MAX: u64 = 260;
    let all = leaves(MAX);
    let tree = MemoryTree::new(&all);
    // roots[k] is the root of the first k leaves.
    let roots: Vec<Hash> = (0..=MAX).map(|k| root_of(&all[..k as usize])).collect();
    for n in 1..=MAX {
        let root = roots[n as usize];
        let get = |id: NodeId| tree.node(id).filter(|_| id.end() <= n);
        for i in 0..n {
            let p = inclusion_plan(i, n).unwrap().assemble_with(get).unwrap();
            verify_inclusion(i, n, &all[i as usize], &p, &root).unwrap();
        }
        for m in 1..=n {
            let p = consistency_plan(m, n).unwrap().assemble_with(get).unwrap();
            verify_consistency(m, n, &p, &roots[m as usize], &root).unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn small_trees_match_reference_and_refuse_tampering(
        n in 1u64..=400, i_seed in any::<u64>(), m_seed in any::<u64>(), at in any::<usize>(), bit in any::<u8>()
    ) {
        let l = leaves(n);
        let tree = MemoryTree::new(&l);
        let root = root_of(&l);
        let i = i_seed % n;
        let p = inclusion_plan(i, n).unwrap().assemble_with(|id| tree.node(id)).unwrap();
        prop_assert_eq!(&p, &reference_inclusion_proof(&l, i).unwrap());
        prop_assert!(verify_inclusion(i, n, &l[i as usize], &p, &root).is_ok());
        if !p.is_empty() {
            prop_assert!(verify_inclusion(i, n, &l[i as usize], &flipped(&p, at, bit), &root).is_err());
        }
        for j in [i.wrapping_sub(1), i + 1, i ^ 2] {
            if j != i && j < n {
                prop_assert!(verify_inclusion(j, n, &l[i as usize], &p, &root).is_err());
            }
        }
        prop_assert!(verify_inclusion(i, n * 2, &l[i as usize], &p, &root).is_err());
        if i < n / 2 {
            prop_assert!(verify_inclusion(i, n / 2, &l[i as usize], &p, &root).is_err());
        }

        let m = 1 + m_seed % n;
        let root1 = root_of(&l[..m as usize]);
        let c = consistency_plan(m, n).unwrap().assemble_with(|id| tree.node(id)).unwrap();
        prop_assert_eq!(&c, &reference_consistency_proof(&l, m).unwrap());
        prop_assert!(verify_consistency(m, n, &c, &root1, &root).is_ok());
        if m < n {
            prop_assert!(verify_consistency(m, n, &flipped(&c, at, bit), &root1, &root).is_err());
            prop_assert!(verify_consistency(m, n, &c, &root, &root1).is_err());
            for (m2, n2) in [(m - 1, n), (m + 1, n), (m ^ 2, n), (m, n * 2), (m, n / 2)] {
                if (m2, n2) != (m, n) {
                    prop_assert!(verify_consistency(m2, n2, &c, &root1, &root).is_err(), "({}, {})", m2, n2);
                }
            }
        }
    }

    #[test]
    fn large_trees_verify_and_refuse_tampering(
        n in 1u64..=(1u64 << 40), i_seed in any::<u64>(), m_seed in any::<u64>(), at in any::<usize>(), bit in any::<u8>()
    ) {
        let i = i_seed % n;
        let model = Sparse { special: i };
        let root = model.range(0, n);
        let leaf = model.node(NodeId::new(0, i));
        let p = inclusion_plan(i, n).unwrap().assemble_with(|id| Some(model.node(id))).unwrap();
        prop_assert!(verify_inclusion(i, n, &leaf, &p, &root).is_ok());
        if !p.is_empty() {
            prop_assert!(verify_inclusion(i, n, &leaf, &flipped(&p, at, bit), &root).is_err());
        }
        for j in [i.wrapping_sub(1), i + 1, i ^ 2] {
            if j != i && j < n {
                prop_assert!(verify_inclusion(j, n, &leaf, &p, &root).is_err());
            }
        }
        prop_assert!(verify_inclusion(i, n * 2, &leaf, &p, &root).is_err());

        let m = 1 + m_seed % n;
        let model = Sparse { special: m - 1 };
        let root1 = model.range(0, m);
        let root2 = model.range(0, n);
        let c = consistency_plan(m, n).unwrap().assemble_with(|id| Some(model.node(id))).unwrap();
        prop_assert!(verify_consistency(m, n, &c, &root1, &root2).is_ok());
        if m < n {
            prop_assert!(verify_consistency(m, n, &flipped(&c, at, bit), &root1, &root2).is_err());
            for (m2, n2) in [(m - 1, n), (m + 1, n), (m ^ 2, n), (m, n * 2), (m, n / 2)] {
                if (m2, n2) != (m, n) {
                    prop_assert!(verify_consistency(m2, n2, &c, &root1, &root2).is_err(), "({}, {})", m2, n2);
                }
            }
        }
    }
}
