//! Time-stamp queries for the `tsa` scenario (DER `TimeStampReq`, RFC 3161 section 2.4.1, as
//! `openssl ts -query -sha256 -cert` makes them) and a cheap check of a reply's PKIStatus.

use der::asn1::{Int, OctetString};
use der::{Decode, Encode, Header, Reader, SliceReader, Tag};
use sha2::{Digest, Sha256};
use x509_tsp::{MessageImprint, TimeStampReq, TspVersion};

use super::LoadtestError;
use crate::timestamp::HashAlgorithm;

/// One DER `TimeStampReq` over `digest` (SHA-256) with `nonce` (positive, minimal DER).
pub fn query_der(digest: &[u8; 32], nonce: u64, cert_req: bool) -> Result<Vec<u8>, LoadtestError> {
    let bytes = nonce_bytes(nonce);
    let req = TimeStampReq {
        version: TspVersion::V1,
        message_imprint: MessageImprint {
            hash_algorithm: spki::AlgorithmIdentifier {
                oid: HashAlgorithm::Sha256.oid(),
                // OpenSSL writes the NULL parameters; so do we, to look like its queries.
                parameters: Some(der::asn1::Any::from(der::asn1::Null)),
            },
            hashed_message: OctetString::new(digest.to_vec()).map_err(der_err)?,
        },
        req_policy: None,
        nonce: Some(Int::new(&bytes).map_err(der_err)?),
        cert_req,
        extensions: None,
    };
    req.to_der().map_err(der_err)
}

/// The `count` distinct queries of a run: digest i = SHA-256(seed ‖ i), nonce from (seed, i).
pub fn queries(count: usize, seed: u64, cert_req: bool) -> Result<Vec<Vec<u8>>, LoadtestError> {
    (0..count as u64)
        .map(|i| {
            let mut h = Sha256::new();
            h.update(b"notarium loadtest tsa");
            h.update(seed.to_be_bytes());
            h.update(i.to_be_bytes());
            let digest: [u8; 32] = h.finalize().into();
            query_der(&digest, mix64(seed ^ mix64(i)), cert_req)
        })
        .collect()
}

/// The nonce's DER INTEGER content: 8 bytes, top byte in 0x01..=0x7f so the encoding is
/// positive and minimal whatever the input.
fn nonce_bytes(nonce: u64) -> [u8; 8] {
    let mut b = nonce.to_be_bytes();
    b[0] = (b[0] & 0x7f).max(1);
    b
}

/// SplitMix64's finaliser: spreads consecutive counters over 64 bits.
fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn der_err(e: der::Error) -> LoadtestError {
    LoadtestError::Prepare(format!("time-stamp query: {e}"))
}

/// The PKIStatus of a DER `TimeStampResp`, reading only its first few bytes (the load generator
/// shares the CPU with the server, so it does not parse the token).
pub fn reply_status(reply: &[u8]) -> Option<u8> {
    let mut r = SliceReader::new(reply).ok()?;
    let outer = Header::decode(&mut r).ok()?;
    let info = Header::decode(&mut r).ok()?;
    if outer.tag != Tag::Sequence || info.tag != Tag::Sequence {
        return None;
    }
    r.decode::<u8>().ok()
}

/// True when a reply's PKIStatus is granted (0) or grantedWithMods (1).
pub fn reply_granted(reply: &[u8]) -> bool {
    matches!(reply_status(reply), Some(0 | 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `openssl ts -query -data abc.txt -sha256 -out q.tsq` (no certReq): the bytes quoted in
    /// the timestamp module's tests, produced by OpenSSL.
    const OPENSSL_QUERY: &str = "30400201013031300d060960864801650304020105000420ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0208314cfce4e0651827";

    fn sha256_abc() -> [u8; 32] {
        // FIPS 180-4 example: SHA-256("abc").
        let v = hex::decode("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
            .unwrap();
        v.try_into().unwrap()
    }

    #[test]
    fn query_matches_openssl_bytes() {
        let der = query_der(&sha256_abc(), 0x314c_fce4_e065_1827, false).unwrap();
        assert_eq!(hex::encode(der), OPENSSL_QUERY);
    }

    #[test]
    fn cert_req_adds_the_boolean() {
        let der = query_der(&sha256_abc(), 0x314c_fce4_e065_1827, true).unwrap();
        // Outer length grows by 3 (01 01 ff), appended after the nonce.
        assert_eq!(der[1], 0x43);
        assert!(der.ends_with(&[0x01, 0x01, 0xff]));
        let parsed = crate::timestamp::parse_request(&der, &[]).unwrap();
        assert!(parsed.cert_req);
    }

    #[test]
    fn queries_are_distinct_and_parse() {
        let qs = queries(200, 7, true).unwrap();
        let mut imprints = std::collections::HashSet::new();
        let mut nonces = std::collections::HashSet::new();
        for q in &qs {
            let r = crate::timestamp::parse_request(q, &[]).unwrap();
            assert!(imprints.insert(r.message_imprint.clone()));
            assert!(nonces.insert(r.nonce_bytes().unwrap().to_vec()));
        }
        assert_ne!(queries(1, 8, true).unwrap(), queries(1, 7, true).unwrap());
        let plain = queries(1, 7, false).unwrap();
        assert!(
            !crate::timestamp::parse_request(&plain[0], &[])
                .unwrap()
                .cert_req
        );
    }

    #[test]
    fn nonce_encoding_is_positive_and_minimal() {
        for n in [0u64, 1, 0x80 << 56, u64::MAX, 0x00ff_ffff_ffff_ffff] {
            let b = nonce_bytes(n);
            assert!((1..0x80).contains(&b[0]), "{n:x}");
            assert!(Int::new(&b).is_ok());
        }
    }

    #[test]
    fn reply_status_reads_granted_and_rejection() {
        // Hand-assembled replies: SEQUENCE { SEQUENCE { INTEGER s } }.
        assert_eq!(
            reply_status(&[0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x00]),
            Some(0)
        );
        assert!(reply_granted(&[0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x01]));
        assert!(!reply_granted(&[0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x02]));
        // A real rejection from the timestamp module.
        let rejected =
            crate::timestamp::rejection_response(crate::timestamp::FailureInfo::BadAlg, "no")
                .unwrap();
        assert_eq!(reply_status(&rejected), Some(2));
        for bad in [
            &[][..],
            &[0x30],
            &[0x02, 0x01, 0x00],
            &[0x30, 0x03, 0x02, 0x01, 0x00],
        ] {
            assert_eq!(reply_status(bad), None, "{bad:?}");
        }
    }
}
