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

/// A group of similar utterances the script did not understand (`intents suggest`, §14).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Cluster {
    /// How many utterances (repeats included) the group holds.
    pub count: u64,
    /// Up to five of them, commonest first.
    pub samples: Vec<String>,
    /// Words the group shares: candidate `phrases` for a new or an existing intent.
    pub phrases: Vec<String>,
    /// The existing intent closest to the group, if any, and how close (0 to 1).
    pub nearest: Option<Nearest>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Nearest {
    pub intent: String,
    pub similarity: f64,
}

/// Character bigrams of a normalised text (single characters for a one-character text).
fn bigrams(text: &str) -> Vec<String> {
    let chars: Vec<char> = callscript_compiler::extract::normalise(text).chars().collect();
    let mut out: Vec<String> = if chars.len() < 2 {
        chars.iter().map(|c| c.to_string()).collect()
    } else {
        chars.windows(2).map(|w| w.iter().collect()).collect()
    };
    out.sort();
    out.dedup();
    out
}

fn jaccard(a: &[String], b: &[String]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let common = a.iter().filter(|x| b.binary_search(x).is_ok()).count();
    common as f64 / (a.len() + b.len() - common) as f64
}

/// Pieces (two to ten characters) that at least half of `members` hold (counted with
/// repeats): the most widely held first, the longer first among equals, none inside another
/// kept one; at most three.
fn shared_phrases(members: &[(String, u64)]) -> Vec<String> {
    let total: u64 = members.iter().map(|(_, n)| n).sum();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for (text, n) in members {
        let chars: Vec<char> = callscript_compiler::extract::normalise(text).chars().collect();
        let mut seen: Vec<String> = Vec::new();
        for len in 2..=10.min(chars.len()) {
            for w in chars.windows(len) {
                let g: String = w.iter().collect();
                if !seen.contains(&g) {
                    seen.push(g);
                }
            }
        }
        for g in seen {
            *counts.entry(g).or_insert(0) += n;
        }
    }
    let mut frequent: Vec<(String, u64)> = counts.into_iter().filter(|(_, n)| *n * 2 >= total).collect();
    frequent.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.chars().count().cmp(&a.0.chars().count())).then(a.0.cmp(&b.0)));
    let mut kept: Vec<String> = Vec::new();
    for (g, _) in frequent {
        if !kept.iter().any(|k| k.contains(&g) || g.contains(k.as_str())) {
            kept.push(g);
        }
        if kept.len() == 3 {
            break;
        }
    }
    kept
}

/// Groups utterances (with how often each was heard) by how many character bigrams they
/// share: each utterance, commonest first, joins the first group whose first utterance it
/// resembles (Jaccard ≥ 0.34), or starts a group. Groups under `min_count` are dropped.
/// `nearest` names the closest intent of the script for a group's utterances.
pub fn suggest(
    utterances: &BTreeMap<String, u64>,
    min_count: u64,
    nearest: impl Fn(&[(String, u64)]) -> Option<Nearest>,
) -> Vec<Cluster> {
    let mut ordered: Vec<(&String, &u64)> = utterances.iter().collect();
    ordered.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    // Each group: its first utterance's bigrams, and its utterances with their counts.
    type Group = (Vec<String>, Vec<(String, u64)>);
    let mut groups: Vec<Group> = Vec::new();
    for (text, n) in ordered {
        let grams = bigrams(text);
        if grams.is_empty() {
            continue;
        }
        match groups.iter_mut().find(|(leader, _)| jaccard(leader, &grams) >= 0.34) {
            Some((_, members)) => members.push((text.clone(), *n)),
            None => groups.push((grams, vec![(text.clone(), *n)])),
        }
    }
    let mut clusters: Vec<Cluster> = groups
        .into_iter()
        .map(|(_, members)| {
            let count = members.iter().map(|(_, n)| n).sum();
            Cluster {
                count,
                samples: members.iter().take(5).map(|(t, _)| t.clone()).collect(),
                phrases: shared_phrases(&members),
                nearest: nearest(&members),
            }
        })
        .filter(|c| c.count >= min_count)
        .collect();
    clusters.sort_by(|a, b| b.count.cmp(&a.count).then(a.samples.cmp(&b.samples)));
    clusters
}

/// The intent whose phrases (and, with a model, whose probability) are closest to a group:
/// the model's mean probability when there is one, else the best bigram overlap between the
/// group's utterances and the intent's literal phrase forms.
pub fn nearest_intent(
    tables: &[IntentTable],
    classifier: Option<&Classifier>,
    members: &[(String, u64)],
) -> Option<Nearest> {
    if let Some(model) = classifier {
        let mut sums = vec![0f64; tables.len()];
        let mut scores = Vec::new();
        let total: u64 = members.iter().map(|(_, n)| n).sum();
        for (text, n) in members {
            model.probabilities(text, &mut scores);
            for (s, p) in sums.iter_mut().zip(&scores) {
                *s += f64::from(*p) * *n as f64;
            }
        }
        let (best, sum) = sums.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
        return Some(Nearest { intent: tables.get(best)?.name.clone(), similarity: round4(sum / total.max(1) as f64) });
    }
    let texts: Vec<Vec<String>> = members.iter().map(|(t, _)| bigrams(t)).collect();
    tables
        .iter()
        .map(|t| {
            let forms: Vec<Vec<String>> = t.forms.iter().map(|f| bigrams(&f.parts.concat())).collect();
            let best = texts.iter().flat_map(|text| forms.iter().map(move |f| jaccard(text, f))).fold(0.0f64, f64::max);
            (t.name.clone(), best)
        })
        .filter(|(_, s)| *s > 0.0)
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(intent, s)| Nearest { intent, similarity: round4(s) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similar_utterances_group_and_share_their_words() {
        let heard: BTreeMap<String, u64> = [
            ("这个我得问问家里人", 7),
            ("我得问问家里人再说", 3),
            ("问一下家里人", 2),
            ("今天天气不错", 5),
            ("在吃饭", 1),
        ]
        .into_iter()
        .map(|(t, n)| (t.to_string(), n))
        .collect();
        let clusters = suggest(&heard, 2, |_| None);
        let seen: Vec<(u64, &str)> = clusters.iter().map(|c| (c.count, c.samples[0].as_str())).collect();
        assert_eq!(seen, [(10, "这个我得问问家里人"), (5, "今天天气不错"), (2, "问一下家里人")], "{clusters:?}");
        assert_eq!(clusters[0].samples, ["这个我得问问家里人", "我得问问家里人再说"]);
        assert_eq!(clusters[0].phrases[0], "我得问问家里人", "{:?}", clusters[0].phrases);
        assert_eq!(clusters[1].phrases, ["今天天气不错"]);
    }
}
