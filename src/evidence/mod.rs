//! Evidence bundles: the zip a court receives for a record, its builder, its offline verifier,
//! the printable evidence certificate, and the `notarium verify` command.
//!
//! Pure: bytes and strings in, zip bytes or a [`Report`] out; no database, no network. The
//! server collects a record's pieces into a [`BundleInput`] and calls [`build_bundle`]; the
//! offline verifier and the `/verify` page call [`verify_bundle`]. The layout is documented
//! file by file in `docs/evidence-bundle.md`.
//!
//! The verifier trusts nothing inside the bundle that it can check against the roots and keys
//! the caller gives; taking the bundle's own roots and keys needs
//! [`VerifyOptions::trust_bundle_roots`], and the report then says so in its warnings.

mod build;
mod certificate;
pub mod cli;
mod error;
#[cfg(test)]
mod fixture;
mod input;
mod manifest;
mod policy;
mod readme;
#[cfg(test)]
mod readme_tests;
mod report;
mod verify;
#[cfg(test)]
mod verify_tests;
mod zip_read;
mod zip_write;

pub use build::{build_bundle, certificate_data, kind_name};
pub use certificate::{
    CertificateData, CertificateEntry, format_beijing, format_utc, render_certificate,
};
pub use error::EvidenceError;
pub use input::{BundleInput, DocumentFile, EntryInput, RecordSummary};
pub use manifest::{FORMAT, Manifest, ManifestEntry, ManifestFile, ManifestLog, ManifestRecord};
pub use policy::{parse_policy, policy_text};
pub use report::{Check, Report, Status, Verdict};
pub use verify::{VerifyOptions, verify_bundle};
pub use zip_read::{ZipLimits, read_zip};
