//! The one normalised invoice model every syntax is read into.
//!
//! Values that are absent (or malformed, with an `FMT-*` finding) are `None`; rules report
//! what is missing. Amounts are decimals; rates are percentages (`13` for 13 %), also for
//! Chinese invoices that write them as fractions.

use rust_decimal::Decimal;
use serde::{Serialize, Serializer};
use time::Date;

use super::values::iso_date;

/// The syntax the document came in (not part of the canonical form).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Syntax {
    /// OASIS UBL 2.1 (Invoice-2 or CreditNote-2).
    Ubl,
    /// UN/CEFACT Cross Industry Invoice D16B.
    Cii,
    /// Chinese e-invoice XML.
    CnXml,
    /// Chinese e-invoice JSON (`docs/invoice-json.md`).
    CnJson,
}

/// The semantic family of the invoice, which decides its rules and its duplicate key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// EN 16931 (UBL or CII syntax).
    En16931,
    /// Chinese fully digitalised e-invoice (数电票), 20-digit number.
    CnDigital,
    /// Older Chinese VAT e-invoice: invoice code + 8-digit number.
    CnLegacy,
}

impl Profile {
    /// The stable name used in keys and in the canonical form.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::En16931 => "en16931",
            Profile::CnDigital => "cn-digital",
            Profile::CnLegacy => "cn-legacy",
        }
    }
}

/// What the document does: bill, credit a bill (EN), or reverse a bill (Chinese red letter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InvoiceKind {
    /// A commercial invoice (blue invoice in China).
    Invoice,
    /// An EN 16931 credit note.
    CreditNote,
    /// A Chinese red-letter (红字) invoice reversing an earlier one.
    RedLetter,
}

impl InvoiceKind {
    /// The stable name used in the canonical form.
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceKind::Invoice => "invoice",
            InvoiceKind::CreditNote => "credit-note",
            InvoiceKind::RedLetter => "red-letter",
        }
    }
}

/// A calendar date, serialised as `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvoiceDate(pub Date);

impl Serialize for InvoiceDate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&iso_date(&self.0))
    }
}

/// One identifier of a party, with the scheme it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartyId {
    /// `vat` (BT-31/48), `tax` (BT-32), `legal` (BT-30/47), `id` (BT-29/46),
    /// `endpoint` (BT-34/49), or `cn-taxpayer` (Chinese 纳税人识别号 / USCC).
    pub scheme: String,
    /// The identifier as written (whitespace collapsed).
    pub value: String,
}

/// Seller or buyer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Party {
    /// Legal (registration) name: BT-27 / BT-44, SellerName / BuyerName.
    pub name: Option<String>,
    /// Identifiers in document order.
    pub ids: Vec<PartyId>,
    /// Whether a postal address group is present (BG-5 / BG-8).
    pub has_postal_address: bool,
    /// Country code of the postal address (BT-40 / BT-55).
    pub country: Option<String>,
}

impl Party {
    /// The first identifier of a scheme.
    pub fn id(&self, scheme: &str) -> Option<&str> {
        self.ids
            .iter()
            .find(|i| i.scheme == scheme)
            .map(|i| i.value.as_str())
    }
}

/// One invoice line (BG-25) or Chinese item line (IssuItemInformation / GoodsInfo).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InvoiceLine {
    /// Line identifier (BT-126); Chinese lines have none.
    pub id: Option<String>,
    /// Item name (BT-153, ItemName, Item).
    pub name: Option<String>,
    /// Invoiced quantity (BT-129, Quantity).
    pub quantity: Option<Decimal>,
    /// Unit of measure code (BT-130) or Chinese unit (MeaUnits).
    pub unit: Option<String>,
    /// Net price (BT-146, UnPrice, Price).
    pub unit_price: Option<Decimal>,
    /// Line net amount (BT-131, Amount).
    pub net_amount: Option<Decimal>,
    /// VAT category code (BT-151), or a Chinese non-numeric rate label such as 免税.
    pub tax_category: Option<String>,
    /// VAT rate in percent (BT-152, TaxRate).
    pub tax_rate_percent: Option<Decimal>,
    /// Line tax amount (Chinese ComTaxAm; EN lines carry none).
    pub tax_amount: Option<Decimal>,
}

/// A document-level allowance or charge (BG-20 / BG-21).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AllowanceCharge {
    /// `true` for a charge, `false` for an allowance.
    pub is_charge: bool,
    /// Amount (BT-92 / BT-99).
    pub amount: Option<Decimal>,
    /// Reason text (BT-97 / BT-104).
    pub reason: Option<String>,
    /// VAT category code (BT-95 / BT-102).
    pub tax_category: Option<String>,
    /// VAT rate in percent (BT-96 / BT-103).
    pub tax_rate_percent: Option<Decimal>,
}

/// One VAT breakdown entry (BG-23).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VatBreakdown {
    /// VAT category code (BT-118).
    pub category: Option<String>,
    /// VAT category rate in percent (BT-119).
    pub rate_percent: Option<Decimal>,
    /// Taxable amount (BT-116).
    pub taxable_amount: Option<Decimal>,
    /// Tax amount (BT-117).
    pub tax_amount: Option<Decimal>,
}

/// Document totals (BG-22); Chinese invoices fill `without_tax`, `tax`, `with_tax`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Sum of line net amounts (BT-106).
    pub line_net: Option<Decimal>,
    /// Sum of document-level allowances (BT-107).
    pub allowances: Option<Decimal>,
    /// Sum of document-level charges (BT-108).
    pub charges: Option<Decimal>,
    /// Total without VAT (BT-109, TotalAmWithoutTax, TaxExclusiveTotalAmount).
    pub without_tax: Option<Decimal>,
    /// Total VAT in the invoice currency (BT-110, TotalTaxAm, TaxTotalAmount).
    pub tax: Option<Decimal>,
    /// Total with VAT (BT-112, TotalTax-includedAmount, TaxInclusiveTotalAmount).
    pub with_tax: Option<Decimal>,
    /// Paid amount (BT-113).
    pub prepaid: Option<Decimal>,
    /// Rounding amount (BT-114).
    pub rounding: Option<Decimal>,
    /// Amount due for payment (BT-115).
    pub payable: Option<Decimal>,
}

/// A reference to an earlier invoice this one credits or reverses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PrecedingInvoice {
    /// Its number (BT-25, OriginalInvoiceCode of a red 数电票, or the legacy 8-digit number).
    pub number: String,
    /// Its issue date (BT-26), when given.
    pub issue_date: Option<InvoiceDate>,
    /// Its invoice code (older Chinese invoices only).
    pub code: Option<String>,
}

/// What only Chinese invoices carry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChinaDetails {
    /// `01` special VAT invoice (专用发票) or `02` ordinary (普通发票), as written.
    pub vat_label: Option<String>,
    /// Invoice code (发票代码) of an older e-invoice.
    pub invoice_code: Option<String>,
    /// The total with tax written in Chinese capitals (价税合计大写), as written.
    pub amount_in_capitals: Option<String>,
    /// Issue time as written (RequestTime, IssueTime or IssueDate).
    pub issue_time: Option<String>,
    /// Number of the red-letter confirmation form (红字确认单), when given.
    pub red_confirmation_number: Option<String>,
    /// The number found in TaxSupervisionInfo/InvoiceNumber, if it was given.
    pub supervision_number: Option<String>,
}

/// The normalised invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invoice {
    /// Syntax it was read from.
    pub syntax: Syntax,
    /// Family: EN 16931, Chinese digital, Chinese legacy.
    pub profile: Profile,
    /// Invoice, credit note or red letter.
    pub kind: InvoiceKind,
    /// Type code (BT-3), e.g. `380`, `381`.
    pub type_code: Option<String>,
    /// Specification identifier (BT-24).
    pub specification_id: Option<String>,
    /// Invoice number (BT-1, EIid, InvoiceNo).
    pub number: Option<String>,
    /// Issue date (BT-2, date part of RequestTime, IssueDate).
    pub issue_date: Option<InvoiceDate>,
    /// Currency (BT-5); `CNY` for Chinese invoices.
    pub currency: Option<String>,
    /// The seller (BG-4).
    pub seller: Party,
    /// The buyer (BG-7).
    pub buyer: Party,
    /// Lines in document order.
    pub lines: Vec<InvoiceLine>,
    /// Document-level allowances and charges.
    pub allowances_charges: Vec<AllowanceCharge>,
    /// VAT breakdown (EN only).
    pub vat_breakdown: Vec<VatBreakdown>,
    /// Totals.
    pub totals: Totals,
    /// Earlier invoices credited or reversed.
    pub preceding: Vec<PrecedingInvoice>,
    /// Chinese specifics; `None` for EN 16931.
    pub china: Option<ChinaDetails>,
}

impl Invoice {
    /// An empty invoice of a syntax, profile and kind, to be filled by a reader.
    pub fn empty(syntax: Syntax, profile: Profile, kind: InvoiceKind) -> Self {
        Invoice {
            syntax,
            profile,
            kind,
            type_code: None,
            specification_id: None,
            number: None,
            issue_date: None,
            currency: None,
            seller: Party::default(),
            buyer: Party::default(),
            lines: Vec::new(),
            allowances_charges: Vec::new(),
            vat_breakdown: Vec::new(),
            totals: Totals::default(),
            preceding: Vec::new(),
            china: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Month;

    #[test]
    fn dates_serialise_as_iso_strings() {
        let d = InvoiceDate(Date::from_calendar_date(2019, Month::September, 3).expect("valid"));
        assert_eq!(serde_json::to_string(&d).expect("ok"), "\"2019-09-03\"");
    }

    #[test]
    fn party_id_lookup_by_scheme() {
        let p = Party {
            ids: vec![
                PartyId {
                    scheme: "legal".into(),
                    value: "1".into(),
                },
                PartyId {
                    scheme: "vat".into(),
                    value: "DE1".into(),
                },
            ],
            ..Party::default()
        };
        assert_eq!(p.id("vat"), Some("DE1"));
        assert_eq!(p.id("tax"), None);
        assert_eq!(Profile::CnLegacy.as_str(), "cn-legacy");
        assert_eq!(InvoiceKind::RedLetter.as_str(), "red-letter");
    }
}
