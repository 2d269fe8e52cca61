//! Reads a Chinese fully digitalised e-invoice (数电票, root `EInvoice`) into the model.
//!
//! The tree may come from XML or from the JSON mirror (`cn_json`); element names are those
//! listed in `docs/invoice-json.md`. Namespaces are ignored: issued files carry none or vary.

use super::extract::Extractor;
use super::model::{
    ChinaDetails, Invoice, InvoiceKind, InvoiceLine, Party, PartyId, PrecedingInvoice, Profile,
    Syntax,
};
use super::tree::{Element, Ns};
use super::values::parse_cn_date;

const ANY: Ns<'static> = Ns::Any;
/// Root element name of a 数电票.
pub const ROOT: &str = "EInvoice";
/// Path of the data block.
pub const DATA: &str = "/EInvoice/EInvoiceData";
/// Path of the basic information block (totals, capitals, time).
pub const BASIC: &str = "/EInvoice/EInvoiceData/BasicInformation";
/// Path of the item lines.
pub const ITEMS: &str = "/EInvoice/EInvoiceData/IssuItemInformation";

/// Reads the model; `syntax` says whether the tree came from XML or JSON.
pub fn read(root: &Element, syntax: Syntax, x: &mut Extractor) -> Invoice {
    let header = root.child(ANY, "Header");
    let labels = header.and_then(|h| h.child(ANY, "InherentLabel"));
    let data = root.child(ANY, "EInvoiceData");
    let basic = data.and_then(|d| d.child(ANY, "BasicInformation"));
    let red = data.and_then(|d| d.descend(ANY, &["SpecificInformation", "RedEInvoice"]));
    let supervision = root.child(ANY, "TaxSupervisionInfo");

    // InIssuType/LabelCode: Y blue, N red (是否蓝字发票标志).
    let issue_type = x.text(labels.and_then(|l| l.descend(ANY, &["InIssuType", "LabelCode"])));
    let is_red = issue_type.as_deref() == Some("N") || red.is_some();
    let kind = if is_red {
        InvoiceKind::RedLetter
    } else {
        InvoiceKind::Invoice
    };
    let mut inv = Invoice::empty(syntax, Profile::CnDigital, kind);
    inv.currency = Some("CNY".into());

    let eiid = x.text(header.and_then(|h| h.child(ANY, "EIid")));
    let supervision_number = x.text(supervision.and_then(|s| s.child(ANY, "InvoiceNumber")));
    inv.number = eiid.or_else(|| supervision_number.clone());

    let request_time = x.text(basic.and_then(|b| b.child(ANY, "RequestTime")));
    let (time_el, time_path) = match basic.and_then(|b| b.child(ANY, "RequestTime")) {
        Some(el) => (Some(el), format!("{BASIC}/RequestTime")),
        None => (
            supervision.and_then(|s| s.child(ANY, "IssueTime")),
            "/EInvoice/TaxSupervisionInfo/IssueTime".to_string(),
        ),
    };
    inv.issue_date = x.date(time_el, &time_path, parse_cn_date, "YYYY-MM-DD HH:MM:SS");

    let seller = data.and_then(|d| d.child(ANY, "SellerInformation"));
    inv.seller = party(seller, "SellerName", "SellerIdNum", x);
    let buyer = data.and_then(|d| d.child(ANY, "BuyerInformation"));
    inv.buyer = party(buyer, "BuyerName", "BuyerIdNum", x);

    inv.totals.without_tax = x.decimal(
        basic.and_then(|b| b.child(ANY, "TotalAmWithoutTax")),
        &format!("{BASIC}/TotalAmWithoutTax"),
    );
    inv.totals.tax = x.decimal(
        basic.and_then(|b| b.child(ANY, "TotalTaxAm")),
        &format!("{BASIC}/TotalTaxAm"),
    );
    inv.totals.with_tax = x.decimal(
        basic.and_then(|b| b.child(ANY, "TotalTax-includedAmount")),
        &format!("{BASIC}/TotalTax-includedAmount"),
    );

    if let Some(data) = data {
        for (i, item) in data.children_named(ANY, "IssuItemInformation").enumerate() {
            let base = format!("{ITEMS}[{}]", i + 1);
            let (rate, rate_label) =
                x.cn_rate(item.child(ANY, "TaxRate"), &format!("{base}/TaxRate"));
            inv.lines.push(InvoiceLine {
                id: None,
                name: x.text(item.child(ANY, "ItemName")),
                quantity: x.decimal(item.child(ANY, "Quantity"), &format!("{base}/Quantity")),
                unit: x.text(item.child(ANY, "MeaUnits")),
                unit_price: x.decimal(item.child(ANY, "UnPrice"), &format!("{base}/UnPrice")),
                net_amount: x.decimal(item.child(ANY, "Amount"), &format!("{base}/Amount")),
                tax_category: rate_label,
                tax_rate_percent: rate,
                tax_amount: x.decimal(item.child(ANY, "ComTaxAm"), &format!("{base}/ComTaxAm")),
            });
        }
    }

    if let Some(red) = red
        && let Some(number) = x.text(red.child(ANY, "OriginalInvoiceCode"))
    {
        inv.preceding.push(PrecedingInvoice {
            number,
            issue_date: None,
            code: None,
        });
    }

    inv.china = Some(ChinaDetails {
        vat_label: x
            .text(labels.and_then(|l| l.descend(ANY, &["GeneralOrSpecialVAT", "LabelCode"]))),
        invoice_code: None,
        amount_in_capitals: x
            .text(basic.and_then(|b| b.child(ANY, "TotalTax-includedAmountInChinese"))),
        issue_time: request_time
            .or_else(|| x.text(supervision.and_then(|s| s.child(ANY, "IssueTime")))),
        red_confirmation_number: x.text(red.and_then(|r| r.child(ANY, "CreditNoteNumber"))),
        supervision_number,
    });
    inv
}

fn party(el: Option<&Element>, name: &str, id: &str, x: &mut Extractor) -> Party {
    let mut party = Party {
        name: x.text(el.and_then(|e| e.child(ANY, name))),
        ..Party::default()
    };
    if let Some(value) = x.text(el.and_then(|e| e.child(ANY, id))) {
        party.ids.push(PartyId {
            scheme: "cn-taxpayer".into(),
            value,
        });
    }
    party
}
