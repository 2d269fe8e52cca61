//! Integration tests: one binary, so one PostgreSQL cluster per test run (see `harness`).

mod foundation;
mod harness;
mod loadtest;
mod tsa;
