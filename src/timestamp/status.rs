//! `PKIStatusInfo` and `TimeStampResp` (RFC 3161 section 2.4.2) with the failure codes a TSA
//! answers, encoded by us because `cmpv2`'s failure-info flags number some bits wrongly.

use der::Sequence;
use der::asn1::{Any, BitString};

/// PKIStatus granted.
pub const STATUS_GRANTED: u8 = 0;
/// PKIStatus grantedWithMods.
pub const STATUS_GRANTED_WITH_MODS: u8 = 1;
/// PKIStatus rejection.
pub const STATUS_REJECTION: u8 = 2;

/// A `PKIFailureInfo` bit a TSA may answer with (RFC 3161 section 2.4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureInfo {
    /// Unrecognized or unsupported algorithm identifier.
    BadAlg,
    /// Transaction not permitted or supported.
    BadRequest,
    /// The data submitted has the wrong format.
    BadDataFormat,
    /// The TSA's time source is not available.
    TimeNotAvailable,
    /// The requested TSA policy is not supported.
    UnacceptedPolicy,
    /// The requested extension is not supported.
    UnacceptedExtension,
    /// The additional information requested is not available.
    AddInfoNotAvailable,
    /// The request cannot be handled due to system failure.
    SystemFailure,
}

impl FailureInfo {
    /// The bit number of this failure in the PKIFailureInfo BIT STRING.
    pub fn bit(self) -> u8 {
        match self {
            Self::BadAlg => 0,
            Self::BadRequest => 2,
            Self::BadDataFormat => 5,
            Self::TimeNotAvailable => 14,
            Self::UnacceptedPolicy => 15,
            Self::UnacceptedExtension => 16,
            Self::AddInfoNotAvailable => 17,
            Self::SystemFailure => 25,
        }
    }

    /// The DER BIT STRING with only this bit set (trailing zero bits removed, X.690 11.2.2).
    pub fn to_bit_string(self) -> der::Result<BitString> {
        let bit = self.bit();
        let mut bytes = vec![0u8; usize::from(bit / 8) + 1];
        if let Some(last) = bytes.last_mut() {
            *last = 0x80 >> (bit % 8);
        }
        BitString::new(7 - bit % 8, bytes)
    }

    /// The failure whose bit is the lowest one set in `bits`, if it is one we name.
    pub fn from_bit_string(bits: &BitString) -> Option<Self> {
        let all = [
            Self::BadAlg,
            Self::BadRequest,
            Self::BadDataFormat,
            Self::TimeNotAvailable,
            Self::UnacceptedPolicy,
            Self::UnacceptedExtension,
            Self::AddInfoNotAvailable,
            Self::SystemFailure,
        ];
        let raw = bits.raw_bytes();
        all.into_iter().find(|f| {
            let b = f.bit();
            raw.get(usize::from(b / 8))
                .is_some_and(|byte| byte & (0x80 >> (b % 8)) != 0)
        })
    }
}

/// `PKIStatusInfo` (RFC 3161 section 2.4.2).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct PkiStatusInfo {
    /// PKIStatus.
    pub status: u8,
    /// PKIFreeText: UTF8Strings for people.
    #[asn1(optional = "true")]
    pub status_string: Option<Vec<String>>,
    /// Why a request was rejected.
    #[asn1(optional = "true")]
    pub fail_info: Option<BitString>,
}

/// `TimeStampResp` (RFC 3161 section 2.4.2); the token is kept as its DER element.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct TimeStampResp {
    /// Granted or not, and why.
    pub status: PkiStatusInfo,
    /// The `TimeStampToken` (a CMS ContentInfo) when granted.
    #[asn1(optional = "true")]
    pub time_stamp_token: Option<Any>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::Encode;

    #[test]
    fn failure_bits_match_rfc3161_numbering() {
        // badAlg (bit 0): 03 02 07 80
        assert_eq!(
            FailureInfo::BadAlg
                .to_bit_string()
                .unwrap()
                .to_der()
                .unwrap(),
            [0x03, 0x02, 0x07, 0x80]
        );
        // badDataFormat (bit 5): 03 02 02 04
        assert_eq!(
            FailureInfo::BadDataFormat
                .to_bit_string()
                .unwrap()
                .to_der()
                .unwrap(),
            [0x03, 0x02, 0x02, 0x04]
        );
        // unacceptedPolicy (bit 15): 03 03 00 00 01
        assert_eq!(
            FailureInfo::UnacceptedPolicy
                .to_bit_string()
                .unwrap()
                .to_der()
                .unwrap(),
            [0x03, 0x03, 0x00, 0x00, 0x01]
        );
        // systemFailure (bit 25): 03 05 06 00 00 00 40
        assert_eq!(
            FailureInfo::SystemFailure
                .to_bit_string()
                .unwrap()
                .to_der()
                .unwrap(),
            [0x03, 0x05, 0x06, 0x00, 0x00, 0x00, 0x40]
        );
    }

    #[test]
    fn failure_bits_read_back() {
        for f in [
            FailureInfo::BadAlg,
            FailureInfo::BadRequest,
            FailureInfo::BadDataFormat,
            FailureInfo::TimeNotAvailable,
            FailureInfo::UnacceptedPolicy,
            FailureInfo::UnacceptedExtension,
            FailureInfo::AddInfoNotAvailable,
            FailureInfo::SystemFailure,
        ] {
            assert_eq!(
                FailureInfo::from_bit_string(&f.to_bit_string().unwrap()),
                Some(f)
            );
        }
    }
}
