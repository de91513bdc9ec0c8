//! `fmt` round trip: what formats re-parses without errors to the same tree, and formatting
//! the output again changes nothing.
#![no_main]

use callscript_compiler::format::{format, tree_shape};
use callscript_compiler::span::SourceId;
use callscript_compiler::syntax::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(formatted) = format(text) else { return };
    let (before, _) = parse(text, SourceId(0));
    let (after, diagnostics) = parse(&formatted, SourceId(0));
    assert!(diagnostics.is_empty(), "formatted output does not parse: {diagnostics:?}\n{formatted}");
    assert_eq!(tree_shape(&before), tree_shape(&after), "formatting changed the tree");
    let again = format(&formatted).expect("formatted output formats");
    assert_eq!(formatted, again, "formatting is not idempotent");
});
