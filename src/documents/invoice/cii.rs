//! Reads a UN/CEFACT Cross Industry Invoice (D16B, EN 16931 binding) into the model.

use super::en16931_terms::{Term, is_credit_note_type};
use super::extract::Extractor;
use super::model::{
    AllowanceCharge, Invoice, InvoiceKind, InvoiceLine, Party, PartyId, PrecedingInvoice, Profile,
    Syntax, Totals, VatBreakdown,
};
use super::tree::{Element, Ns, clean};
use super::values::{parse_compact_date, parse_iso_date};

/// Namespace of the CII root (`rsm:`).
pub const NS_RSM: &str = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100";
const RSM: Ns<'static> = Ns::Uri(NS_RSM);
const RAM: Ns<'static> =
    Ns::Uri("urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100");
const UDT: Ns<'static> = Ns::Uri("urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100");
const QDT: Ns<'static> = Ns::Uri("urn:un:unece:uncefact:data:standard:QualifiedDataType:100");

const ROOT: &str = "/rsm:CrossIndustryInvoice";
const TX: &str = "/rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction";
const AGREEMENT: &str =
    "/rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement";
const SETTLEMENT: &str =
    "/rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement";

/// Whether a root element is a CII invoice.
pub fn is_cii_root(root: &Element) -> bool {
    root.is(RSM, "CrossIndustryInvoice")
}

/// Reads a CII date: `udt:DateTimeString` with format 102 (`YYYYMMDD`).
fn date_of(
    parent: Option<&Element>,
    ns: Ns<'_>,
    path: &str,
    x: &mut Extractor,
) -> Option<super::model::InvoiceDate> {
    let dts = parent.and_then(|p| p.child(ns, "DateTimeString"));
    let format = dts.and_then(|d| d.attr("format")).unwrap_or("102");
    if format == "102" {
        x.date(dts, path, parse_compact_date, "format 102, YYYYMMDD")
    } else {
        // Other formats are not EN 16931 dates; read ISO if that is what is there.
        x.date(dts, path, parse_iso_date, "format 102, YYYYMMDD")
    }
}

/// Reads the model out of a CII root; malformed values are recorded in `x`.
pub fn read(root: &Element, x: &mut Extractor) -> Invoice {
    let doc = root.child(RSM, "ExchangedDocument");
    let type_code = x.text(doc.and_then(|d| d.child(RAM, "TypeCode")));
    let kind = if type_code.as_deref().is_some_and(is_credit_note_type) {
        InvoiceKind::CreditNote
    } else {
        InvoiceKind::Invoice
    };
    let mut inv = Invoice::empty(Syntax::Cii, Profile::En16931, kind);
    inv.type_code = type_code;
    inv.specification_id = x.text(
        root.child(RSM, "ExchangedDocumentContext")
            .and_then(|c| c.child(RAM, "GuidelineSpecifiedDocumentContextParameter"))
            .and_then(|g| g.child(RAM, "ID")),
    );
    inv.number = x.text(doc.and_then(|d| d.child(RAM, "ID")));
    inv.issue_date = date_of(
        doc.and_then(|d| d.child(RAM, "IssueDateTime")),
        UDT,
        &path(Term::IssueDate),
        x,
    );

    let tx = root.child(RSM, "SupplyChainTradeTransaction");
    let agreement = tx.and_then(|t| t.child(RAM, "ApplicableHeaderTradeAgreement"));
    let settlement = tx.and_then(|t| t.child(RAM, "ApplicableHeaderTradeSettlement"));
    inv.seller = party(agreement.and_then(|a| a.child(RAM, "SellerTradeParty")), x);
    inv.buyer = party(agreement.and_then(|a| a.child(RAM, "BuyerTradeParty")), x);

    if let Some(s) = settlement {
        inv.currency = x.text(s.child(RAM, "InvoiceCurrencyCode"));
        for (i, r) in s
            .children_named(RAM, "InvoiceReferencedDocument")
            .enumerate()
        {
            if let Some(number) = x.text(r.child(RAM, "IssuerAssignedID")) {
                let issue_date = date_of(
                    r.child(RAM, "FormattedIssueDateTime"),
                    QDT,
                    &format!(
                        "{SETTLEMENT}/ram:InvoiceReferencedDocument[{}]/ram:FormattedIssueDateTime/qdt:DateTimeString",
                        i + 1
                    ),
                    x,
                );
                inv.preceding.push(PrecedingInvoice {
                    number,
                    issue_date,
                    code: None,
                });
            }
        }
        for (i, tax) in s.children_named(RAM, "ApplicableTradeTax").enumerate() {
            let base = format!("{SETTLEMENT}/ram:ApplicableTradeTax[{}]", i + 1);
            inv.vat_breakdown.push(VatBreakdown {
                category: x.text(tax.child(RAM, "CategoryCode")),
                rate_percent: x.decimal(
                    tax.child(RAM, "RateApplicablePercent"),
                    &format!("{base}/ram:RateApplicablePercent"),
                ),
                taxable_amount: x.decimal(
                    tax.child(RAM, "BasisAmount"),
                    &format!("{base}/ram:BasisAmount"),
                ),
                tax_amount: x.decimal(tax.child(RAM, "CalculatedAmount"), &path(Term::VatTax(i))),
            });
        }
        for (i, ac) in s
            .children_named(RAM, "SpecifiedTradeAllowanceCharge")
            .enumerate()
        {
            let base = format!("{SETTLEMENT}/ram:SpecifiedTradeAllowanceCharge[{}]", i + 1);
            let category = ac.child(RAM, "CategoryTradeTax");
            inv.allowances_charges.push(AllowanceCharge {
                is_charge: x
                    .text(
                        ac.descend(RAM, &["ChargeIndicator"])
                            .and_then(|c| c.child(UDT, "Indicator")),
                    )
                    .is_some_and(|v| v == "true"),
                amount: x.decimal(
                    ac.child(RAM, "ActualAmount"),
                    &format!("{base}/ram:ActualAmount"),
                ),
                reason: x.text(ac.child(RAM, "Reason")),
                tax_category: x.text(category.and_then(|c| c.child(RAM, "CategoryCode"))),
                tax_rate_percent: x.decimal(
                    category.and_then(|c| c.child(RAM, "RateApplicablePercent")),
                    &format!("{base}/ram:CategoryTradeTax/ram:RateApplicablePercent"),
                ),
            });
        }
        if let Some(m) = s.child(RAM, "SpecifiedTradeSettlementHeaderMonetarySummation") {
            // BT-110 is the TaxTotalAmount in the invoice currency (a second one may carry
            // BT-111 in the accounting currency).
            let tax_totals: Vec<&Element> = m.children_named(RAM, "TaxTotalAmount").collect();
            let tax_el = tax_totals
                .iter()
                .copied()
                .find(|t| {
                    t.attr("currencyID")
                        .is_none_or(|c| Some(c) == inv.currency.as_deref())
                })
                .or_else(|| tax_totals.first().copied());
            inv.totals = Totals {
                line_net: x.decimal(m.child(RAM, "LineTotalAmount"), &path(Term::LineNetTotal)),
                allowances: x.decimal(
                    m.child(RAM, "AllowanceTotalAmount"),
                    &path(Term::Allowances),
                ),
                charges: x.decimal(m.child(RAM, "ChargeTotalAmount"), &path(Term::Charges)),
                without_tax: x
                    .decimal(m.child(RAM, "TaxBasisTotalAmount"), &path(Term::WithoutTax)),
                tax: x.decimal(tax_el, &path(Term::Tax)),
                with_tax: x.decimal(m.child(RAM, "GrandTotalAmount"), &path(Term::WithTax)),
                prepaid: x.decimal(m.child(RAM, "TotalPrepaidAmount"), &path(Term::Prepaid)),
                rounding: x.decimal(m.child(RAM, "RoundingAmount"), &path(Term::Rounding)),
                payable: x.decimal(m.child(RAM, "DuePayableAmount"), &path(Term::Payable)),
            };
        }
    }

    if let Some(tx) = tx {
        for (i, item) in tx
            .children_named(RAM, "IncludedSupplyChainTradeLineItem")
            .enumerate()
        {
            let base = format!("{TX}/ram:IncludedSupplyChainTradeLineItem[{}]", i + 1);
            let line_settlement = item.child(RAM, "SpecifiedLineTradeSettlement");
            let tax = line_settlement.and_then(|s| s.child(RAM, "ApplicableTradeTax"));
            let qty = item
                .child(RAM, "SpecifiedLineTradeDelivery")
                .and_then(|d| d.child(RAM, "BilledQuantity"));
            inv.lines.push(InvoiceLine {
                id: x.text(item.descend(RAM, &["AssociatedDocumentLineDocument", "LineID"])),
                name: x.text(item.descend(RAM, &["SpecifiedTradeProduct", "Name"])),
                quantity: x.decimal(qty, &format!("{base}/ram:SpecifiedLineTradeDelivery/ram:BilledQuantity")),
                unit: qty.and_then(|q| q.attr("unitCode")).and_then(clean),
                unit_price: x.decimal(
                    item.descend(RAM, &["SpecifiedLineTradeAgreement", "NetPriceProductTradePrice", "ChargeAmount"]),
                    &format!("{base}/ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice/ram:ChargeAmount"),
                ),
                net_amount: x.decimal(
                    line_settlement
                        .and_then(|s| s.child(RAM, "SpecifiedTradeSettlementLineMonetarySummation"))
                        .and_then(|m| m.child(RAM, "LineTotalAmount")),
                    &path(Term::LineNet(i)),
                ),
                tax_category: x.text(tax.and_then(|t| t.child(RAM, "CategoryCode"))),
                tax_rate_percent: x.decimal(
                    tax.and_then(|t| t.child(RAM, "RateApplicablePercent")),
                    &format!("{base}/ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/ram:RateApplicablePercent"),
                ),
                tax_amount: None,
            });
        }
    }
    inv
}

fn party(el: Option<&Element>, x: &mut Extractor) -> Party {
    let Some(el) = el else {
        return Party::default();
    };
    let mut party = Party {
        name: x.text(el.child(RAM, "Name")),
        ..Party::default()
    };
    let mut push = |scheme: &str, value: Option<String>| {
        if let Some(value) = value {
            party.ids.push(PartyId {
                scheme: scheme.into(),
                value,
            });
        }
    };
    // Same order as the UBL reader, so both syntaxes list identifiers alike.
    for reg in el.children_named(RAM, "SpecifiedTaxRegistration") {
        let id = reg.child(RAM, "ID");
        let is_vat = id
            .and_then(|i| i.attr("schemeID"))
            .is_some_and(|s| s.trim() == "VA");
        push(if is_vat { "vat" } else { "tax" }, x.text(id));
    }
    push(
        "legal",
        x.text(el.descend(RAM, &["SpecifiedLegalOrganization", "ID"])),
    );
    for id in el.children_named(RAM, "ID") {
        push("id", x.text(Some(id)));
    }
    for id in el.children_named(RAM, "GlobalID") {
        push("id", x.text(Some(id)));
    }
    push(
        "endpoint",
        x.text(el.descend(RAM, &["URIUniversalCommunication", "URIID"])),
    );
    if let Some(addr) = el.child(RAM, "PostalTradeAddress") {
        party.has_postal_address = true;
        party.country = x.text(addr.child(RAM, "CountryID"));
    }
    party
}

/// The XPath-like location of a business term in a CII document.
pub fn path(term: Term) -> String {
    let m = format!("{SETTLEMENT}/ram:SpecifiedTradeSettlementHeaderMonetarySummation");
    let seller = format!("{AGREEMENT}/ram:SellerTradeParty");
    let buyer = format!("{AGREEMENT}/ram:BuyerTradeParty");
    match term {
        Term::Specification => format!(
            "{ROOT}/rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID"
        ),
        Term::Number => format!("{ROOT}/rsm:ExchangedDocument/ram:ID"),
        Term::IssueDate => {
            format!("{ROOT}/rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString")
        }
        Term::TypeCode => format!("{ROOT}/rsm:ExchangedDocument/ram:TypeCode"),
        Term::Currency => format!("{SETTLEMENT}/ram:InvoiceCurrencyCode"),
        Term::SellerName => format!("{seller}/ram:Name"),
        Term::BuyerName => format!("{buyer}/ram:Name"),
        Term::SellerAddress => format!("{seller}/ram:PostalTradeAddress"),
        Term::SellerCountry => format!("{seller}/ram:PostalTradeAddress/ram:CountryID"),
        Term::BuyerAddress => format!("{buyer}/ram:PostalTradeAddress"),
        Term::BuyerCountry => format!("{buyer}/ram:PostalTradeAddress/ram:CountryID"),
        Term::LineNetTotal => format!("{m}/ram:LineTotalAmount"),
        Term::Allowances => format!("{m}/ram:AllowanceTotalAmount"),
        Term::Charges => format!("{m}/ram:ChargeTotalAmount"),
        Term::WithoutTax => format!("{m}/ram:TaxBasisTotalAmount"),
        Term::Tax => format!("{m}/ram:TaxTotalAmount"),
        Term::WithTax => format!("{m}/ram:GrandTotalAmount"),
        Term::Prepaid => format!("{m}/ram:TotalPrepaidAmount"),
        Term::Rounding => format!("{m}/ram:RoundingAmount"),
        Term::Payable => format!("{m}/ram:DuePayableAmount"),
        Term::Lines => format!("{TX}/ram:IncludedSupplyChainTradeLineItem"),
        Term::LineNet(i) => format!(
            "{TX}/ram:IncludedSupplyChainTradeLineItem[{}]/ram:SpecifiedLineTradeSettlement/ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount",
            i + 1
        ),
        Term::VatTax(i) => format!(
            "{SETTLEMENT}/ram:ApplicableTradeTax[{}]/ram:CalculatedAmount",
            i + 1
        ),
    }
}
