//! The ledger's errors, one enum per concern: Merkle proofs, tiles, entries, and signed notes.
//!
//! Every variant is a client-facing reason that contains no secret and no untrusted text beyond
//! short numbers, so the HTTP edge may show it as is.

use thiserror::Error;

use super::plan::NodeId;

/// Why a Merkle proof could not be built or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProofError {
    /// The leaf index is not inside the tree (or subtree).
    #[error("leaf index {index} is out of range for tree size {size}")]
    IndexOutOfRange {
        /// The leaf index asked for.
        index: u64,
        /// The tree size it was checked against.
        size: u64,
    },
    /// The second tree is smaller than the first.
    #[error("tree size {size2} is smaller than {size1}")]
    SizeDecreased {
        /// The older size.
        size1: u64,
        /// The newer size.
        size2: u64,
    },
    /// A consistency proof from the empty tree proves nothing and is refused.
    #[error("a consistency proof from the empty tree is meaningless")]
    FromEmptyTree,
    /// The proof has the wrong number of hashes for the sizes given.
    #[error("proof has {got} hashes, expected {want}")]
    WrongProofLength {
        /// Hashes received.
        got: usize,
        /// Hashes the sizes call for.
        want: usize,
    },
    /// The proof is well formed but leads to another root.
    #[error("the proof does not lead to the expected root")]
    RootMismatch,
    /// `[start, end)` is not a subtree: empty, or `start` not a multiple of the smallest power
    /// of two at least `end - start`.
    #[error("[{start}, {end}) is not a valid subtree")]
    InvalidSubtree {
        /// First leaf of the range.
        start: u64,
        /// One past its last leaf.
        end: u64,
    },
    /// A compact range was given the wrong number of hashes for its size.
    #[error("compact range of size {size} needs {want} hashes, got {got}")]
    BadCompactRange {
        /// Tree size.
        size: u64,
        /// Hashes received.
        got: usize,
        /// Hashes needed (one per set bit of the size).
        want: usize,
    },
    /// The tree would grow beyond `MAX_TREE_SIZE`.
    #[error("tree size overflow")]
    TreeTooLarge,
    /// A node needed to assemble a proof was not supplied.
    #[error("node at level {} index {} is missing", .0.level, .0.index)]
    MissingNode(NodeId),
}

/// Why a tile, tile path or entry bundle was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TileError {
    /// The path does not follow `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`.
    #[error("malformed tile path: {0}")]
    MalformedPath(&'static str),
    /// Tile bytes are not a whole number of hashes, or not the width they should have.
    #[error("tile has {got} bytes, expected {want}")]
    WrongTileLength {
        /// Bytes received.
        got: usize,
        /// Bytes expected.
        want: usize,
    },
    /// The node does not lie in the tile, or the tile is too narrow to hold it.
    #[error("node at level {} index {} is not in this tile", .0.level, .0.index)]
    NodeNotInTile(NodeId),
    /// The right-edge state does not match the tree size.
    #[error("right-edge tiles do not match tree size {0}")]
    EdgeMismatch(u64),
    /// The tree would outgrow 2^63 leaves.
    #[error("tree size overflow")]
    TreeTooLarge,
    /// An entry bundle is truncated or has trailing bytes.
    #[error("malformed entry bundle: {0}")]
    MalformedBundle(&'static str),
    /// An entry is longer than a bundle's 2-byte length prefix allows.
    #[error("entry of {0} bytes exceeds 65535")]
    EntryTooLarge(usize),
}

/// Why a ledger entry could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EntryError {
    /// The encoding exceeds the maximum entry size.
    #[error("entry of {0} bytes exceeds the maximum")]
    TooLarge(usize),
    /// The bytes end before the entry does.
    #[error("entry is truncated")]
    Truncated,
    /// Bytes follow the end of the entry.
    #[error("entry has {0} trailing bytes")]
    TrailingBytes(usize),
    /// The version byte is not one this code knows.
    #[error("unknown entry version {0}")]
    UnknownVersion(u8),
    /// The kind byte is not one this code knows.
    #[error("unknown entry kind {0}")]
    UnknownKind(u8),
    /// The signer byte is not one this code knows.
    #[error("unknown signer {0}")]
    UnknownSigner(u8),
    /// An option flag is neither 0 nor 1.
    #[error("invalid presence flag {0}")]
    BadFlag(u8),
    /// The signature is not a DER ECDSA P-256 signature.
    #[error("signature is not a DER ECDSA P-256 signature")]
    BadSignature,
    /// The detail text is too long, not UTF-8, or has control characters.
    #[error("invalid detail text: {0}")]
    BadDetail(&'static str),
    /// This kind of entry must name the record it refers to.
    #[error("this kind of entry requires refers_to")]
    MissingRefersTo,
}

/// Why a signed note, key, checkpoint, cosignature or tlog-proof was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NoteError {
    /// The input exceeds the size limit.
    #[error("input too large")]
    TooLarge,
    /// The note is not UTF-8 or holds control characters other than newline.
    #[error("note is not valid UTF-8 text")]
    BadText,
    /// The note's structure is wrong.
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    /// More signature lines than allowed.
    #[error("too many signatures")]
    TooManySignatures,
    /// A key name is empty or has spaces or '+'.
    #[error("invalid key name")]
    BadKeyName,
    /// A signer or verifier key string is malformed.
    #[error("malformed key: {0}")]
    BadKey(&'static str),
    /// A signature from a known key failed to verify.
    #[error("signature by known key {0:?} failed to verify")]
    BadSignature(String),
    /// No signature from a known key was found.
    #[error("no signature from a known key")]
    NoKnownSignature,
    /// The checkpoint body is malformed.
    #[error("malformed checkpoint: {0}")]
    BadCheckpoint(&'static str),
    /// The checkpoint's origin is not the expected one.
    #[error("checkpoint origin does not match")]
    WrongOrigin,
    /// Fewer trusted witnesses cosigned than the policy requires.
    #[error("{got} of the required {need} witness cosignatures")]
    PolicyNotMet {
        /// Witnesses required.
        need: usize,
        /// Witnesses that verified.
        got: usize,
    },
    /// A cosignature's timestamp is out of range or in the future.
    #[error("cosignature timestamp out of range")]
    BadTimestamp,
    /// The tlog-proof text is malformed.
    #[error("malformed tlog-proof: {0}")]
    BadProofText(&'static str),
    /// The inclusion proof inside a tlog-proof failed.
    #[error(transparent)]
    Proof(#[from] ProofError),
}
