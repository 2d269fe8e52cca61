//! Documents notarium reads: e-invoices (parsing, normalisation, validation, keys, canonical
//! digest), e-contracts (PDF intake, PAdES signatures) and taxpayer ids. Pure: no database, no
//! network, no HTTP, so the offline verifier reuses it.

pub mod contract;
pub mod invoice;
pub mod taxid;

pub use invoice::canonical::{CANONICAL_VERSION, canonical_bytes, canonical_digest};
pub use invoice::error::InvoiceError;
pub use invoice::finding::{Finding, Severity};
pub use invoice::key::InvoiceKey;
pub use invoice::model::{Invoice, InvoiceKind, Profile, Syntax};
pub use invoice::{Analysis, ParsedInvoice, analyze_invoice, parse_invoice};
pub use taxid::{TaxIdError, validate_uscc};
