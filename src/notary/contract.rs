//! E-contracts after intake: a contract's state as its records tell it (parties, who signed,
//! whether executed), who may see it, and its execution.
//!
//! Records: the contract itself (kind `contract`, owned by the submitter, the PDF sealed in
//! it, the parties in its meta); one `contract-signature` per party (owned by the party,
//! unique key `contract-sig:<contract>:<party>`); at most one `contract-executed` (owned by
//! the submitter, unique key `contract-executed:<contract>`). The unique keys are checked in
//! the sequencer's batch transaction and by a UNIQUE constraint, so neither a party signing
//! twice nor two last signatures racing can write a second record.
//!
//! Execution, once every party has signed: the original PDF gets one PAdES B-T signature per
//! party, in the order they signed, then the notary seal's, which covers the whole file.
//! - A party that signed custodially (the server keeps its key) gets a real PAdES signature
//!   with that key and certificate, unless the certificate has meanwhile expired or been
//!   revoked: then it is treated like an own-key party.
//! - A party that signed with its own key outside the server signed the original bytes; it
//!   cannot sign the final byte range, which nobody knows in advance. Its PAdES signature is
//!   made by the notary on its behalf, with a one-time seal certificate naming the party
//!   ("notarium Notary Seal for <party>", see [`super::seal::NotarySeal::on_behalf_signer`]):
//!   /Name and /Reason name the party too, and the CMS carries the party's own signature,
//!   certificate and RFC 3161 token as a signed attribute
//!   ([`crate::documents::contract::OnBehalfOf`]), which anyone can check against the first
//!   revision of the file.
//!
//! The signed PDF is the document of the ContractExecuted entry: its SHA-256 is committed in
//! the ledger, the seal signs it, it is time-stamped and stored sealed, so every download
//! gives the same bytes. A crash between the last signature and the execution leaves a fully
//! signed contract without the entry; reading the contract or its PDF executes it then.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use super::notarize::{
    Notarize, NotarizeError, Notarized, document_label, notarize_signed, record_kind,
};
use super::seal::{SEAL_NAME, SealError, on_behalf_name};
use crate::api::AppState;
use crate::documents::contract::{
    CadesSigner, ContractError, DEFAULT_CONTENTS_RESERVE, OnBehalfOf, SignatureOptions, sign_pdf,
};
use crate::identity::IdentityError;
use crate::ledger::EntryKind;
use crate::store::records::{self, Record};
use crate::store::{StoreError, orgs};

/// /Contents reserved for a seal signature carrying a party's certificate and token.
const ON_BEHALF_RESERVE: usize = 16 * 1024;
/// The longest text PAdES accepts in /Name and /Reason.
const MAX_PDF_TEXT: usize = 256;
/// The seal's closing signature field.
pub const SEAL_FIELD: &str = "notary-seal";

/// Errors of the contract flow.
#[derive(Debug, thiserror::Error)]
pub enum ContractFlowError {
    /// Notarizing the executed contract failed.
    #[error(transparent)]
    Notarize(#[from] NotarizeError),
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Signing the PDF failed.
    #[error("signing the contract PDF: {0}")]
    Pdf(#[from] ContractError),
    /// The seal failed.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// A stored document or key did not open.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// Stored records contradict each other.
    #[error("{0}")]
    Inconsistent(String),
}

/// The record unique key of a party's signature.
pub fn signature_key(contract: Uuid, party: Uuid) -> String {
    format!("contract-sig:{contract}:{party}")
}

/// The record unique key of a contract's execution.
pub fn executed_key(contract: Uuid) -> String {
    format!("contract-executed:{contract}")
}

/// A contract as its records tell it.
#[derive(Debug, Clone)]
pub struct Contract {
    /// The contract record (the submitter's).
    pub record: Record,
    /// The org ids that must sign, in the order given.
    pub parties: Vec<Uuid>,
    /// The parties' signatures, in log order.
    pub signatures: Vec<Record>,
    /// The execution, once every party has signed.
    pub executed: Option<Record>,
}

impl Contract {
    /// The contract id.
    pub fn id(&self) -> Uuid {
        self.record.id
    }

    /// Whether `org` must sign.
    pub fn is_party(&self, org: Uuid) -> bool {
        self.parties.contains(&org)
    }

    /// The signature of `org`, if it signed.
    pub fn signature_of(&self, org: Uuid) -> Option<&Record> {
        self.signatures.iter().find(|s| s.org_id == org)
    }

    /// Whether every party has signed.
    pub fn all_signed(&self) -> bool {
        self.parties.iter().all(|p| self.signature_of(*p).is_some())
    }

    /// `executed`, `awaiting-execution` (every party signed, the execution is being written)
    /// or `awaiting-signatures`.
    pub fn status(&self) -> &'static str {
        if self.executed.is_some() {
            "executed"
        } else if self.all_signed() {
            "awaiting-execution"
        } else {
            "awaiting-signatures"
        }
    }
}

/// The contract `id`, or `None` when no contract has that id.
pub async fn load(state: &AppState, id: Uuid) -> Result<Option<Contract>, StoreError> {
    let conn = state.store.conn().await?;
    let Some(record) = records::get(&**conn, id)
        .await?
        .filter(|r| r.kind == record_kind(EntryKind::Contract))
    else {
        return Ok(None);
    };
    let parties = record.meta["parties"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().and_then(|s| s.parse().ok()))
                .collect()
        })
        .unwrap_or_default();
    let mut signatures = Vec::new();
    let mut executed = None;
    for r in records::history(&**conn, id).await? {
        if r.kind == record_kind(EntryKind::ContractSignature) {
            signatures.push(r);
        } else if r.kind == record_kind(EntryKind::ContractExecuted) {
            executed = Some(r);
        }
    }
    Ok(Some(Contract {
        record,
        parties,
        signatures,
        executed,
    }))
}

/// Whether `viewer` may see the contract: its submitter, a party, or a grantee (grant in
/// force, covering the contract's time) of any of them.
pub async fn may_see(state: &AppState, viewer: Uuid, c: &Contract) -> Result<bool, StoreError> {
    if c.record.org_id == viewer || c.is_party(viewer) {
        return Ok(true);
    }
    let mut grantors = c.parties.clone();
    grantors.push(c.record.org_id);
    let conn = state.store.conn().await?;
    records::granted_by_any(&**conn, &grantors, viewer, c.record.created_at).await
}

/// The stored (sealed) document of a record, opened.
pub async fn open_document(
    state: &AppState,
    record_id: Uuid,
) -> Result<Option<Vec<u8>>, ContractFlowError> {
    let conn = state.store.conn().await?;
    let Some(sealed) = records::sealed_document(&**conn, record_id).await? else {
        return Ok(None);
    };
    let opened = state.master_key.open(&document_label(record_id), &sealed)?;
    Ok(Some(opened.to_vec()))
}

/// Printable text of at most `max` characters.
fn clip(s: &str, max: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max).collect()
}

/// One PAdES signature to add.
struct Step {
    signer: CadesSigner,
    options: SignatureOptions,
    /// For the record: whose key made it.
    made_by: &'static str,
    /// SHA-256 of the certificate that made it (hex).
    certificate_sha256: String,
    party: Uuid,
    signature_record: Uuid,
    log_index: u64,
}

/// The PAdES signature of the party whose signature record is `sig`, as the `n`th field.
async fn party_step(
    state: &AppState,
    contract: &Contract,
    sig: &Record,
    n: usize,
    original_len: usize,
    now: OffsetDateTime,
) -> Result<Step, ContractFlowError> {
    let conn = state.store.conn().await?;
    let org = orgs::get_org(&**conn, sig.org_id).await?;
    let cert = orgs::certificate_by_fingerprint(&**conn, &sig.cert_fingerprint)
        .await?
        .ok_or_else(|| {
            ContractFlowError::Inconsistent(format!(
                "the certificate of signature {} is not stored",
                sig.id
            ))
        })?;
    drop(conn);
    let name = clip(&org.name, 100);
    let field = format!("party-{n}");
    let still_good = cert.not_after > now && cert.revoked_at.is_none_or(|revoked| revoked > now);
    if sig.signer == "custodial"
        && still_good
        && let Some(sealed) = &cert.sealed_key
    {
        let pkcs8 = state
            .master_key
            .open(&crate::api::orgs::custodial_label(&cert.serial), sealed)?;
        let signer = CadesSigner::new(
            &pkcs8,
            &cert.cert_der,
            std::slice::from_ref(&state.pki.issuing.cert_der),
        )?;
        let certificate_sha256 = hex::encode(&cert.fingerprint);
        let mut options = SignatureOptions::new(&field, &clip(&org.name, MAX_PDF_TEXT));
        options.reason = Some(clip(
            &format!(
                "{name} signs contract {} (notarium ledger entry {})",
                contract.id(),
                sig.log_index
            ),
            MAX_PDF_TEXT,
        ));
        options.signing_time = Some(now);
        return Ok(Step {
            signer,
            options,
            made_by: "party-key",
            certificate_sha256,
            party: org.id,
            signature_record: sig.id,
            log_index: sig.log_index,
        });
    }
    let (signer, seal_cert) = state.seal.on_behalf_signer(&state.pki, org.id, &org.name)?;
    let mut options = SignatureOptions::new(&field, &on_behalf_name(&org.name));
    options.reason = Some(clip(
        &format!(
            "On behalf of {name}, who signed the original with its own key (carried in CMS \
             attribute {}); notarium ledger entry {}",
            crate::documents::contract::ATTR_ON_BEHALF_OF,
            sig.log_index
        ),
        MAX_PDF_TEXT,
    ));
    options.signing_time = Some(now);
    options.contents_reserve = ON_BEHALF_RESERVE;
    options.on_behalf_of = Some(OnBehalfOf {
        signed_length: original_len,
        signature: sig.signature.clone(),
        certificate_der: cert.cert_der,
        token_der: sig.token.clone(),
        log_index: sig.log_index,
    });
    Ok(Step {
        signer,
        options,
        made_by: "one-time-seal-on-behalf",
        certificate_sha256: hex::encode(Sha256::digest(&seal_cert)),
        party: org.id,
        signature_record: sig.id,
        log_index: sig.log_index,
    })
}

/// Executes `contract` when every party has signed and it is not executed yet: the signed
/// PDF is made and notarized as the ContractExecuted entry. Returns the execution record
/// (this call's or an earlier one's), or `None` while a party has not signed.
pub async fn execute_if_complete(
    state: &Arc<AppState>,
    contract: &Contract,
) -> Result<Option<Record>, ContractFlowError> {
    if let Some(done) = &contract.executed {
        return Ok(Some(done.clone()));
    }
    if !contract.all_signed() {
        return Ok(None);
    }
    let id = contract.id();
    let original = open_document(state, id).await?.ok_or_else(|| {
        ContractFlowError::Inconsistent(format!("contract {id} has no stored document"))
    })?;
    let digest: [u8; 32] = Sha256::digest(&original).into();
    if digest.as_slice() != contract.record.document_sha256.as_slice() {
        return Err(ContractFlowError::Inconsistent(format!(
            "the stored document of contract {id} does not match its digest"
        )));
    }
    let now = OffsetDateTime::now_utc();
    let mut steps = Vec::with_capacity(contract.signatures.len() + 1);
    for (n, sig) in contract.signatures.iter().enumerate() {
        steps.push(party_step(state, contract, sig, n + 1, original.len(), now).await?);
    }
    let indices: Vec<String> = steps.iter().map(|s| s.log_index.to_string()).collect();
    let mut seal_options = SignatureOptions::new(SEAL_FIELD, SEAL_NAME);
    seal_options.reason = Some(clip(
        &format!(
            "Contract {id} executed: every party signed (notarium ledger entries {})",
            indices.join(", ")
        ),
        MAX_PDF_TEXT,
    ));
    seal_options.signing_time = Some(now);
    seal_options.contents_reserve = DEFAULT_CONTENTS_RESERVE;
    let summary: Vec<serde_json::Value> = steps
        .iter()
        .map(|s| {
            serde_json::json!({
                "org_id": s.party,
                "record_id": s.signature_record,
                "log_index": s.log_index,
                "field": s.options.field_name,
                "pades_signed_by": s.made_by,
                "pades_certificate_sha256": s.certificate_sha256,
            })
        })
        .collect();
    let seal_signer = state.seal.cades_signer()?;
    steps.push(Step {
        signer: seal_signer,
        options: seal_options,
        made_by: "notary-seal",
        certificate_sha256: hex::encode(state.seal.fingerprint()),
        party: Uuid::nil(),
        signature_record: Uuid::nil(),
        log_index: 0,
    });

    // lopdf and ECDSA are CPU work: off the async threads. Each signature time-stamp comes
    // from our TSA, whose serials are reserved from PostgreSQL, hence the block_on.
    let handle = tokio::runtime::Handle::current();
    let st = state.clone();
    let original_for_pdf = original.clone();
    let signed = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, ContractError> {
        let mut pdf = original_for_pdf;
        for step in &steps {
            pdf = sign_pdf(&pdf, &step.signer, &step.options, |value| {
                let digest: [u8; 32] = Sha256::digest(value).into();
                handle
                    .block_on(st.tsa.token_for_sha256(&st.store, &digest))
                    .map_err(|e| e.to_string())
            })?;
        }
        Ok(pdf)
    })
    .await
    .map_err(|e| ContractFlowError::Inconsistent(format!("signing task: {e}")))??;

    let signature = state.seal.sign(&signed)?;
    let outcome = notarize_signed(
        state,
        Notarize {
            kind: EntryKind::ContractExecuted,
            org_id: contract.record.org_id,
            body: &signed,
            x_signature: None,
            canonical_sha256: None,
            unique_key: Some(executed_key(id)),
            refers_to: Some(id),
            detail: format!(
                "contract executed: {} parties signed",
                contract.signatures.len()
            ),
            meta: serde_json::json!({
                "contract": id,
                "original_sha256": hex::encode(&contract.record.document_sha256),
                "signatures": summary,
                "seal_field": SEAL_FIELD,
                "signed_by": "notary-seal",
            }),
            store_document: true,
            check: None,
        },
        signature,
    )
    .await?;
    match outcome {
        Notarized::Receipt(r) => {
            tracing::info!(contract = %id, record = %r.record_id, "contract executed");
        }
        // another request executed it first: the PDF made here is dropped
        Notarized::Duplicate { .. } => {}
        Notarized::Refused(reason) => return Err(ContractFlowError::Inconsistent(reason)),
    }
    let fresh = load(state, id)
        .await?
        .ok_or_else(|| ContractFlowError::Inconsistent(format!("contract {id} vanished")))?;
    Ok(fresh.executed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_keys_name_the_contract_and_the_party() {
        let c = Uuid::from_u128(1);
        let p = Uuid::from_u128(2);
        assert_eq!(
            signature_key(c, p),
            "contract-sig:00000000-0000-0000-0000-000000000001:00000000-0000-0000-0000-000000000002"
        );
        assert_eq!(
            executed_key(c),
            "contract-executed:00000000-0000-0000-0000-000000000001"
        );
        assert_ne!(signature_key(c, p), signature_key(p, c));
    }

    #[test]
    fn clip_drops_control_characters_and_bounds_length() {
        assert_eq!(clip("a\nb\u{7}c", 10), "abc");
        assert_eq!(clip(&"x".repeat(300), MAX_PDF_TEXT).len(), MAX_PDF_TEXT);
        assert_eq!(clip("张三", 1), "张");
    }
}
