//! Parsing of a DER `TimeStampReq` (RFC 3161 section 2.4.1) from untrusted bytes into a plain
//! [`TimeStampRequest`], classifying every refusal with the PKIFailureInfo a TSA answers.

use der::asn1::{Int, ObjectIdentifier};
use der::{Decode, Tagged};
use x509_tsp::TimeStampReq;

use crate::timestamp::{HashAlgorithm, TimestampError};

/// Largest request we read. A real one is under 200 bytes; the bound stops memory abuse.
pub const MAX_REQUEST_LEN: usize = 16 * 1024;

/// A parsed, checked time-stamp request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeStampRequest {
    /// Hash algorithm of the message imprint.
    pub hash_algorithm: HashAlgorithm,
    /// The hashed message; its length matches `hash_algorithm`.
    pub message_imprint: Vec<u8>,
    /// The nonce as a DER INTEGER, echoed unchanged into the token.
    pub nonce: Option<Int>,
    /// Whether the client wants the TSA certificate (and chain) in the token.
    pub cert_req: bool,
    /// The policy the client asked for, if any.
    pub req_policy: Option<ObjectIdentifier>,
}

impl TimeStampRequest {
    /// A request for `digest` under `hash_algorithm`, for tokens the server asks of itself.
    pub fn for_digest(
        hash_algorithm: HashAlgorithm,
        digest: &[u8],
    ) -> Result<Self, TimestampError> {
        check_imprint_len(hash_algorithm, digest.len())?;
        Ok(Self {
            hash_algorithm,
            message_imprint: digest.to_vec(),
            nonce: None,
            cert_req: true,
            req_policy: None,
        })
    }

    /// The nonce's two's-complement content bytes, if any.
    pub fn nonce_bytes(&self) -> Option<&[u8]> {
        self.nonce.as_ref().map(Int::as_bytes)
    }
}

fn check_imprint_len(hash_algorithm: HashAlgorithm, len: usize) -> Result<(), TimestampError> {
    if len != hash_algorithm.output_len() {
        return Err(TimestampError::BadImprintLength {
            algorithm: hash_algorithm.name(),
            expected: hash_algorithm.output_len(),
            actual: len,
        });
    }
    Ok(())
}

/// Parses and checks a DER `TimeStampReq`.
///
/// `accepted_policies` lists the policies this TSA issues under; a request naming another one
/// is refused (a request naming none gets the TSA's default).
///
/// # Errors
/// Each error's [`TimestampError::failure_info`] is the RFC 3161 answer: `badDataFormat` for
/// oversized or malformed DER and wrong imprint lengths, `badAlg` for hashes other than
/// SHA-256/384/512, `unacceptedPolicy`, and `unacceptedExtension` for critical extensions.
pub fn parse_request(
    der: &[u8],
    accepted_policies: &[ObjectIdentifier],
) -> Result<TimeStampRequest, TimestampError> {
    if der.len() > MAX_REQUEST_LEN {
        return Err(TimestampError::RequestTooLarge(der.len()));
    }
    let req =
        TimeStampReq::from_der(der).map_err(|e| TimestampError::MalformedRequest(e.to_string()))?;
    let alg = &req.message_imprint.hash_algorithm;
    let hash_algorithm = HashAlgorithm::from_oid(&alg.oid)
        .ok_or_else(|| TimestampError::UnsupportedHashAlgorithm(alg.oid.to_string()))?;
    // RFC 5754: SHA-2 parameters are absent or NULL; anything else is not SHA-2 as we know it.
    if let Some(params) = &alg.parameters
        && !(params.tag() == der::Tag::Null && params.value().is_empty())
    {
        return Err(TimestampError::UnsupportedHashAlgorithm(format!(
            "{} with parameters",
            alg.oid
        )));
    }
    let imprint = req.message_imprint.hashed_message.as_bytes();
    check_imprint_len(hash_algorithm, imprint.len())?;
    if let Some(policy) = &req.req_policy
        && !accepted_policies.contains(policy)
    {
        return Err(TimestampError::UnacceptedPolicy(policy.to_string()));
    }
    // Non-critical extensions may be ignored (RFC 5280 semantics); we understand none.
    if let Some(ext) = req.extensions.iter().flatten().find(|e| e.critical) {
        return Err(TimestampError::UnacceptedExtension(ext.extn_id.to_string()));
    }
    Ok(TimeStampRequest {
        hash_algorithm,
        message_imprint: imprint.to_vec(),
        nonce: req.nonce,
        cert_req: req.cert_req,
        req_policy: req.req_policy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::FailureInfo;
    use proptest::prelude::*;

    const POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.99999.1.1");

    /// `openssl ts -query -data abc.txt -sha256 -out q.tsq` (RFC 3161 request, nonce present,
    /// no certReq); the same bytes are in x509-tsp's own test, produced by OpenSSL.
    const OPENSSL_QUERY: &str = "30400201013031300d060960864801650304020105000420ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0208314cfce4e0651827";

    fn openssl_query() -> Vec<u8> {
        hex::decode(OPENSSL_QUERY).unwrap()
    }

    #[test]
    fn parses_openssl_query() {
        let req = parse_request(&openssl_query(), &[POLICY]).unwrap();
        assert_eq!(req.hash_algorithm, HashAlgorithm::Sha256);
        // SHA-256("abc"), FIPS 180-4
        assert_eq!(
            hex::encode(&req.message_imprint),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            req.nonce_bytes(),
            Some(&hex::decode("314cfce4e0651827").unwrap()[..])
        );
        assert!(!req.cert_req);
        assert_eq!(req.req_policy, None);
    }

    fn failure(der: &[u8]) -> FailureInfo {
        parse_request(der, &[POLICY]).unwrap_err().failure_info()
    }

    /// A DER request built with x509-tsp's types: `oid` hash, `imprint` bytes.
    fn request_der(oid: ObjectIdentifier, imprint: &[u8]) -> Vec<u8> {
        let req = TimeStampReq {
            version: x509_tsp::TspVersion::V1,
            message_imprint: x509_tsp::MessageImprint {
                hash_algorithm: spki::AlgorithmIdentifier {
                    oid,
                    parameters: None,
                },
                hashed_message: der::asn1::OctetString::new(imprint.to_vec()).unwrap(),
            },
            req_policy: None,
            nonce: None,
            cert_req: true,
            extensions: None,
        };
        der::Encode::to_der(&req).unwrap()
    }

    #[test]
    fn unknown_hash_is_bad_alg() {
        // Replace the SHA-256 OID's last arc (…04 02 01) with …04 02 63 (unassigned).
        let mut q = openssl_query();
        let pos = q.windows(3).position(|w| w == [0x04, 0x02, 0x01]).unwrap();
        q[pos + 2] = 0x63;
        assert_eq!(failure(&q), FailureInfo::BadAlg);
        // SHA-1 is refused as well.
        let sha1 = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
        assert_eq!(failure(&request_der(sha1, &[7; 20])), FailureInfo::BadAlg);
    }

    #[test]
    fn wrong_imprint_length_is_bad_data_format() {
        for (alg, good) in [
            (HashAlgorithm::Sha256, 32),
            (HashAlgorithm::Sha384, 48),
            (HashAlgorithm::Sha512, 64),
        ] {
            let ok = parse_request(&request_der(alg.oid(), &vec![1; good]), &[]).unwrap();
            assert_eq!(ok.hash_algorithm, alg);
            assert!(ok.cert_req);
            for bad in [0, 20, good - 1, good + 1] {
                let der = request_der(alg.oid(), &vec![1; bad]);
                assert_eq!(failure(&der), FailureInfo::BadDataFormat, "{alg:?} {bad}");
            }
        }
    }

    #[test]
    fn policies_are_checked() {
        let mut req = x509_tsp::TimeStampReq::from_der(&openssl_query()).unwrap();
        req.req_policy = Some(POLICY);
        let der = der::Encode::to_der(&req).unwrap();
        assert_eq!(
            parse_request(&der, &[POLICY]).unwrap().req_policy,
            Some(POLICY)
        );
        req.req_policy = Some(ObjectIdentifier::new_unwrap("1.2.3.4"));
        let der = der::Encode::to_der(&req).unwrap();
        assert_eq!(failure(&der), FailureInfo::UnacceptedPolicy);
    }

    #[test]
    fn critical_extension_is_refused_non_critical_ignored() {
        let mut req = x509_tsp::TimeStampReq::from_der(&openssl_query()).unwrap();
        let ext = |critical| x509_cert::ext::Extension {
            extn_id: ObjectIdentifier::new_unwrap("1.2.3.4.5"),
            critical,
            extn_value: der::asn1::OctetString::new(vec![5, 0]).unwrap(),
        };
        req.extensions = Some(vec![ext(false)]);
        assert!(parse_request(&der::Encode::to_der(&req).unwrap(), &[]).is_ok());
        req.extensions = Some(vec![ext(true)]);
        assert_eq!(
            failure(&der::Encode::to_der(&req).unwrap()),
            FailureInfo::UnacceptedExtension
        );
    }

    #[test]
    fn garbage_truncation_and_size_are_bad_data_format() {
        let q = openssl_query();
        for cut in 0..q.len() {
            assert_eq!(failure(&q[..cut]), FailureInfo::BadDataFormat, "cut {cut}");
        }
        let mut trailing = q.clone();
        trailing.push(0);
        assert_eq!(failure(&trailing), FailureInfo::BadDataFormat);
        assert_eq!(failure(&vec![0x30; 1 << 20]), FailureInfo::BadDataFormat);
        assert!(matches!(
            parse_request(&vec![0u8; MAX_REQUEST_LEN + 1], &[]),
            Err(TimestampError::RequestTooLarge(_))
        ));
        // version 2 does not exist
        let mut v2 = q.clone();
        v2[4] = 2;
        assert_eq!(failure(&v2), FailureInfo::BadDataFormat);
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_request(&bytes, &[POLICY]);
        }

        #[test]
        fn mutated_requests_never_panic(
            flips in proptest::collection::vec((0usize..66, any::<u8>()), 1..6),
            cut in 0usize..70,
        ) {
            let mut q = openssl_query();
            for (i, b) in flips {
                if let Some(x) = q.get_mut(i) { *x ^= b; }
            }
            q.truncate(cut.max(1).min(q.len()));
            if let Ok(req) = parse_request(&q, &[POLICY]) {
                prop_assert_eq!(req.message_imprint.len(), req.hash_algorithm.output_len());
            }
        }
    }
}
