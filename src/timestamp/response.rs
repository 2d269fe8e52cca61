//! Issuing: [`TsaSigner`] builds the `TimeStampToken` (CMS SignedData over `TSTInfo`, signed with
//! ECDSA P-256 SHA-256 through `ring`) and the granted `TimeStampResp`; [`rejection_response`]
//! builds the refusal. Everything that depends only on the TSA certificate is computed once.

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{Any, GeneralizedTime, ObjectIdentifier, OctetString, SetOfVec, UtcTime};
use der::{Decode, Encode, Tag};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use spki::AlgorithmIdentifierOwned;
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::GeneralName;
use x509_tsp::{MessageImprint, TspVersion};

use crate::timestamp::asn1::{
    EssCertIdV2, GenTime, IssuerSerial, SigningCertificateV2, TstInfo, int_from_u128,
    sha256_algorithm,
};
use crate::timestamp::status::{PkiStatusInfo, STATUS_GRANTED, STATUS_REJECTION, TimeStampResp};
use crate::timestamp::{
    FailureInfo, HashAlgorithm, TimeStampRequest, TimestampError, oids, verify,
};

/// The accuracy of genTime (RFC 3161 section 2.4.2); millis and micros are 0..=999.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Accuracy {
    /// Whole seconds.
    pub seconds: u32,
    /// Milliseconds, 0..=999.
    pub millis: u16,
    /// Microseconds, 0..=999.
    pub micros: u16,
}

impl Accuracy {
    /// The ASN.1 value; zero fields are absent, and an all-zero accuracy is no accuracy.
    fn to_asn1(self) -> Result<Option<x509_tsp::Accuracy>, TimestampError> {
        if self.millis > 999 || self.micros > 999 {
            return Err(TimestampError::Config(format!(
                "accuracy millis/micros must be 0..=999, got {}/{}",
                self.millis, self.micros
            )));
        }
        let nonzero_i16 = |v: u16| (v > 0).then(|| i16::try_from(v).unwrap_or(999));
        let acc = x509_tsp::Accuracy {
            seconds: (self.seconds > 0).then_some(u64::from(self.seconds)),
            millis: nonzero_i16(self.millis),
            micros: nonzero_i16(self.micros),
        };
        Ok((acc.seconds.is_some() || acc.millis.is_some() || acc.micros.is_some()).then_some(acc))
    }
}

/// What varies per token; the lead fills it from configuration, the clock and PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenParams {
    /// The TSA's default policy, used when the request names none.
    pub policy: ObjectIdentifier,
    /// The token's serial number, unique for this TSA.
    pub serial: u128,
    /// The time to certify.
    pub gen_time: OffsetDateTime,
    /// Fractional-second digits in genTime (0 = whole seconds, at most 6 here).
    pub fraction_digits: u8,
    /// The accuracy to state, if any.
    pub accuracy: Option<Accuracy>,
    /// Whether to add a signingTime signed attribute (optional in RFC 3161).
    pub signing_time: bool,
    /// Whether to name the TSA (its certificate subject) in the TSTInfo `tsa` field.
    pub tsa_name: bool,
}

/// The TSA: its signing key, certificate and chain, ready to issue tokens.
pub struct TsaSigner {
    key: EcdsaKeyPair,
    rng: SystemRandom,
    cert_der: Vec<u8>,
    chain_der: Vec<Vec<u8>>,
    /// The TSA certificate plus chain as a sorted SET, sent when certReq is true.
    certificates: CertificateSet,
    sid: SignerIdentifier,
    /// The signingCertificateV2 attribute: identical for every token.
    signing_certificate: Attribute,
    subject: x509_cert::name::Name,
}

impl std::fmt::Debug for TsaSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // never print the key
        f.debug_struct("TsaSigner")
            .field("subject", &self.subject.to_string())
            .finish_non_exhaustive()
    }
}

/// Decodes a certificate and insists that re-encoding gives the same bytes, so that what a
/// token carries is exactly what ESSCertIDv2 hashes.
fn decode_exact(der_bytes: &[u8]) -> Result<Certificate, TimestampError> {
    let cert = Certificate::from_der(der_bytes)
        .map_err(|e| TimestampError::Config(format!("certificate: {e}")))?;
    if cert.to_der()? != der_bytes {
        return Err(TimestampError::Config(
            "certificate is not in canonical DER".into(),
        ));
    }
    Ok(cert)
}

fn attribute(oid: ObjectIdentifier, value: Any) -> Result<Attribute, TimestampError> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value])?,
    })
}

impl TsaSigner {
    /// A signer from a PKCS#8 P-256 key, the TSA certificate and its chain (issuing CAs, up to
    /// but not necessarily including the root), all DER.
    ///
    /// # Errors
    /// `Config` when the key is not P-256, does not match the certificate, or the certificate
    /// does not follow the TSA profile (critical EKU timeStamping only).
    pub fn new(
        pkcs8_der: &[u8],
        cert_der: Vec<u8>,
        chain_der: Vec<Vec<u8>>,
    ) -> Result<Self, TimestampError> {
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8_der, &rng)
            .map_err(|e| TimestampError::Config(format!("TSA key: {e}")))?;
        let parsed = verify::parse_certificate(&cert_der)
            .map_err(|e| TimestampError::Config(e.to_string()))?;
        verify::check_tsa_profile(&parsed).map_err(|e| TimestampError::Config(e.to_string()))?;
        if parsed.public_key().subject_public_key.data.as_ref() != key.public_key().as_ref() {
            return Err(TimestampError::Config(
                "TSA key does not match the certificate".into(),
            ));
        }
        let cert = decode_exact(&cert_der)?;
        let mut choices = vec![CertificateChoices::Certificate(cert.clone())];
        for c in &chain_der {
            choices.push(CertificateChoices::Certificate(decode_exact(c)?));
        }
        let certificates = CertificateSet::try_from(choices)?;

        let tbs = &cert.tbs_certificate;
        let ess = EssCertIdV2 {
            hash_algorithm: None,
            cert_hash: OctetString::new(HashAlgorithm::Sha256.digest(&cert_der))?,
            issuer_serial: Some(IssuerSerial {
                issuer: vec![GeneralName::DirectoryName(tbs.issuer.clone())],
                serial_number: der::asn1::Int::new(tbs.serial_number.as_bytes())?,
            }),
        };
        let signing_certificate = attribute(
            oids::ATTR_SIGNING_CERTIFICATE_V2,
            Any::encode_from(&SigningCertificateV2 {
                certs: vec![ess],
                policies: None,
            })?,
        )?;
        Ok(Self {
            key,
            rng,
            sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: tbs.issuer.clone(),
                serial_number: tbs.serial_number.clone(),
            }),
            subject: tbs.subject.clone(),
            cert_der,
            chain_der,
            certificates,
            signing_certificate,
        })
    }

    /// The TSA certificate (DER).
    pub fn certificate_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The chain above the TSA certificate (DER), as given.
    pub fn chain_der(&self) -> &[Vec<u8>] {
        &self.chain_der
    }

    /// The `TimeStampToken` (DER ContentInfo) for `request`.
    ///
    /// The policy is the request's when it named one (already checked by
    /// [`crate::timestamp::parse_request`]), else `params.policy`.
    ///
    /// # Errors
    /// `Config` for out-of-range parameters, `Signing` if the key fails.
    pub fn token(
        &self,
        request: &TimeStampRequest,
        params: &TokenParams,
    ) -> Result<Vec<u8>, TimestampError> {
        if params.fraction_digits > 6 {
            return Err(TimestampError::Config(
                "genTime has at most 6 fractional digits".into(),
            ));
        }
        let tst = TstInfo {
            version: TspVersion::V1,
            policy: request.req_policy.unwrap_or(params.policy),
            message_imprint: MessageImprint {
                hash_algorithm: spki::AlgorithmIdentifier {
                    oid: request.hash_algorithm.oid(),
                    parameters: None,
                },
                hashed_message: OctetString::new(request.message_imprint.clone())?,
            },
            serial_number: int_from_u128(params.serial)?,
            gen_time: GenTime {
                datetime: params.gen_time,
                digits: params.fraction_digits,
            },
            accuracy: params
                .accuracy
                .map(Accuracy::to_asn1)
                .transpose()?
                .flatten(),
            ordering: false,
            nonce: request.nonce.clone(),
            tsa: params
                .tsa_name
                .then(|| GeneralName::DirectoryName(self.subject.clone())),
            extensions: None,
        };
        let tst_der = tst.to_der()?;

        let mut attrs = vec![
            attribute(oids::ATTR_CONTENT_TYPE, Any::encode_from(&oids::TST_INFO)?)?,
            attribute(
                oids::ATTR_MESSAGE_DIGEST,
                Any::encode_from(&OctetString::new(HashAlgorithm::Sha256.digest(&tst_der))?)?,
            )?,
            self.signing_certificate.clone(),
        ];
        if params.signing_time {
            attrs.push(attribute(
                oids::ATTR_SIGNING_TIME,
                signing_time(params.gen_time)?,
            )?);
        }
        // SetOfVec sorts by DER encoding, as X.690 11.6 requires of a SET OF.
        let signed_attrs = SetOfVec::try_from(attrs)?;
        // RFC 5652 section 5.4: the signature covers the attributes encoded as a SET (tag 0x31).
        let to_sign = signed_attrs.to_der()?;
        let signature = self
            .key
            .sign(&self.rng, &to_sign)
            .map_err(|_| TimestampError::Signing)?;

        let signer = SignerInfo {
            version: CmsVersion::V1,
            sid: self.sid.clone(),
            digest_alg: sha256_algorithm(),
            signed_attrs: Some(signed_attrs),
            signature_algorithm: AlgorithmIdentifierOwned {
                oid: oids::ECDSA_WITH_SHA256,
                parameters: None,
            },
            signature: OctetString::new(signature.as_ref())?,
            unsigned_attrs: None,
        };
        let signed_data = SignedData {
            // v3 because eContentType is not id-data (RFC 5652 section 5.1)
            version: CmsVersion::V3,
            digest_algorithms: SetOfVec::try_from(vec![sha256_algorithm()])?,
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: oids::TST_INFO,
                econtent: Some(Any::new(Tag::OctetString, tst_der)?),
            },
            certificates: request.cert_req.then(|| self.certificates.clone()),
            crls: None,
            signer_infos: SignerInfos::try_from(vec![signer])?,
        };
        let content_info = ContentInfo {
            content_type: oids::SIGNED_DATA,
            content: Any::encode_from(&signed_data)?,
        };
        Ok(content_info.to_der()?)
    }

    /// The granted `TimeStampResp` (DER) for `request`, as `POST /tsa` answers.
    ///
    /// # Errors
    /// As [`TsaSigner::token`].
    pub fn grant(
        &self,
        request: &TimeStampRequest,
        params: &TokenParams,
    ) -> Result<Vec<u8>, TimestampError> {
        let token = self.token(request, params)?;
        let resp = TimeStampResp {
            status: PkiStatusInfo {
                status: STATUS_GRANTED,
                status_string: None,
                fail_info: None,
            },
            time_stamp_token: Some(Any::from_der(&token)?),
        };
        Ok(resp.to_der()?)
    }
}

/// signingTime: UTCTime through 2049, GeneralizedTime after (RFC 5652 section 11.3).
fn signing_time(t: OffsetDateTime) -> Result<Any, TimestampError> {
    let secs = u64::try_from(t.unix_timestamp())
        .map_err(|_| TimestampError::Config("signingTime before 1970".into()))?;
    let d = std::time::Duration::from_secs(secs);
    if t.year() < 2050 {
        Ok(Any::encode_from(&UtcTime::from_unix_duration(d)?)?)
    } else {
        Ok(Any::encode_from(&GeneralizedTime::from_unix_duration(d)?)?)
    }
}

/// A `TimeStampResp` with status rejection, `failure` and a status text for people.
///
/// # Errors
/// `Encoding` only if DER encoding fails, which valid inputs never cause.
pub fn rejection_response(failure: FailureInfo, text: &str) -> Result<Vec<u8>, TimestampError> {
    let resp = TimeStampResp {
        status: PkiStatusInfo {
            status: STATUS_REJECTION,
            status_string: Some(vec![text.to_owned()]),
            fail_info: Some(failure.to_bit_string()?),
        },
        time_stamp_token: None,
    };
    Ok(resp.to_der()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::testing::{TestPki, params, request};
    use crate::timestamp::{verify_response, verify_token};

    fn signed_data(token: &[u8]) -> SignedData {
        let ci = ContentInfo::from_der(token).unwrap();
        assert_eq!(ci.content_type, oids::SIGNED_DATA);
        ci.content.decode_as().unwrap()
    }

    /// Splits the content of a DER SET into its elements' encodings, in the order written.
    fn set_elements(set_der: &[u8]) -> Vec<Vec<u8>> {
        let set = der::asn1::AnyRef::from_der(set_der).unwrap();
        let mut r = der::SliceReader::new(set.value()).unwrap();
        let mut out = Vec::new();
        while !der::Reader::is_finished(&r) {
            out.push(der::asn1::AnyRef::decode(&mut r).unwrap().to_der().unwrap());
        }
        out
    }

    #[test]
    fn token_has_the_rfc3161_shape() {
        let pki = TestPki::new();
        let (req, digest) = request();
        let mut p = params(42);
        p.signing_time = true;
        let token = pki.signer.token(&req, &p).unwrap();
        let sd = signed_data(&token);
        assert_eq!(sd.version, CmsVersion::V3);
        assert_eq!(sd.encap_content_info.econtent_type, oids::TST_INFO);
        // certReq: TSA certificate and issuing CA
        let certs = sd.certificates.as_ref().unwrap();
        assert_eq!(certs.0.len(), 2);
        let si = sd.signer_infos.0.get(0).unwrap();
        assert_eq!(si.signature_algorithm.oid, oids::ECDSA_WITH_SHA256);
        let attrs = si.signed_attrs.as_ref().unwrap();
        let oids_present: Vec<_> = attrs.iter().map(|a| a.oid).collect();
        for want in [
            oids::ATTR_CONTENT_TYPE,
            oids::ATTR_MESSAGE_DIGEST,
            oids::ATTR_SIGNING_CERTIFICATE_V2,
            oids::ATTR_SIGNING_TIME,
        ] {
            assert!(oids_present.contains(&want), "{want}");
        }
        let tst: TstInfo = TstInfo::from_der(
            OctetString::from_der(&sd.encap_content_info.econtent.unwrap().to_der().unwrap())
                .unwrap()
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(tst.serial_number.as_bytes(), [42]);
        assert_eq!(tst.nonce.unwrap().as_bytes(), [0x12, 0x34, 0x56]);
        assert_eq!(tst.message_imprint.hashed_message.as_bytes(), digest);
        assert_eq!(tst.policy, p.policy);
        assert!(tst.tsa.is_none() && tst.accuracy.is_none() && !tst.ordering);
    }

    #[test]
    fn every_der_set_is_sorted_bytewise() {
        let pki = TestPki::new();
        let (req, _) = request();
        let mut p = params(7);
        p.signing_time = true;
        for serial in 0..8u128 {
            p.serial = serial << 60;
            let token = pki.signer.token(&req, &p).unwrap();
            // Walk to the raw [0] signed attributes and the [0] certificates.
            let ci = ContentInfo::from_der(&token).unwrap();
            let sd_der = ci.content.to_der().unwrap();
            let sd = SignedData::from_der(&sd_der).unwrap();
            let si = sd.signer_infos.0.get(0).unwrap();
            let mut attrs_set = si.signed_attrs.as_ref().unwrap().to_der().unwrap();
            attrs_set[0] = 0x31;
            // X.690 11.6: SET OF elements in ascending order of their encodings
            let elems = set_elements(&attrs_set);
            assert_eq!(elems.len(), 4);
            assert!(
                elems.windows(2).all(|w| w[0] < w[1]),
                "signed attributes unsorted"
            );
            // the encoding we sign is the one that travels: find it verbatim in the token
            let mut tagged = attrs_set.clone();
            tagged[0] = 0xa0;
            assert!(token.windows(tagged.len()).any(|w| w == tagged));
            let mut certs = sd.certificates.unwrap().0.to_der().unwrap();
            let elems = set_elements(&certs);
            assert!(
                elems.windows(2).all(|w| w[0] < w[1]),
                "certificates unsorted"
            );
            certs[0] = 0xa0;
            assert!(token.windows(certs.len()).any(|w| w == certs));
        }
    }

    #[test]
    fn no_certificates_without_cert_req_and_requested_policy_wins() {
        let pki = TestPki::new();
        let (mut req, digest) = request();
        req.cert_req = false;
        let asked = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.99999.7");
        req.req_policy = Some(asked);
        let token = pki.signer.token(&req, &params(1)).unwrap();
        assert!(signed_data(&token).certificates.is_none());
        let mut trust = pki.trust();
        trust.add_intermediate_der(pki.issuing_der.clone()).unwrap();
        trust
            .add_intermediate_der(pki.signer.certificate_der().to_vec())
            .unwrap();
        let v = verify_token(&token, HashAlgorithm::Sha256, &digest, &trust).unwrap();
        assert_eq!(v.policy, asked);
    }

    #[test]
    fn grant_wraps_the_token_and_round_trips() {
        let pki = TestPki::new();
        let (req, digest) = request();
        let mut p = params(u128::MAX);
        p.accuracy = Some(Accuracy {
            seconds: 0,
            millis: 0,
            micros: 250,
        });
        p.tsa_name = true;
        let resp = pki.signer.grant(&req, &p).unwrap();
        let v = verify_response(&resp, HashAlgorithm::Sha256, &digest, &pki.trust()).unwrap();
        assert_eq!(v.serial_hex(), format!("00{}", "ff".repeat(16)));
        assert_eq!(v.gen_time, p.gen_time);
        assert_eq!(
            v.accuracy,
            Some(Accuracy {
                seconds: 0,
                millis: 0,
                micros: 250
            })
        );
        assert_eq!(v.nonce.as_deref(), Some(&[0x12, 0x34, 0x56][..]));
        assert_eq!(v.signer_subject, "CN=Test TSA");
        assert_eq!(v.signer_certificate, pki.signer.certificate_der());
    }

    #[test]
    fn parameters_out_of_range_are_refused() {
        let pki = TestPki::new();
        let (req, _) = request();
        let mut p = params(1);
        p.fraction_digits = 7;
        assert!(matches!(
            pki.signer.token(&req, &p),
            Err(TimestampError::Config(_))
        ));
        let mut p = params(1);
        p.accuracy = Some(Accuracy {
            seconds: 1,
            millis: 1000,
            micros: 0,
        });
        assert!(matches!(
            pki.signer.token(&req, &p),
            Err(TimestampError::Config(_))
        ));
        // an all-zero accuracy is simply absent
        let mut p = params(1);
        p.accuracy = Some(Accuracy::default());
        let token = pki.signer.token(&req, &p).unwrap();
        let v = verify_token(
            &token,
            req.hash_algorithm,
            &req.message_imprint,
            &pki.trust(),
        );
        assert_eq!(v.unwrap().accuracy, None);
    }

    #[test]
    fn signer_refuses_mismatched_keys_and_non_tsa_certificates() {
        let pki = TestPki::new();
        let other = TestPki::new();
        let cert = pki.signer.certificate_der().to_vec();
        let chain = pki.signer.chain_der().to_vec();
        let err = TsaSigner::new(&other.tsa_key_pkcs8, cert.clone(), chain.clone()).unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
        // the issuing CA's certificate has no timeStamping EKU
        let err = TsaSigner::new(&pki.tsa_key_pkcs8, pki.issuing_der.clone(), vec![]).unwrap_err();
        assert!(err.to_string().contains("extendedKeyUsage"), "{err}");
        assert!(TsaSigner::new(b"not a key", cert, chain).is_err());
        let shown = format!("{:?}", pki.signer);
        assert!(shown.contains("CN=Test TSA") && !shown.contains("key"));
    }

    #[test]
    fn rejection_carries_status_text_and_failure_bit() {
        let der =
            rejection_response(FailureInfo::UnacceptedPolicy, "policy 1.2.3 unaccepted").unwrap();
        let resp = TimeStampResp::from_der(&der).unwrap();
        assert_eq!(resp.status.status, STATUS_REJECTION);
        assert_eq!(
            resp.status.status_string,
            Some(vec!["policy 1.2.3 unaccepted".to_string()])
        );
        assert_eq!(
            resp.status
                .fail_info
                .as_ref()
                .and_then(FailureInfo::from_bit_string),
            Some(FailureInfo::UnacceptedPolicy)
        );
        assert!(resp.time_stamp_token.is_none());
    }
}
