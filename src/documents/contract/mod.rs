//! The pure e-contract core: intake of a contract PDF, PAdES B-T signatures added as
//! incremental updates, and their verification. Bytes in, bytes and structs out: no
//! database, no network, no HTTP; the offline evidence verifier reuses it as is.
//!
//! - [`inspect_pdf`] / [`inspect_pdf_isolated`]: is this a readable PDF, and what is in it.
//! - [`sign_pdf`]: the PDF plus one incremental update carrying a CAdES-detached signature
//!   (signed by a [`CadesSigner`]) with a signature time-stamp.
//! - [`verify_pdf_signatures`]: every signature of a PDF, checked.
//!
//! Standards: ISO 32000-1 (12.8 digital signatures, 7.5.6 incremental updates),
//! ETSI EN 319 142-1 (PAdES baseline), RFC 5652 (CMS), RFC 5035 (ESSCertIDv2),
//! RFC 3161 (time-stamp tokens).

mod cades;
mod error;
mod fields;
mod intake;
mod isolate;
mod pades;
#[cfg(test)]
mod testing;
mod verify;

pub use cades::CadesSigner;
pub use error::ContractError;
pub use intake::{IntakeLimits, PdfInfo, SignatureFieldInfo, inspect_pdf};
pub use isolate::{
    INSPECTOR_SUBCOMMAND, inspect_pdf_isolated, inspect_pdf_with_command, run_inspector_child,
};
pub use pades::{DEFAULT_CONTENTS_RESERVE, SignatureOptions, sign_pdf};
pub use verify::{
    MAX_VERIFY_BYTES, PdfVerification, SignatureCheck, SignatureTime, verify_pdf_signatures,
};
