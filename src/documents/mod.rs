//! Documents: parsing, validation and keys of e-invoices and e-contracts.

pub mod contract;
pub mod taxid;
