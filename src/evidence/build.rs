//! Builds an evidence bundle (zip bytes) from a [`BundleInput`]: checks that the pieces agree
//! with the ledger entries they belong to, lays the files out, and writes the manifest,
//! `SHA256SUMS`, `README.txt` and `certificate.html` from the same facts.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};
use x509_parser::prelude::FromDer;

use crate::identity::pki::pem_cert;
use crate::ledger::{Checkpoint, Entry, EntryKind, Note, Signer, TlogProof, leaf_hash};

use super::certificate::{
    CertificateData, CertificateEntry, format_beijing, format_utc, render_certificate,
};
use super::error::EvidenceError;
use super::input::{BundleInput, DocumentFile};
use super::manifest::{
    FORMAT, Manifest, ManifestEntry, ManifestFile, ManifestLog, ManifestRecord, entry_path, names,
};
use super::policy::policy_text;
use super::readme::{ReadmeEntry, ReadmeFacts, readme_text};
use super::zip_write::write_zip;

/// The Python checker shipped in every bundle.
pub(crate) const CHECK_PROOF_PY: &str = include_str!("../../templates/check_proof.py");

fn bad(msg: impl Into<String>) -> EvidenceError {
    EvidenceError::BadInput(msg.into())
}

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// The entry kind as a word.
pub fn kind_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Invoice => "invoice",
        EntryKind::InvoiceStatus => "invoice-status",
        EntryKind::Contract => "contract",
        EntryKind::ContractSignature => "contract-signature",
        EntryKind::ContractExecuted => "contract-executed",
    }
}

/// RFC 3339 in UTC.
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

fn document_name(prefix: &str, doc: &DocumentFile) -> Result<String, EvidenceError> {
    let ext = &doc.extension;
    if ext.is_empty() || ext.len() > 8 || !ext.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(bad(format!("document extension {ext:?}")));
    }
    Ok(format!("{prefix}document.{}", ext.to_ascii_lowercase()))
}

/// One entry, decoded and checked against its pieces.
struct Prepared {
    entry: Entry,
    proof: TlogProof,
    checkpoint: Checkpoint,
    subject: String,
    serial_hex: String,
    document_file: Option<String>,
}

fn prepare(input: &BundleInput) -> Result<Vec<Prepared>, EvidenceError> {
    if input.entries.is_empty() {
        return Err(bad("a bundle needs at least one entry"));
    }
    let record_doc = match &input.document {
        Some(d) => {
            if sha256(&d.bytes) != input.record.document_sha256 {
                return Err(bad("the document's SHA-256 is not the record's"));
            }
            Some(document_name("", d)?)
        }
        None => None,
    };
    let mut out = Vec::new();
    for (i, e) in input.entries.iter().enumerate() {
        let entry = Entry::decode(&e.entry).map_err(|err| bad(format!("entry {i}: {err}")))?;
        if entry.cert_fingerprint != sha256(&e.certificate_der) {
            return Err(bad(format!(
                "entry {i}: certificate is not the one the entry names"
            )));
        }
        if entry.token_sha256 != sha256(&e.token_der) {
            return Err(bad(format!(
                "entry {i}: token is not the one the entry names"
            )));
        }
        let proof =
            TlogProof::parse(e.proof.as_bytes()).map_err(|err| bad(format!("entry {i}: {err}")))?;
        let note = Note::parse(proof.checkpoint.as_bytes())
            .map_err(|err| bad(format!("entry {i}: {err}")))?;
        let checkpoint =
            Checkpoint::parse(note.text()).map_err(|err| bad(format!("entry {i}: {err}")))?;
        let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&e.certificate_der)
            .map_err(|err| bad(format!("entry {i}: certificate: {err}")))?;
        let document_file = match (&e.document, &record_doc) {
            (_, Some(name)) if entry.document_sha256 == input.record.document_sha256 => {
                Some(name.clone())
            }
            (Some(d), _) => {
                if sha256(&d.bytes) != entry.document_sha256 {
                    return Err(bad(format!("entry {i}: document is not the one it names")));
                }
                Some(document_name(&format!("entries/{i}/"), d)?)
            }
            (None, _) => None,
        };
        out.push(Prepared {
            subject: cert.subject().to_string(),
            serial_hex: hex::encode(cert.raw_serial()),
            entry,
            proof,
            checkpoint,
            document_file,
        });
    }
    let first = &out
        .first()
        .ok_or_else(|| bad("a bundle needs at least one entry"))?
        .entry;
    if first.record_id != *input.record.id.as_bytes() {
        return Err(bad("the first entry is not the record's"));
    }
    if first.document_sha256 != input.record.document_sha256 {
        return Err(bad(
            "the first entry names another document than the record",
        ));
    }
    if first.org_id != *input.record.org_id.as_bytes() {
        return Err(bad(
            "the first entry names another organisation than the record",
        ));
    }
    Ok(out)
}

fn log_origin(input: &BundleInput) -> Result<String, EvidenceError> {
    crate::ledger::Ed25519Verifier::from_vkey(input.log_vkey.trim())
        .map(|v| crate::ledger::note::Verifier::name(&v).to_owned())
        .map_err(|e| bad(format!("log key: {e}")))
}

/// Witness names (with cosigning time) whose cosignature lines a checkpoint note carries, by
/// name and key id; not verified here, the verifier does that.
fn cosigners(note: &str, witness_vkeys: &[String]) -> Vec<String> {
    use crate::ledger::note::Verifier;
    let Ok(note) = Note::parse(note.as_bytes()) else {
        return Vec::new();
    };
    let keys: Vec<_> = witness_vkeys
        .iter()
        .filter_map(|k| crate::ledger::CosignatureVerifier::from_vkey(k.trim()).ok())
        .collect();
    note.signatures()
        .iter()
        .filter_map(|s| {
            let w = keys
                .iter()
                .find(|k| k.name() == s.name && k.key_id() == s.key_id)?;
            let ts = w.verified_timestamp(note.text(), &s.signature)?;
            let at = OffsetDateTime::from_unix_timestamp(i64::try_from(ts).ok()?).ok()?;
            Some(format!("{} ({})", s.name, format_utc(at)))
        })
        .collect()
}

/// The facts the certificate page shows, from the same input as the bundle. The server also
/// renders this at `/records/{id}/certificate`.
///
/// # Errors
/// [`EvidenceError::BadInput`] when the pieces disagree with their entries.
pub fn certificate_data(input: &BundleInput) -> Result<CertificateData, EvidenceError> {
    let prepared = prepare(input)?;
    certificate_data_from(input, &prepared)
}

fn certificate_data_from(
    input: &BundleInput,
    prepared: &[Prepared],
) -> Result<CertificateData, EvidenceError> {
    let first = input
        .entries
        .first()
        .ok_or_else(|| bad("a bundle needs at least one entry"))?;
    let entries = prepared
        .iter()
        .zip(&input.entries)
        .map(|(p, e)| CertificateEntry {
            kind: kind_name(p.entry.kind).to_owned(),
            record_id: uuid::Uuid::from_bytes(p.entry.record_id).to_string(),
            detail: p.entry.detail.clone(),
            document_sha256: hex::encode(p.entry.document_sha256),
            certificate_subject: p.subject.clone(),
            certificate_serial: p.serial_hex.clone(),
            signer: match p.entry.signer {
                Signer::Org => "organisation / 存证主体本人".to_owned(),
                Signer::Custodial => "notarium on the organisation's behalf / 平台代签".to_owned(),
            },
            token_time_utc: format_utc(e.token_time),
            token_time_beijing: format_beijing(e.token_time),
            token_sha256: hex::encode(p.entry.token_sha256),
            log_index: p.proof.index,
            leaf_hash: hex::encode(leaf_hash(&e.entry)),
            checkpoint_size: p.checkpoint.size,
            checkpoint_root: STANDARD.encode(p.checkpoint.root),
            witnesses: cosigners(&p.proof.checkpoint, &input.witness_vkeys),
        })
        .collect();
    Ok(CertificateData {
        record_id: input.record.id.to_string(),
        kind: input.record.kind.clone(),
        org_name: input.record.org_name.clone(),
        org_id: input.record.org_id.to_string(),
        document_sha256: hex::encode(input.record.document_sha256),
        document_file: prepared.first().and_then(|p| p.document_file.clone()),
        token_time_utc: format_utc(first.token_time),
        token_time_beijing: format_beijing(first.token_time),
        log_index: prepared.first().map_or(0, |p| p.proof.index),
        log_origin: log_origin(input)?,
        generated_at: format_utc(input.generated_at),
        entries,
        witness_threshold: input.witness_threshold,
        witness_keys: input.witness_vkeys.clone(),
    })
}

/// Positions in `witness_vkeys` of the witnesses whose cosignature on `note` verifies.
fn cosigner_indexes(note: &str, witness_vkeys: &[String]) -> Vec<usize> {
    use crate::ledger::note::Verifier;
    let Ok(note) = Note::parse(note.as_bytes()) else {
        return Vec::new();
    };
    witness_vkeys
        .iter()
        .enumerate()
        .filter_map(|(i, k)| {
            let w = crate::ledger::CosignatureVerifier::from_vkey(k.trim()).ok()?;
            note.signatures()
                .iter()
                .any(|s| {
                    s.name == w.name()
                        && s.key_id == w.key_id()
                        && w.verified_timestamp(note.text(), &s.signature).is_some()
                })
                .then_some(i)
        })
        .collect()
}

/// Revocation time of `serial` in a CRL, if the CRL lists it (unverified: for the README).
fn crl_revocation(crl: &[u8], serial: &[u8]) -> Option<OffsetDateTime> {
    let (_, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(crl).ok()?;
    crl.iter_revoked_certificates()
        .find(|r| r.raw_serial() == serial)
        .and_then(|r| OffsetDateTime::from_unix_timestamp(r.revocation_date.timestamp()).ok())
}

/// Builds the bundle.
///
/// # Errors
/// [`EvidenceError::BadInput`] when a piece is malformed or disagrees with its entry (wrong
/// certificate, token, document, record); [`EvidenceError::ZipWrite`].
pub fn build_bundle(input: &BundleInput) -> Result<Vec<u8>, EvidenceError> {
    let prepared = prepare(input)?;
    let (Some(first), Some(first_input)) = (prepared.first(), input.entries.first()) else {
        return Err(bad("a bundle needs at least one entry"));
    };
    let origin = log_origin(input)?;
    for k in &input.witness_vkeys {
        crate::ledger::CosignatureVerifier::from_vkey(k.trim())
            .map_err(|e| bad(format!("witness key: {e}")))?;
    }
    if input.roots_der.is_empty() {
        return Err(bad("no notary root certificate"));
    }

    // (path, bytes, description), in the order they go into the zip.
    let mut files: Vec<(String, Vec<u8>, String)> = Vec::new();
    if let (Some(doc), Some(name)) = (&input.document, first.document_file.as_ref()) {
        files.push((
            name.clone(),
            doc.bytes.clone(),
            "the record's document".into(),
        ));
    }
    let later = match &input.later_checkpoint {
        Some(text) => {
            let note = Note::parse(text.as_bytes()).map_err(|e| bad(format!("later: {e}")))?;
            Some(Checkpoint::parse(note.text()).map_err(|e| bad(format!("later: {e}")))?)
        }
        None => None,
    };
    let mut consistency = Vec::new();
    let mut readme_entries = Vec::new();
    for (i, (p, e)) in prepared.iter().zip(&input.entries).enumerate() {
        let path = |f: &str| entry_path(i, f);
        files.push((
            path(names::ENTRY),
            e.entry.clone(),
            "the ledger entry (docs/ledger-format.md)".into(),
        ));
        files.push((
            path(names::SIGNATURE),
            p.entry.signature.clone(),
            "the DER ECDSA P-256 signature over the document, as in the entry".into(),
        ));
        files.push((
            path(names::SIGNER_CERT),
            pem_cert(&e.certificate_der).into_bytes(),
            "the signer's certificate".into(),
        ));
        if !e.chain_der.is_empty() {
            let chain: String = e.chain_der.iter().map(|c| pem_cert(c)).collect();
            files.push((
                path(names::CHAIN),
                chain.into_bytes(),
                "intermediate CA certificates up to a notary root".into(),
            ));
        }
        files.push((
            path(names::TOKEN),
            e.token_der.clone(),
            "the RFC 3161 time-stamp token (a bare TimeStampToken, not a TimeStampResp)".into(),
        ));
        files.push((
            path(names::PROOF),
            e.proof.clone().into_bytes(),
            "C2SP tlog-proof: index, inclusion proof, cosigned checkpoint".into(),
        ));
        if let (Some(doc), Some(name)) = (&e.document, &p.document_file)
            && name.starts_with("entries/")
        {
            files.push((
                name.clone(),
                doc.bytes.clone(),
                "this entry's document".into(),
            ));
        }
        if let (Some(proof), Some(later)) = (&e.consistency, &later) {
            consistency.push(serde_json::json!({
                "entry": i,
                "old_size": p.checkpoint.size,
                "new_size": later.size,
                "hashes": proof.iter().map(|h| STANDARD.encode(h)).collect::<Vec<_>>(),
            }));
        }
        readme_entries.push(ReadmeEntry {
            number: i,
            kind: kind_name(p.entry.kind).to_owned(),
            document_file: p.document_file.clone(),
            document_sha256: hex::encode(p.entry.document_sha256),
            has_chain: !e.chain_der.is_empty(),
            token_time: e.token_time,
            serial_hex: p.serial_hex.clone(),
            revoked_at: input.crl_der.as_deref().and_then(|crl| {
                crl_revocation(crl, &hex::decode(&p.serial_hex).unwrap_or_default())
            }),
            has_consistency: e.consistency.is_some() && later.is_some(),
            cosigned_by: cosigner_indexes(&p.proof.checkpoint, &input.witness_vkeys),
            later_cosigned_by: input
                .later_checkpoint
                .as_deref()
                .map(|t| cosigner_indexes(t, &input.witness_vkeys))
                .unwrap_or_default(),
        });
    }
    let roots: String = input.roots_der.iter().map(|c| pem_cert(c)).collect();
    files.push((
        names::ROOTS.into(),
        roots.into_bytes(),
        "the notary's root certificates".into(),
    ));
    files.push((
        names::LOG_KEY.into(),
        format!("{}\n", input.log_vkey.trim()).into_bytes(),
        "the log's verifier key (C2SP signed-note)".into(),
    ));
    files.push((
        names::WITNESS_POLICY.into(),
        policy_text(input.witness_threshold, &input.witness_vkeys).into_bytes(),
        "the witnesses' keys and how many must cosign".into(),
    ));
    if let Some(crl) = &input.crl_der {
        files.push((
            names::CRL.into(),
            crl.clone(),
            "the issuing CA's CRL (DER)".into(),
        ));
    }
    if let (Some(text), false) = (&input.later_checkpoint, consistency.is_empty()) {
        files.push((
            names::LATER_CHECKPOINT.into(),
            text.clone().into_bytes(),
            "a later checkpoint of the log".into(),
        ));
        let json = serde_json::json!({
            "later_checkpoint": names::LATER_CHECKPOINT,
            "proofs": consistency,
        });
        let mut bytes = serde_json::to_vec_pretty(&json).map_err(|e| bad(e.to_string()))?;
        bytes.push(b'\n');
        files.push((
            names::CONSISTENCY.into(),
            bytes,
            "RFC 9162 consistency proofs from each entry's checkpoint to the later one".into(),
        ));
    }
    files.push((
        names::CHECK_PROOF.into(),
        CHECK_PROOF_PY.as_bytes().to_vec(),
        "stand-alone Python (standard library) checker of the entry and its proofs".into(),
    ));
    let facts = ReadmeFacts {
        record_id: input.record.id.to_string(),
        origin: origin.clone(),
        has_crl: input.crl_der.is_some(),
        witnesses: input.witness_vkeys.len(),
        entries: readme_entries,
    };
    files.push((
        names::README.into(),
        readme_text(&facts).into_bytes(),
        "how to check each part with standard tools".into(),
    ));
    let cert = render_certificate(&certificate_data_from(input, &prepared)?);
    files.push((
        names::CERTIFICATE.into(),
        cert.into_bytes(),
        "the printable evidence certificate (存证证书)".into(),
    ));

    let sums: String = files
        .iter()
        .map(|(p, b, _)| format!("{}  {p}\n", hex::encode(sha256(b))))
        .collect();
    files.push((
        names::SUMS.into(),
        sums.into_bytes(),
        "sha256sum -c list of the files above".into(),
    ));

    let manifest = Manifest {
        format: FORMAT.into(),
        generated_at: rfc3339(input.generated_at),
        record: ManifestRecord {
            id: input.record.id.to_string(),
            kind: input.record.kind.clone(),
            org_id: input.record.org_id.to_string(),
            org_name: input.record.org_name.clone(),
            document_sha256: hex::encode(input.record.document_sha256),
            document_file: first.document_file.clone(),
            log_index: first.proof.index,
            token_time: rfc3339(first_input.token_time),
        },
        log: ManifestLog {
            origin,
            witness_threshold: input.witness_threshold,
        },
        entries: prepared
            .iter()
            .zip(&input.entries)
            .enumerate()
            .map(|(i, (p, e))| ManifestEntry {
                dir: format!("entries/{i}"),
                kind: kind_name(p.entry.kind).to_owned(),
                record_id: uuid::Uuid::from_bytes(p.entry.record_id).to_string(),
                log_index: p.proof.index,
                token_time: rfc3339(e.token_time),
                document_sha256: hex::encode(p.entry.document_sha256),
                document_file: p.document_file.clone(),
            })
            .collect(),
        files: files
            .iter()
            .map(|(path, bytes, description)| ManifestFile {
                path: path.clone(),
                sha256: hex::encode(sha256(bytes)),
                description: description.clone(),
            })
            .collect(),
    };
    let mut zip_files = vec![(names::MANIFEST.to_owned(), manifest.to_json()?)];
    zip_files.extend(files.into_iter().map(|(p, b, _)| (p, b)));
    write_zip(&zip_files)
}
