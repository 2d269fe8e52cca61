//! Test support: a realistic record history made from real pieces — a notary PKI, an org key
//! and certificate, a TSA under the notary's issuing CA, a small log with two witnesses — and
//! the bundle built from it.

use rcgen::{DistinguishedName, DnType, KeyPair, PublicKeyData};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::identity::pki::{NotaryPki, OrgSubject, Revoked, new_key};
use crate::ledger::{
    ALG_COSIGNATURE_V1, ALG_ED25519, Checkpoint, CosignatureVerifier, Ed25519Signer, Entry,
    EntryKind, Hash, Signer, TlogProof, WitnessPolicy, cosign, leaf_hash,
    reference_consistency_proof, reference_inclusion_proof, root_of,
};
use crate::timestamp::{
    HashAlgorithm, TimeStampRequest, TokenParams, TsaSigner, generate_tsa_key,
    issue_tsa_certificate,
};

use super::input::{BundleInput, DocumentFile, EntryInput, RecordSummary};
use super::verify::VerifyOptions;

/// The log's origin in tests.
pub const ORIGIN: &str = "notarium.test/log";
/// The invoice notarized.
pub const INVOICE: &[u8] =
    b"<Invoice><ID>INV-2026-0001</ID><Total currency=\"CNY\">1210.00</Total></Invoice>\n";
/// Its credit note.
pub const CREDIT_NOTE: &[u8] =
    b"<CreditNote><ID>CN-2026-0001</ID><Credits>INV-2026-0001</Credits></CreditNote>\n";

/// Everything a test needs to build, verify and tamper with a bundle.
pub struct Fixture {
    /// The notary PKI.
    pub pki: NotaryPki,
    /// The log key.
    pub log: Ed25519Signer,
    /// Two witnesses (policy: 1 of 2; both cosign).
    pub witnesses: Vec<Ed25519Signer>,
    /// When the fixture was made.
    pub now: OffsetDateTime,
    /// The builder input.
    pub input: BundleInput,
}

fn sha256(d: &[u8]) -> [u8; 32] {
    Sha256::digest(d).into()
}

fn sign(pkcs8: &[u8], data: &[u8]) -> Vec<u8> {
    let rng = SystemRandom::new();
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8, &rng).unwrap();
    key.sign(&rng, data).unwrap().as_ref().to_vec()
}

impl Fixture {
    /// An invoice and its credit note, both proven, with a later checkpoint.
    pub fn new() -> Self {
        Self::with_revocation(None)
    }

    /// As [`Fixture::new`], with the org certificate revoked `offset` after the first token
    /// time (negative: before it) in the bundle's CRL.
    pub fn with_revocation(offset: Option<Duration>) -> Self {
        let now = OffsetDateTime::now_utc();
        let pki = NotaryPki::generate().unwrap();
        let org_id = uuid::Uuid::new_v4();
        let org_key = new_key().unwrap();
        let org_pkcs8 = org_key.serialize_der();
        let cert = pki
            .issue_org_cert(
                &OrgSubject {
                    org_id,
                    name: "平安财产保险 Ping An P&C".into(),
                    tax_id: Some("91440300100012316L".into()),
                },
                &org_key.subject_public_key_info(),
                365,
                "http://notarium.test/v1/crl",
            )
            .unwrap();

        let tsa_key: KeyPair = generate_tsa_key().unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "notarium TSA");
        let tsa_cert = issue_tsa_certificate(
            dn,
            now - Duration::minutes(4),
            now + Duration::days(365),
            &tsa_key,
            &pki.issuer().unwrap(),
        )
        .unwrap();
        let tsa = TsaSigner::new(
            &tsa_key.serialize_der(),
            tsa_cert.der().to_vec(),
            vec![pki.issuing.cert_der.clone()],
        )
        .unwrap();

        let log = Ed25519Signer::generate(ORIGIN, ALG_ED25519).unwrap();
        let witnesses: Vec<Ed25519Signer> = ["w1.test", "w2.test"]
            .iter()
            .map(|n| Ed25519Signer::generate(n, ALG_COSIGNATURE_V1).unwrap())
            .collect();

        // Token times whole milliseconds, a little in the past, after the PKI came to be.
        let t0 = now - Duration::minutes(2);
        let token_time = t0.replace_millisecond(t0.millisecond()).unwrap();
        let record_id = uuid::Uuid::new_v4();
        let credit_id = uuid::Uuid::new_v4();
        let make = |kind, rec: uuid::Uuid, doc: &[u8], refers, detail: &str, serial, at| {
            let digest = sha256(doc);
            let req = TimeStampRequest::for_digest(HashAlgorithm::Sha256, &digest).unwrap();
            let token = tsa
                .token(
                    &req,
                    &TokenParams {
                        policy: der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.99999.7"),
                        serial,
                        gen_time: at,
                        fraction_digits: 3,
                        accuracy: None,
                        signing_time: false,
                        tsa_name: false,
                    },
                )
                .unwrap();
            let entry = Entry {
                kind,
                record_id: *rec.as_bytes(),
                org_id: *org_id.as_bytes(),
                cert_fingerprint: sha256(&cert.der),
                document_sha256: digest,
                canonical_sha256: None,
                signer: Signer::Org,
                signature: sign(&org_pkcs8, doc),
                token_sha256: sha256(&token),
                refers_to: refers,
                detail: detail.into(),
            };
            (entry.encode().unwrap(), token)
        };
        let (e0, tok0) = make(
            EntryKind::Invoice,
            record_id,
            INVOICE,
            None,
            "invoice INV-2026-0001",
            1,
            token_time,
        );
        let (e1, tok1) = make(
            EntryKind::InvoiceStatus,
            credit_id,
            CREDIT_NOTE,
            Some(*record_id.as_bytes()),
            "credit 1210.00 CNY",
            2,
            token_time + Duration::seconds(30),
        );

        // The log: entry 0 at index 5 (checkpoint of 7), entry 1 at 8 (of 10), later 13.
        let mut leaves: Vec<Hash> = (0u8..13).map(|i| leaf_hash(&[b'f', i])).collect();
        leaves[5] = leaf_hash(&e0);
        leaves[8] = leaf_hash(&e1);
        let cosign_time = u64::try_from(now.unix_timestamp()).unwrap() - 60;
        let note = |size: usize| {
            let mut note = Checkpoint::new(ORIGIN, size as u64, root_of(&leaves[..size]))
                .sign(&log)
                .unwrap();
            for w in &witnesses {
                note.add_signature(cosign(w, note.text(), cosign_time).unwrap())
                    .unwrap();
            }
            note.to_text()
        };
        let proof = |index: usize, size: usize| {
            TlogProof {
                extra: None,
                index: index as u64,
                proof: reference_inclusion_proof(&leaves[..size], index as u64).unwrap(),
                checkpoint: note(size),
            }
            .to_text()
        };
        let chain = vec![pki.issuing.cert_der.clone()];
        let entries = vec![
            EntryInput {
                entry: e0,
                certificate_der: cert.der.clone(),
                chain_der: chain.clone(),
                token_der: tok0,
                token_time,
                proof: proof(5, 7),
                consistency: Some(reference_consistency_proof(&leaves, 7).unwrap()),
                document: None,
            },
            EntryInput {
                entry: e1,
                certificate_der: cert.der.clone(),
                chain_der: chain,
                token_der: tok1,
                token_time: token_time + Duration::seconds(30),
                proof: proof(8, 10),
                consistency: Some(reference_consistency_proof(&leaves, 10).unwrap()),
                document: Some(DocumentFile {
                    extension: "xml".into(),
                    bytes: CREDIT_NOTE.to_vec(),
                }),
            },
        ];
        let revoked: Vec<Revoked> = offset
            .map(|o| Revoked {
                serial: cert.serial.clone(),
                at: token_time + o,
            })
            .into_iter()
            .collect();
        let crl = pki.crl(1, &revoked).unwrap();
        let input = BundleInput {
            record: RecordSummary {
                id: record_id,
                kind: "invoice".into(),
                org_id,
                org_name: "平安财产保险 Ping An P&C".into(),
                document_sha256: sha256(INVOICE),
            },
            document: Some(DocumentFile {
                extension: "xml".into(),
                bytes: INVOICE.to_vec(),
            }),
            entries,
            roots_der: vec![pki.root.cert_der.clone()],
            log_vkey: log.verifier().to_vkey(),
            witness_vkeys: witnesses.iter().map(|w| w.verifier().to_vkey()).collect(),
            witness_threshold: 1,
            crl_der: Some(crl),
            later_checkpoint: Some(note(13)),
            generated_at: now,
        };
        Fixture {
            pki,
            log,
            witnesses,
            now,
            input,
        }
    }

    /// The witness policy the fixture's checkpoints meet.
    pub fn policy(&self) -> WitnessPolicy {
        WitnessPolicy::new(
            1,
            self.witnesses
                .iter()
                .map(|w| CosignatureVerifier::new(w.verifier()).unwrap())
                .collect(),
        )
        .unwrap()
    }

    /// Options trusting the fixture's root, log key and witnesses.
    pub fn options(&self) -> VerifyOptions {
        VerifyOptions {
            document: Some(INVOICE.to_vec()),
            trust_roots: Some(vec![self.pki.root.cert_der.clone()]),
            log_key: Some(self.log.verifier().to_vkey()),
            witness_policy: Some(self.policy()),
            trust_bundle_roots: false,
            now: self.now + Duration::minutes(1),
        }
    }

    /// The bundle.
    pub fn zip(&self) -> Vec<u8> {
        super::build_bundle(&self.input).unwrap()
    }
}
