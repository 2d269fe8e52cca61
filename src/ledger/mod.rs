//! The ledger's pure core: RFC 6962 / RFC 9162 Merkle hashing and proofs, C2SP tiles,
//! checkpoints, signed notes, cosignatures and tlog-proofs, and the canonical entry encoding.
//!
//! Nothing here touches a database or the network, so the offline verifier reuses all of it.
//! Proof generation is split so storage can be async: a pure function names the nodes needed
//! ([`ProofPlan`]), the caller fetches them, and the plan assembles the proof.
//!
//! How the rest of the server uses it:
//! - **Sequencer**: load the right edge once ([`TileEdge::tiles_needed`] then
//!   [`TileEdge::from_tiles`], and the partial entry bundle); per batch, encode each [`Entry`],
//!   take its [`leaf_hash`], call [`TileEdge::append`] and [`append_bundles`], store the
//!   returned tiles and bundles with the entries, sign a [`Checkpoint`] of the returned root,
//!   commit, and only then keep the new edge (append leaves `self` untouched).
//! - **Proofs**: [`inclusion_plan`] / [`consistency_plan`] name the nodes; [`tiles_for_plan`]
//!   names the tiles holding them; fetch those into a [`TileSet`] (or cache
//!   [`ExpandedTile`]s) and `plan.assemble_with(|id| set.node(id))`.
//! - **Verifiers** (offline bundle check, witness): [`verify_inclusion`],
//!   [`verify_consistency`], [`Checkpoint::open`], [`WitnessPolicy::check`], [`TlogProof`].

pub mod bundle;
pub mod checkpoint;
pub mod compact;
pub mod consistency;
pub mod cosignature;
pub mod entry;
pub mod error;
pub mod hash;
pub mod inclusion;
pub mod note;
pub mod note_key;
pub mod plan;
pub mod proof_text;
pub mod reference;
pub mod subtree;
pub mod tile_appender;
pub mod tile_path;
pub mod tiles;

pub use bundle::{
    BundleAppend, append_bundles, bundle_leaf_hashes, decode_bundle, decode_bundle_for,
    encode_bundle,
};
pub use checkpoint::Checkpoint;
pub use compact::CompactRange;
pub use consistency::{consistency_plan, verify_consistency};
pub use cosignature::{
    CosignatureVerifier, WitnessCosignature, WitnessPolicy, cosign, cosigned_message,
};
pub use entry::{Entry, EntryKind, MAX_ENTRY_SIZE, Signer};
pub use error::{EntryError, NoteError, ProofError, TileError};
pub use hash::{HASH_SIZE, Hash, empty_root, hashes_equal, leaf_hash, node_hash};
pub use inclusion::{MAX_PROOF_LEN, inclusion_plan, root_from_inclusion, verify_inclusion};
pub use note::{MAX_NOTE_SIZE, Note, NoteSignature, Verifier};
pub use note_key::{ALG_COSIGNATURE_V1, ALG_ED25519, Ed25519Signer, Ed25519Verifier, key_id};
pub use plan::{MAX_TREE_SIZE, NodeId, ProofNode, ProofPlan, range_nodes};
pub use proof_text::{TlogProof, VerifiedProof};
pub use reference::{MemoryTree, reference_consistency_proof, reference_inclusion_proof, root_of};
pub use subtree::{
    subtree_consistency_plan, subtree_inclusion_plan, subtree_root_node,
    verify_subtree_consistency, verify_subtree_inclusion,
};
pub use tile_appender::{TileAppend, TileEdge};
pub use tile_path::{TILE_HEIGHT, TILE_WIDTH, Tile, TileResource, encode_index, parse_tile_path};
pub use tiles::{
    ExpandedTile, TileSet, node_from_tile, tile_for_node, tile_span, tile_width, tiles_for_nodes,
    tiles_for_plan,
};
