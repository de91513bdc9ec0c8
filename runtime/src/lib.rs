//! The CallScript runtime: the sans-IO VM that runs one session per call, the built-in
//! recogniser, conversation tests, and campaigns (files, scheduler, simulated telephony,
//! the store and reports).

pub mod asr;
pub mod call;
pub mod campaign;
pub mod media;
pub mod recognise;
pub mod recording;
pub mod report;
pub mod scheduler;
pub mod sim;
pub mod sip;
pub mod speech;
pub mod store;
pub mod telephony;
pub mod testing;
pub mod vm;
