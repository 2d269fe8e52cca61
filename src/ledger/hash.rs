//! RFC 6962 / RFC 9162 Merkle tree hashing (SHA-256), with domain separation between leaves
//! and interior nodes.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A SHA-256 Merkle tree hash.
pub type Hash = [u8; 32];

/// Size of a [`Hash`](type@Hash) in bytes.
pub const HASH_SIZE: usize = 32;

/// The leaf hash of an entry: `SHA-256(0x00 || entry)` (RFC 9162, section 2.1.1).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(entry);
    h.finalize().into()
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)` (RFC 9162, section 2.1.1).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Compares two hashes in constant time, so a verifier leaks nothing about how close a forged
/// root came.
pub fn hashes_equal(a: &Hash, b: &Hash) -> bool {
    bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values computed independently with Python:
    //   hashlib.sha256(b"").hexdigest()
    //   hashlib.sha256(b"\x00").hexdigest()
    //   hashlib.sha256(b"\x00" + b"hello").hexdigest()
    //   hashlib.sha256(b"\x01" + bytes(32) + bytes([0xff]) * 32).hexdigest()
    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn leaf_hash_prefixes_zero_byte() {
        assert_eq!(
            hex::encode(leaf_hash(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        assert_eq!(hex::encode(leaf_hash(b"hello")), PY_LEAF_HELLO);
    }

    #[test]
    fn node_hash_prefixes_one_byte() {
        assert_eq!(
            hex::encode(node_hash(&[0u8; 32], &[0xffu8; 32])),
            PY_NODE_0_FF
        );
        assert_ne!(
            node_hash(&[0u8; 32], &[0xffu8; 32]),
            node_hash(&[0xffu8; 32], &[0u8; 32])
        );
    }

    #[test]
    fn constant_time_compare() {
        let a = leaf_hash(b"a");
        let mut b = a;
        assert!(hashes_equal(&a, &b));
        b[31] ^= 1;
        assert!(!hashes_equal(&a, &b));
    }

    const PY_LEAF_HELLO: &str = "8a2a5c9b768827de5a9552c38a044c66959c68f6d2f21b5260af54d2f87db827";
    const PY_NODE_0_FF: &str = "bc6b943b820c449acf880d293c216a24a8066b153f87f2361fae2beda3a72641";
}
