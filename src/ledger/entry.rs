//! The canonical, versioned byte encoding of one ledger statement (an "entry"), whose leaf
//! hash is what the Merkle tree commits to. Encoding is deterministic and the decoder strict,
//! so one statement has exactly one encoding. Byte layout: `docs/ledger-format.md`.

use p256::ecdsa::Signature;

use super::error::EntryError;
use super::hash::{Hash, leaf_hash};

/// The encoding version this code writes and reads.
pub const ENTRY_VERSION: u8 = 1;
/// The largest encoded entry (it must fit a tile bundle's 2-byte length prefix).
pub const MAX_ENTRY_SIZE: usize = 65_535;
/// The longest detail text, in bytes of UTF-8.
pub const MAX_DETAIL_LEN: usize = 1024;
/// The longest DER ECDSA P-256 signature.
pub const MAX_SIGNATURE_LEN: usize = 72;

/// What the entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EntryKind {
    /// An invoice was notarized.
    Invoice = 1,
    /// An invoice was credited (red-letter) or cancelled; `refers_to` names it.
    InvoiceStatus = 2,
    /// A contract was notarized.
    Contract = 3,
    /// A party signed a contract; `refers_to` names it.
    ContractSignature = 4,
    /// Every party has signed; `refers_to` names the contract.
    ContractExecuted = 5,
}

impl EntryKind {
    /// The kind for a byte value.
    ///
    /// # Errors
    /// [`EntryError::UnknownKind`].
    pub fn from_byte(b: u8) -> Result<Self, EntryError> {
        Ok(match b {
            1 => Self::Invoice,
            2 => Self::InvoiceStatus,
            3 => Self::Contract,
            4 => Self::ContractSignature,
            5 => Self::ContractExecuted,
            other => return Err(EntryError::UnknownKind(other)),
        })
    }

    /// Whether entries of this kind must name the record they act on.
    pub fn requires_refers_to(self) -> bool {
        matches!(
            self,
            Self::InvoiceStatus | Self::ContractSignature | Self::ContractExecuted
        )
    }
}

/// Who made the signature in the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Signer {
    /// The organisation signed with its own key.
    Org = 0,
    /// The server signed on the organisation's behalf with a key it keeps for it.
    Custodial = 1,
}

impl Signer {
    /// The signer for a byte value.
    ///
    /// # Errors
    /// [`EntryError::UnknownSigner`].
    pub fn from_byte(b: u8) -> Result<Self, EntryError> {
        match b {
            0 => Ok(Self::Org),
            1 => Ok(Self::Custodial),
            other => Err(EntryError::UnknownSigner(other)),
        }
    }
}

/// One ledger statement (version 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// What happened.
    pub kind: EntryKind,
    /// The record's UUID.
    pub record_id: [u8; 16],
    /// The organisation's UUID.
    pub org_id: [u8; 16],
    /// SHA-256 of the signer certificate's DER.
    pub cert_fingerprint: [u8; 32],
    /// SHA-256 of the document bytes.
    pub document_sha256: [u8; 32],
    /// SHA-256 of the canonical content, for formats that have one.
    pub canonical_sha256: Option<[u8; 32]>,
    /// Who signed.
    pub signer: Signer,
    /// DER ECDSA P-256 signature over the document bytes (that is, over their SHA-256).
    pub signature: Vec<u8>,
    /// SHA-256 of the RFC 3161 time-stamp token's DER.
    pub token_sha256: [u8; 32],
    /// The record credited, cancelled or co-signed.
    pub refers_to: Option<[u8; 16]>,
    /// A short human-readable note ("credit 100.00 EUR", "cancel", a contract title).
    pub detail: String,
}

impl Entry {
    /// Checks every field's constraints without encoding.
    ///
    /// # Errors
    /// [`EntryError::BadSignature`], [`EntryError::BadDetail`],
    /// [`EntryError::MissingRefersTo`].
    pub fn validate(&self) -> Result<(), EntryError> {
        check_signature(&self.signature)?;
        check_detail(&self.detail)?;
        if self.kind.requires_refers_to() && self.refers_to.is_none() {
            return Err(EntryError::MissingRefersTo);
        }
        Ok(())
    }

    /// The canonical encoding.
    ///
    /// # Errors
    /// As [`Entry::validate`].
    pub fn encode(&self) -> Result<Vec<u8>, EntryError> {
        self.validate()?;
        let mut out = Vec::with_capacity(256 + self.detail.len());
        out.push(ENTRY_VERSION);
        out.push(self.kind as u8);
        out.extend_from_slice(&self.record_id);
        out.extend_from_slice(&self.org_id);
        out.extend_from_slice(&self.cert_fingerprint);
        out.extend_from_slice(&self.document_sha256);
        push_option(
            &mut out,
            self.canonical_sha256.as_ref().map(|h| h.as_slice()),
        );
        out.push(self.signer as u8);
        push_len_prefixed(&mut out, &self.signature);
        out.extend_from_slice(&self.token_sha256);
        push_option(&mut out, self.refers_to.as_ref().map(|r| r.as_slice()));
        push_len_prefixed(&mut out, self.detail.as_bytes());
        Ok(out)
    }

    /// Decodes an encoded entry, refusing anything but the canonical encoding.
    ///
    /// # Errors
    /// [`EntryError::TooLarge`], [`EntryError::Truncated`], [`EntryError::TrailingBytes`],
    /// [`EntryError::UnknownVersion`], [`EntryError::UnknownKind`],
    /// [`EntryError::UnknownSigner`], [`EntryError::BadFlag`], and as [`Entry::validate`].
    pub fn decode(bytes: &[u8]) -> Result<Self, EntryError> {
        if bytes.len() > MAX_ENTRY_SIZE {
            return Err(EntryError::TooLarge(bytes.len()));
        }
        let mut r = Reader(bytes);
        let version = r.byte()?;
        if version != ENTRY_VERSION {
            return Err(EntryError::UnknownVersion(version));
        }
        let kind = EntryKind::from_byte(r.byte()?)?;
        let record_id = r.array()?;
        let org_id = r.array()?;
        let cert_fingerprint = r.array()?;
        let document_sha256 = r.array()?;
        let canonical_sha256 = if r.flag()? { Some(r.array()?) } else { None };
        let signer = Signer::from_byte(r.byte()?)?;
        let signature = r.len_prefixed(MAX_SIGNATURE_LEN)?.to_vec();
        let token_sha256 = r.array()?;
        let refers_to = if r.flag()? { Some(r.array()?) } else { None };
        let detail_bytes = r.len_prefixed(MAX_DETAIL_LEN)?;
        let detail = std::str::from_utf8(detail_bytes)
            .map_err(|_| EntryError::BadDetail("not UTF-8"))?
            .to_owned();
        if !r.0.is_empty() {
            return Err(EntryError::TrailingBytes(r.0.len()));
        }
        let entry = Self {
            kind,
            record_id,
            org_id,
            cert_fingerprint,
            document_sha256,
            canonical_sha256,
            signer,
            signature,
            token_sha256,
            refers_to,
            detail,
        };
        entry.validate()?;
        Ok(entry)
    }

    /// The Merkle leaf hash of the encoded entry, `SHA-256(0x00 || encoding)`.
    ///
    /// # Errors
    /// As [`Entry::encode`].
    pub fn leaf_hash(&self) -> Result<Hash, EntryError> {
        Ok(leaf_hash(&self.encode()?))
    }
}

fn check_signature(sig: &[u8]) -> Result<(), EntryError> {
    if sig.is_empty() || sig.len() > MAX_SIGNATURE_LEN {
        return Err(EntryError::BadSignature);
    }
    let parsed = Signature::from_der(sig).map_err(|_| EntryError::BadSignature)?;
    // Only the one DER spelling of the signature is canonical.
    if parsed.to_der().as_bytes() != sig {
        return Err(EntryError::BadSignature);
    }
    Ok(())
}

fn check_detail(detail: &str) -> Result<(), EntryError> {
    if detail.len() > MAX_DETAIL_LEN {
        return Err(EntryError::BadDetail("too long"));
    }
    if detail.chars().any(char::is_control) {
        return Err(EntryError::BadDetail("control character"));
    }
    Ok(())
}

fn push_option(out: &mut Vec<u8>, v: Option<&[u8]>) {
    match v {
        Some(bytes) => {
            out.push(1);
            out.extend_from_slice(bytes);
        }
        None => out.push(0),
    }
}

fn push_len_prefixed(out: &mut Vec<u8>, v: &[u8]) {
    // Lengths are checked by `validate` to be far below 65536.
    out.extend_from_slice(&(v.len() as u16).to_be_bytes());
    out.extend_from_slice(v);
}

/// A cursor over untrusted bytes whose every read is bounds-checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], EntryError> {
        if self.0.len() < n {
            return Err(EntryError::Truncated);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, EntryError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], EntryError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn flag(&mut self) -> Result<bool, EntryError> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(EntryError::BadFlag(other)),
        }
    }

    fn len_prefixed(&mut self, max: usize) -> Result<&'a [u8], EntryError> {
        let len = usize::from(u16::from_be_bytes(self.array()?));
        if len > max {
            return Err(EntryError::TooLarge(len));
        }
        self.take(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIG_HEX: &str = "3046022100974e802687983a4d3d3f00ac7ff48c67052d5db7ca565cbe58d8627adaf57345022100e5a50de0d9a01c5df2580d40897264f03983ddcad287366bd1c3a6946b0c9ffa";

    fn h16(s: &str) -> [u8; 16] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    fn h32(s: &str) -> [u8; 32] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    /// Vector 1 of docs/ledger-format.md.
    fn credit_entry() -> Entry {
        Entry {
            kind: EntryKind::InvoiceStatus,
            record_id: h16("00112233445566778899aabbccddeeff"),
            org_id: h16("0f0e0d0c0b0a09080706050403020100"),
            cert_fingerprint: [0xc1; 32],
            document_sha256: h32(
                "02e6a14b8f444ed8bdbca238b8effa7ea24f5a8c1c2b6dbeab796c87bb9bb510",
            ),
            canonical_sha256: Some([0xca; 32]),
            signer: Signer::Org,
            signature: hex::decode(SIG_HEX).unwrap(),
            token_sha256: [0x70; 32],
            refers_to: Some(h16("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf")),
            detail: "credit 100.00 EUR".into(),
        }
    }

    /// Vector 2 of docs/ledger-format.md.
    fn contract_entry() -> Entry {
        Entry {
            kind: EntryKind::Contract,
            record_id: [0x22; 16],
            org_id: [0x33; 16],
            cert_fingerprint: [0x44; 32],
            document_sha256: [0x55; 32],
            canonical_sha256: None,
            signer: Signer::Custodial,
            signature: hex::decode(SIG_HEX).unwrap(),
            token_sha256: [0x66; 32],
            refers_to: None,
            detail: "Lease — Via Roma 1".into(),
        }
    }

    #[test]
    fn vectors_match_python_hashlib() {
        // Expected bytes and leaf hashes were built field by field with Python's struct and
        // hashlib from the layout in docs/ledger-format.md, not by this code.
        let e1 = credit_entry();
        assert_eq!(hex::encode(e1.encode().unwrap()), VECTOR1_HEX);
        assert_eq!(hex::encode(e1.leaf_hash().unwrap()), VECTOR1_LEAF);
        let e2 = contract_entry();
        assert_eq!(hex::encode(e2.encode().unwrap()), VECTOR2_HEX);
        assert_eq!(hex::encode(e2.leaf_hash().unwrap()), VECTOR2_LEAF);
    }

    #[test]
    fn round_trips() {
        for e in [credit_entry(), contract_entry()] {
            let bytes = e.encode().unwrap();
            assert_eq!(Entry::decode(&bytes).unwrap(), e);
        }
    }

    #[test]
    fn strict_decoder() {
        let good = credit_entry().encode().unwrap();
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(Entry::decode(&trailing), Err(EntryError::TrailingBytes(1)));
        for cut in 0..good.len() {
            assert!(
                Entry::decode(&good[..cut]).is_err(),
                "prefix {cut} accepted"
            );
        }
        let mut v = good.clone();
        v[0] = 2;
        assert_eq!(Entry::decode(&v), Err(EntryError::UnknownVersion(2)));
        let mut k = good.clone();
        k[1] = 6;
        assert_eq!(Entry::decode(&k), Err(EntryError::UnknownKind(6)));
        let mut f = good.clone();
        f[98] = 2; // canonical_sha256 presence flag
        assert_eq!(Entry::decode(&f), Err(EntryError::BadFlag(2)));
        let mut s = good.clone();
        s[98 + 33] = 7; // signer
        assert_eq!(Entry::decode(&s), Err(EntryError::UnknownSigner(7)));
        assert!(matches!(
            Entry::decode(&vec![1u8; MAX_ENTRY_SIZE + 1]),
            Err(EntryError::TooLarge(_))
        ));
    }

    #[test]
    fn field_rules() {
        let mut e = credit_entry();
        e.refers_to = None;
        assert_eq!(e.encode(), Err(EntryError::MissingRefersTo));
        let mut e = credit_entry();
        e.detail = "line\nbreak".into();
        assert!(matches!(e.encode(), Err(EntryError::BadDetail(_))));
        e.detail = "x".repeat(MAX_DETAIL_LEN + 1);
        assert!(matches!(e.encode(), Err(EntryError::BadDetail(_))));
        e.detail = "x".repeat(MAX_DETAIL_LEN);
        assert!(e.encode().is_ok());
        e.signature = vec![0x30, 0x00];
        assert_eq!(e.encode(), Err(EntryError::BadSignature));
        // A valid signature with a non-minimal DER length is not canonical.
        let sig = hex::decode(SIG_HEX).unwrap();
        let mut long_form = vec![0x30, 0x81, sig[1]];
        long_form.extend_from_slice(&sig[2..]);
        e.signature = long_form;
        assert_eq!(e.encode(), Err(EntryError::BadSignature));
    }

    const VECTOR1_HEX: &str = "010200112233445566778899aabbccddeeff0f0e0d0c0b0a09080706050403020100c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c102e6a14b8f444ed8bdbca238b8effa7ea24f5a8c1c2b6dbeab796c87bb9bb51001cacacacacacacacacacacacacacacacacacacacacacacacacacacacacacacaca0000483046022100974e802687983a4d3d3f00ac7ff48c67052d5db7ca565cbe58d8627adaf57345022100e5a50de0d9a01c5df2580d40897264f03983ddcad287366bd1c3a6946b0c9ffa707070707070707070707070707070707070707070707070707070707070707001a0a1a2a3a4a5a6a7a8a9aaabacadaeaf0011637265646974203130302e303020455552";
    const VECTOR1_LEAF: &str = "6ea7a91768d587a7c9d6d7efd0e60ea5fdb9834acc35db060515f2f994424170";
    const VECTOR2_HEX: &str = "0103222222222222222222222222222222223333333333333333333333333333333344444444444444444444444444444444444444444444444444444444444444445555555555555555555555555555555555555555555555555555555555555555000100483046022100974e802687983a4d3d3f00ac7ff48c67052d5db7ca565cbe58d8627adaf57345022100e5a50de0d9a01c5df2580d40897264f03983ddcad287366bd1c3a6946b0c9ffa66666666666666666666666666666666666666666666666666666666666666660000144c6561736520e280942056696120526f6d612031";
    const VECTOR2_LEAF: &str = "5f894120aa8b6847a087c36a8314f11f1777c9a2b435d3b8ce8960adcc136dff";
}
