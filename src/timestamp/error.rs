//! The one error type of the `timestamp` module: request rejections, signing failures and
//! verification failures, each with a message that names what was wrong.

use crate::timestamp::FailureInfo;

/// Everything that can go wrong while parsing a request, issuing a token or verifying one.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum TimestampError {
    /// The request is larger than the bound we accept.
    #[error("time-stamp request too large: {0} bytes")]
    RequestTooLarge(usize),
    /// The request is not a DER `TimeStampReq`.
    #[error("malformed time-stamp request: {0}")]
    MalformedRequest(String),
    /// The message imprint uses a hash algorithm we do not accept.
    #[error("unsupported hash algorithm {0}")]
    UnsupportedHashAlgorithm(String),
    /// The hashed message has the wrong length for its algorithm.
    #[error("message imprint is {actual} bytes, {algorithm} needs {expected}")]
    BadImprintLength {
        /// Name of the hash algorithm.
        algorithm: &'static str,
        /// Length the algorithm produces.
        expected: usize,
        /// Length found in the request.
        actual: usize,
    },
    /// The requested policy is not one this TSA issues under.
    #[error("unaccepted policy {0}")]
    UnacceptedPolicy(String),
    /// The request carries a critical extension we do not understand.
    #[error("unaccepted critical extension {0}")]
    UnacceptedExtension(String),
    /// The TSA key, certificate or parameters are unusable.
    #[error("TSA configuration: {0}")]
    Config(String),
    /// Encoding a structure failed (should not happen with valid parameters).
    #[error("DER encoding failed: {0}")]
    Encoding(String),
    /// The signing key refused to sign.
    #[error("signing failed")]
    Signing,
    /// Certificate generation with rcgen failed.
    #[error("certificate generation failed: {0}")]
    Certificate(String),
    /// The token or response is larger than the bound we accept.
    #[error("time-stamp token too large: {0} bytes")]
    TokenTooLarge(usize),
    /// The token or response is not well-formed DER of the expected shape.
    #[error("malformed time-stamp token: {0}")]
    MalformedToken(String),
    /// The response does not grant a token.
    #[error("time-stamp response not granted (status {status}): {text}")]
    NotGranted {
        /// The PKIStatus value.
        status: u8,
        /// The status strings and failure info, for people.
        text: String,
    },
    /// A required signed attribute is missing or malformed.
    #[error("signed attribute {0}")]
    SignedAttribute(String),
    /// messageDigest does not match the hash of the TSTInfo.
    #[error("messageDigest does not match the encapsulated TSTInfo")]
    MessageDigestMismatch,
    /// No certificate matching the signer identifier was found.
    #[error("signer certificate not found in the token or the given certificates")]
    SignerCertificateNotFound,
    /// The ESSCertID / ESSCertIDv2 does not identify the signer certificate.
    #[error("signing certificate attribute does not match the signer certificate: {0}")]
    EssCertIdMismatch(String),
    /// The CMS signature does not verify.
    #[error("CMS signature does not verify")]
    BadSignature,
    /// The signature or digest algorithm is not supported.
    #[error("unsupported algorithm: {0}")]
    UnsupportedAlgorithm(String),
    /// The signer certificate does not follow the TSA profile.
    #[error("signer certificate is not a TSA certificate: {0}")]
    NotTsaCertificate(String),
    /// A certificate is malformed.
    #[error("malformed certificate: {0}")]
    MalformedCertificate(String),
    /// A certificate was not valid at genTime.
    #[error("certificate {subject} not valid at genTime {gen_time}")]
    CertificateExpired {
        /// Subject of the certificate.
        subject: String,
        /// The token's genTime.
        gen_time: String,
    },
    /// No chain from the signer certificate to a trust root.
    #[error("signer certificate does not chain to a trusted root: {0}")]
    UntrustedChain(String),
    /// The token's message imprint differs from the expected one.
    #[error("message imprint does not match the document")]
    ImprintMismatch,
    /// The token's nonce differs from the request's.
    #[error("nonce does not match the request")]
    NonceMismatch,
    /// The TSA name in the token does not name the signer.
    #[error("TSTInfo tsa name does not match the signer certificate")]
    TsaNameMismatch,
    /// A trust root or intermediate could not be read.
    #[error("trust store: {0}")]
    TrustStore(String),
}

impl TimestampError {
    /// The RFC 3161 PKIFailureInfo bit a TSA answers with when this error rejects a request.
    pub fn failure_info(&self) -> FailureInfo {
        match self {
            Self::UnsupportedHashAlgorithm(_) => FailureInfo::BadAlg,
            Self::RequestTooLarge(_)
            | Self::MalformedRequest(_)
            | Self::BadImprintLength { .. } => FailureInfo::BadDataFormat,
            Self::UnacceptedPolicy(_) => FailureInfo::UnacceptedPolicy,
            Self::UnacceptedExtension(_) => FailureInfo::UnacceptedExtension,
            _ => FailureInfo::SystemFailure,
        }
    }
}

impl From<der::Error> for TimestampError {
    fn from(e: der::Error) -> Self {
        Self::Encoding(e.to_string())
    }
}
