//! The CallScript compiler. Pure: source text in, syntax tree, diagnostics and bytecode out.
//! No file, network or clock access happens here; the CLI and the runtime do IO.

pub mod diagnostic;
pub mod check;
pub mod filters;
pub mod pattern;
pub mod source;
pub mod span;
pub mod stdlib;
pub mod suggest;
pub mod syntax;
pub mod value;
