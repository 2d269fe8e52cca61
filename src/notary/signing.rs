//! Organisation signatures on submissions: verify the org's `X-Signature` against its current
//! certificate (chain, validity and revocation checked at submission time), or sign on its
//! behalf with the custodial key the server keeps for it.
//!
//! Certificates and their check results are cached for a few seconds per organisation, so the
//! hot path (thousands of invoices a second) does not read the database per request; a
//! revocation takes effect within [`CACHE_TTL`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ring::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, UnparsedPublicKey,
};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::identity::certcheck::{CertError, Revocations, check_certificate};
use crate::identity::master_key::MasterKey;
use crate::identity::pki::NotaryPki;
use crate::store::{Store, StoreError, orgs};

/// How long a certificate check is reused.
pub const CACHE_TTL: Duration = Duration::from_secs(5);

/// Why a submission's signature was refused.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// The org has no valid certificate.
    #[error(
        "the organisation has no valid certificate; request one at /v1/orgs/{{id}}/certificates"
    )]
    NoCertificate,
    /// The certificate fails the chain / validity / revocation check.
    #[error("the organisation's certificate is not acceptable: {0}")]
    Certificate(#[from] CertError),
    /// `X-Signature` is not base64.
    #[error("X-Signature must be base64 of a DER ECDSA signature")]
    Malformed,
    /// The signature does not verify over the submitted bytes.
    #[error(
        "X-Signature does not verify over the submitted bytes with the organisation's certificate"
    )]
    BadSignature,
    /// No signature given and the org has no custodial key.
    #[error(
        "no X-Signature given and the organisation has no custodial key the server could sign with"
    )]
    NoCustodialKey,
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A custodial key did not open or load.
    #[error("custodial key: {0}")]
    Key(String),
}

/// A signature ready for the ledger entry.
#[derive(Debug, Clone)]
pub struct OrgSignature {
    /// DER ECDSA P-256 signature over the document bytes.
    pub signature: Vec<u8>,
    /// Who signed: the org itself or the server on its behalf.
    pub custodial: bool,
    /// SHA-256 of the certificate.
    pub cert_fingerprint: [u8; 32],
    /// The certificate (DER).
    pub cert_der: Arc<Vec<u8>>,
}

struct OrgCert {
    checked_at: Instant,
    cert_der: Arc<Vec<u8>>,
    fingerprint: [u8; 32],
    public_point: Vec<u8>,
    custodial: Option<Arc<EcdsaKeyPair>>,
}

/// Certificate checks and custodial keys per organisation.
#[derive(Default)]
pub struct Signatures {
    cache: Mutex<HashMap<Uuid, Arc<OrgCert>>>,
}

impl std::fmt::Debug for Signatures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signatures")
    }
}

impl Signatures {
    async fn org_cert(
        &self,
        store: &Store,
        pki: &NotaryPki,
        mk: &MasterKey,
        org_id: Uuid,
    ) -> Result<Arc<OrgCert>, SigningError> {
        {
            let g = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(c) = g.get(&org_id)
                && c.checked_at.elapsed() < CACHE_TTL
            {
                return Ok(c.clone());
            }
        }
        let conn = store.conn().await?;
        let row = orgs::current_certificate(&**conn, org_id)
            .await?
            .ok_or(SigningError::NoCertificate)?;
        let revocations = Revocations::new(orgs::revocations(&**conn).await?);
        drop(conn);
        check_certificate(
            &row.cert_der,
            std::slice::from_ref(&pki.issuing.cert_der),
            std::slice::from_ref(&pki.root.cert_der),
            OffsetDateTime::now_utc(),
            &revocations,
        )?;
        let (_, parsed) = x509_parser::parse_x509_certificate(&row.cert_der)
            .map_err(|_| SigningError::NoCertificate)?;
        let public_point = parsed.public_key().subject_public_key.data.to_vec();
        let custodial = match &row.sealed_key {
            Some(sealed) => {
                let label = crate::api::orgs::custodial_label(&row.serial);
                let pkcs8 = mk
                    .open(&label, sealed)
                    .map_err(|e| SigningError::Key(e.to_string()))?;
                let key = EcdsaKeyPair::from_pkcs8(
                    &ECDSA_P256_SHA256_ASN1_SIGNING,
                    &pkcs8,
                    &ring::rand::SystemRandom::new(),
                )
                .map_err(|e| SigningError::Key(e.to_string()))?;
                Some(Arc::new(key))
            }
            None => None,
        };
        let entry = Arc::new(OrgCert {
            checked_at: Instant::now(),
            fingerprint: Sha256::digest(&row.cert_der).into(),
            cert_der: Arc::new(row.cert_der),
            public_point,
            custodial,
        });
        let mut g = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        g.insert(org_id, entry.clone());
        Ok(entry)
    }

    /// Verifies `x_signature` (base64 DER) over `body`, or signs custodially when absent.
    pub async fn sign_or_verify(
        &self,
        store: &Store,
        pki: &NotaryPki,
        mk: &MasterKey,
        org_id: Uuid,
        body: &[u8],
        x_signature: Option<&str>,
    ) -> Result<OrgSignature, SigningError> {
        use base64::Engine;
        let cert = self.org_cert(store, pki, mk, org_id).await?;
        match x_signature {
            Some(b64) => {
                let sig = base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .map_err(|_| SigningError::Malformed)?;
                if sig.is_empty() || sig.len() > 80 {
                    return Err(SigningError::Malformed);
                }
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &cert.public_point)
                    .verify(body, &sig)
                    .map_err(|_| SigningError::BadSignature)?;
                Ok(OrgSignature {
                    signature: sig,
                    custodial: false,
                    cert_fingerprint: cert.fingerprint,
                    cert_der: cert.cert_der.clone(),
                })
            }
            None => {
                let key = cert
                    .custodial
                    .as_ref()
                    .ok_or(SigningError::NoCustodialKey)?;
                let sig = key
                    .sign(&ring::rand::SystemRandom::new(), body)
                    .map_err(|e| SigningError::Key(e.to_string()))?;
                Ok(OrgSignature {
                    signature: sig.as_ref().to_vec(),
                    custodial: true,
                    cert_fingerprint: cert.fingerprint,
                    cert_der: cert.cert_der.clone(),
                })
            }
        }
    }

    /// Forgets cached checks (after a revocation or a new certificate in this process).
    pub fn invalidate(&self, org_id: Uuid) {
        let mut g = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        g.remove(&org_id);
    }
}
