//! Record types, the runner, error classes and progress reporting.

pub mod background;
pub mod clock;
pub mod error;
pub mod progress;
pub mod record;
pub mod retry;
pub mod runner;
