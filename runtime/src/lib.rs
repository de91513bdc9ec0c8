//! The CallScript runtime, one folder per concern: the sans-IO VM with its built-in
//! recogniser (`vm`), the call driver (`call`), conversation tests (`testing`), campaigns
//! (`campaign`, `scheduler`, `store`, `report`, the web console `console`) and the telephony they dial through
//! (`telephony`: the simulator, SIP, media, speech in and out, recordings).

pub mod actions;
pub mod call;
pub mod campaign;
pub mod console;
pub mod http;
pub mod intents;
pub mod metrics;
pub mod report;
pub mod scheduler;
pub mod store;
pub mod telephony;
pub mod testing;
pub mod vm;

/// Scratch folders for the unit tests: the helper the integration tests and benchmarks share.
#[cfg(test)]
#[path = "../tests/support/scratch.rs"]
mod scratch;
