//! The phrase pattern language: any text parses to forms or a pattern error, and every
//! error's offsets lie inside the text.
#![no_main]

use callscript_compiler::pattern;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = pattern::is_pattern(text);
    let _ = pattern::parse(text);
});
