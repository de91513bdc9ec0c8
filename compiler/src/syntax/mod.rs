//! Tokens, lexer, syntax tree and the error-tolerant parser.

pub mod ast;
pub mod lexer;
pub mod parser;
pub mod token;

pub use parser::{parse, parse_expr};
