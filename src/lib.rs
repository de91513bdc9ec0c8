//! The `callscript` command line: argument parsing, file IO and output formats. No language
//! logic lives here; it calls the compiler and the runtime.

/// A line to standard error that never panics (as `eprintln!` does when it cannot write):
/// when even that cannot be written, there is no one left to tell, and the exit code says it.
macro_rules! say_err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
pub(crate) use say_err;

pub mod allocator;
pub mod campaign;
pub mod checking;
pub mod cli;
pub mod clips;
pub mod commands;
pub mod dnc;
pub mod error;
pub mod files;
pub mod fmt;
pub mod intents;
pub mod lsp;
pub mod recording;
pub mod render;
mod rfm;
pub mod serve;
pub mod snippet;
