//! notarium: a notarization server for electronic VAT invoices and electronic contracts.
//!
//! Pure logic (Merkle math, DER, formats, verification) lives in modules that never touch the
//! network or the database; `store` and `api` are the only modules that do I/O.

pub mod api;
pub mod app;
pub mod config;
pub mod demo;
pub mod documents;
pub mod evidence;
pub mod identity;
pub mod ledger;
pub mod loadtest;
pub mod notary;
pub mod store;
pub mod timestamp;
pub mod witness;
