//! ASN.1 structures of RFC 3161, RFC 5035 and RFC 2634 that `x509-tsp` lacks or models too
//! narrowly: a `GeneralizedTime` with fractional seconds (der 0.7's refuses them, yet many
//! TSAs emit them), `TSTInfo` built on it, and the ESS signing-certificate attributes.

use der::asn1::{Any, Int, ObjectIdentifier, OctetString};
use der::{DecodeValue, EncodeValue, FixedTag, Header, Length, Reader, Sequence, Tag, Writer};
use spki::AlgorithmIdentifierOwned;
use time::OffsetDateTime;
use x509_cert::ext::Extensions;
use x509_cert::ext::pkix::name::{GeneralName, GeneralNames};
use x509_tsp::{Accuracy, MessageImprint, TspVersion};

use crate::timestamp::oids;

/// Most fractional-second digits we write or read (nanoseconds).
const MAX_FRACTION_DIGITS: usize = 9;

/// A `GeneralizedTime` in UTC, `YYYYMMDDHHMMSS[.f*]Z`, as RFC 3161 section 2.4.2 allows for
/// genTime. Encoding drops trailing zeros of the fraction and the dot when it is empty (DER).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenTime {
    /// The instant, always UTC.
    pub datetime: OffsetDateTime,
    /// How many fractional digits to write (0..=9); reading sets the digits found.
    pub digits: u8,
}

impl GenTime {
    fn text(&self) -> der::Result<Vec<u8>> {
        let t = self.datetime.to_offset(time::UtcOffset::UTC);
        let year = t.year();
        if !(0..=9999).contains(&year) {
            return Err(Self::TAG.value_error());
        }
        let mut s = format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}",
            year,
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        );
        let digits = usize::from(self.digits).min(MAX_FRACTION_DIGITS);
        if digits > 0 {
            let nanos = format!("{:09}", t.nanosecond());
            let frac = nanos.get(..digits).unwrap_or("").trim_end_matches('0');
            if !frac.is_empty() {
                s.push('.');
                s.push_str(frac);
            }
        }
        s.push('Z');
        Ok(s.into_bytes())
    }

    fn parse(bytes: &[u8]) -> Option<Self> {
        let (body, rest) = (bytes.get(..14)?, bytes.get(14..)?);
        if !body.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let num = |r: core::ops::Range<usize>| -> Option<u32> {
            core::str::from_utf8(body.get(r)?).ok()?.parse().ok()
        };
        // "Z" alone, or "." with 1..=9 digits then "Z"; local times and offsets are refused.
        let frac = match rest {
            [b'Z'] => &[][..],
            [b'.', f @ .., b'Z'] if !f.is_empty() => f,
            _ => return None,
        };
        if frac.len() > MAX_FRACTION_DIGITS || !frac.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let mut nanos: u32 = 0;
        for i in 0..MAX_FRACTION_DIGITS {
            let d = frac.get(i).map_or(0, |c| u32::from(c - b'0'));
            nanos = nanos * 10 + d;
        }
        let date = time::Date::from_calendar_date(
            i32::try_from(num(0..4)?).ok()?,
            time::Month::try_from(u8::try_from(num(4..6)?).ok()?).ok()?,
            u8::try_from(num(6..8)?).ok()?,
        )
        .ok()?;
        let tod = time::Time::from_hms_nano(
            u8::try_from(num(8..10)?).ok()?,
            u8::try_from(num(10..12)?).ok()?,
            u8::try_from(num(12..14)?).ok()?,
            nanos,
        )
        .ok()?;
        Some(Self {
            datetime: time::PrimitiveDateTime::new(date, tod).assume_utc(),
            digits: u8::try_from(frac.len()).ok()?,
        })
    }
}

impl FixedTag for GenTime {
    const TAG: Tag = Tag::GeneralizedTime;
}

impl<'a> DecodeValue<'a> for GenTime {
    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        let len = usize::try_from(header.length)?;
        // 14 digits + '.' + 9 digits + 'Z'
        if len > 25 {
            return Err(Self::TAG.value_error());
        }
        let bytes = reader.read_slice(header.length)?;
        Self::parse(bytes).ok_or_else(|| Self::TAG.value_error())
    }
}

impl EncodeValue for GenTime {
    fn value_len(&self) -> der::Result<Length> {
        Length::try_from(self.text()?.len())
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        writer.write(&self.text()?)
    }
}

/// `TSTInfo` (RFC 3161 section 2.4.2), with a genTime that may carry fractional seconds.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct TstInfo {
    /// Always v1.
    pub version: TspVersion,
    /// The TSA policy under which the token was issued.
    pub policy: ObjectIdentifier,
    /// The hash of the time-stamped data, copied from the request.
    pub message_imprint: MessageImprint,
    /// Unique per token issued by this TSA.
    pub serial_number: Int,
    /// When the token was created.
    pub gen_time: GenTime,
    /// Deviation of genTime from UTC.
    #[asn1(optional = "true")]
    pub accuracy: Option<Accuracy>,
    /// Whether tokens of this TSA are ordered by genTime alone.
    #[asn1(default = "Default::default")]
    pub ordering: bool,
    /// The request's nonce, echoed.
    #[asn1(optional = "true")]
    pub nonce: Option<Int>,
    /// The TSA's name.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub tsa: Option<GeneralName>,
    /// Extensions (none issued by us).
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub extensions: Option<Extensions>,
}

/// `IssuerSerial` (RFC 5035): the issuer and serial number of the signing certificate.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct IssuerSerial {
    /// The certificate's issuer as a directoryName.
    pub issuer: GeneralNames,
    /// The certificate's serial number.
    pub serial_number: Int,
}

/// The DEFAULT hash of ESSCertIDv2: SHA-256 with absent parameters.
pub fn sha256_algorithm() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: oids::SHA256,
        parameters: None,
    }
}

/// `ESSCertIDv2` (RFC 5035 section 4). The DEFAULT hash algorithm is modelled as an OPTIONAL
/// (der's derive cannot compare DEFAULT values of this type); [`EssCertIdV2::hash_oid`] reads it.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct EssCertIdV2 {
    /// Hash of the certificate; `None` means the DEFAULT, SHA-256, which DER omits.
    #[asn1(optional = "true")]
    pub hash_algorithm: Option<AlgorithmIdentifierOwned>,
    /// Hash of the whole DER certificate.
    pub cert_hash: OctetString,
    /// Issuer and serial of the certificate.
    #[asn1(optional = "true")]
    pub issuer_serial: Option<IssuerSerial>,
}

impl EssCertIdV2 {
    /// The hash algorithm's OID, SHA-256 when absent.
    pub fn hash_oid(&self) -> ObjectIdentifier {
        self.hash_algorithm.as_ref().map_or(oids::SHA256, |a| a.oid)
    }
}

/// `SigningCertificateV2` (RFC 5035 section 3), the value of id-aa-signingCertificateV2.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SigningCertificateV2 {
    /// The first identifies the signing certificate.
    pub certs: Vec<EssCertIdV2>,
    /// Policies (never issued by us).
    #[asn1(optional = "true")]
    pub policies: Option<Vec<Any>>,
}

/// `ESSCertID` (RFC 2634 section 5.4.1), SHA-1 only; read for tokens of other TSAs.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct EssCertId {
    /// SHA-1 of the whole DER certificate.
    pub cert_hash: OctetString,
    /// Issuer and serial of the certificate.
    #[asn1(optional = "true")]
    pub issuer_serial: Option<IssuerSerial>,
}

/// `SigningCertificate` (RFC 2634 section 5.4), the value of id-aa-signingCertificate.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SigningCertificate {
    /// The first identifies the signing certificate.
    pub certs: Vec<EssCertId>,
    /// Policies (ignored).
    #[asn1(optional = "true")]
    pub policies: Option<Vec<Any>>,
}

/// A non-negative DER INTEGER holding `value`.
pub fn int_from_u128(value: u128) -> der::Result<Int> {
    let be = value.to_be_bytes();
    let first = be.iter().position(|b| *b != 0).unwrap_or(be.len() - 1);
    let mut bytes = Vec::with_capacity(17);
    if be.get(first).is_some_and(|b| b & 0x80 != 0) {
        // a leading 0x00 keeps the value positive
        bytes.push(0);
    }
    bytes.extend_from_slice(be.get(first..).unwrap_or(&[0]));
    Int::new(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::{Decode, Encode};
    use time::macros::datetime;

    fn encode_time(t: OffsetDateTime, digits: u8) -> String {
        let der = GenTime {
            datetime: t,
            digits,
        }
        .to_der()
        .unwrap();
        assert_eq!(der[0], 0x18, "GeneralizedTime tag");
        String::from_utf8(der[2..].to_vec()).unwrap()
    }

    #[test]
    fn gen_time_encodes_der_fraction() {
        let t = datetime!(2026-03-01 12:34:56.120 UTC);
        assert_eq!(encode_time(t, 0), "20260301123456Z");
        // trailing zeros dropped
        assert_eq!(encode_time(t, 3), "20260301123456.12Z");
        assert_eq!(encode_time(t, 6), "20260301123456.12Z");
        assert_eq!(encode_time(t, 1), "20260301123456.1Z");
        // an all-zero fraction drops the dot
        assert_eq!(
            encode_time(datetime!(2026-03-01 00:00:00.000400 UTC), 3),
            "20260301000000Z"
        );
        // non-UTC input is written in UTC
        assert_eq!(
            encode_time(datetime!(2026-03-01 08:00:00 +08:00), 0),
            "20260301000000Z"
        );
    }

    #[test]
    fn gen_time_decodes_with_and_without_fraction() {
        let t = GenTime::from_der(b"\x18\x0f20240229235959Z").unwrap();
        assert_eq!(t.datetime, datetime!(2024-02-29 23:59:59 UTC));
        let t = GenTime::from_der(b"\x18\x1320240229235959.123Z").unwrap();
        assert_eq!(t.datetime, datetime!(2024-02-29 23:59:59.123 UTC));
        assert_eq!(t.digits, 3);
        for bad in [
            &b"\x18\x0f20230229235959Z"[..], // no 29 February in 2023
            b"\x18\x0f20240229235959+",
            b"\x18\x1020240229235959.Z",
            b"\x18\x0d202402292359Z",
            b"\x18\x1120240229235959.aZ",
            b"\x18\x1a20240229235959.1234567890Z",
        ] {
            assert!(GenTime::from_der(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn serial_integers_are_minimal_and_positive() {
        let enc = |v: u128| hex::encode(int_from_u128(v).unwrap().to_der().unwrap());
        assert_eq!(enc(0), "020100");
        assert_eq!(enc(127), "02017f");
        assert_eq!(enc(128), "02020080");
        assert_eq!(enc(0x0102), "02020102");
        assert_eq!(enc(u128::MAX), format!("021100{}", "ff".repeat(16)));
    }

    #[test]
    fn ess_cert_id_v2_omits_default_sha256() {
        let id = EssCertIdV2 {
            hash_algorithm: None,
            cert_hash: OctetString::new(vec![0xab; 32]).unwrap(),
            issuer_serial: None,
        };
        // SEQUENCE { OCTET STRING (32) } and nothing else (RFC 5035: DEFAULT is not encoded)
        let der = id.to_der().unwrap();
        assert_eq!(&der[..4], &[0x30, 0x22, 0x04, 0x20]);
        let back = EssCertIdV2::from_der(&der).unwrap();
        assert_eq!(back, id);
        assert_eq!(back.hash_oid(), oids::SHA256);
        // an explicit SHA-512 is kept and read
        let with = EssCertIdV2 {
            hash_algorithm: Some(AlgorithmIdentifierOwned {
                oid: oids::SHA512,
                parameters: None,
            }),
            ..id
        };
        let back = EssCertIdV2::from_der(&with.to_der().unwrap()).unwrap();
        assert_eq!(back.hash_oid(), oids::SHA512);
    }
}
