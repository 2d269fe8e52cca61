//! Documents: parsing, validation and keys of e-invoices (and contracts).

pub mod taxid;
