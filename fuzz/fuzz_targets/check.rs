//! The whole checker (parse, names, types, flow, compliance, lowering) on any UTF-8 text: no
//! panic, no overflow, no hang; every diagnostic's span lies inside its file.
#![no_main]

use callscript_compiler::check::check_source;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let checked = check_source("fuzz.call", text);
    for diagnostic in &checked.diagnostics {
        for label in std::iter::once(&diagnostic.primary).chain(&diagnostic.secondary).chain(&diagnostic.path) {
            let source = checked.sources.get(label.at.file);
            let span = label.at.span;
            assert!(
                span.start <= span.end && span.end as usize <= source.text.len(),
                "span {span:?} outside {}",
                source.name
            );
        }
    }
});
