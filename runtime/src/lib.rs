//! The CallScript runtime: the sans-IO VM that runs one session per call, the built-in
//! recogniser, and conversation tests. The scheduler, telephony and store come next.

pub mod recognise;
pub mod testing;
pub mod vm;
