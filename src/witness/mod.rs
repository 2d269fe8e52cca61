//! `notarium witness`: an independent node that checks a notarium log only grows, countersigns
//! its checkpoints (C2SP tlog-witness / tlog-cosignature `cosignature/v1`), and keeps a full,
//! verified mirror that it serves as C2SP tlog-tiles when the log's own server is gone.
//!
//! Pure parts: [`request`] (the `add-checkpoint` body) and [`verdict`] (the decision). The
//! rest is the process around them: [`cosigner`] (the one transactional cosigning path),
//! [`mirror`] (polling and rebuilding the log), [`log_client`] (HTTP reads of the log),
//! [`server`] (start-up and HTTP surface), [`key`], [`config`], [`metrics`].

pub mod config;
pub mod cosigner;
pub mod error;
pub mod key;
pub mod log_client;
pub mod metrics;
pub mod mirror;
pub mod request;
pub mod server;
pub mod verdict;

pub use config::WitnessConfig;
pub use cosigner::{Cosigned, Cosigner, KnownLog};
pub use error::WitnessError;
pub use request::AddCheckpoint;
pub use server::{WitnessNode, open, serve, serve_on};
pub use verdict::{Held, Verdict, judge};
