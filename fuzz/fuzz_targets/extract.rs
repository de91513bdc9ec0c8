//! The zh-CN extractors (`callscript_compiler::extract`): any utterance reads to a value or to
//! nothing, never a panic; a value's span lies inside the utterance, on character boundaries.
#![no_main]

use callscript_compiler::extract;
use callscript_compiler::value::Date;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(utterance) = std::str::from_utf8(data) else { return };
    let today = Date::new(2026, 11, 24).expect("a date");
    let inside = |span: &std::ops::Range<usize>| {
        assert!(span.start <= span.end && span.end <= utterance.len(), "{span:?}");
        assert!(utterance.is_char_boundary(span.start) && utterance.is_char_boundary(span.end));
    };
    if let Some(found) = extract::find_int(utterance) {
        inside(&found.span);
    }
    if let Some(found) = extract::find_money(utterance) {
        inside(&found.span);
    }
    if let Some(found) = extract::find_time(utterance) {
        inside(&found.span);
    }
    if let Some(found) = extract::find_digits(utterance, 1..=32) {
        inside(&found.span);
    }
    let _ = extract::text(utterance);
    if let Some(found) = extract::find_date(utterance, today) {
        inside(&found.span);
    }
});
