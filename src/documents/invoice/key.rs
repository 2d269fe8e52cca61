//! The duplicate key: one string per invoice, the same whatever syntax it came in.
//!
//! - EN 16931: `en16931:<scheme>=<seller id>:<number>`, the seller id being the first present
//!   of VAT id (BT-31), tax registration id (BT-32), legal registration id (BT-30), seller
//!   identifier (BT-29), electronic address (BT-34), else the seller name; ids are upper-cased
//!   with whitespace removed (`DE 123 456 789` = `DE123456789`).
//! - 数电票: `cn-digital:<20-digit number>`.
//! - Older Chinese e-invoices: `cn-legacy:<invoice code>:<8-digit number>`.
//!
//! Components are percent-encoded (`%`, `:`, `=`, whitespace and control characters), so
//! no two different (seller, number) pairs can give the same key.

use std::fmt;

use serde::Serialize;

use super::model::{Invoice, Profile};

/// A normalised duplicate key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct InvoiceKey(String);

impl InvoiceKey {
    /// The key as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key of an invoice, or `None` if the number (or seller, or code) is missing.
    pub fn for_invoice(inv: &Invoice) -> Option<InvoiceKey> {
        let number = inv.number.as_deref()?;
        let key = match inv.profile {
            Profile::En16931 => {
                let (scheme, id) = seller_id(inv)?;
                format!("en16931:{scheme}={}:{}", encode(&id), encode(number))
            }
            Profile::CnDigital => format!("cn-digital:{}", encode(number)),
            Profile::CnLegacy => {
                let code = inv.china.as_ref()?.invoice_code.as_deref()?;
                format!("cn-legacy:{}:{}", encode(code), encode(number))
            }
        };
        Some(InvoiceKey(key))
    }
}

impl fmt::Display for InvoiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn seller_id(inv: &Invoice) -> Option<(&'static str, String)> {
    for scheme in ["vat", "tax", "legal", "id", "endpoint"] {
        if let Some(id) = inv.seller.id(scheme) {
            let compact: String = id
                .chars()
                .filter(|c| !c.is_whitespace())
                .flat_map(char::to_uppercase)
                .collect();
            if !compact.is_empty() {
                return Some((scheme, compact));
            }
        }
    }
    inv.seller.name.clone().map(|n| ("name", n))
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | ':' | '=') || c.is_whitespace() || c.is_control() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documents::invoice::model::{ChinaDetails, InvoiceKind, PartyId, Syntax};

    fn en(number: &str, ids: &[(&str, &str)], name: Option<&str>) -> Invoice {
        let mut inv = Invoice::empty(Syntax::Ubl, Profile::En16931, InvoiceKind::Invoice);
        inv.number = Some(number.into());
        inv.seller.name = name.map(String::from);
        inv.seller.ids = ids
            .iter()
            .map(|(s, v)| PartyId {
                scheme: (*s).into(),
                value: (*v).into(),
            })
            .collect();
        inv
    }

    #[test]
    fn en_key_prefers_vat_id_and_normalises_it() {
        let a = en(
            "TOSL108",
            &[("legal", "123"), ("vat", "dk 1635 6706")],
            Some("S"),
        );
        assert_eq!(
            InvoiceKey::for_invoice(&a).map(|k| k.to_string()),
            Some("en16931:vat=DK16356706:TOSL108".into())
        );
        let b = en("0", &[], Some("Seller GmbH"));
        assert_eq!(
            InvoiceKey::for_invoice(&b).map(|k| k.to_string()),
            Some("en16931:name=Seller%20GmbH:0".into())
        );
        assert_eq!(InvoiceKey::for_invoice(&en("1", &[], None)), None);
    }

    #[test]
    fn separators_cannot_collide() {
        let a = en("b:c", &[("vat", "A")], None);
        let b = en("c", &[("vat", "A:B")], None);
        assert_ne!(InvoiceKey::for_invoice(&a), InvoiceKey::for_invoice(&b));
        assert_eq!(
            InvoiceKey::for_invoice(&en("018304 / 28865", &[("vat", "BE1")], None))
                .map(|k| k.to_string()),
            Some("en16931:vat=BE1:018304%20/%2028865".into())
        );
    }

    #[test]
    fn chinese_keys() {
        let mut d = Invoice::empty(Syntax::CnJson, Profile::CnDigital, InvoiceKind::Invoice);
        d.number = Some("25312000000012345678".into());
        assert_eq!(
            InvoiceKey::for_invoice(&d).map(|k| k.to_string()),
            Some("cn-digital:25312000000012345678".into())
        );
        let mut l = Invoice::empty(Syntax::CnXml, Profile::CnLegacy, InvoiceKind::Invoice);
        l.number = Some("12345678".into());
        assert_eq!(
            InvoiceKey::for_invoice(&l),
            None,
            "the code is part of the key"
        );
        l.china = Some(ChinaDetails {
            invoice_code: Some("011001900111".into()),
            ..ChinaDetails::default()
        });
        assert_eq!(
            InvoiceKey::for_invoice(&l).map(|k| k.to_string()),
            Some("cn-legacy:011001900111:12345678".into())
        );
    }
}
