//! Invoices for the `invoices` scenario: copies of a UBL template, each with its own invoice
//! number (BT-1, `cbc:ID`), each signed by the issuing organisation's P-256 key as the
//! `X-Signature` header wants it (base64 of the DER ECDSA-SHA-256 signature over the body).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};

use super::LoadtestError;

/// The CEN EN 16931 UBL example 1 (about 21 KB), built in so the binary needs no data files.
pub const DEFAULT_TEMPLATE: &str =
    include_str!("../../tests/data/invoices/ubl/en16931-ubl-example1.xml");

/// Largest template accepted.
pub const MAX_TEMPLATE_LEN: usize = 1024 * 1024;

const ID_OPEN: &str = "<cbc:ID>";
const ID_CLOSE: &str = "</cbc:ID>";

/// A template split around its invoice number.
#[derive(Debug, Clone)]
pub struct InvoiceTemplate {
    head: String,
    tail: String,
}

impl InvoiceTemplate {
    /// Splits `xml` around the text of its first `<cbc:ID>`. The UBL 2.1 schema puts the
    /// document's own ID (BT-1) before every aggregate, so the first one is the invoice number.
    pub fn parse(xml: &str) -> Result<Self, LoadtestError> {
        if xml.len() > MAX_TEMPLATE_LEN {
            return Err(LoadtestError::Prepare(format!(
                "invoice template is {} bytes; at most {MAX_TEMPLATE_LEN}",
                xml.len()
            )));
        }
        let bad = || LoadtestError::Prepare("invoice template has no <cbc:ID>…</cbc:ID>".into());
        let open = xml.find(ID_OPEN).ok_or_else(bad)?;
        let start = open + ID_OPEN.len();
        let len = xml
            .get(start..)
            .and_then(|r| r.find(ID_CLOSE))
            .ok_or_else(bad)?;
        let head = xml.get(..start).ok_or_else(bad)?;
        let tail = xml.get(start + len..).ok_or_else(bad)?;
        Ok(Self {
            head: head.to_string(),
            tail: tail.to_string(),
        })
    }

    /// The invoice with number `number` (XML-escaped by the caller's choice of characters:
    /// only `[A-Za-z0-9-]` are accepted).
    pub fn render(&self, number: &str) -> Result<Vec<u8>, LoadtestError> {
        if number.is_empty()
            || !number
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(LoadtestError::Prepare(format!(
                "invoice number `{number}` must be letters, digits and dashes"
            )));
        }
        let mut out = Vec::with_capacity(self.head.len() + number.len() + self.tail.len());
        out.extend_from_slice(self.head.as_bytes());
        out.extend_from_slice(number.as_bytes());
        out.extend_from_slice(self.tail.as_bytes());
        Ok(out)
    }
}

/// The invoice number of the `i`-th invoice of run `run_tag`.
pub fn invoice_number(run_tag: &str, i: usize) -> String {
    format!("LT-{run_tag}-{i:08}")
}

/// An organisation's P-256 signing key (PKCS#8), used with ring's constant-time P-256.
pub struct InvoiceSigner {
    key: EcdsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for InvoiceSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvoiceSigner").finish_non_exhaustive()
    }
}

impl InvoiceSigner {
    /// Loads a PKCS#8 P-256 key.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, LoadtestError> {
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8, &rng)
            .map_err(|e| LoadtestError::Prepare(format!("org key: {e}")))?;
        Ok(Self { key, rng })
    }

    /// The `X-Signature` value for `body`: base64 of DER ECDSA P-256 SHA-256 over the body.
    pub fn signature_header(&self, body: &[u8]) -> Result<String, LoadtestError> {
        let sig = self
            .key
            .sign(&self.rng, body)
            .map_err(|e| LoadtestError::Prepare(format!("signing an invoice: {e}")))?;
        Ok(STANDARD.encode(sig.as_ref()))
    }
}

/// `count` signed invoices: (body, X-Signature).
pub fn signed_invoices(
    template: &InvoiceTemplate,
    signer: &InvoiceSigner,
    run_tag: &str,
    first: usize,
    count: usize,
) -> Result<Vec<(Vec<u8>, String)>, LoadtestError> {
    (first..first.saturating_add(count))
        .map(|i| {
            let body = template.render(&invoice_number(run_tag, i))?;
            let sig = signer.signature_header(&body)?;
            Ok((body, sig))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Verifier;
    use p256::ecdsa::{DerSignature, VerifyingKey};
    use p256::pkcs8::DecodePrivateKey;

    #[test]
    fn the_default_template_gets_a_new_number_and_keeps_the_rest() {
        let t = InvoiceTemplate::parse(DEFAULT_TEMPLATE).unwrap();
        let body = t.render("LT-x-00000001").unwrap();
        let text = String::from_utf8(body).unwrap();
        assert_eq!(text.len(), DEFAULT_TEMPLATE.len() - "12115118".len() + 13);
        assert!(text.contains("<cbc:ID>LT-x-00000001</cbc:ID>"));
        assert!(!text.contains("<cbc:ID>12115118</cbc:ID>"));
        // The other cbc:IDs (tax scheme, line ids) are untouched.
        assert_eq!(
            text.matches("<cbc:ID>").count(),
            DEFAULT_TEMPLATE.matches("<cbc:ID>").count()
        );
    }

    #[test]
    fn the_rendered_invoice_is_still_a_valid_en16931_invoice_with_the_new_number() {
        let t = InvoiceTemplate::parse(DEFAULT_TEMPLATE).unwrap();
        let body = t.render(&invoice_number("abc", 7)).unwrap();
        let parsed =
            crate::documents::invoice::parse_invoice(Some("application/xml"), &body).unwrap();
        assert_eq!(parsed.invoice.number.as_deref(), Some("LT-abc-00000007"));
        assert!(parsed.key.as_str().ends_with(":LT-abc-00000007"));
    }

    #[test]
    fn bad_templates_and_numbers_are_refused() {
        assert!(InvoiceTemplate::parse("<Invoice/>").is_err());
        assert!(InvoiceTemplate::parse("<cbc:ID>1").is_err());
        assert!(InvoiceTemplate::parse(&"x".repeat(MAX_TEMPLATE_LEN + 1)).is_err());
        let t = InvoiceTemplate::parse("<a><cbc:ID>1</cbc:ID></a>").unwrap();
        assert_eq!(t.render("2").unwrap(), b"<a><cbc:ID>2</cbc:ID></a>");
        assert!(t.render("</cbc:ID>").is_err());
        assert!(t.render("").is_err());
    }

    #[test]
    fn signatures_verify_with_an_independent_p256_implementation() {
        let key = crate::identity::pki::new_key().unwrap();
        let signer = InvoiceSigner::from_pkcs8(key.serialized_der()).unwrap();
        let t = InvoiceTemplate::parse(DEFAULT_TEMPLATE).unwrap();
        let invoices = signed_invoices(&t, &signer, "run1", 10, 3).unwrap();
        assert_eq!(invoices.len(), 3);
        let sk = p256::SecretKey::from_pkcs8_der(key.serialized_der()).unwrap();
        let vk = VerifyingKey::from(p256::ecdsa::SigningKey::from(sk));
        for (i, (body, sig)) in invoices.iter().enumerate() {
            let der = STANDARD.decode(sig).unwrap();
            let sig = DerSignature::try_from(der.as_slice()).unwrap();
            vk.verify(body, &sig).unwrap();
            let number = invoice_number("run1", 10 + i);
            assert!(String::from_utf8_lossy(body).contains(&number));
            let mut tampered = body.clone();
            tampered[0] ^= 1;
            assert!(vk.verify(&tampered, &sig).is_err());
        }
    }
}
