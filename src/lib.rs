//! The `callscript` command line: argument parsing, file IO and output formats. No language
//! logic lives here; it calls the compiler and the runtime.

pub mod campaign;
pub mod checking;
pub mod cli;
pub mod clips;
pub mod commands;
pub mod files;
pub mod fmt;
pub mod lsp;
pub mod recording;
pub mod render;
pub mod snippet;
