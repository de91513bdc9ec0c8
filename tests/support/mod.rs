//! Helpers shared by the end-to-end tests of the binary.

use std::process::{Command, Output};

/// Runs the built `callscript` in the repository's root, without colour.
pub fn callscript(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_callscript"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs")
}

mod scratch;
pub use scratch::scratch;
