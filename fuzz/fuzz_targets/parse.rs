//! Lexer and parser: any bytes that are UTF-8 parse to a tree and diagnostics, without a
//! panic, an overflow or a hang; every diagnostic's span lies inside the text.
#![no_main]

use callscript_compiler::span::SourceId;
use callscript_compiler::syntax::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (_file, diagnostics) = parse(text, SourceId(0));
    for diagnostic in &diagnostics {
        for label in std::iter::once(&diagnostic.primary).chain(&diagnostic.secondary) {
            let span = label.at.span;
            assert!(span.start <= span.end && span.end as usize <= text.len(), "span {span:?} outside the text");
        }
    }
});
