//! The evidence module's one error type: why a bundle could not be built or read.
//!
//! Verification itself never fails with an error: it returns a [`super::Report`] whose checks
//! say what passed, failed or could not be checked. These errors are for the builder (bad
//! input from the server) and for reading a bundle that is not a bundle at all.

use thiserror::Error;

/// Why a bundle could not be built or opened.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EvidenceError {
    /// The builder was given an inconsistent or malformed piece.
    #[error("bad bundle input: {0}")]
    BadInput(String),
    /// Writing the zip failed.
    #[error("cannot write the zip: {0}")]
    ZipWrite(String),
    /// The bytes are not a readable zip.
    #[error("not a readable zip: {0}")]
    ZipRead(String),
    /// The zip breaks a safety limit (size, ratio, member count, member size).
    #[error("zip refused: {0}")]
    ZipLimit(String),
    /// A member name is unsafe (absolute, `..`, backslash, odd characters) or repeated.
    #[error("zip member name refused: {0:?}")]
    BadMemberName(String),
    /// The manifest is missing or malformed.
    #[error("manifest: {0}")]
    Manifest(String),
    /// A witness policy file is malformed.
    #[error("witness policy: {0}")]
    WitnessPolicy(String),
}
