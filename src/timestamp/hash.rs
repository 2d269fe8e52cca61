//! The hash algorithms a message imprint may use, with their OIDs and digest lengths.

use der::asn1::ObjectIdentifier;

use crate::timestamp::oids;

/// A hash algorithm accepted in message imprints (RFC 3161 section 2.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// SHA-256 (FIPS 180-4).
    Sha256,
    /// SHA-384 (FIPS 180-4).
    Sha384,
    /// SHA-512 (FIPS 180-4).
    Sha512,
}

impl HashAlgorithm {
    /// The algorithm named by `oid`, if we accept it.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        match *oid {
            oids::SHA256 => Some(Self::Sha256),
            oids::SHA384 => Some(Self::Sha384),
            oids::SHA512 => Some(Self::Sha512),
            _ => None,
        }
    }

    /// The algorithm's object identifier.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha256 => oids::SHA256,
            Self::Sha384 => oids::SHA384,
            Self::Sha512 => oids::SHA512,
        }
    }

    /// Length of a digest in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// Conventional name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA-256",
            Self::Sha384 => "SHA-384",
            Self::Sha512 => "SHA-512",
        }
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        ring::digest::digest(self.ring_algorithm(), data)
            .as_ref()
            .to_vec()
    }

    fn ring_algorithm(self) -> &'static ring::digest::Algorithm {
        match self {
            Self::Sha256 => &ring::digest::SHA256,
            Self::Sha384 => &ring::digest::SHA384,
            Self::Sha512 => &ring::digest::SHA512,
        }
    }
}

/// The digest of `data` under the hash named by `oid`, including SHA-1, which other TSAs still
/// use in ESSCertID; `None` for any other algorithm.
pub(crate) fn digest_by_oid(oid: &ObjectIdentifier, data: &[u8]) -> Option<Vec<u8>> {
    if *oid == oids::SHA1 {
        let d = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, data);
        return Some(d.as_ref().to_vec());
    }
    HashAlgorithm::from_oid(oid).map(|h| h.digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_match_known_answers() {
        // FIPS 180-4 "abc" examples (the same values `printf abc | sha256sum` prints).
        assert_eq!(
            hex::encode(HashAlgorithm::Sha256.digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex::encode(&HashAlgorithm::Sha384.digest(b"abc")[..8]),
            "cb00753f45a35e8b"
        );
        assert_eq!(
            hex::encode(&HashAlgorithm::Sha512.digest(b"abc")[..8]),
            "ddaf35a193617aba"
        );
        assert_eq!(
            hex::encode(digest_by_oid(&oids::SHA1, b"abc").unwrap_or_default()),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }

    #[test]
    fn oids_round_trip_and_lengths_agree() {
        for h in [
            HashAlgorithm::Sha256,
            HashAlgorithm::Sha384,
            HashAlgorithm::Sha512,
        ] {
            assert_eq!(HashAlgorithm::from_oid(&h.oid()), Some(h));
            assert_eq!(h.digest(b"").len(), h.output_len());
        }
        assert_eq!(HashAlgorithm::from_oid(&oids::SHA1), None);
    }
}
