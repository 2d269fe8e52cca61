//! The notary PKI: a root CA and an issuing CA (ECDSA P-256, rcgen), and the profiles of the
//! certificates the issuing CA signs (organisations) and of its CRL.
//!
//! Pure: key material comes in and certificates come out; storing (sealed) keys is `store::keys`.

use rand::RngCore;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CrlDistributionPoint,
    DistinguishedName, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
    RevokedCertParams, SerialNumber, SubjectPublicKeyInfo,
};
use time::{Duration, OffsetDateTime};

use super::IdentityError;

/// A CA certificate with its key.
pub struct CaKey {
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// The key pair (PKCS#8 inside).
    pub key: KeyPair,
}

impl std::fmt::Debug for CaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaKey").finish_non_exhaustive()
    }
}

/// The notary's two CAs.
#[derive(Debug)]
pub struct NotaryPki {
    /// Self-signed root: what courts and `openssl verify -CAfile` trust.
    pub root: CaKey,
    /// Signs organisation, TSA certificates and the CRL.
    pub issuing: CaKey,
}

/// The subject of an organisation certificate, from the org record.
#[derive(Debug, Clone)]
pub struct OrgSubject {
    /// The organisation id (put in the subject's serialNumber attribute).
    pub org_id: uuid::Uuid,
    /// Legal name.
    pub name: String,
    /// Tax id (USCC or VAT id), put in organizationIdentifier (2.5.4.97).
    pub tax_id: Option<String>,
}

/// A freshly issued certificate.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    /// DER.
    pub der: Vec<u8>,
    /// Serial number bytes (positive, 16 bytes).
    pub serial: Vec<u8>,
    /// Validity start.
    pub not_before: OffsetDateTime,
    /// Validity end.
    pub not_after: OffsetDateTime,
}

/// One revoked certificate for the CRL.
#[derive(Debug, Clone)]
pub struct Revoked {
    /// Its serial number.
    pub serial: Vec<u8>,
    /// From when it is revoked.
    pub at: OffsetDateTime,
}

/// Generates a new P-256 key pair.
pub fn new_key() -> Result<KeyPair, IdentityError> {
    Ok(KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?)
}

/// Loads a P-256 key pair from PKCS#8 DER.
pub fn key_from_pkcs8(der: &[u8], label: &str) -> Result<KeyPair, IdentityError> {
    KeyPair::from_pkcs8_der_and_sign_algo(&der.into(), &PKCS_ECDSA_P256_SHA256)
        .map_err(|_| IdentityError::Damaged(label.to_string()))
}

/// A positive random 128-bit serial number.
pub fn random_serial() -> Vec<u8> {
    let mut s = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut s);
    s[0] &= 0x7f;
    s[0] |= 0x01; // no leading zero byte, so the DER INTEGER is exactly these 16 bytes
    s.to_vec()
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "notarium");
    dn.push(DnType::CommonName, cn);
    dn
}

fn ca_params(cn: &str, years: i64, constraint: BasicConstraints) -> CertificateParams {
    let now = OffsetDateTime::now_utc();
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(cn);
    p.is_ca = IsCa::Ca(constraint);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = now - Duration::minutes(5);
    p.not_after = now + Duration::days(365 * years);
    p.serial_number = Some(SerialNumber::from_slice(&random_serial()));
    p.use_authority_key_identifier_extension = true;
    p
}

impl NotaryPki {
    /// Creates a new root (20 years) and issuing CA (10 years, path length 0).
    pub fn generate() -> Result<Self, IdentityError> {
        let root_key = new_key()?;
        let root_params = ca_params("notarium Root CA", 20, BasicConstraints::Unconstrained);
        let root_cert = root_params.self_signed(&root_key)?;
        let issuing_key = new_key()?;
        let issuing_params = ca_params("notarium Issuing CA", 10, BasicConstraints::Constrained(0));
        let root_issuer = Issuer::from_params(&root_params, &root_key);
        let issuing_cert = issuing_params.signed_by(&issuing_key, &root_issuer)?;
        Ok(Self {
            root: CaKey {
                cert_der: root_cert.der().to_vec(),
                key: root_key,
            },
            issuing: CaKey {
                cert_der: issuing_cert.der().to_vec(),
                key: issuing_key,
            },
        })
    }

    /// The issuing CA as an rcgen issuer.
    pub fn issuer(&self) -> Result<Issuer<'_, &KeyPair>, IdentityError> {
        Ok(Issuer::from_ca_cert_der(
            &self.issuing.cert_der.as_slice().into(),
            &self.issuing.key,
        )?)
    }

    /// Root then issuing certificate, PEM.
    pub fn chain_pem(&self) -> String {
        let mut out = pem_cert(&self.root.cert_der);
        out.push_str(&pem_cert(&self.issuing.cert_der));
        out
    }

    /// Issues an organisation certificate for the public key `spki_der`.
    ///
    /// Profile: digitalSignature + nonRepudiation, the org's name, id and tax id in the subject,
    /// a CRL distribution point, `validity_days` from now (starting 5 minutes back for clock
    /// skew).
    pub fn issue_org_cert(
        &self,
        subject: &OrgSubject,
        spki_der: &[u8],
        validity_days: u32,
        crl_url: &str,
    ) -> Result<IssuedCert, IdentityError> {
        let public = SubjectPublicKeyInfo::from_der(spki_der)?;
        let now = OffsetDateTime::now_utc();
        let serial = random_serial();
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, subject.name.as_str());
        dn.push(DnType::OrganizationName, subject.name.as_str());
        dn.push(
            DnType::CustomDnType(vec![2, 5, 4, 5]),
            subject.org_id.to_string(),
        );
        if let Some(tax) = &subject.tax_id {
            dn.push(DnType::CustomDnType(vec![2, 5, 4, 97]), tax.as_str());
        }
        p.distinguished_name = dn;
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::ContentCommitment,
        ];
        p.not_before = now - Duration::minutes(5);
        p.not_after = now + Duration::days(i64::from(validity_days));
        p.serial_number = Some(SerialNumber::from_slice(&serial));
        p.use_authority_key_identifier_extension = true;
        p.crl_distribution_points = vec![CrlDistributionPoint {
            uris: vec![crl_url.to_string()],
        }];
        let cert = p.signed_by(&public, &self.issuer()?)?;
        Ok(IssuedCert {
            der: cert.der().to_vec(),
            serial,
            not_before: p.not_before,
            not_after: p.not_after,
        })
    }

    /// Signs a CRL listing `revoked`, valid for 7 days.
    pub fn crl(&self, number: u64, revoked: &[Revoked]) -> Result<Vec<u8>, IdentityError> {
        let now = OffsetDateTime::now_utc();
        let params = CertificateRevocationListParams {
            this_update: now - Duration::minutes(1),
            next_update: now + Duration::days(7),
            crl_number: SerialNumber::from_slice(&number.max(1).to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|r| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&r.serial),
                    revocation_time: r.at,
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        Ok(params.signed_by(&self.issuer()?)?.der().to_vec())
    }
}

/// One certificate as PEM.
pub fn pem_cert(der: &[u8]) -> String {
    pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::PublicKeyData;

    #[test]
    fn org_certificate_carries_the_profile() {
        let pki = NotaryPki::generate().unwrap();
        let key = new_key().unwrap();
        let subject = OrgSubject {
            org_id: uuid::Uuid::new_v4(),
            name: "Ping An Insurance".into(),
            tax_id: Some("91440300100012316L".into()),
        };
        let cert = pki
            .issue_org_cert(
                &subject,
                &key.subject_public_key_info(),
                30,
                "http://x/v1/crl",
            )
            .unwrap();
        let (_, x) = x509_parser::parse_x509_certificate(&cert.der).unwrap();
        assert!(x.subject().to_string().contains("Ping An Insurance"));
        assert!(x.subject().to_string().contains("91440300100012316L"));
        let ku = x.key_usage().unwrap().unwrap().value;
        assert!(ku.digital_signature() && ku.non_repudiation() && !ku.key_cert_sign());
        assert_eq!(x.raw_serial(), cert.serial.as_slice());
        // Signed by the issuing CA.
        let (_, issuing) = x509_parser::parse_x509_certificate(&pki.issuing.cert_der).unwrap();
        x.verify_signature(Some(issuing.public_key())).unwrap();
        assert_eq!(x.issuer(), issuing.subject());
    }
}
