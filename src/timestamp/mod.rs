//! The pure RFC 3161 core: parse time-stamp requests, issue tokens and responses signed with
//! the TSA's P-256 key, verify tokens (ours or any TSA's) offline, and issue the TSA
//! certificate. No network, no database: the offline verifier reuses this module as is.
//!
//! Standards: RFC 3161 (time-stamp protocol), RFC 5816 (ESSCertIDv2 in tokens), RFC 5652
//! (CMS SignedData), RFC 5035 (signingCertificateV2), RFC 5280 (certificates).

mod asn1;
mod certificate;
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
