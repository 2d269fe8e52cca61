//! The offline verifier: zip bytes and the caller's trust anchors in, a [`Report`] out.
//!
//! Order of trust: the ledger entry is the anchor once the inclusion proof leads to a
//! checkpoint signed by the caller's log key (and cosigned per the caller's witness policy).
//! The entry names the document, token and certificate digests and carries the signature, so
//! each of those files is checked against it; the token and certificate are checked against
//! the caller's roots, at the token's time; the CRL against the CA that chain proved. The
//! manifest is unsigned: its hashes catch damage, and its summary is cross-checked against
//! the verified facts.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use x509_parser::prelude::FromDer;

use crate::identity::certcheck::{CheckedCert, Revocations, check_certificate};
use crate::ledger::note::Verifier;
use crate::ledger::{
    Checkpoint, Ed25519Verifier, Entry, Hash, Note, TlogProof, WitnessPolicy, leaf_hash,
    verify_consistency, verify_inclusion,
};
use crate::timestamp::{HashAlgorithm, TrustStore, verify_token};

use super::build::kind_name;
use super::manifest::{Manifest, entry_path, names};
use super::policy::parse_policy;
use super::report::{Report, Status};
use super::zip_read::{ZipLimits, read_zip};

/// Most certificates read from one PEM file.
const MAX_PEM_CERTS: usize = 16;
/// Largest consistency.json accepted.
const MAX_CONSISTENCY_LEN: usize = 256 * 1024;

/// What the verifier trusts and knows, besides the bundle.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// The document, when the verifier has it.
    pub document: Option<Vec<u8>>,
    /// Trusted notary root certificates (DER).
    pub trust_roots: Option<Vec<Vec<u8>>>,
    /// The log's verifier key (`name+keyid+base64`); its name is the checkpoint origin.
    pub log_key: Option<String>,
    /// The witness policy checkpoints must meet.
    pub witness_policy: Option<WitnessPolicy>,
    /// Take the roots, log key and witness policy missing above from the bundle itself.
    pub trust_bundle_roots: bool,
    /// The current time (cosignatures dated after it are refused).
    pub now: OffsetDateTime,
}

impl VerifyOptions {
    /// Options trusting nothing yet, at time `now`.
    pub fn new(now: OffsetDateTime) -> Self {
        Self {
            document: None,
            trust_roots: None,
            log_key: None,
            witness_policy: None,
            trust_bundle_roots: false,
            now,
        }
    }
}

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Every CERTIFICATE block of a PEM buffer, as DER.
fn pem_certs(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let blocks = pem::parse_many(bytes).map_err(|e| format!("PEM: {e}"))?;
    let certs: Vec<Vec<u8>> = blocks
        .into_iter()
        .filter(|b| b.tag() == "CERTIFICATE")
        .map(|b| b.into_contents())
        .collect();
    if certs.is_empty() {
        return Err("no certificate in the PEM file".into());
    }
    if certs.len() > MAX_PEM_CERTS {
        return Err("too many certificates in the PEM file".into());
    }
    Ok(certs)
}

/// The trust anchors in force, and where they came from.
struct Trust {
    roots: Result<Vec<Vec<u8>>, String>,
    log: Result<Ed25519Verifier, String>,
    policy: Result<WitnessPolicy, String>,
}

fn trust(files: &BTreeMap<String, Vec<u8>>, opts: &VerifyOptions, report: &mut Report) -> Trust {
    let from_bundle = opts.trust_bundle_roots;
    let mut taken = Vec::new();
    let roots = match (&opts.trust_roots, from_bundle) {
        (Some(r), _) if !r.is_empty() => Ok(r.clone()),
        (_, true) => {
            taken.push("root certificates (roots.pem)");
            files
                .get(names::ROOTS)
                .ok_or_else(|| "the bundle has no roots.pem".to_owned())
                .and_then(|b| pem_certs(b))
        }
        _ => Err("no trusted root certificates given (--trust ROOTS.pem)".into()),
    };
    let log = match (&opts.log_key, from_bundle) {
        (Some(k), _) => Ed25519Verifier::from_vkey(k.trim()).map_err(|e| format!("log key: {e}")),
        (None, true) => {
            taken.push("log key (log.vkey)");
            files
                .get(names::LOG_KEY)
                .ok_or_else(|| "the bundle has no log.vkey".to_owned())
                .and_then(|b| {
                    let s =
                        std::str::from_utf8(b).map_err(|_| "log.vkey is not text".to_owned())?;
                    Ed25519Verifier::from_vkey(s.trim()).map_err(|e| format!("log key: {e}"))
                })
        }
        (None, false) => Err("no log key given (--log-key KEY)".into()),
    };
    let policy = match (&opts.witness_policy, from_bundle) {
        (Some(p), _) => Ok(p.clone()),
        (None, true) => {
            taken.push("witness keys and threshold (witness-policy.txt)");
            files
                .get(names::WITNESS_POLICY)
                .ok_or_else(|| "the bundle has no witness-policy.txt".to_owned())
                .and_then(|b| parse_policy(b).map_err(|e| e.to_string()))
        }
        (None, false) => Err("no witness policy given (--witness-policy FILE)".into()),
    };
    if !taken.is_empty() {
        report.warnings.push(format!(
            "TRUSTING THE BUNDLE'S OWN {}: anyone who can write a bundle can write these. \
             Compare them with the notary's published ones, or pass them explicitly.",
            taken.join(", ").to_uppercase()
        ));
    }
    Trust { roots, log, policy }
}

/// Verifies a bundle. Never fails: every problem is a check in the report.
pub fn verify_bundle(zip: &[u8], opts: &VerifyOptions) -> Report {
    let mut report = Report::default();
    let files = match read_zip(zip, &ZipLimits::default()) {
        Ok(f) => f,
        Err(e) => {
            report.push("bundle", "bundle", None, Status::CannotCheck, e.to_string());
            return report;
        }
    };
    let manifest = match files.get(names::MANIFEST).map(|m| Manifest::parse(m)) {
        Some(Ok(m)) => m,
        Some(Err(e)) => {
            report.push("bundle", "bundle", None, Status::CannotCheck, e.to_string());
            return report;
        }
        None => {
            report.push(
                "bundle",
                "bundle",
                None,
                Status::CannotCheck,
                "no manifest.json: not a notarium evidence bundle",
            );
            return report;
        }
    };
    check_hashes(&files, &manifest, &mut report);
    let trust = trust(&files, opts, &mut report);
    let mut facts = Vec::new();
    let mut n = 0;
    while let Some(entry_bytes) = files.get(&entry_path(n, names::ENTRY)) {
        facts.push(check_entry(
            n,
            entry_bytes,
            &files,
            &manifest,
            &trust,
            opts,
            &mut report,
        ));
        n += 1;
    }
    if n == 0 {
        report.push(
            "entries",
            "entry",
            None,
            Status::Fail,
            "the bundle holds no ledger entry (entries/0/entry.bin)",
        );
    }
    check_document(&facts, &manifest, opts, &mut report);
    check_history(&facts, &mut report);
    check_summary(&facts, &manifest, &mut report);
    report
}

fn check_hashes(files: &BTreeMap<String, Vec<u8>>, manifest: &Manifest, report: &mut Report) {
    let mut problems = Vec::new();
    for f in &manifest.files {
        match files.get(&f.path) {
            None => problems.push(format!("{} is missing", f.path)),
            Some(b) if hex::encode(sha256(b)) != f.sha256 => {
                problems.push(format!("{} does not match its SHA-256", f.path));
            }
            Some(_) => {}
        }
    }
    for name in files.keys() {
        if name != names::MANIFEST && manifest.digest_of(name).is_none() {
            problems.push(format!("{name} is not listed in the manifest"));
        }
    }
    if problems.is_empty() {
        report.push(
            "manifest/hashes",
            "manifest",
            None,
            Status::Pass,
            format!(
                "all {} files match the manifest's SHA-256",
                manifest.files.len()
            ),
        );
    } else {
        report.push(
            "manifest/hashes",
            "manifest",
            None,
            Status::Fail,
            problems.join("; "),
        );
    }
}

/// What one entry's checks established.
struct EntryFacts {
    entry: Option<Entry>,
    log_index: Option<u64>,
    token_time: Option<OffsetDateTime>,
}

fn check_entry(
    n: usize,
    bytes: &[u8],
    files: &BTreeMap<String, Vec<u8>>,
    manifest: &Manifest,
    trust: &Trust,
    opts: &VerifyOptions,
    report: &mut Report,
) -> EntryFacts {
    let id = |what: &str| format!("entries/{n}/{what}");
    let mut facts = EntryFacts {
        entry: None,
        log_index: None,
        token_time: None,
    };
    let entry = match Entry::decode(bytes) {
        Ok(e) => e,
        Err(e) => {
            report.push(
                id("entry"),
                "entry",
                Some(n),
                Status::Fail,
                format!("entry.bin: {e}"),
            );
            return facts;
        }
    };
    report.push(
        id("entry"),
        "entry",
        Some(n),
        Status::Pass,
        format!(
            "decodes: {} of record {}, document SHA-256 {}",
            kind_name(entry.kind),
            uuid::Uuid::from_bytes(entry.record_id),
            hex::encode(entry.document_sha256)
        ),
    );

    // Every copy of the entry's document in the bundle, found by name rather than through the
    // (unsigned) manifest: `entries/<n>/document.*`, and `document.*` for entry 0. The
    // caller's copy is checked against the record once, in `check_document`.
    let own = format!("entries/{n}/document.");
    let copies = files
        .iter()
        .filter(|(p, _)| p.starts_with(&own) || (n == 0 && p.starts_with("document.")));
    for (path, b) in copies {
        if sha256(b) == entry.document_sha256 {
            report.push(
                id("document"),
                "document",
                Some(n),
                Status::Pass,
                format!("{path} is the document the entry names"),
            );
        } else {
            report.push(
                id("document"),
                "document",
                Some(n),
                Status::Fail,
                format!("{path} is not the document the entry names (SHA-256 differs)"),
            );
        }
    }
    if let Some(p) = manifest
        .entries
        .get(n)
        .and_then(|m| m.document_file.as_ref())
        && !files.contains_key(p)
    {
        report.push(
            id("document"),
            "document",
            Some(n),
            Status::Fail,
            format!("{p} is named by the manifest but missing"),
        );
    }

    let cert = check_signature(n, &entry, files, report);
    let token_time = check_timestamp(n, &entry, files, trust, report);
    check_certificate_at(n, cert.as_deref(), token_time, files, trust, report);
    facts.log_index = check_log(n, bytes, files, trust, opts, report);
    facts.token_time = token_time;
    facts.entry = Some(entry);
    facts
}

/// Checks signature.der and certificate.pem against the entry and the signature over the
/// document digest; returns the certificate (DER) when it is the one the entry names.
fn check_signature(
    n: usize,
    entry: &Entry,
    files: &BTreeMap<String, Vec<u8>>,
    report: &mut Report,
) -> Option<Vec<u8>> {
    let id = format!("entries/{n}/signature");
    let cert_id = format!("entries/{n}/certificate");
    let cert = match files
        .get(&entry_path(n, names::SIGNER_CERT))
        .ok_or_else(|| "certificate.pem is missing".to_owned())
        .and_then(|b| pem_certs(b))
    {
        Ok(certs) => certs.into_iter().next(),
        Err(e) => {
            report.push(cert_id.clone(), "certificate", Some(n), Status::Fail, e);
            None
        }
    };
    let cert = match cert {
        Some(c) if sha256(&c) == entry.cert_fingerprint => Some(c),
        Some(_) => {
            report.push(
                cert_id,
                "certificate",
                Some(n),
                Status::Fail,
                "certificate.pem is not the certificate the entry names (SHA-256 differs)",
            );
            None
        }
        None => None,
    };
    match files.get(&entry_path(n, names::SIGNATURE)) {
        Some(s) if *s == entry.signature => {}
        _ => {
            report.push(
                id,
                "signature",
                Some(n),
                Status::Fail,
                "signature.der is missing or differs from the signature in the entry",
            );
            return cert;
        }
    }
    let Some(cert_der) = cert else {
        report.push(
            id,
            "signature",
            Some(n),
            Status::CannotCheck,
            "no usable signer certificate",
        );
        return None;
    };
    let verdict = x509_parser::certificate::X509Certificate::from_der(&cert_der)
        .map_err(|e| format!("certificate does not parse: {e}"))
        .and_then(|(_, c)| {
            VerifyingKey::from_sec1_bytes(&c.public_key().subject_public_key.data)
                .map_err(|_| "the certificate's key is not ECDSA P-256".to_owned())
        })
        .and_then(|key| {
            let sig = Signature::from_der(&entry.signature)
                .map_err(|_| "the signature is not DER ECDSA".to_owned())?;
            key.verify_prehash(&entry.document_sha256, &sig)
                .map_err(|_| "the signature does not verify over the document's SHA-256".to_owned())
        });
    match verdict {
        Ok(()) => report.push(
            id,
            "signature",
            Some(n),
            Status::Pass,
            "ECDSA P-256 signature over the document's SHA-256 verifies with the certificate's key",
        ),
        Err(e) => report.push(id, "signature", Some(n), Status::Fail, e),
    }
    Some(cert_der)
}

fn chain_of(n: usize, files: &BTreeMap<String, Vec<u8>>) -> Vec<Vec<u8>> {
    files
        .get(&entry_path(n, names::CHAIN))
        .and_then(|b| pem_certs(b).ok())
        .unwrap_or_default()
}

/// Checks the token against the entry and the trusted roots; returns its verified time.
fn check_timestamp(
    n: usize,
    entry: &Entry,
    files: &BTreeMap<String, Vec<u8>>,
    trust: &Trust,
    report: &mut Report,
) -> Option<OffsetDateTime> {
    let id = format!("entries/{n}/timestamp");
    let token = match files.get(&entry_path(n, names::TOKEN)) {
        Some(t) if sha256(t) == entry.token_sha256 => t,
        Some(_) => {
            report.push(
                id,
                "timestamp",
                Some(n),
                Status::Fail,
                "timestamp.tsr is not the token the entry names (SHA-256 differs)",
            );
            return None;
        }
        None => {
            report.push(
                id,
                "timestamp",
                Some(n),
                Status::Fail,
                "timestamp.tsr is missing",
            );
            return None;
        }
    };
    let roots = match &trust.roots {
        Ok(r) => r,
        Err(e) => {
            report.push(id, "timestamp", Some(n), Status::CannotCheck, e.clone());
            return None;
        }
    };
    let mut store = TrustStore::new();
    for r in roots {
        if let Err(e) = store.add_root_der(r.clone()) {
            report.push(id, "timestamp", Some(n), Status::CannotCheck, e.to_string());
            return None;
        }
    }
    for c in chain_of(n, files) {
        // Unparseable intermediates are just not offered; the path check will say why.
        let _ = store.add_intermediate_der(c);
    }
    match verify_token(token, HashAlgorithm::Sha256, &entry.document_sha256, &store) {
        Ok(v) => {
            report.push(
                id,
                "timestamp",
                Some(n),
                Status::Pass,
                format!(
                    "RFC 3161 token by {} over the document's SHA-256, time {}",
                    v.signer_subject,
                    super::certificate::format_utc(v.gen_time)
                ),
            );
            Some(v.gen_time)
        }
        Err(e) => {
            report.push(id, "timestamp", Some(n), Status::Fail, e.to_string());
            None
        }
    }
}

/// Checks the signer certificate's chain and revocation at the token's time.
fn check_certificate_at(
    n: usize,
    cert: Option<&[u8]>,
    at: Option<OffsetDateTime>,
    files: &BTreeMap<String, Vec<u8>>,
    trust: &Trust,
    report: &mut Report,
) {
    let id = format!("entries/{n}/certificate");
    let rev_id = format!("entries/{n}/revocation");
    let Some(cert) = cert else {
        // Already reported by the signature check.
        report.push(
            rev_id,
            "revocation",
            Some(n),
            Status::CannotCheck,
            "no usable certificate",
        );
        return;
    };
    let roots = match &trust.roots {
        Ok(r) => r,
        Err(e) => {
            report.push(id, "certificate", Some(n), Status::CannotCheck, e.clone());
            report.push(
                rev_id,
                "revocation",
                Some(n),
                Status::CannotCheck,
                e.clone(),
            );
            return;
        }
    };
    let Some(at) = at else {
        let why = "no verified time-stamp to check the certificate at";
        report.push(id, "certificate", Some(n), Status::CannotCheck, why);
        report.push(rev_id, "revocation", Some(n), Status::CannotCheck, why);
        return;
    };
    let chain = chain_of(n, files);
    let checked: CheckedCert =
        match check_certificate(cert, &chain, roots, at, &Revocations::default()) {
            Ok(c) => {
                report.push(
                    id,
                    "certificate",
                    Some(n),
                    Status::Pass,
                    format!(
                        "{} chains to a trusted root and was valid at the time-stamp",
                        c.subject
                    ),
                );
                c
            }
            Err(e) => {
                report.push(id, "certificate", Some(n), Status::Fail, e.to_string());
                report.push(
                    rev_id,
                    "revocation",
                    Some(n),
                    Status::CannotCheck,
                    "the certificate did not chain to a trusted root",
                );
                return;
            }
        };
    let Some(crl) = files.get(names::CRL) else {
        report.push(
            rev_id,
            "revocation",
            Some(n),
            Status::CannotCheck,
            "the bundle has no CRL",
        );
        return;
    };
    // Only CAs just proven to chain to a trusted root may vouch for the CRL.
    let issuers: Vec<Vec<u8>> = checked.chain.iter().skip(1).cloned().collect();
    let revs = match Revocations::from_crl(crl, &issuers) {
        Ok(r) => r,
        Err(e) => {
            report.push(rev_id, "revocation", Some(n), Status::Fail, e.to_string());
            return;
        }
    };
    let fmt = super::certificate::format_utc;
    match check_certificate(cert, &chain, roots, at, &revs) {
        Ok(_) => {
            let reason = match revs.revoked_at(&checked.serial) {
                Some(t) => format!(
                    "revoked at {}, after the time-stamp {}: the signature was made while valid",
                    fmt(t),
                    fmt(at)
                ),
                None => "not revoked according to the issuing CA's CRL".to_owned(),
            };
            report.push(rev_id, "revocation", Some(n), Status::Pass, reason);
        }
        Err(e) => report.push(
            rev_id,
            "revocation",
            Some(n),
            Status::Fail,
            format!("{e} (time-stamp {})", fmt(at)),
        ),
    }
}

/// Checks the tlog-proof (checkpoint signature, inclusion, witnesses) and the consistency
/// proof; returns the entry's verified log index.
fn check_log(
    n: usize,
    entry_bytes: &[u8],
    files: &BTreeMap<String, Vec<u8>>,
    trust: &Trust,
    opts: &VerifyOptions,
    report: &mut Report,
) -> Option<u64> {
    let cp_id = format!("entries/{n}/checkpoint");
    let inc_id = format!("entries/{n}/inclusion");
    let wit_id = format!("entries/{n}/witnesses");
    let proof = match files
        .get(&entry_path(n, names::PROOF))
        .ok_or_else(|| "proof.tlog-proof is missing".to_owned())
        .and_then(|b| TlogProof::parse(b).map_err(|e| format!("proof.tlog-proof: {e}")))
    {
        Ok(p) => p,
        Err(e) => {
            report.push(inc_id, "inclusion", Some(n), Status::Fail, e);
            return None;
        }
    };
    // The checkpoint, authenticated by the log key when there is one.
    let authenticated = match &trust.log {
        Ok(log) => match Checkpoint::open(proof.checkpoint.as_bytes(), log.name(), log) {
            Ok((cp, _)) => {
                report.push(
                    cp_id,
                    "checkpoint",
                    Some(n),
                    Status::Pass,
                    format!("signed by the log {} (tree size {})", log.name(), cp.size),
                );
                Some(cp)
            }
            Err(e) => {
                report.push(cp_id, "checkpoint", Some(n), Status::Fail, e.to_string());
                None
            }
        },
        Err(e) => {
            report.push(cp_id, "checkpoint", Some(n), Status::CannotCheck, e.clone());
            None
        }
    };
    let claimed = Note::parse(proof.checkpoint.as_bytes())
        .ok()
        .and_then(|note| Checkpoint::parse(note.text()).ok());
    let leaf = leaf_hash(entry_bytes);
    let mut index = None;
    match authenticated.as_ref().or(claimed.as_ref()) {
        Some(cp) => match verify_inclusion(proof.index, cp.size, &leaf, &proof.proof, &cp.root) {
            Ok(()) => {
                index = Some(proof.index);
                let whose = if authenticated.is_some() {
                    "the log-signed checkpoint"
                } else {
                    "the checkpoint (whose signature is not verified)"
                };
                report.push(
                    inc_id,
                    "inclusion",
                    Some(n),
                    Status::Pass,
                    format!("entry is leaf {} of {whose}, size {}", proof.index, cp.size),
                );
            }
            Err(e) => report.push(inc_id, "inclusion", Some(n), Status::Fail, e.to_string()),
        },
        None => report.push(
            inc_id,
            "inclusion",
            Some(n),
            Status::Fail,
            "the checkpoint does not parse",
        ),
    }
    let now = u64::try_from(opts.now.unix_timestamp()).ok();
    match (&trust.policy, Note::parse(proof.checkpoint.as_bytes())) {
        (Err(e), _) => report.push(wit_id, "witnesses", Some(n), Status::CannotCheck, e.clone()),
        (Ok(_), Err(e)) => report.push(wit_id, "witnesses", Some(n), Status::Fail, e.to_string()),
        (Ok(policy), Ok(note)) => match policy.check(&note, now) {
            Ok(w) => report.push(
                wit_id,
                "witnesses",
                Some(n),
                Status::Pass,
                format!(
                    "cosigned by {} witness(es), {} required: {}",
                    w.len(),
                    policy.threshold(),
                    w.iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            Err(e) => report.push(wit_id, "witnesses", Some(n), Status::Fail, e.to_string()),
        },
    }
    check_consistency(n, authenticated.as_ref(), files, trust, opts, report);
    index
}

fn check_consistency(
    n: usize,
    from: Option<&Checkpoint>,
    files: &BTreeMap<String, Vec<u8>>,
    trust: &Trust,
    opts: &VerifyOptions,
    report: &mut Report,
) {
    let id = format!("entries/{n}/consistency");
    let Some(json) = files.get(names::CONSISTENCY) else {
        return;
    };
    let item = parse_consistency(json, n);
    let item = match item {
        Ok(Some(i)) => i,
        Ok(None) => return,
        Err(e) => {
            report.push(id, "consistency", Some(n), Status::Fail, e);
            return;
        }
    };
    let (log, from) = match (&trust.log, from) {
        (Ok(log), Some(from)) => (log, from),
        (Err(e), _) => {
            report.push(id, "consistency", Some(n), Status::CannotCheck, e.clone());
            return;
        }
        (Ok(_), None) => {
            report.push(
                id,
                "consistency",
                Some(n),
                Status::CannotCheck,
                "the entry's checkpoint is not authenticated",
            );
            return;
        }
    };
    let later = files
        .get(names::LATER_CHECKPOINT)
        .ok_or_else(|| "checkpoint-later.txt is missing".to_owned())
        .and_then(|b| {
            Checkpoint::open(b, log.name(), log).map_err(|e| format!("later checkpoint: {e}"))
        });
    let (later, note) = match later {
        Ok(x) => x,
        Err(e) => {
            report.push(id, "consistency", Some(n), Status::Fail, e);
            return;
        }
    };
    if item.0 != from.size || item.1 != later.size {
        report.push(
            id,
            "consistency",
            Some(n),
            Status::Fail,
            "consistency.json names other tree sizes than the checkpoints",
        );
        return;
    }
    if let Err(e) = verify_consistency(from.size, later.size, &item.2, &from.root, &later.root) {
        report.push(id, "consistency", Some(n), Status::Fail, e.to_string());
        return;
    }
    let witnessed = match &trust.policy {
        Ok(p) => match p.check(&note, u64::try_from(opts.now.unix_timestamp()).ok()) {
            Ok(w) => format!(", cosigned by {}", w.len()),
            Err(e) => {
                report.push(
                    id,
                    "consistency",
                    Some(n),
                    Status::Fail,
                    format!("later checkpoint: {e}"),
                );
                return;
            }
        },
        Err(_) => String::new(),
    };
    report.push(
        id,
        "consistency",
        Some(n),
        Status::Pass,
        format!(
            "the tree of size {} is a prefix of the later log-signed tree of size {}{witnessed}",
            from.size, later.size
        ),
    );
}

/// `(old_size, new_size, hashes)` for entry `n`, if consistency.json lists it.
fn parse_consistency(json: &[u8], n: usize) -> Result<Option<(u64, u64, Vec<Hash>)>, String> {
    if json.len() > MAX_CONSISTENCY_LEN {
        return Err("consistency.json is too large".into());
    }
    let v: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| format!("consistency.json: {e}"))?;
    let proofs = v["proofs"]
        .as_array()
        .ok_or_else(|| "consistency.json has no proofs".to_owned())?;
    let Some(item) = proofs
        .iter()
        .find(|p| p["entry"].as_u64() == u64::try_from(n).ok())
    else {
        return Ok(None);
    };
    let bad = || "consistency.json: malformed proof".to_owned();
    let old = item["old_size"].as_u64().ok_or_else(bad)?;
    let new = item["new_size"].as_u64().ok_or_else(bad)?;
    let hashes = item["hashes"]
        .as_array()
        .ok_or_else(bad)?
        .iter()
        .take(crate::ledger::MAX_PROOF_LEN + 1)
        .map(|h| {
            let raw = STANDARD
                .decode(h.as_str().ok_or_else(bad)?)
                .map_err(|_| bad())?;
            Hash::try_from(raw.as_slice()).map_err(|_| bad())
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some((old, new, hashes)))
}

/// The caller's document against the record.
fn check_document(
    facts: &[EntryFacts],
    manifest: &Manifest,
    opts: &VerifyOptions,
    report: &mut Report,
) {
    let Some(doc) = &opts.document else {
        return;
    };
    let digest = sha256(doc);
    let first = facts.first().and_then(|f| f.entry.as_ref());
    match first {
        Some(e) if e.document_sha256 == digest => report.push(
            "document",
            "document",
            None,
            Status::Pass,
            format!(
                "the given document's SHA-256 {} is the record's",
                hex::encode(digest)
            ),
        ),
        Some(e) => report.push(
            "document",
            "document",
            None,
            Status::Fail,
            format!(
                "the given document's SHA-256 {} is not the record's {}",
                hex::encode(digest),
                hex::encode(e.document_sha256)
            ),
        ),
        None => report.push(
            "document",
            "document",
            None,
            Status::CannotCheck,
            format!(
                "no readable entry; the manifest names {}",
                manifest.record.document_sha256
            ),
        ),
    }
}

/// Later entries must belong to the record: same record, or referring to an earlier entry's.
fn check_history(facts: &[EntryFacts], report: &mut Report) {
    let entries: Vec<&Entry> = facts.iter().filter_map(|f| f.entry.as_ref()).collect();
    for (i, e) in entries.iter().enumerate().skip(1) {
        let belongs = entries[..i].iter().any(|earlier| {
            earlier.record_id == e.record_id || e.refers_to == Some(earlier.record_id)
        });
        if !belongs {
            report.push(
                format!("entries/{i}/history"),
                "entry",
                Some(i),
                Status::Fail,
                "this entry neither continues nor refers to an earlier entry of the record",
            );
        }
    }
}

/// The manifest's summary against the verified facts.
fn check_summary(facts: &[EntryFacts], manifest: &Manifest, report: &mut Report) {
    let mut problems = Vec::new();
    if manifest.entries.len() != facts.len() {
        problems.push(format!(
            "lists {} entries, the bundle holds {}",
            manifest.entries.len(),
            facts.len()
        ));
    }
    let time_eq = |s: &str, t: Option<OffsetDateTime>| match t {
        Some(t) => OffsetDateTime::parse(s, &Rfc3339).ok() == Some(t),
        None => true,
    };
    if let Some(f0) = facts.first()
        && let Some(e) = &f0.entry
    {
        let r = &manifest.record;
        if r.id != uuid::Uuid::from_bytes(e.record_id).to_string() {
            problems.push("record id differs from the entry's".into());
        }
        if r.org_id != uuid::Uuid::from_bytes(e.org_id).to_string() {
            problems.push("organisation id differs from the entry's".into());
        }
        if r.document_sha256 != hex::encode(e.document_sha256) {
            problems.push("document SHA-256 differs from the entry's".into());
        }
        if f0.log_index.is_some_and(|i| i != r.log_index) {
            problems.push("log index differs from the proof's".into());
        }
        if !time_eq(&r.token_time, f0.token_time) {
            problems.push("token time differs from the token's".into());
        }
    }
    for (i, (f, m)) in facts.iter().zip(&manifest.entries).enumerate() {
        let Some(e) = &f.entry else { continue };
        let same = m.dir == format!("entries/{i}")
            && m.kind == kind_name(e.kind)
            && m.record_id == uuid::Uuid::from_bytes(e.record_id).to_string()
            && m.document_sha256 == hex::encode(e.document_sha256)
            && f.log_index.is_none_or(|x| x == m.log_index)
            && time_eq(&m.token_time, f.token_time);
        if !same {
            problems.push(format!(
                "entry {i}'s summary differs from the verified entry"
            ));
        }
    }
    if problems.is_empty() {
        report.push(
            "manifest/summary",
            "manifest",
            None,
            Status::Pass,
            "the record summary agrees with the verified entries, proofs and tokens",
        );
    } else {
        report.push(
            "manifest/summary",
            "manifest",
            None,
            Status::Fail,
            problems.join("; "),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{EntryKind, Signer};

    fn entry(record: u8, refers: Option<u8>) -> EntryFacts {
        EntryFacts {
            entry: Some(Entry {
                kind: if refers.is_some() {
                    EntryKind::InvoiceStatus
                } else {
                    EntryKind::Invoice
                },
                record_id: [record; 16],
                org_id: [1; 16],
                cert_fingerprint: [2; 32],
                document_sha256: [3; 32],
                canonical_sha256: None,
                signer: Signer::Org,
                signature: vec![],
                token_sha256: [4; 32],
                refers_to: refers.map(|r| [r; 16]),
                detail: String::new(),
            }),
            log_index: None,
            token_time: None,
        }
    }

    #[test]
    fn history_must_hang_together() {
        let mut r = Report::default();
        check_history(&[entry(1, None), entry(2, Some(1)), entry(1, None)], &mut r);
        assert!(r.checks.is_empty(), "{r:?}");
        // A credit note of another invoice slipped into the bundle.
        check_history(&[entry(1, None), entry(3, Some(9))], &mut r);
        assert_eq!(r.checks.len(), 1);
        assert_eq!(r.checks[0].id, "entries/1/history");
        assert_eq!(r.checks[0].status, Status::Fail);
    }

    #[test]
    fn consistency_json_is_parsed_strictly() {
        let h = STANDARD.encode([7u8; 32]);
        let ok =
            format!(r#"{{"proofs":[{{"entry":1,"old_size":3,"new_size":5,"hashes":["{h}"]}}]}}"#);
        assert_eq!(
            parse_consistency(ok.as_bytes(), 1).unwrap(),
            Some((3, 5, vec![[7u8; 32]]))
        );
        assert_eq!(parse_consistency(ok.as_bytes(), 0).unwrap(), None);
        for bad in [
            "{}".to_owned(),
            "[".to_owned(),
            ok.replace(&h, "AAAA"),
            ok.replace("\"old_size\":3", "\"old_size\":-3"),
        ] {
            assert!(parse_consistency(bad.as_bytes(), 1).is_err(), "{bad}");
        }
    }
}
