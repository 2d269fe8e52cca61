//! The CMS side of a PAdES signature: building a CAdES-detached `SignedData` (RFC 5652,
//! ETSI EN 319 122-1 baseline B-T) with ECDSA P-256 through `ring`, and reading one back as
//! raw DER for verification.
//!
//! Signed attributes are exactly contentType (id-data), messageDigest and
//! signingCertificateV2; PAdES forbids signingTime here, the time comes from the signature
//! time-stamp (id-aa-signatureTimeStampToken, an unsigned attribute over the signature
//! value). Verification walks the original bytes and checks the signature over the signed
//! attributes as they were signed, never over a re-encoding.

use crate::timestamp::der_walk::{Tlv, Walker};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{Int, ObjectIdentifier as Oid, OctetString, SetOfVec};
use der::{Any, Decode, Encode, Sequence, Tag};
use ring::rand::SystemRandom;
use ring::signature::{self as sig, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::{GeneralName, GeneralNames};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;

use crate::documents::contract::error::ContractError;

/// id-data (RFC 5652 section 4).
pub(crate) const ID_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.1");
/// id-signedData (RFC 5652 section 5.1).
pub(crate) const ID_SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
/// contentType attribute (RFC 5652 section 11.1).
pub(crate) const ATTR_CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
/// messageDigest attribute (RFC 5652 section 11.2).
pub(crate) const ATTR_MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
/// signingTime attribute (RFC 5652 section 11.3), which PAdES baseline forbids.
pub(crate) const ATTR_SIGNING_TIME: Oid = Oid::new_unwrap("1.2.840.113549.1.9.5");
/// id-aa-signingCertificateV2 (RFC 5035).
pub(crate) const ATTR_SIGNING_CERTIFICATE_V2: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.47");
/// id-aa-signatureTimeStampToken (RFC 3161 appendix A).
pub(crate) const ATTR_SIGNATURE_TIME_STAMP: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.14");
/// SHA-256.
const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
/// SHA-384.
const SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
/// SHA-512.
const SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");
/// ecdsa-with-SHA256.
const ECDSA_WITH_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
/// ecdsa-with-SHA384.
const ECDSA_WITH_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
/// id-ecPublicKey (some signers write it as the signature algorithm).
const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
/// rsaEncryption.
const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
/// sha256WithRSAEncryption.
const SHA256_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
/// sha384WithRSAEncryption.
const SHA384_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
/// sha512WithRSAEncryption.
const SHA512_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
/// P-256 and P-384 curve OIDs, as x509-parser prints them.
const CURVE_P256: &str = "1.2.840.10045.3.1.7";
const CURVE_P384: &str = "1.3.132.0.34";

/// Most certificates read from one signature.
const MAX_CERTS: usize = 32;
/// Largest time-stamp token accepted from the callback.
const MAX_TOKEN_LEN: usize = 64 * 1024;

/// `IssuerSerial` (RFC 5035).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct IssuerSerial {
    issuer: GeneralNames,
    serial_number: Int,
}

/// `ESSCertIDv2` (RFC 5035 section 4); an absent hash algorithm means SHA-256.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct EssCertIdV2 {
    #[asn1(optional = "true")]
    hash_algorithm: Option<AlgorithmIdentifierOwned>,
    cert_hash: OctetString,
    #[asn1(optional = "true")]
    issuer_serial: Option<IssuerSerial>,
}

/// `SigningCertificateV2` (RFC 5035 section 3).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
    #[asn1(optional = "true")]
    policies: Option<Vec<Any>>,
}

fn sha256_algorithm() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: SHA256,
        parameters: None,
    }
}

fn attribute(oid: Oid, value: Any) -> Result<Attribute, ContractError> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value])?,
    })
}

/// SHA-256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> Vec<u8> {
    Sha256::digest(data).to_vec()
}

/// A signer's key, certificate and chain, ready to produce CAdES-detached signatures.
pub struct CadesSigner {
    key: EcdsaKeyPair,
    rng: SystemRandom,
    certificates: CertificateSet,
    sid: SignerIdentifier,
    signing_certificate: Attribute,
    subject: String,
}

impl std::fmt::Debug for CadesSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // never print the key
        f.debug_struct("CadesSigner")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Decodes a certificate and insists re-encoding gives the same bytes, so that what the
/// signature carries is exactly what ESSCertIDv2 hashes.
fn decode_exact(der_bytes: &[u8]) -> Result<Certificate, ContractError> {
    let cert = Certificate::from_der(der_bytes)
        .map_err(|e| ContractError::Signer(format!("certificate: {e}")))?;
    if cert.to_der()? != der_bytes {
        return Err(ContractError::Signer(
            "certificate is not in canonical DER".into(),
        ));
    }
    Ok(cert)
}

impl CadesSigner {
    /// A signer from a PKCS#8 P-256 key, its certificate and the chain above it (DER).
    ///
    /// # Errors
    /// `Signer` when the key is not P-256 or does not match the certificate.
    pub fn new(
        key_pkcs8: &[u8],
        certificate_der: &[u8],
        chain_der: &[Vec<u8>],
    ) -> Result<Self, ContractError> {
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, key_pkcs8, &rng)
            .map_err(|e| ContractError::Signer(format!("key: {e}")))?;
        let cert = decode_exact(certificate_der)?;
        let spki = cert
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes();
        if spki != key.public_key().as_ref() {
            return Err(ContractError::Signer(
                "key does not match the certificate".into(),
            ));
        }
        let mut choices = vec![CertificateChoices::Certificate(cert.clone())];
        for c in chain_der {
            choices.push(CertificateChoices::Certificate(decode_exact(c)?));
        }
        let tbs = &cert.tbs_certificate;
        let ess = EssCertIdV2 {
            hash_algorithm: None,
            cert_hash: OctetString::new(sha256(certificate_der))?,
            issuer_serial: Some(IssuerSerial {
                issuer: vec![GeneralName::DirectoryName(tbs.issuer.clone())],
                serial_number: Int::new(tbs.serial_number.as_bytes())?,
            }),
        };
        let signing_certificate = attribute(
            ATTR_SIGNING_CERTIFICATE_V2,
            Any::encode_from(&SigningCertificateV2 {
                certs: vec![ess],
                policies: None,
            })?,
        )?;
        Ok(Self {
            key,
            rng,
            certificates: CertificateSet::try_from(choices)?,
            sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: tbs.issuer.clone(),
                serial_number: tbs.serial_number.clone(),
            }),
            signing_certificate,
            subject: tbs.subject.to_string(),
        })
    }

    /// The certificate subject, RFC 4514 style.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The DER `ContentInfo` of a detached SignedData over content whose SHA-256 is
    /// `content_digest`, with the signature time-stamp that `timestamp` returns for the
    /// signature value (it receives the signature value's bytes and returns a DER
    /// `TimeStampToken` over their SHA-256).
    ///
    /// # Errors
    /// `Timestamp` when the callback fails or returns something that is not a token,
    /// `Signer` if the key fails.
    pub fn sign_detached(
        &self,
        content_digest: &[u8],
        timestamp: impl FnOnce(&[u8]) -> Result<Vec<u8>, String>,
    ) -> Result<Vec<u8>, ContractError> {
        self.sign_detached_with(content_digest, &[], timestamp)
    }

    /// As [`CadesSigner::sign_detached`], with more signed attributes: each an attribute
    /// type and the DER of its single value. The baseline three cannot be given again.
    ///
    /// Observed with poppler 22.12 (pdfsig, NSS): once a signature carrying a sizeable
    /// attribute of a type NSS does not know has been checked, a later signature in the same
    /// file by the same certificate is reported "Unknown issue with Certificate" (signed or
    /// unsigned attribute alike). A certificate that signs with extra attributes should sign
    /// only once per file.
    ///
    /// # Errors
    /// As [`CadesSigner::sign_detached`], and `Encoding` for a value that is not one DER
    /// element or a type that repeats a baseline attribute.
    pub(crate) fn sign_detached_with(
        &self,
        content_digest: &[u8],
        extra: &[(Oid, Vec<u8>)],
        timestamp: impl FnOnce(&[u8]) -> Result<Vec<u8>, String>,
    ) -> Result<Vec<u8>, ContractError> {
        let mut attrs = vec![
            attribute(ATTR_CONTENT_TYPE, Any::encode_from(&ID_DATA)?)?,
            attribute(
                ATTR_MESSAGE_DIGEST,
                Any::encode_from(&OctetString::new(content_digest)?)?,
            )?,
            self.signing_certificate.clone(),
        ];
        for (oid, value) in extra {
            if attrs.iter().any(|a| a.oid == *oid) {
                return Err(ContractError::Encoding(format!(
                    "signed attribute {oid} given twice"
                )));
            }
            attrs.push(attribute(*oid, Any::from_der(value)?)?);
        }
        let signed_attrs = SetOfVec::try_from(attrs)?;
        // RFC 5652 section 5.4: the signature covers the attributes encoded as a SET (0x31).
        let to_sign = signed_attrs.to_der()?;
        let signature = self
            .key
            .sign(&self.rng, &to_sign)
            .map_err(|_| ContractError::Signer("signing failed".into()))?;
        let token = timestamp(signature.as_ref()).map_err(ContractError::Timestamp)?;
        if token.len() > MAX_TOKEN_LEN {
            return Err(ContractError::Timestamp(format!(
                "token of {} bytes is too large",
                token.len()
            )));
        }
        let token_ci = ContentInfo::from_der(&token)
            .map_err(|e| ContractError::Timestamp(format!("not a DER ContentInfo: {e}")))?;
        if token_ci.content_type != ID_SIGNED_DATA {
            return Err(ContractError::Timestamp("token is not SignedData".into()));
        }
        let unsigned = SetOfVec::try_from(vec![attribute(
            ATTR_SIGNATURE_TIME_STAMP,
            Any::from_der(&token)?,
        )?])?;

        let signer = SignerInfo {
            version: CmsVersion::V1,
            sid: self.sid.clone(),
            digest_alg: sha256_algorithm(),
            signed_attrs: Some(signed_attrs),
            signature_algorithm: AlgorithmIdentifierOwned {
                oid: ECDSA_WITH_SHA256,
                parameters: None,
            },
            signature: OctetString::new(signature.as_ref())?,
            unsigned_attrs: Some(unsigned),
        };
        let signed_data = SignedData {
            // v1: id-data content, issuerAndSerialNumber, plain certificates (RFC 5652 5.1)
            version: CmsVersion::V1,
            digest_algorithms: SetOfVec::try_from(vec![sha256_algorithm()])?,
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: ID_DATA,
                econtent: None,
            },
            certificates: Some(self.certificates.clone()),
            crls: None,
            signer_infos: SignerInfos::try_from(vec![signer])?,
        };
        Ok(ContentInfo {
            content_type: ID_SIGNED_DATA,
            content: Any::encode_from(&signed_data)?,
        }
        .to_der()?)
    }
}

// ---------------------------------------------------------------------------------------
// Reading

fn malformed(what: impl Into<String>) -> ContractError {
    ContractError::MalformedCms(what.into())
}

fn context(number: u8, constructed: bool) -> Tag {
    Tag::ContextSpecific {
        constructed,
        number: der::TagNumber::new(number),
    }
}

fn oid_of(tlv: &Tlv<'_>) -> Result<Oid, ContractError> {
    Oid::from_der(tlv.raw).map_err(|e| malformed(e.to_string()))
}

/// One attribute: its type and the raw DER of each value.
pub(crate) struct RawAttribute<'a> {
    /// The attribute type.
    pub oid: Oid,
    /// Each value's whole DER encoding.
    pub values: Vec<&'a [u8]>,
}

/// Reads the attributes inside a SET (given its content bytes).
fn read_attributes(content: &[u8]) -> Result<Vec<RawAttribute<'_>>, ContractError> {
    let mut out = Vec::new();
    let mut w = Walker::new(content)?;
    while !w.is_finished() {
        let a = w.expect(Tag::Sequence, "Attribute")?;
        let mut aw = Walker::new(a.value)?;
        let oid = oid_of(&aw.expect(Tag::ObjectIdentifier, "attrType")?)?;
        let set = aw.expect(Tag::Set, "attrValues")?;
        let mut vw = Walker::new(set.value)?;
        let mut values = Vec::new();
        while !vw.is_finished() {
            values.push(vw.next("attribute value")?.raw);
        }
        out.push(RawAttribute { oid, values });
        if out.len() > 64 {
            return Err(malformed("too many attributes"));
        }
    }
    Ok(out)
}

/// The parts of a detached SignedData that PDF signature verification needs, as raw bytes.
pub(crate) struct RawSignature<'a> {
    /// Certificates carried in the signature (DER).
    pub certificates: Vec<&'a [u8]>,
    sid: Tlv<'a>,
    /// The SignerInfo's digest algorithm.
    pub digest_alg: Oid,
    /// The signed attributes re-tagged as SET (0x31), exactly as signed.
    pub signed_attrs_der: Vec<u8>,
    /// The signed attributes.
    pub signed_attrs: Vec<RawAttribute<'a>>,
    /// The signature algorithm.
    pub signature_alg: Oid,
    /// The signature value.
    pub signature: &'a [u8],
    /// The unsigned attributes.
    pub unsigned_attrs: Vec<RawAttribute<'a>>,
    /// Whether the content is carried inside (a detached signature has none).
    pub has_econtent: bool,
}

/// The length of the first DER element of `bytes` (the /Contents hole is zero-padded).
pub(crate) fn der_len(bytes: &[u8]) -> Result<usize, ContractError> {
    let mut w = Walker::new(bytes)?;
    Ok(w.next("ContentInfo")?.raw.len())
}

/// Parses a DER `ContentInfo` holding a SignedData with exactly one SignerInfo.
pub(crate) fn parse_signature(bytes: &[u8]) -> Result<RawSignature<'_>, ContractError> {
    let mut top = Walker::new(bytes)?;
    let ci = top.expect(Tag::Sequence, "ContentInfo")?;
    let mut ci = Walker::new(ci.value)?;
    if oid_of(&ci.expect(Tag::ObjectIdentifier, "contentType")?)? != ID_SIGNED_DATA {
        return Err(malformed("content type is not signedData"));
    }
    let content = ci.expect(context(0, true), "content")?;
    let mut content = Walker::new(content.value)?;
    let sd = content.expect(Tag::Sequence, "SignedData")?;
    let mut sd = Walker::new(sd.value)?;
    sd.expect(Tag::Integer, "version")?;
    sd.expect(Tag::Set, "digestAlgorithms")?;
    let encap = sd.expect(Tag::Sequence, "encapContentInfo")?;
    let mut encap = Walker::new(encap.value)?;
    encap.expect(Tag::ObjectIdentifier, "eContentType")?;
    let has_econtent = !encap.is_finished();

    let mut certificates = Vec::new();
    let mut next = sd.next("SignedData")?;
    if next.tag == context(0, true) {
        let mut certs = Walker::new(next.value)?;
        while !certs.is_finished() {
            let c = certs.next("certificate")?;
            if c.tag == Tag::Sequence {
                if certificates.len() >= MAX_CERTS {
                    return Err(malformed("too many certificates"));
                }
                certificates.push(c.raw);
            }
        }
        next = sd.next("SignedData")?;
    }
    if next.tag == context(1, true) {
        next = sd.next("SignedData")?;
    }
    if next.tag != Tag::Set {
        return Err(malformed("signerInfos: expected SET"));
    }
    let mut signers = Walker::new(next.value)?;
    let si = signers.expect(Tag::Sequence, "SignerInfo")?;
    if !signers.is_finished() {
        return Err(malformed("a PDF signature has exactly one SignerInfo"));
    }
    let mut si = Walker::new(si.value)?;
    si.expect(Tag::Integer, "SignerInfo version")?;
    let sid = si.next("sid")?;
    let digest_alg =
        AlgorithmIdentifierOwned::from_der(si.expect(Tag::Sequence, "digestAlgorithm")?.raw)
            .map_err(|e| malformed(format!("digestAlgorithm: {e}")))?
            .oid;
    let attrs = si.next("signedAttrs")?;
    if attrs.tag != context(0, true) {
        return Err(malformed("signed attributes are missing"));
    }
    let signed_attrs = read_attributes(attrs.value)?;
    // RFC 5652 section 5.4: signed over the SET OF encoding, i.e. tag 0x31.
    let mut signed_attrs_der = attrs.raw.to_vec();
    if let Some(first) = signed_attrs_der.first_mut() {
        *first = 0x31;
    }
    let signature_alg =
        AlgorithmIdentifierOwned::from_der(si.expect(Tag::Sequence, "signatureAlgorithm")?.raw)
            .map_err(|e| malformed(format!("signatureAlgorithm: {e}")))?
            .oid;
    let signature = si.expect(Tag::OctetString, "signature")?.value;
    let unsigned_attrs = if si.is_finished() {
        Vec::new()
    } else {
        read_attributes(si.expect(context(1, true), "unsignedAttrs")?.value)?
    };
    Ok(RawSignature {
        certificates,
        sid,
        digest_alg,
        signed_attrs_der,
        signed_attrs,
        signature_alg,
        signature,
        unsigned_attrs,
        has_econtent,
    })
}

/// The single value of attribute `oid` in `attrs`: `None` when absent, an error when
/// repeated or multi-valued.
pub(crate) fn single_value<'a>(
    attrs: &[RawAttribute<'a>],
    oid: Oid,
) -> Result<Option<&'a [u8]>, ContractError> {
    let mut found = attrs.iter().filter(|a| a.oid == oid);
    match (found.next(), found.next()) {
        (None, _) => Ok(None),
        (Some(a), None) if a.values.len() == 1 => Ok(a.values.first().copied()),
        _ => Err(malformed(format!(
            "attribute {oid} must occur once with one value"
        ))),
    }
}

/// Digest of `data` with the hash `oid` names (SHA-2 family only).
pub(crate) fn digest_by_oid(oid: &Oid, data: &[u8]) -> Option<Vec<u8>> {
    match *oid {
        SHA256 => Some(Sha256::digest(data).to_vec()),
        SHA384 => Some(Sha384::digest(data).to_vec()),
        SHA512 => Some(Sha512::digest(data).to_vec()),
        _ => None,
    }
}

/// Strips sign-padding zero bytes so integers compare by value.
fn trim_int(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    bytes.get(start..).unwrap_or(bytes)
}

impl RawSignature<'_> {
    /// The certificate among the carried ones that the signer identifier names and the
    /// signingCertificateV2 attribute pins (DER).
    ///
    /// # Errors
    /// `MalformedCms` when none matches or the attribute is missing or malformed.
    pub(crate) fn signer_certificate(&self) -> Result<&[u8], ContractError> {
        let ess = single_value(&self.signed_attrs, ATTR_SIGNING_CERTIFICATE_V2)?
            .ok_or_else(|| malformed("signingCertificateV2 is missing"))?;
        let ess = SigningCertificateV2::from_der(ess)
            .map_err(|e| malformed(format!("signingCertificateV2: {e}")))?;
        let id = ess
            .certs
            .first()
            .ok_or_else(|| malformed("signingCertificateV2 is empty"))?;
        let hash_oid = id.hash_algorithm.as_ref().map_or(SHA256, |a| a.oid);
        for der in &self.certificates {
            let Ok((_, cert)) = X509Certificate::from_der(der) else {
                continue;
            };
            if !self.sid_matches(&cert) {
                continue;
            }
            if digest_by_oid(&hash_oid, der).as_deref() == Some(id.cert_hash.as_bytes()) {
                return Ok(der);
            }
        }
        Err(malformed(
            "no carried certificate matches the signer identifier and signingCertificateV2",
        ))
    }

    fn sid_matches(&self, cert: &X509Certificate<'_>) -> bool {
        if self.sid.tag == Tag::Sequence {
            let Ok(mut w) = Walker::new(self.sid.value) else {
                return false;
            };
            let (Ok(issuer), Ok(serial)) = (
                w.expect(Tag::Sequence, "issuer"),
                w.expect(Tag::Integer, "serialNumber"),
            ) else {
                return false;
            };
            return w.is_finished()
                && issuer.raw == cert.issuer().as_raw()
                && trim_int(serial.value) == trim_int(cert.raw_serial());
        }
        if self.sid.tag == context(0, false) {
            return cert.extensions().iter().any(|e| {
                matches!(e.parsed_extension(),
                    ParsedExtension::SubjectKeyIdentifier(k) if k.0 == self.sid.value)
            });
        }
        false
    }

    /// Checks the signature over the original signed-attribute bytes with `cert_der`'s key.
    ///
    /// # Errors
    /// `MalformedCms` for an unsupported algorithm or a signature that does not verify.
    pub(crate) fn verify_signature(&self, cert_der: &[u8]) -> Result<(), ContractError> {
        let (_, cert) = X509Certificate::from_der(cert_der)
            .map_err(|e| malformed(format!("signer certificate: {e}")))?;
        let spki = cert.public_key();
        let key_alg = spki.algorithm.algorithm.to_id_string();
        let unsupported = || {
            malformed(format!(
                "unsupported signature algorithm {}",
                self.signature_alg
            ))
        };
        let alg: &'static dyn sig::VerificationAlgorithm = if key_alg == EC_PUBLIC_KEY.to_string() {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())
                .unwrap_or_default();
            let hash = match self.signature_alg {
                ECDSA_WITH_SHA256 => SHA256,
                ECDSA_WITH_SHA384 => SHA384,
                EC_PUBLIC_KEY => self.digest_alg,
                _ => return Err(unsupported()),
            };
            match (curve.as_str(), hash) {
                (CURVE_P256, SHA256) => &sig::ECDSA_P256_SHA256_ASN1,
                (CURVE_P256, SHA384) => &sig::ECDSA_P256_SHA384_ASN1,
                (CURVE_P384, SHA256) => &sig::ECDSA_P384_SHA256_ASN1,
                (CURVE_P384, SHA384) => &sig::ECDSA_P384_SHA384_ASN1,
                _ => return Err(unsupported()),
            }
        } else if key_alg == RSA_ENCRYPTION.to_string() {
            let hash = match self.signature_alg {
                SHA256_WITH_RSA => SHA256,
                SHA384_WITH_RSA => SHA384,
                SHA512_WITH_RSA => SHA512,
                RSA_ENCRYPTION => self.digest_alg,
                _ => return Err(unsupported()),
            };
            match hash {
                SHA256 => &sig::RSA_PKCS1_2048_8192_SHA256,
                SHA384 => &sig::RSA_PKCS1_2048_8192_SHA384,
                SHA512 => &sig::RSA_PKCS1_2048_8192_SHA512,
                _ => return Err(unsupported()),
            }
        } else {
            return Err(unsupported());
        };
        sig::UnparsedPublicKey::new(alg, &spki.subject_public_key.data)
            .verify(&self.signed_attrs_der, self.signature)
            .map_err(|_| malformed("the signature does not verify"))
    }

    /// The messageDigest attribute's bytes.
    ///
    /// # Errors
    /// `MalformedCms` when it is missing or not an OCTET STRING.
    pub(crate) fn message_digest(&self) -> Result<Vec<u8>, ContractError> {
        let md = single_value(&self.signed_attrs, ATTR_MESSAGE_DIGEST)?
            .ok_or_else(|| malformed("messageDigest is missing"))?;
        OctetString::from_der(md)
            .map(|o| o.as_bytes().to_vec())
            .map_err(|e| malformed(format!("messageDigest: {e}")))
    }

    /// The contentType attribute is id-data, as CAdES-detached for PDF requires.
    pub(crate) fn content_type_is_data(&self) -> bool {
        matches!(single_value(&self.signed_attrs, ATTR_CONTENT_TYPE),
            Ok(Some(v)) if Oid::from_der(v).ok() == Some(ID_DATA))
    }

    /// Whether a signingTime signed attribute is present (PAdES baseline forbids it).
    pub(crate) fn has_signing_time(&self) -> bool {
        self.signed_attrs.iter().any(|a| a.oid == ATTR_SIGNING_TIME)
    }

    /// The signature time-stamp token (DER), if present.
    ///
    /// # Errors
    /// `MalformedCms` when the attribute is repeated or multi-valued.
    pub(crate) fn timestamp_token(&self) -> Result<Option<&[u8]>, ContractError> {
        single_value(&self.unsigned_attrs, ATTR_SIGNATURE_TIME_STAMP)
    }
}

impl From<crate::timestamp::der_walk::DerError> for ContractError {
    fn from(e: crate::timestamp::der_walk::DerError) -> Self {
        ContractError::MalformedCms(e.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, KeyPair, PKCS_ECDSA_P256_SHA256};

    fn self_signed() -> (KeyPair, Vec<u8>) {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, "Party A");
        let cert = p.self_signed(&key).unwrap();
        (key, cert.der().to_vec())
    }

    /// A stand-in token: a DER ContentInfo of type signedData (sign_detached only checks shape).
    fn fake_token(_: &[u8]) -> Result<Vec<u8>, String> {
        Ok(ContentInfo {
            content_type: ID_SIGNED_DATA,
            content: Any::encode_from(&der::asn1::Null).unwrap(),
        }
        .to_der()
        .unwrap())
    }

    #[test]
    fn signs_and_reads_back_with_exactly_the_baseline_attributes() {
        let (key, cert) = self_signed();
        let signer = CadesSigner::new(&key.serialize_der(), &cert, &[]).unwrap();
        let digest = sha256(b"the signed bytes");
        let mut seen = Vec::new();
        let cms = signer
            .sign_detached(&digest, |s| {
                seen = s.to_vec();
                fake_token(s)
            })
            .unwrap();
        let raw = parse_signature(&cms).unwrap();
        assert_eq!(
            der_len(&[cms.clone(), vec![0; 40]].concat()).unwrap(),
            cms.len()
        );
        assert_eq!(raw.message_digest().unwrap(), digest);
        assert!(raw.content_type_is_data());
        assert!(!raw.has_signing_time());
        assert!(!raw.has_econtent);
        let oids: Vec<Oid> = raw.signed_attrs.iter().map(|a| a.oid).collect();
        assert_eq!(oids.len(), 3);
        for o in [
            ATTR_CONTENT_TYPE,
            ATTR_MESSAGE_DIGEST,
            ATTR_SIGNING_CERTIFICATE_V2,
        ] {
            assert!(oids.contains(&o), "missing {o}");
        }
        // the callback saw the signature value, the token is stored unsigned
        assert_eq!(seen, raw.signature);
        assert!(raw.timestamp_token().unwrap().is_some());
        let signer_cert = raw.signer_certificate().unwrap();
        assert_eq!(signer_cert, cert.as_slice());
        raw.verify_signature(signer_cert).unwrap();
    }

    #[test]
    fn a_changed_signed_attribute_fails_the_signature() {
        let (key, cert) = self_signed();
        let signer = CadesSigner::new(&key.serialize_der(), &cert, &[]).unwrap();
        let mut cms = signer.sign_detached(&sha256(b"x"), fake_token).unwrap();
        // flip one byte of the messageDigest value inside the signed attributes
        let digest = sha256(b"x");
        let at = cms
            .windows(32)
            .position(|w| w == digest.as_slice())
            .unwrap();
        cms[at] ^= 1;
        let raw = parse_signature(&cms).unwrap();
        assert!(raw.verify_signature(&cert).is_err());
    }

    #[test]
    fn refuses_a_key_that_does_not_match_the_certificate() {
        let (_, cert) = self_signed();
        let other = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let err = CadesSigner::new(&other.serialize_der(), &cert, &[]).unwrap_err();
        assert!(matches!(err, ContractError::Signer(_)));
    }

    #[test]
    fn refuses_a_failing_or_malformed_timestamp() {
        let (key, cert) = self_signed();
        let signer = CadesSigner::new(&key.serialize_der(), &cert, &[]).unwrap();
        let e = signer
            .sign_detached(&sha256(b"x"), |_| Err("TSA down".into()))
            .unwrap_err();
        assert_eq!(e, ContractError::Timestamp("TSA down".into()));
        let e = signer
            .sign_detached(&sha256(b"x"), |_| Ok(vec![1, 2, 3]))
            .unwrap_err();
        assert!(matches!(e, ContractError::Timestamp(_)));
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for bytes in [&b""[..], b"\x30", b"\x30\x03\x06\x01\x00", &[0xff; 64]] {
            assert!(parse_signature(bytes).is_err());
        }
    }
}
