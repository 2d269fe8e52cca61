//! The pure RFC 3161 core: parse time-stamp requests, issue tokens and responses signed with
//! the TSA's P-256 key, verify tokens (ours or any TSA's) offline, and issue the TSA
//! certificate. No network, no database: the offline verifier reuses this module as is.
//!
//! Standards: RFC 3161 (time-stamp protocol), RFC 5816 (ESSCertIDv2 in tokens), RFC 5652
//! (CMS SignedData), RFC 5035 (signingCertificateV2), RFC 5280 (certificates).
//!
//! How `POST /tsa` uses it:
//! 1. [`parse_request`] the body; on `Err(e)` answer
//!    [`rejection_response`]`(e.failure_info(), &e.to_string())` and take no serial.
//! 2. Take a serial (PostgreSQL) and the time, fill [`TokenParams`], answer
//!    [`TsaSigner::grant`]. For the server's own per-document tokens,
//!    [`TimeStampRequest::for_digest`] and [`TsaSigner::token`].
//!
//! Verifying: [`verify_token`] / [`verify_response`] with a [`TrustStore`] of roots (and
//! intermediates, plus the TSA certificate for tokens requested without certReq).
//! Certificate paths are checked at genTime; revocation and path-length constraints are not
//! checked.

mod asn1;
mod certificate;
pub(crate) mod der_walk;
mod error;
mod hash;
mod oids;
mod request;
mod response;
mod status;
#[cfg(test)]
mod testing;
mod verify;

pub use certificate::{generate_tsa_key, issue_tsa_certificate};
pub use error::TimestampError;
pub use hash::HashAlgorithm;
pub use request::{MAX_REQUEST_LEN, TimeStampRequest, parse_request};
pub use response::{Accuracy, TokenParams, TsaSigner, rejection_response};
pub use status::FailureInfo;
pub use verify::{
    MAX_TOKEN_LEN, TrustStore, VerifiedToken, verify_response, verify_response_for_request,
    verify_token,
};
