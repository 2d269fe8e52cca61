//! Identities: the notary PKI (root and issuing CA, made with rcgen), organisations'
//! certificates and their checks (x509-parser), API keys, and the master key that seals every
//! private key the server holds.

pub mod apikey;
pub mod certcheck;
pub mod csr;
pub mod master_key;
pub mod pki;

use std::path::PathBuf;

/// Errors of the identity module.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The configured master key is not 32 bytes in hex or base64.
    #[error("NOTARIUM_MASTER_KEY must be 64 hex characters or base64 of 32 bytes")]
    BadMasterKey,
    /// A sealed key did not open: the master key is not the one the data was sealed with.
    #[error(
        "cannot decrypt `{0}` with this master key: the master key differs from the one this \
         database was created with (check NOTARIUM_MASTER_KEY or <data dir>/master.key); \
         nothing was changed"
    )]
    Unseal(String),
    /// File trouble with a key file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Certificate generation failed.
    #[error("certificate generation: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// A stored key or certificate is damaged.
    #[error("stored key material `{0}` is damaged")]
    Damaged(String),
    /// The CSR could not be used.
    #[error(transparent)]
    Csr(#[from] csr::CsrError),
}
