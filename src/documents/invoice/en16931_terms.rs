//! EN 16931 business terms the rules point at, and where each lives in UBL or CII.

use super::{cii, ubl};

/// A business term (or group) a rule can name in a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Term {
    /// BT-24 Specification identifier.
    Specification,
    /// BT-1 Invoice number.
    Number,
    /// BT-2 Invoice issue date.
    IssueDate,
    /// BT-3 Invoice type code.
    TypeCode,
    /// BT-5 Invoice currency code.
    Currency,
    /// BT-27 Seller name.
    SellerName,
    /// BT-44 Buyer name.
    BuyerName,
    /// BG-5 Seller postal address.
    SellerAddress,
    /// BT-40 Seller country code.
    SellerCountry,
    /// BG-8 Buyer postal address.
    BuyerAddress,
    /// BT-55 Buyer country code.
    BuyerCountry,
    /// BT-106 Sum of Invoice line net amount.
    LineNetTotal,
    /// BT-107 Sum of allowances on document level.
    Allowances,
    /// BT-108 Sum of charges on document level.
    Charges,
    /// BT-109 Invoice total amount without VAT.
    WithoutTax,
    /// BT-110 Invoice total VAT amount.
    Tax,
    /// BT-112 Invoice total amount with VAT.
    WithTax,
    /// BT-113 Paid amount.
    Prepaid,
    /// BT-114 Rounding amount.
    Rounding,
    /// BT-115 Amount due for payment.
    Payable,
    /// BG-25 Invoice line (the group).
    Lines,
    /// BT-131 of the line at this 0-based index.
    LineNet(usize),
    /// BT-117 of the VAT breakdown at this 0-based index.
    VatTax(usize),
}

/// Where a document's terms live: UBL (with its root) or CII.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locator {
    /// UBL; `credit_note_root` when the root element is `CreditNote`.
    Ubl {
        /// Root element is `CreditNote` (else `Invoice`).
        credit_note_root: bool,
    },
    /// UN/CEFACT CII.
    Cii,
}

impl Locator {
    /// XPath-like location of a term in this syntax.
    pub fn path(self, term: Term) -> String {
        match self {
            Locator::Ubl { credit_note_root } => ubl::path(credit_note_root, term),
            Locator::Cii => cii::path(term),
        }
    }
}

/// UNTDID 1001 document type codes that EN 16931 treats as credit notes.
pub const CREDIT_NOTE_TYPE_CODES: [&str; 11] = [
    "81", "83", "261", "262", "296", "308", "381", "396", "420", "458", "532",
];

/// Whether a BT-3 type code denotes a credit note.
pub fn is_credit_note_type(code: &str) -> bool {
    CREDIT_NOTE_TYPE_CODES.contains(&code.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit_note_codes() {
        assert!(is_credit_note_type("381"));
        assert!(is_credit_note_type(" 396 "));
        assert!(!is_credit_note_type("380"));
        assert!(
            !is_credit_note_type("384"),
            "corrected invoice is not a credit note"
        );
    }

    #[test]
    fn paths_follow_the_syntax() {
        let ubl = Locator::Ubl {
            credit_note_root: true,
        };
        assert_eq!(
            ubl.path(Term::LineNet(1)),
            "/CreditNote/cac:CreditNoteLine[2]/cbc:LineExtensionAmount"
        );
        assert!(
            Locator::Cii
                .path(Term::Payable)
                .ends_with("ram:DuePayableAmount")
        );
    }
}
