//! The campaign reader (`callscript_compiler::campaign::read`), as TOML and as the seed's JSON
//! task: any text reads to a campaign or to diagnostics, never a panic; every diagnostic points
//! inside the text on character boundaries, and a campaign comes back exactly when no
//! diagnostic is an error.
#![no_main]

use callscript_compiler::campaign::{Shape, read};
use callscript_compiler::span::SourceId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for shape in [Shape::Toml, Shape::Task] {
        let read = read(SourceId(0), text, shape);
        for d in &read.diagnostics {
            let span = d.primary.at.span;
            assert!(span.start <= span.end && span.end as usize <= text.len());
            assert!(text.is_char_boundary(span.start as usize) && text.is_char_boundary(span.end as usize));
        }
        assert_eq!(read.campaign.is_some(), !read.diagnostics.iter().any(|d| d.is_error()));
    }
});
