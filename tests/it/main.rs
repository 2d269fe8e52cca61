//! Integration tests: one binary, so one PostgreSQL cluster per test run (see `harness`).

mod contracts;
mod foundation;
mod harness;
mod invoices;
mod tsa;
