//! The CallScript compiler. Pure: source text in, syntax tree, diagnostics and bytecode out.
//! No file, network or clock access happens here; the CLI and the runtime do IO.

// A diagnostic is the error data of this crate; boxing it on every `Err` would buy nothing.
#![allow(clippy::result_large_err)]

pub mod bytecode;
pub mod campaign;
pub mod check;
pub mod diagnostic;
pub mod disasm;
pub mod extract;
pub mod filters;
pub mod format;
pub mod ide;
pub mod learn;
pub mod lower;
pub mod pattern;
pub mod segment;
pub mod source;
pub mod span;
pub mod stdlib;
pub mod suggest;
pub mod syntax;
pub mod value;
