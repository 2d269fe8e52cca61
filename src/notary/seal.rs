//! The notary seal: the server's own signing identity for what it attests itself (a contract
//! executed, the closing PAdES signature of an executed contract PDF). A P-256 key with a
//! certificate from the issuing CA, created on first start and stored sealed with the master
//! key, like the TSA key (`server_keys`, name `notary-seal`; several processes starting
//! together agree on one key).
//!
//! PAdES signatures made on a party's behalf get a one-time identity instead
//! ([`NotarySeal::on_behalf_signer`]): a fresh key, never stored, certified by the issuing CA
//! as "notarium Notary Seal for <party>". Viewers then name the party represented, and no
//! certificate signs twice in one PDF, which poppler/NSS needs once a signature carries the
//! party's evidence (see `documents::contract::CadesSigner`).

use rcgen::{
    CertificateParams, CrlDistributionPoint, DistinguishedName, DnType, IsCa, KeyUsagePurpose,
    PublicKeyData, SerialNumber,
};
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use super::signing::OrgSignature;
use crate::config::Config;
use crate::documents::contract::{CadesSigner, ContractError};
use crate::identity::IdentityError;
use crate::identity::master_key::MasterKey;
use crate::identity::pki::{NotaryPki, key_from_pkcs8, new_key, random_serial};
use crate::store::Store;
use crate::store::keys::{self, KeyStoreError};

/// The name of the seal key in `server_keys`.
const KEY_NAME: &str = "notary-seal";
/// The seal certificate's common name.
pub const SEAL_NAME: &str = "notarium Notary Seal";
/// X.520's upper bound on a common name, in characters.
const MAX_CN: usize = 64;
/// Validity of the seal certificate and of one-time certificates, at most (the issuing CA's
/// end bounds both).
const VALIDITY_DAYS: i64 = 365 * 10;

/// Errors of the notary seal.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// Key storage.
    #[error(transparent)]
    Keys(#[from] KeyStoreError),
    /// Certificate issuance or key material.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The stored key is unusable or signing failed.
    #[error("notary seal: {0}")]
    Key(String),
}

impl From<rcgen::Error> for SealError {
    fn from(e: rcgen::Error) -> Self {
        Self::Identity(e.into())
    }
}

/// The seal's key and certificate.
pub struct NotarySeal {
    crl_url: String,
    key: EcdsaKeyPair,
    pkcs8: zeroize::Zeroizing<Vec<u8>>,
    cert_der: Vec<u8>,
    issuing_der: Vec<u8>,
    fingerprint: [u8; 32],
}

impl std::fmt::Debug for NotarySeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // never print the key
        f.debug_struct("NotarySeal").finish_non_exhaustive()
    }
}

/// A seal certificate for `key`: like an organisation's (digitalSignature +
/// nonRepudiation, a CRL distribution point), subject `O=notarium, CN=<cn>` (plus the
/// serialNumber attribute when given), valid ten years or until the issuing CA ends,
/// whichever is first.
fn issue_certificate(
    pki: &NotaryPki,
    key: &rcgen::KeyPair,
    cn: &str,
    serial_attribute: Option<&str>,
    crl_url: &str,
) -> Result<Vec<u8>, SealError> {
    let now = OffsetDateTime::now_utc();
    let issuing_end = x509_parser::parse_x509_certificate(&pki.issuing.cert_der)
        .map(|(_, c)| c.validity().not_after.timestamp())
        .ok()
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .unwrap_or(now);
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "notarium");
    dn.push(DnType::CommonName, cn);
    if let Some(s) = serial_attribute {
        dn.push(DnType::CustomDnType(vec![2, 5, 4, 5]), s);
    }
    p.distinguished_name = dn;
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::ContentCommitment,
    ];
    p.not_before = now - Duration::minutes(5);
    p.not_after = (now + Duration::days(VALIDITY_DAYS)).min(issuing_end);
    p.serial_number = Some(SerialNumber::from_slice(&random_serial()));
    p.use_authority_key_identifier_extension = true;
    p.crl_distribution_points = vec![CrlDistributionPoint {
        uris: vec![crl_url.to_string()],
    }];
    Ok(p.signed_by(key, &pki.issuer()?)?.der().to_vec())
}

impl NotarySeal {
    /// Loads the seal key and certificate, creating them on first start.
    pub async fn open(
        store: &Store,
        mk: &MasterKey,
        pki: &NotaryPki,
        config: &Config,
    ) -> Result<Self, SealError> {
        let client = store
            .dedicated()
            .await
            .map_err(|e| SealError::Keys(e.into()))?;
        if keys::load_key(&client, mk, KEY_NAME).await?.is_none() {
            let key = new_key()?;
            let cert = issue_certificate(pki, &key, SEAL_NAME, None, &crl_url(config))?;
            if keys::insert_key(
                &client,
                mk,
                KEY_NAME,
                Some(&cert),
                &key.subject_public_key_info(),
                key.serialized_der(),
            )
            .await?
            {
                tracing::info!("created the notary seal key and certificate");
            }
        }
        let stored = keys::load_key(&client, mk, KEY_NAME)
            .await?
            .ok_or_else(|| IdentityError::Damaged(KEY_NAME.into()))?;
        key_from_pkcs8(&stored.secret, KEY_NAME)?;
        let cert_der = stored
            .cert_der
            .ok_or_else(|| IdentityError::Damaged(KEY_NAME.into()))?;
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_ASN1_SIGNING,
            &stored.secret,
            &ring::rand::SystemRandom::new(),
        )
        .map_err(|e| SealError::Key(e.to_string()))?;
        Ok(Self {
            crl_url: crl_url(config),
            key,
            fingerprint: Sha256::digest(&cert_der).into(),
            pkcs8: stored.secret,
            cert_der,
            issuing_der: pki.issuing.cert_der.clone(),
        })
    }

    /// The seal certificate (DER).
    pub fn certificate_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// SHA-256 of the seal certificate.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    /// The seal's DER ECDSA P-256 / SHA-256 signature over `bytes`, as a ledger entry
    /// carries it (`signer` custodial: the server signs, with its own seal).
    ///
    /// # Errors
    /// `Key` if signing fails.
    pub fn sign(&self, bytes: &[u8]) -> Result<OrgSignature, SealError> {
        let sig = self
            .key
            .sign(&ring::rand::SystemRandom::new(), bytes)
            .map_err(|e| SealError::Key(e.to_string()))?;
        Ok(OrgSignature {
            signature: sig.as_ref().to_vec(),
            custodial: true,
            cert_fingerprint: self.fingerprint,
            cert_der: std::sync::Arc::new(self.cert_der.clone()),
        })
    }

    /// A one-time PAdES signer for a signature made on behalf of party `party_id` named
    /// `party_name`: a fresh key, dropped with the signer, and its certificate (DER) from the
    /// issuing CA, subject `O=notarium, CN=notarium Notary Seal for <name>,
    /// serialNumber=<party id>`.
    ///
    /// # Errors
    /// `Identity` when the key or certificate cannot be made.
    pub fn on_behalf_signer(
        &self,
        pki: &NotaryPki,
        party_id: uuid::Uuid,
        party_name: &str,
    ) -> Result<(CadesSigner, Vec<u8>), SealError> {
        let key = new_key()?;
        let cn = on_behalf_name(party_name);
        let cert = issue_certificate(pki, &key, &cn, Some(&party_id.to_string()), &self.crl_url)?;
        let signer = CadesSigner::new(
            key.serialized_der(),
            &cert,
            std::slice::from_ref(&pki.issuing.cert_der),
        )
        .map_err(|e| SealError::Key(e.to_string()))?;
        Ok((signer, cert))
    }

    /// A PAdES signer with the seal's key, certificate and the issuing CA.
    ///
    /// # Errors
    /// `Signer` if the stored key and certificate do not match.
    pub fn cades_signer(&self) -> Result<CadesSigner, ContractError> {
        CadesSigner::new(
            &self.pkcs8,
            &self.cert_der,
            std::slice::from_ref(&self.issuing_der),
        )
    }
}

/// The CRL location written into seal certificates.
fn crl_url(config: &Config) -> String {
    format!("{}/v1/crl", config.public_url.trim_end_matches('/'))
}

/// `notarium Notary Seal for <name>`, printable, at most [`MAX_CN`] characters.
pub fn on_behalf_name(party_name: &str) -> String {
    let prefix = format!("{SEAL_NAME} for ");
    let room = MAX_CN.saturating_sub(prefix.chars().count());
    let name: String = party_name
        .chars()
        .filter(|c| !c.is_control())
        .take(room)
        .collect();
    format!("{prefix}{}", name.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seal_certificate_is_a_signing_certificate_from_the_issuing_ca() {
        let pki = NotaryPki::generate().unwrap();
        let key = new_key().unwrap();
        let der =
            issue_certificate(&pki, &key, SEAL_NAME, None, "http://127.0.0.1:8080/v1/crl").unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert_eq!(
            cert.subject().to_string(),
            "O=notarium, CN=notarium Notary Seal"
        );
        let ku = cert.key_usage().unwrap().unwrap().value;
        assert!(ku.digital_signature() && ku.non_repudiation() && !ku.key_cert_sign());
        assert!(!cert.is_ca());
        let (_, issuing) = x509_parser::parse_x509_certificate(&pki.issuing.cert_der).unwrap();
        cert.verify_signature(Some(issuing.public_key())).unwrap();
        // it signs PAdES with the issuing CA in its chain
        let signer = CadesSigner::new(
            key.serialized_der(),
            &der,
            std::slice::from_ref(&pki.issuing.cert_der),
        )
        .unwrap();
        assert!(signer.subject().contains(SEAL_NAME));
        // the chain checks as an organisation certificate does
        crate::identity::certcheck::check_certificate(
            &der,
            std::slice::from_ref(&pki.issuing.cert_der),
            std::slice::from_ref(&pki.root.cert_der),
            OffsetDateTime::now_utc(),
            &crate::identity::certcheck::Revocations::default(),
        )
        .unwrap();
    }

    #[test]
    fn a_one_time_certificate_names_the_party() {
        let pki = NotaryPki::generate().unwrap();
        let key = new_key().unwrap();
        let party = uuid::Uuid::from_u128(7);
        let der = issue_certificate(
            &pki,
            &key,
            &on_behalf_name("Insurer A"),
            Some(&party.to_string()),
            "http://x/v1/crl",
        )
        .unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        let subject = cert.subject().to_string();
        assert!(
            subject.contains("CN=notarium Notary Seal for Insurer A"),
            "{subject}"
        );
        assert!(subject.contains(&party.to_string()), "{subject}");
    }

    #[test]
    fn on_behalf_names_fit_a_common_name() {
        assert_eq!(
            on_behalf_name("Insurer A"),
            "notarium Notary Seal for Insurer A"
        );
        let long = on_behalf_name(&"张".repeat(100));
        assert_eq!(long.chars().count(), MAX_CN);
        assert_eq!(on_behalf_name("a\nb"), "notarium Notary Seal for ab");
    }
}
