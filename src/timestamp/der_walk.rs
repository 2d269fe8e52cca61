//! Walking DER element by element while keeping each element's original bytes: verifiers must
//! check signatures over the signed attributes exactly as they were encoded, never a
//! re-encoding. Shared by the RFC 3161 token verifier and the CAdES (PAdES) reader.

use der::asn1::AnyRef;
use der::{Decode, Reader, SliceReader, Tag, Tagged};

/// A malformed element; each caller turns it into its own module's error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerError(pub String);

/// One DER element: its tag, its content and its whole encoding.
pub(crate) struct Tlv<'a> {
    /// The tag.
    pub tag: Tag,
    /// The content octets.
    pub value: &'a [u8],
    /// The whole element as encoded.
    pub raw: &'a [u8],
}

/// Reads consecutive DER elements from a byte slice, keeping each one's original bytes.
pub(crate) struct Walker<'a> {
    input: &'a [u8],
    reader: SliceReader<'a>,
}

impl<'a> Walker<'a> {
    /// A walker over `input`.
    pub fn new(input: &'a [u8]) -> Result<Self, DerError> {
        let reader = SliceReader::new(input).map_err(|e| DerError(e.to_string()))?;
        Ok(Self { input, reader })
    }

    /// Whether every element was read.
    pub fn is_finished(&self) -> bool {
        self.reader.is_finished()
    }

    /// The next element; `what` names it in errors.
    pub fn next(&mut self, what: &str) -> Result<Tlv<'a>, DerError> {
        let start = usize::try_from(self.reader.position()).map_err(|e| DerError(e.to_string()))?;
        let any = AnyRef::decode(&mut self.reader).map_err(|e| DerError(format!("{what}: {e}")))?;
        let end = usize::try_from(self.reader.position()).map_err(|e| DerError(e.to_string()))?;
        let raw = self
            .input
            .get(start..end)
            .ok_or_else(|| DerError(format!("{what}: out of bounds")))?;
        Ok(Tlv {
            tag: any.tag(),
            value: any.value(),
            raw,
        })
    }

    /// The next element, which must have `tag`.
    pub fn expect(&mut self, tag: Tag, what: &str) -> Result<Tlv<'a>, DerError> {
        let tlv = self.next(what)?;
        if tlv.tag != tag {
            return Err(DerError(format!(
                "{what}: expected {tag}, found {}",
                tlv.tag
            )));
        }
        Ok(tlv)
    }

    /// Fails unless every element was read.
    pub fn finish(&self, what: &str) -> Result<(), DerError> {
        if self.is_finished() {
            Ok(())
        } else {
            Err(DerError(format!("{what}: unexpected trailing data")))
        }
    }
}
