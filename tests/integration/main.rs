//! One integration-test binary: the real `ingest` binary on real fixtures, with the real
//! model, asserting on what landed in the stores.

mod bench;
mod cli;
mod common;
mod embed;
mod faults;
mod hostile;
mod memory;
mod norms;
mod observability;
mod parity;
mod refresh;
mod reliability;
mod servers;
mod texts;
