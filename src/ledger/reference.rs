//! A plain in-memory Merkle tree written straight from the recursive definitions of RFC 9162
//! (MTH, PATH, SUBPROOF). It is slow (linear per proof) and exists to check the fast code
//! against, in tests and by tools that hold every leaf hash anyway.

use super::error::ProofError;
use super::hash::{Hash, empty_root, node_hash};
use super::plan::NodeId;

/// The Merkle tree hash of a list of leaf hashes (RFC 9162, section 2.1.1).
pub fn root_of(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => empty_root(),
        [one] => *one,
        _ => {
            let k = split_point(leaves.len());
            node_hash(&root_of(&leaves[..k]), &root_of(&leaves[k..]))
        }
    }
}

/// The inclusion proof of leaf `index` (RFC 9162 `PATH`).
///
/// # Errors
/// [`ProofError::IndexOutOfRange`] when `index` is not a leaf.
pub fn reference_inclusion_proof(leaves: &[Hash], index: u64) -> Result<Vec<Hash>, ProofError> {
    let size = leaves.len() as u64;
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut out = Vec::new();
    path(index as usize, leaves, &mut out);
    Ok(out)
}

fn path(m: usize, d: &[Hash], out: &mut Vec<Hash>) {
    if d.len() <= 1 {
        return;
    }
    let k = split_point(d.len());
    if m < k {
        path(m, &d[..k], out);
        out.push(root_of(&d[k..]));
    } else {
        path(m - k, &d[k..], out);
        out.push(root_of(&d[..k]));
    }
}

/// The consistency proof from the first `size1` leaves to all of them (RFC 9162 `PROOF`).
///
/// # Errors
/// [`ProofError::FromEmptyTree`] when `size1` is 0; [`ProofError::SizeDecreased`] when it
/// exceeds the number of leaves.
pub fn reference_consistency_proof(leaves: &[Hash], size1: u64) -> Result<Vec<Hash>, ProofError> {
    let size2 = leaves.len() as u64;
    if size1 == 0 {
        return Err(ProofError::FromEmptyTree);
    }
    if size1 > size2 {
        return Err(ProofError::SizeDecreased { size1, size2 });
    }
    let mut out = Vec::new();
    subproof(size1 as usize, leaves, true, &mut out);
    Ok(out)
}

fn subproof(m: usize, d: &[Hash], whole: bool, out: &mut Vec<Hash>) {
    if m == d.len() {
        if !whole {
            out.push(root_of(d));
        }
        return;
    }
    let k = split_point(d.len());
    if m <= k {
        subproof(m, &d[..k], whole, out);
        out.push(root_of(&d[k..]));
    } else {
        subproof(m - k, &d[k..], false, out);
        out.push(root_of(&d[..k]));
    }
}

/// Largest power of two strictly smaller than `n` (n >= 2).
fn split_point(n: usize) -> usize {
    let p = n.next_power_of_two();
    if p == n { n / 2 } else { p / 2 }
}

/// Every complete-subtree hash of a tree held in memory, for assembling planned proofs in
/// tests and tools.
#[derive(Debug, Clone)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// Builds every level from the leaf hashes.
    pub fn new(leaves: &[Hash]) -> Self {
        let mut levels = vec![leaves.to_vec()];
        while let Some(last) = levels.last() {
            if last.len() < 2 {
                break;
            }
            let next: Vec<Hash> = last
                .chunks_exact(2)
                .map(|p| node_hash(&p[0], &p[1]))
                .collect();
            levels.push(next);
        }
        Self { levels }
    }

    /// The hash of a complete subtree, if the tree holds it.
    pub fn node(&self, id: NodeId) -> Option<Hash> {
        let level = self.levels.get(usize::from(id.level))?;
        level.get(usize::try_from(id.index).ok()?).copied()
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// The root hash.
    pub fn root(&self) -> Hash {
        self.levels.first().map_or_else(empty_root, |l| root_of(l))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::hash::leaf_hash;

    #[test]
    fn roots_of_known_trees() {
        // Roots of transparency-dev/merkle's reference tree (proof/verify_test.go) for sizes 1..8.
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
        let want = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let l: Vec<Hash> = data.iter().map(|d| leaf_hash(d)).collect();
        for n in 1..=8 {
            assert_eq!(hex::encode(root_of(&l[..n])), want[n - 1], "size {n}");
            assert_eq!(hex::encode(MemoryTree::new(&l[..n]).root()), want[n - 1]);
        }
        assert_eq!(root_of(&[]), empty_root());
        // Consistency 6 -> 8 from the same source.
        let proof = reference_consistency_proof(&l, 6).unwrap();
        let got: Vec<String> = proof.iter().map(hex::encode).collect();
        assert_eq!(
            got,
            [
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]
        );
    }

    #[test]
    fn memory_tree_nodes() {
        let l: Vec<Hash> = (0u8..5).map(|i| leaf_hash(&[i])).collect();
        let t = MemoryTree::new(&l);
        assert_eq!(t.node(NodeId::new(1, 1)), Some(node_hash(&l[2], &l[3])));
        assert_eq!(t.node(NodeId::new(2, 1)), None);
        assert_eq!(t.node(NodeId::new(0, 4)), Some(l[4]));
        assert_eq!(t.size(), 5);
    }
}
