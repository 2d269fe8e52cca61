//! What the server hands the bundle builder: every piece of a record's evidence as plain bytes
//! and strings, already collected from storage. Nothing here is trusted by the verifier.

use time::OffsetDateTime;

use crate::ledger::Hash;

/// A document file to include in the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentFile {
    /// File extension without the dot (`xml`, `pdf`, `json`): 1 to 8 ASCII letters or digits.
    pub extension: String,
    /// The document's bytes, exactly as notarized.
    pub bytes: Vec<u8>,
}

/// Who and what the bundle is about, for the manifest and the certificate page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSummary {
    /// The record's id (its first entry's `record_id`).
    pub id: uuid::Uuid,
    /// Human kind, e.g. `invoice`, `contract`.
    pub kind: String,
    /// The depositing organisation's id.
    pub org_id: uuid::Uuid,
    /// The depositing organisation's legal name.
    pub org_name: String,
    /// SHA-256 of the record's document.
    pub document_sha256: [u8; 32],
}

/// One ledger entry of the record's history, with its proofs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInput {
    /// The canonical entry bytes (`ledger::Entry::encode`).
    pub entry: Vec<u8>,
    /// The signer certificate (DER) whose SHA-256 the entry names.
    pub certificate_der: Vec<u8>,
    /// Intermediate CA certificates (DER) between the signer and a notary root.
    pub chain_der: Vec<Vec<u8>>,
    /// The RFC 3161 time-stamp token (bare DER `ContentInfo`) whose SHA-256 the entry names.
    pub token_der: Vec<u8>,
    /// The token's genTime, as the server recorded it.
    pub token_time: OffsetDateTime,
    /// C2SP tlog-proof text: index, inclusion proof and cosigned checkpoint.
    pub proof: String,
    /// Consistency proof from this entry's checkpoint to the bundle's later checkpoint.
    pub consistency: Option<Vec<Hash>>,
    /// This entry's document, when it is not the record's document (e.g. a credit note).
    pub document: Option<DocumentFile>,
}

/// Everything a bundle holds; the builder adds the manifest, README and certificate page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleInput {
    /// The record summary.
    pub record: RecordSummary,
    /// The record's document, when the caller may see it.
    pub document: Option<DocumentFile>,
    /// The record's entries, oldest first; the first is the record itself.
    pub entries: Vec<EntryInput>,
    /// The notary root certificates (DER).
    pub roots_der: Vec<Vec<u8>>,
    /// The log's verifier key (`name+keyid+base64`); its name is the checkpoint origin.
    pub log_vkey: String,
    /// The witnesses' verifier keys (cosignature/v1).
    pub witness_vkeys: Vec<String>,
    /// How many of those witnesses must cosign.
    pub witness_threshold: usize,
    /// The issuing CA's current CRL (DER).
    pub crl_der: Option<Vec<u8>>,
    /// A later checkpoint note (log-signed, with cosignatures) the consistency proofs lead to.
    pub later_checkpoint: Option<String>,
    /// When the bundle was made.
    pub generated_at: OffsetDateTime,
}
