//! The recogniser: the first line is an utterance (also tried as DTMF keys), each further
//! line a phrase pattern of its own intent. Building the tables and scoring never panic,
//! and the best intent is one of the candidates.
#![no_main]

use callscript_compiler::bytecode::IntentTable;
use callscript_compiler::pattern;
use callscript_runtime::vm::recognise::{self, Recogniser};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut lines = text.lines();
    let utterance = lines.next().unwrap_or("");
    let _ = recognise::normalise(utterance);
    let _ = recognise::numerals_to_digits(utterance);
    let intents: Vec<IntentTable> = lines
        .take(16)
        .enumerate()
        .map(|(i, line)| IntentTable {
            name: format!("i{i}"),
            forms: pattern::parse(line).unwrap_or_default(),
            dtmf: vec![i.to_string()],
            regexes: Vec::new(),
        })
        .collect();
    let Ok(recogniser) = Recogniser::new(&intents) else { return };
    let mut scores = Vec::new();
    recogniser.score_all(utterance, &mut scores);
    let candidates: Vec<u32> = (0..recogniser.intent_count() as u32).collect();
    if let Some((index, _)) = recogniser.best(utterance, &candidates) {
        assert!(index < candidates.len(), "best names no candidate");
    }
    for intent in &candidates {
        let _ = recogniser.dtmf_selects(*intent, utterance);
    }
});
