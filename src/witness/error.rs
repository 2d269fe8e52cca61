//! The witness's errors: one enum for the whole module. Variants up to `Inconsistent` are the
//! answers C2SP tlog-witness prescribes to `add-checkpoint`; the rest are operational.

use thiserror::Error;

use crate::ledger::{NoteError, ProofError, TileError};
use crate::store::StoreError;
use crate::store::keys::KeyStoreError;

/// Why the witness refused a checkpoint or could not run.
#[derive(Debug, Error)]
pub enum WitnessError {
    /// The request body is malformed, or its old size exceeds the checkpoint's (400).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The checkpoint's origin is not a log this witness follows (404).
    #[error("unknown log origin")]
    UnknownLog,
    /// No signature verified against the log's key, or a signature by it failed (403).
    #[error("the checkpoint is not signed by the log's key: {0}")]
    NotSigned(NoteError),
    /// The old size is not the size this witness last cosigned (409, body: that size).
    #[error("old size does not match; the witness holds size {current}")]
    SizeMismatch {
        /// The size of the latest checkpoint cosigned for this log.
        current: u64,
    },
    /// Same size as the cosigned checkpoint but another root: a split view (409, alarm).
    #[error("split view: size {current} was cosigned with another root hash")]
    SplitView {
        /// The size of the latest checkpoint cosigned for this log.
        current: u64,
    },
    /// The consistency proof is malformed (422).
    #[error("bad consistency proof: {0}")]
    BadProof(ProofError),
    /// The consistency proof does not lead from the cosigned root to the new one (422, alarm).
    #[error("the checkpoint is not consistent with the one cosigned: {0}")]
    Inconsistent(ProofError),
    /// The log's own data contradict a checkpoint it signed (seen by the mirror); an alarm
    /// was recorded.
    #[error("the log misbehaved ({kind}): {detail}")]
    Misbehaviour {
        /// The alarm's kind.
        kind: &'static str,
        /// What was seen.
        detail: String,
    },
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Key storage.
    #[error(transparent)]
    Keys(#[from] KeyStoreError),
    /// Master key or other identity material.
    #[error(transparent)]
    Identity(#[from] crate::identity::IdentityError),
    /// The witness key or a configured log key is unusable.
    #[error("key: {0}")]
    Key(String),
    /// The configuration is incomplete or malformed.
    #[error("configuration: {0}")]
    Config(String),
    /// The log could not be fetched from, or answered something unusable.
    #[error("fetching from the log: {0}")]
    Fetch(String),
    /// Tiles or entry bundles do not fit together.
    #[error("tiles: {0}")]
    Tile(#[from] TileError),
    /// The HTTP listener could not be bound or served.
    #[error("HTTP listener on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

impl From<tokio_postgres::Error> for WitnessError {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Store(e.into())
    }
}

impl From<deadpool_postgres::PoolError> for WitnessError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Self::Store(e.into())
    }
}
