//! Reads an OASIS UBL 2.1 Invoice or CreditNote (EN 16931 binding) into the model.

use super::en16931_terms::{Term, is_credit_note_type};
use super::extract::Extractor;
use super::model::{
    AllowanceCharge, Invoice, InvoiceKind, InvoiceLine, Party, PartyId, PrecedingInvoice, Profile,
    Syntax, Totals, VatBreakdown,
};
use super::tree::{Element, Ns};
use super::values::parse_iso_date;

/// Namespace of the UBL Invoice root.
pub const NS_INVOICE: &str = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2";
/// Namespace of the UBL CreditNote root.
pub const NS_CREDIT_NOTE: &str = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2";
const CAC: Ns<'static> =
    Ns::Uri("urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2");
const CBC: Ns<'static> =
    Ns::Uri("urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2");

/// Whether a root element is a UBL Invoice or CreditNote.
pub fn is_ubl_root(root: &Element) -> bool {
    root.is(Ns::Uri(NS_INVOICE), "Invoice") || root.is(Ns::Uri(NS_CREDIT_NOTE), "CreditNote")
}

/// Reads the model out of a UBL root; malformed values are recorded in `x`.
pub fn read(root: &Element, x: &mut Extractor) -> Invoice {
    let cn_root = root.name == "CreditNote";
    let p = |t: Term| path(cn_root, t);
    let type_code = x.text(root.child(
        CBC,
        if cn_root {
            "CreditNoteTypeCode"
        } else {
            "InvoiceTypeCode"
        },
    ));
    let kind = if cn_root || type_code.as_deref().is_some_and(is_credit_note_type) {
        InvoiceKind::CreditNote
    } else {
        InvoiceKind::Invoice
    };
    let mut inv = Invoice::empty(Syntax::Ubl, Profile::En16931, kind);
    inv.type_code = type_code;
    inv.specification_id = x.text(root.child(CBC, "CustomizationID"));
    inv.number = x.text(root.child(CBC, "ID"));
    inv.issue_date = x.date(
        root.child(CBC, "IssueDate"),
        &p(Term::IssueDate),
        parse_iso_date,
        "YYYY-MM-DD",
    );
    inv.currency = x.text(root.child(CBC, "DocumentCurrencyCode"));

    let r = root_path(cn_root);
    let supplier = root.descend(CAC, &["AccountingSupplierParty", "Party"]);
    inv.seller = party(supplier, x);
    let customer = root.descend(CAC, &["AccountingCustomerParty", "Party"]);
    inv.buyer = party(customer, x);

    for (i, reference) in root.children_named(CAC, "BillingReference").enumerate() {
        let Some(doc) = reference.child(CAC, "InvoiceDocumentReference") else {
            continue;
        };
        if let Some(number) = x.text(doc.child(CBC, "ID")) {
            let issue_date = x.date(
                doc.child(CBC, "IssueDate"),
                &format!(
                    "{r}/cac:BillingReference[{}]/cac:InvoiceDocumentReference/cbc:IssueDate",
                    i + 1
                ),
                parse_iso_date,
                "YYYY-MM-DD",
            );
            inv.preceding.push(PrecedingInvoice {
                number,
                issue_date,
                code: None,
            });
        }
    }

    for (i, ac) in root.children_named(CAC, "AllowanceCharge").enumerate() {
        let base = format!("{r}/cac:AllowanceCharge[{}]", i + 1);
        let category = ac.child(CAC, "TaxCategory");
        inv.allowances_charges.push(AllowanceCharge {
            is_charge: x
                .text(ac.child(CBC, "ChargeIndicator"))
                .is_some_and(|v| v == "true"),
            amount: x.decimal(ac.child(CBC, "Amount"), &format!("{base}/cbc:Amount")),
            reason: x.text(ac.child(CBC, "AllowanceChargeReason")),
            tax_category: x.text(category.and_then(|c| c.child(CBC, "ID"))),
            tax_rate_percent: x.decimal(
                category.and_then(|c| c.child(CBC, "Percent")),
                &format!("{base}/cac:TaxCategory/cbc:Percent"),
            ),
        });
    }

    // BT-110 is the TaxTotal whose amount is in the invoice currency; a second TaxTotal may
    // carry the VAT in accounting currency (BT-111).
    let tax_totals: Vec<&Element> = root.children_named(CAC, "TaxTotal").collect();
    let main_tax_total = tax_totals
        .iter()
        .copied()
        .find(|t| {
            t.child(CBC, "TaxAmount")
                .and_then(|a| a.attr("currencyID"))
                .is_some_and(|c| Some(c) == inv.currency.as_deref())
        })
        .or_else(|| tax_totals.first().copied());
    if let Some(tt) = main_tax_total {
        inv.totals.tax = x.decimal(tt.child(CBC, "TaxAmount"), &p(Term::Tax));
        for (i, sub) in tt.children_named(CAC, "TaxSubtotal").enumerate() {
            let base = format!("{r}/cac:TaxTotal/cac:TaxSubtotal[{}]", i + 1);
            let category = sub.child(CAC, "TaxCategory");
            inv.vat_breakdown.push(VatBreakdown {
                category: x.text(category.and_then(|c| c.child(CBC, "ID"))),
                rate_percent: x.decimal(
                    category.and_then(|c| c.child(CBC, "Percent")),
                    &format!("{base}/cac:TaxCategory/cbc:Percent"),
                ),
                taxable_amount: x.decimal(
                    sub.child(CBC, "TaxableAmount"),
                    &format!("{base}/cbc:TaxableAmount"),
                ),
                tax_amount: x.decimal(sub.child(CBC, "TaxAmount"), &p(Term::VatTax(i))),
            });
        }
    }

    if let Some(m) = root.child(CAC, "LegalMonetaryTotal") {
        let tax = inv.totals.tax;
        inv.totals = Totals {
            line_net: x.decimal(m.child(CBC, "LineExtensionAmount"), &p(Term::LineNetTotal)),
            allowances: x.decimal(m.child(CBC, "AllowanceTotalAmount"), &p(Term::Allowances)),
            charges: x.decimal(m.child(CBC, "ChargeTotalAmount"), &p(Term::Charges)),
            without_tax: x.decimal(m.child(CBC, "TaxExclusiveAmount"), &p(Term::WithoutTax)),
            tax,
            with_tax: x.decimal(m.child(CBC, "TaxInclusiveAmount"), &p(Term::WithTax)),
            prepaid: x.decimal(m.child(CBC, "PrepaidAmount"), &p(Term::Prepaid)),
            rounding: x.decimal(m.child(CBC, "PayableRoundingAmount"), &p(Term::Rounding)),
            payable: x.decimal(m.child(CBC, "PayableAmount"), &p(Term::Payable)),
        };
    }

    let (line_name, qty_name) = if cn_root {
        ("CreditNoteLine", "CreditedQuantity")
    } else {
        ("InvoiceLine", "InvoicedQuantity")
    };
    for (i, line) in root.children_named(CAC, line_name).enumerate() {
        let base = format!("{r}/cac:{line_name}[{}]", i + 1);
        let item = line.child(CAC, "Item");
        let category = item.and_then(|it| it.child(CAC, "ClassifiedTaxCategory"));
        let qty = line.child(CBC, qty_name);
        inv.lines.push(InvoiceLine {
            id: x.text(line.child(CBC, "ID")),
            name: x.text(item.and_then(|it| it.child(CBC, "Name"))),
            quantity: x.decimal(qty, &format!("{base}/cbc:{qty_name}")),
            unit: qty
                .and_then(|q| q.attr("unitCode"))
                .and_then(super::tree::clean),
            unit_price: x.decimal(
                line.descend(CAC, &["Price"])
                    .and_then(|pr| pr.child(CBC, "PriceAmount")),
                &format!("{base}/cac:Price/cbc:PriceAmount"),
            ),
            net_amount: x.decimal(line.child(CBC, "LineExtensionAmount"), &p(Term::LineNet(i))),
            tax_category: x.text(category.and_then(|c| c.child(CBC, "ID"))),
            tax_rate_percent: x.decimal(
                category.and_then(|c| c.child(CBC, "Percent")),
                &format!("{base}/cac:Item/cac:ClassifiedTaxCategory/cbc:Percent"),
            ),
            tax_amount: None,
        });
    }
    inv
}

fn party(el: Option<&Element>, x: &mut Extractor) -> Party {
    let Some(el) = el else {
        return Party::default();
    };
    let mut party = Party::default();
    let legal = el.child(CAC, "PartyLegalEntity");
    party.name = x.text(legal.and_then(|l| l.child(CBC, "RegistrationName")));
    let mut push = |scheme: &str, value: Option<String>| {
        if let Some(value) = value {
            party.ids.push(PartyId {
                scheme: scheme.into(),
                value,
            });
        }
    };
    for ts in el.children_named(CAC, "PartyTaxScheme") {
        let scheme_id = x.text(
            ts.descend(CAC, &["TaxScheme"])
                .and_then(|s| s.child(CBC, "ID")),
        );
        let is_vat = scheme_id.is_some_and(|s| s.eq_ignore_ascii_case("VAT"));
        push(
            if is_vat { "vat" } else { "tax" },
            x.text(ts.child(CBC, "CompanyID")),
        );
    }
    push(
        "legal",
        x.text(legal.and_then(|l| l.child(CBC, "CompanyID"))),
    );
    for pid in el.children_named(CAC, "PartyIdentification") {
        push("id", x.text(pid.child(CBC, "ID")));
    }
    push("endpoint", x.text(el.child(CBC, "EndpointID")));
    if let Some(addr) = el.child(CAC, "PostalAddress") {
        party.has_postal_address = true;
        party.country = x.text(
            addr.descend(CAC, &["Country"])
                .and_then(|c| c.child(CBC, "IdentificationCode")),
        );
    }
    party
}

fn root_path(cn_root: bool) -> &'static str {
    if cn_root { "/CreditNote" } else { "/Invoice" }
}

/// The XPath-like location of a business term in a UBL document.
pub fn path(cn_root: bool, term: Term) -> String {
    let r = root_path(cn_root);
    let seller = "cac:AccountingSupplierParty/cac:Party";
    let buyer = "cac:AccountingCustomerParty/cac:Party";
    let m = "cac:LegalMonetaryTotal";
    let line = if cn_root {
        "cac:CreditNoteLine"
    } else {
        "cac:InvoiceLine"
    };
    match term {
        Term::Specification => format!("{r}/cbc:CustomizationID"),
        Term::Number => format!("{r}/cbc:ID"),
        Term::IssueDate => format!("{r}/cbc:IssueDate"),
        Term::TypeCode if cn_root => format!("{r}/cbc:CreditNoteTypeCode"),
        Term::TypeCode => format!("{r}/cbc:InvoiceTypeCode"),
        Term::Currency => format!("{r}/cbc:DocumentCurrencyCode"),
        Term::SellerName => format!("{r}/{seller}/cac:PartyLegalEntity/cbc:RegistrationName"),
        Term::BuyerName => format!("{r}/{buyer}/cac:PartyLegalEntity/cbc:RegistrationName"),
        Term::SellerAddress => format!("{r}/{seller}/cac:PostalAddress"),
        Term::SellerCountry => {
            format!("{r}/{seller}/cac:PostalAddress/cac:Country/cbc:IdentificationCode")
        }
        Term::BuyerAddress => format!("{r}/{buyer}/cac:PostalAddress"),
        Term::BuyerCountry => {
            format!("{r}/{buyer}/cac:PostalAddress/cac:Country/cbc:IdentificationCode")
        }
        Term::LineNetTotal => format!("{r}/{m}/cbc:LineExtensionAmount"),
        Term::Allowances => format!("{r}/{m}/cbc:AllowanceTotalAmount"),
        Term::Charges => format!("{r}/{m}/cbc:ChargeTotalAmount"),
        Term::WithoutTax => format!("{r}/{m}/cbc:TaxExclusiveAmount"),
        Term::Tax => format!("{r}/cac:TaxTotal/cbc:TaxAmount"),
        Term::WithTax => format!("{r}/{m}/cbc:TaxInclusiveAmount"),
        Term::Prepaid => format!("{r}/{m}/cbc:PrepaidAmount"),
        Term::Rounding => format!("{r}/{m}/cbc:PayableRoundingAmount"),
        Term::Payable => format!("{r}/{m}/cbc:PayableAmount"),
        Term::Lines => format!("{r}/{line}"),
        Term::LineNet(i) => format!("{r}/{line}[{}]/cbc:LineExtensionAmount", i + 1),
        Term::VatTax(i) => format!("{r}/cac:TaxTotal/cac:TaxSubtotal[{}]/cbc:TaxAmount", i + 1),
    }
}
