//! Integration tests: one binary, so one PostgreSQL cluster per test run (see `harness`).

mod contracts;
mod evidence;
mod export;
mod foundation;
mod harness;
mod invoices;
mod ledger;
mod loadtest;
mod tsa;
mod verify_page;
mod witness;
