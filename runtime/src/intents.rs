//! `callscript intents eval` (LANGUAGE.md §14): how well a script's intents recognise labelled
//! utterances. Each text is recognised against every intent in scope, with no ask around it:
//! phrases, regexes first (the recogniser), then the learned model at the script's
//! `confidence`; anything else is `unknown`. An expected intent that is not in scope counts
//! as `unknown`.

use std::collections::BTreeMap;

use callscript_compiler::bytecode::IntentTable;
use callscript_compiler::learn::Classifier;
use serde::Serialize;

use crate::vm::recognise::Recogniser;

/// What a text was recognised as, and how.
#[derive(Clone, Debug, PartialEq)]
pub struct Recognised {
    /// The intent's name, or `unknown`.
    pub intent: String,
    pub by_model: bool,
    pub confidence: f32,
}

/// Recognises utterances against a fixed set of intents, outside any ask.
pub struct Judge<'a> {
    tables: &'a [IntentTable],
    recogniser: Recogniser,
    classifier: Option<&'a Classifier>,
    confidence: f32,
    everyone: Vec<u32>,
}

pub const UNKNOWN: &str = "unknown";

impl<'a> Judge<'a> {
    /// `classifier`'s classes must be `tables`' indices (a program's own intents).
    pub fn new(tables: &'a [IntentTable], classifier: Option<&'a Classifier>, confidence: f32) -> Result<Self, String> {
        let recogniser = Recogniser::new(tables)?;
        let everyone = (0..tables.len() as u32).collect();
        Ok(Judge { tables, recogniser, classifier, confidence, everyone })
    }

    pub fn recognise(&self, text: &str) -> Recognised {
        if let Some((pos, _)) = self.recogniser.best(text, &self.everyone) {
            return Recognised { intent: self.tables[pos].name.clone(), by_model: false, confidence: 1.0 };
        }
        if let Some(p) = self.classifier.and_then(|c| c.predict(text))
            && p.confidence >= self.confidence
            && let Some(t) = self.tables.get(p.intent as usize)
        {
            return Recognised { intent: t.name.clone(), by_model: true, confidence: p.confidence };
        }
        Recognised { intent: UNKNOWN.into(), by_model: false, confidence: 0.0 }
    }

    fn in_scope(&self, intent: &str) -> bool {
        self.tables.iter().any(|t| t.name == intent)
    }
}

/// Precision, recall and F1 of one intent over the data.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct IntentScore {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Utterances labelled with it.
    pub support: u64,
}

/// One cell of the confusion matrix off its diagonal.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Confusion {
    pub expected: String,
    pub got: String,
    pub count: u64,
}

/// The report of §14 (`--format json`).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Evaluation {
    pub total: u64,
    pub accuracy: f64,
    /// The mean F1 over the intents that occur in the data (expected or recognised).
    pub macro_f1: f64,
    /// The share of utterances recognised as `unknown`.
    pub unknown_rate: f64,
    pub per_intent: BTreeMap<String, IntentScore>,
    /// Every mistake, commonest first.
    pub confusion: Vec<Confusion>,
    /// How many turns the learned model decided (the rest: phrases, or unknown).
    pub by_model: u64,
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// Recognises every `(text, expected intent)` pair and scores the result.
pub fn evaluate(judge: &Judge, data: &[(String, String)]) -> Evaluation {
    let mut pairs: BTreeMap<(String, String), u64> = BTreeMap::new();
    let (mut right, mut unknown, mut by_model) = (0u64, 0u64, 0u64);
    for (text, expected) in data {
        let expected = if judge.in_scope(expected) { expected.clone() } else { UNKNOWN.to_string() };
        let got = judge.recognise(text);
        right += u64::from(got.intent == expected);
        unknown += u64::from(got.intent == UNKNOWN);
        by_model += u64::from(got.by_model);
        *pairs.entry((expected, got.intent)).or_insert(0) += 1;
    }
    let mut names: Vec<&String> = pairs.keys().flat_map(|(e, g)| [e, g]).collect();
    names.sort();
    names.dedup();
    let mut per_intent = BTreeMap::new();
    for name in names {
        let tp = pairs.get(&(name.clone(), name.clone())).copied().unwrap_or(0);
        let support: u64 = pairs.iter().filter(|((e, _), _)| e == name).map(|(_, n)| n).sum();
        let predicted: u64 = pairs.iter().filter(|((_, g), _)| g == name).map(|(_, n)| n).sum();
        let precision = if predicted == 0 { 0.0 } else { tp as f64 / predicted as f64 };
        let recall = if support == 0 { 0.0 } else { tp as f64 / support as f64 };
        let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
        per_intent.insert(
            name.clone(),
            IntentScore { precision: round4(precision), recall: round4(recall), f1: round4(f1), support },
        );
    }
    let mut confusion: Vec<Confusion> = pairs
        .iter()
        .filter(|((e, g), _)| e != g)
        .map(|((e, g), n)| Confusion { expected: e.clone(), got: g.clone(), count: *n })
        .collect();
    confusion.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| (&a.expected, &a.got).cmp(&(&b.expected, &b.got))));
    let total = data.len() as u64;
    let ratio = |n: u64| if total == 0 { 0.0 } else { round4(n as f64 / total as f64) };
    let macro_f1 = if per_intent.is_empty() {
        0.0
    } else {
        round4(per_intent.values().map(|s| s.f1).sum::<f64>() / per_intent.len() as f64)
    };
    Evaluation {
        total,
        accuracy: ratio(right),
        macro_f1,
        unknown_rate: ratio(unknown),
        per_intent,
        confusion,
        by_model,
    }
}
