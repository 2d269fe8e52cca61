//! The notary's stateful services: they combine the pure modules (`timestamp`, `ledger`,
//! `documents`, `identity`) with the database. HTTP handlers call these; so do the CLI and the
//! demo.

pub mod log;
pub mod log_verify;
pub mod notarize;
pub mod sequencer;
pub mod signing;
pub mod tsa;
