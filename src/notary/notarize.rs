//! The notarization flow every kind of record goes through: org signature (verified or
//! custodial), RFC 3161 token over the document digest, canonical ledger entry, the sequencer's
//! batch commit, and the receipt with its inclusion proof.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use super::sequencer::{Outcome, SequencerError, StatusCheck, Submission};
use super::signing::SigningError;
use crate::api::AppState;
use crate::ledger::{Entry, EntryKind, Signer};
use crate::store::log::NewRecord;

/// Errors of a notarization (the caller maps them to HTTP).
#[derive(Debug, thiserror::Error)]
pub enum NotarizeError {
    /// The org's signature (or its certificate) was refused.
    #[error(transparent)]
    Signing(#[from] SigningError),
    /// The sequencer refused or failed.
    #[error(transparent)]
    Sequencer(#[from] SequencerError),
    /// Anything else on our side.
    #[error("{0}")]
    Internal(String),
}

/// What to notarize.
#[derive(Debug)]
pub struct Notarize<'a> {
    /// Entry kind.
    pub kind: EntryKind,
    /// The organisation submitting.
    pub org_id: Uuid,
    /// The submitted bytes (what the org signs and the token covers, by digest).
    pub body: &'a [u8],
    /// The org's `X-Signature`, if given.
    pub x_signature: Option<&'a str>,
    /// Digest of the canonical content, where the format has one.
    pub canonical_sha256: Option<[u8; 32]>,
    /// Duplicate key.
    pub unique_key: Option<String>,
    /// The record acted on.
    pub refers_to: Option<Uuid>,
    /// Short text for the entry.
    pub detail: String,
    /// Facts kept with the record.
    pub meta: serde_json::Value,
    /// Keep the document (sealed).
    pub store_document: bool,
    /// Status rule checked in the batch.
    pub check: Option<StatusCheck>,
}

/// What a client gets back once its submission is durable and proven.
#[derive(Debug, Clone, Serialize)]
pub struct Receipt {
    /// The record.
    pub record_id: Uuid,
    /// Record kind.
    pub kind: &'static str,
    /// SHA-256 of the document (hex).
    pub document_sha256: String,
    /// SHA-256 of the canonical content (hex).
    pub canonical_sha256: Option<String>,
    /// Position in the log.
    pub log_index: u64,
    /// RFC 6962 leaf hash of the entry (base64).
    pub leaf_hash: String,
    /// The entry bytes (base64).
    pub entry: String,
    /// The RFC 3161 token over the document digest (base64 DER).
    pub timestamp_token: String,
    /// `org` or `custodial`.
    pub signer: &'static str,
    /// The org's signature (base64 DER).
    pub signature: String,
    /// SHA-256 of the signing certificate (hex).
    pub cert_fingerprint: String,
    /// Inclusion proof to `checkpoint` (base64 hashes).
    pub inclusion_proof: Vec<String>,
    /// Tree size of `checkpoint`.
    pub tree_size: u64,
    /// The signed checkpoint the proof leads to.
    pub checkpoint: String,
}

/// The answer to a notarization.
#[derive(Debug)]
pub enum Notarized {
    /// Durable and proven.
    Receipt(Box<Receipt>),
    /// The unique key was taken by this earlier record.
    Duplicate {
        /// The first record.
        record_id: Uuid,
        /// Its time.
        created_at: OffsetDateTime,
    },
    /// A status rule refused it.
    Refused(String),
}

/// The record kind text for an entry kind.
pub fn record_kind(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Invoice => "invoice",
        EntryKind::InvoiceStatus => "invoice-status",
        EntryKind::Contract => "contract",
        EntryKind::ContractSignature => "contract-signature",
        EntryKind::ContractExecuted => "contract-executed",
    }
}

/// Runs the whole flow.
pub async fn notarize(state: &AppState, n: Notarize<'_>) -> Result<Notarized, NotarizeError> {
    let sig = state
        .signatures
        .sign_or_verify(
            &state.store,
            &state.pki,
            &state.master_key,
            n.org_id,
            n.body,
            n.x_signature,
        )
        .await?;
    let digest: [u8; 32] = Sha256::digest(n.body).into();
    let token = state
        .tsa
        .token_for_sha256(&state.store, &digest)
        .await
        .map_err(|e| NotarizeError::Internal(e.to_string()))?;
    let token_sha256: [u8; 32] = Sha256::digest(&token).into();
    let record_id = Uuid::new_v4();
    let entry = Entry {
        kind: n.kind,
        record_id: *record_id.as_bytes(),
        org_id: *n.org_id.as_bytes(),
        cert_fingerprint: sig.cert_fingerprint,
        document_sha256: digest,
        canonical_sha256: n.canonical_sha256,
        signer: if sig.custodial {
            Signer::Custodial
        } else {
            Signer::Org
        },
        signature: sig.signature.clone(),
        token_sha256,
        refers_to: n.refers_to.map(|u| *u.as_bytes()),
        detail: n.detail,
    };
    let entry_bytes = entry
        .encode()
        .map_err(|e| NotarizeError::Internal(format!("entry: {e}")))?;
    let leaf_hash = crate::ledger::leaf_hash(&entry_bytes);
    let signer = if sig.custodial { "custodial" } else { "org" };
    let document = n
        .store_document
        .then(|| state.master_key.seal(&document_label(record_id), n.body));
    let record = NewRecord {
        id: record_id,
        kind: record_kind(n.kind),
        org_id: n.org_id,
        unique_key: n.unique_key,
        refers_to: n.refers_to,
        document_sha256: digest.to_vec(),
        canonical_sha256: n.canonical_sha256.map(|d| d.to_vec()),
        token: token.clone(),
        signature: sig.signature.clone(),
        signer,
        cert_fingerprint: sig.cert_fingerprint.to_vec(),
        meta: n.meta,
        document,
    };
    let outcome = state
        .sequencer
        .submit(Submission {
            entry: entry_bytes.clone(),
            leaf_hash,
            record,
            check: n.check,
        })
        .await?;
    let committed = match outcome {
        Outcome::Committed(c) => c,
        Outcome::Duplicate {
            record_id,
            created_at,
        } => {
            return Ok(Notarized::Duplicate {
                record_id,
                created_at,
            });
        }
        Outcome::Refused(reason) => return Ok(Notarized::Refused(reason)),
    };
    let proof = state
        .log
        .inclusion_proof(&state.store, committed.index, committed.size)
        .await
        .map_err(|e| NotarizeError::Internal(e.to_string()))?;
    state.metrics.inc(record_kind(n.kind));
    Ok(Notarized::Receipt(Box::new(Receipt {
        record_id,
        kind: record_kind(n.kind),
        document_sha256: hex::encode(digest),
        canonical_sha256: n.canonical_sha256.map(hex::encode),
        log_index: committed.index,
        leaf_hash: B64.encode(leaf_hash),
        entry: B64.encode(&entry_bytes),
        timestamp_token: B64.encode(&token),
        signer,
        signature: B64.encode(&sig.signature),
        cert_fingerprint: hex::encode(sig.cert_fingerprint),
        inclusion_proof: proof.iter().map(|h| B64.encode(h)).collect(),
        tree_size: committed.size,
        checkpoint: committed.checkpoint,
    })))
}

/// The label a stored document is sealed under.
pub fn document_label(record_id: Uuid) -> String {
    format!("document-{record_id}")
}
