//! Integration tests: one binary, so one PostgreSQL cluster per test run (see `harness`).

mod evidence;
mod contracts;
mod foundation;
mod harness;
mod invoices;
mod ledger;
mod loadtest;
mod tsa;
mod witness;
