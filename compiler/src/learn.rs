//! Learned intents (LANGUAGE.md §14): a linear classifier trained at compile time from every
//! intent's `examples` and phrase forms, embedded in the program.
//!
//! * **Features.** The utterance is [`normalise`]d like for phrases, then cut into character
//!   n-grams of one to three characters, the text's start and end marked (so `^不` and `了$`
//!   are features of their own). Each distinct n-gram is a binary feature, the vector scaled to
//!   unit length so long rambles and one-word answers weigh alike. Features are FNV-1a hashes
//!   of the n-gram: no dictionary, nothing that depends on the machine.
//! * **Model.** Multinomial logistic regression (a softmax over the intents), trained by
//!   stochastic gradient descent in a fixed order (a seeded shuffle), a fixed number of
//!   epochs and a decaying step: the same inputs give the same model bytes, so content hashes
//!   and tests are stable. The weights are stored as `i8` with one scale, which keeps a model
//!   of 30,000 n-grams and 60 intents under 2 MB.
//! * **Confidence** is the softmax probability of the best intent.
//! * **Why.** [`Classifier::explain`] lists the n-grams of the utterance that pushed it most
//!   towards the chosen intent, for `simulate` and transcripts.
//!
//! Pure: no IO, no clock, no randomness beyond the seeded shuffle.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::extract::normalise;

/// The longest n-gram, in characters.
const MAX_N: usize = 3;
/// Passes over the training set.
const EPOCHS: usize = 60;
/// The first step size; it decays as `1 / (1 + epoch / 4)`. Large, with a light penalty, so
/// the probabilities are sharp enough for §14's default `confidence` of 0.5: measured on
/// `tests/intents/`, a step of 2.0 left 7.6 % of the held-out turns under 0.5, 8.0 leaves 2 %.
const LEARNING_RATE: f32 = 8.0;
/// L2 penalty, applied to the weights an example touches.
const L2: f32 = 1e-6;
/// Marks the start and the end of the text inside n-grams.
const EDGE: char = '\u{2}';

/// A trained model as the program stores it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntentModel {
    /// The number of intents (the program's intent table, in order).
    pub classes: u32,
    /// The hashes of the n-grams the model knows, sorted.
    pub features: Vec<u64>,
    /// `weights[feature * classes + class]`, each `q as f32 * scale`.
    pub weights: Vec<i8>,
    pub scale: f32,
    pub bias: Vec<f32>,
}

/// One training utterance: its text and the index of its intent.
#[derive(Clone, Debug)]
pub struct Sample {
    pub text: String,
    pub intent: u32,
}

/// FNV-1a over the characters of an n-gram.
fn hash(chars: &[char]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for c in chars {
        for b in (*c as u32).to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// The n-grams of a text with their hashes, in order of appearance (repeats included).
fn ngrams(text: &str, mut each: impl FnMut(u64, &[char])) {
    let mut chars: Vec<char> = Vec::with_capacity(text.len() / 2 + 2);
    chars.push(EDGE);
    chars.extend(normalise(text).chars());
    chars.push(EDGE);
    if chars.len() == 2 {
        return;
    }
    for n in 1..=MAX_N {
        for window in chars.windows(n) {
            // A lone edge marker says nothing.
            if n == 1 && window[0] == EDGE {
                continue;
            }
            each(hash(window), window);
        }
    }
}

/// The distinct feature hashes of a text, sorted.
pub fn feature_hashes(text: &str) -> Vec<u64> {
    let mut out = Vec::new();
    ngrams(text, |h, _| out.push(h));
    out.sort_unstable();
    out.dedup();
    out
}

/// A small deterministic generator for the training order.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn softmax_in_place(scores: &mut [f32]) {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        sum += *s;
    }
    for s in scores.iter_mut() {
        *s /= sum;
    }
}

/// Trains a model over `classes` intents. None when there is nothing to learn from.
pub fn train(samples: &[Sample], classes: u32) -> Option<IntentModel> {
    if samples.is_empty() || classes == 0 {
        return None;
    }
    let c = classes as usize;
    // The vocabulary: every n-gram of the training texts, numbered in hash order.
    let mut vocabulary: BTreeMap<u64, u32> = BTreeMap::new();
    let hashed: Vec<Vec<u64>> = samples.iter().map(|s| feature_hashes(&s.text)).collect();
    for h in hashed.iter().flatten() {
        vocabulary.insert(*h, 0);
    }
    for (i, v) in vocabulary.values_mut().enumerate() {
        *v = i as u32;
    }
    let rows: Vec<(Vec<u32>, f32, usize)> = hashed
        .iter()
        .zip(samples)
        .filter(|(h, s)| !h.is_empty() && (s.intent as usize) < c)
        .map(|(h, s)| {
            let ids: Vec<u32> = h.iter().map(|h| vocabulary[h]).collect();
            let value = 1.0 / (ids.len() as f32).sqrt();
            (ids, value, s.intent as usize)
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    let mut weights = vec![0f32; vocabulary.len() * c];
    let mut bias = vec![0f32; c];
    let mut order: Vec<usize> = (0..rows.len()).collect();
    let mut rng = XorShift(0x5eed_1e4a_u64);
    let mut scores = vec![0f32; c];
    for epoch in 0..EPOCHS {
        for i in (1..order.len()).rev() {
            let j = (rng.next() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        let rate = LEARNING_RATE / (1.0 + epoch as f32 / 4.0);
        for &r in &order {
            let (ids, value, label) = &rows[r];
            scores.copy_from_slice(&bias);
            for &f in ids {
                let w = &weights[f as usize * c..f as usize * c + c];
                for (s, w) in scores.iter_mut().zip(w) {
                    *s += w * value;
                }
            }
            softmax_in_place(&mut scores);
            scores[*label] -= 1.0;
            for (b, g) in bias.iter_mut().zip(&scores) {
                *b -= rate * g;
            }
            for &f in ids {
                let w = &mut weights[f as usize * c..f as usize * c + c];
                for (w, g) in w.iter_mut().zip(&scores) {
                    *w -= rate * (g * value + L2 * *w);
                }
            }
        }
    }
    let max = weights.iter().fold(0f32, |m, w| m.max(w.abs()));
    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
    let quantised = weights.iter().map(|w| (w / scale).round().clamp(-127.0, 127.0) as i8).collect();
    Some(IntentModel { classes, features: vocabulary.into_keys().collect(), weights: quantised, scale, bias })
}

/// What the model says of an utterance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prediction {
    /// The best intent (an index into the program's intents).
    pub intent: u32,
    /// Its probability, 0 to 1.
    pub confidence: f32,
}

/// A model ready to classify: its n-grams indexed.
#[derive(Clone, Debug)]
pub struct Classifier {
    model: IntentModel,
    index: HashMap<u64, u32>,
}

impl Classifier {
    pub fn new(model: IntentModel) -> Classifier {
        let index = model.features.iter().enumerate().map(|(i, h)| (*h, i as u32)).collect();
        Classifier { model, index }
    }

    pub fn model(&self) -> &IntentModel {
        &self.model
    }

    fn weights(&self, feature: u32) -> &[i8] {
        let c = self.model.classes as usize;
        &self.model.weights[feature as usize * c..feature as usize * c + c]
    }

    /// The text's distinct n-grams the model knows, and how many distinct n-grams it has.
    fn known(&self, text: &str) -> (Vec<u32>, usize) {
        let mut seen: Vec<u64> = Vec::with_capacity(48);
        ngrams(text, |h, _| seen.push(h));
        seen.sort_unstable();
        seen.dedup();
        let known = seen.iter().filter_map(|h| self.index.get(h).copied()).collect();
        (known, seen.len())
    }

    /// The probability of every intent for a text of `total` n-grams of which `known` are the
    /// model's, into `scores` (resized).
    fn scores(&self, known: &[u32], total: usize, scores: &mut Vec<f32>) {
        let c = self.model.classes as usize;
        scores.clear();
        scores.extend_from_slice(&self.model.bias);
        scores.resize(c, 0.0);
        if total > 0 {
            let value = self.model.scale / (total as f32).sqrt();
            let mut sums = vec![0i32; c];
            for &f in known {
                for (s, w) in sums.iter_mut().zip(self.weights(f)) {
                    *s += i32::from(*w);
                }
            }
            for (s, sum) in scores.iter_mut().zip(sums) {
                *s += sum as f32 * value;
            }
        }
        softmax_in_place(scores);
    }

    /// The probability of every intent, into `scores` (resized).
    pub fn probabilities(&self, text: &str, scores: &mut Vec<f32>) {
        let (known, total) = self.known(text);
        self.scores(&known, total, scores);
    }

    /// The best intent and its probability; None for a text with nothing to read (empty once
    /// normalised).
    pub fn predict(&self, text: &str) -> Option<Prediction> {
        let (known, total) = self.known(text);
        if total == 0 {
            return None;
        }
        let mut scores = Vec::new();
        self.scores(&known, total, &mut scores);
        let (intent, confidence) =
            scores.iter().enumerate().fold((0, f32::MIN), |best, (i, p)| if *p > best.1 { (i, *p) } else { best });
        Some(Prediction { intent: intent as u32, confidence })
    }

    /// The n-grams of `text` that weigh most for `intent`, strongest first (at most `n`).
    pub fn explain(&self, text: &str, intent: u32, n: usize) -> Vec<String> {
        let mut found: Vec<(i32, String)> = Vec::new();
        ngrams(text, |h, chars| {
            if let Some(&f) = self.index.get(&h) {
                let w = i32::from(self.weights(f)[intent as usize]);
                let gram: String = chars.iter().filter(|c| **c != EDGE).collect();
                if w > 0 && !found.iter().any(|(_, g)| *g == gram) {
                    found.push((w, gram));
                }
            }
        });
        // Words before single characters (a lone 了 explains little), then by weight.
        found.sort_by(|a, b| {
            let long = |g: &str| g.chars().count() > 1;
            long(&b.1).cmp(&long(&a.1)).then_with(|| b.0.cmp(&a.0))
        });
        found.into_iter().take(n).map(|(_, g)| g).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Sample> {
        let data = [
            ("已经还了", 0),
            ("我昨天就还过了", 0),
            ("钱已经存进去了", 0),
            ("刚刚打进去了", 0),
            ("不是已经扣过了吗", 0),
            ("没钱", 1),
            ("手头紧还不上", 1),
            ("这个月实在没有钱", 1),
            ("失业了没收入", 1),
            ("我现在没有钱还", 1),
            ("你是谁", 2),
            ("你哪位啊", 2),
            ("你们是哪里", 2),
            ("哪个单位的", 2),
        ];
        data.iter().map(|(t, i)| Sample { text: t.to_string(), intent: *i }).collect()
    }

    #[test]
    fn the_same_samples_give_the_same_model() {
        let a = train(&samples(), 3).unwrap();
        let b = train(&samples(), 3).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn it_learns_what_the_phrases_miss() {
        let model = Classifier::new(train(&samples(), 3).unwrap());
        let best = |t: &str| model.predict(t).unwrap();
        assert_eq!(best("我们已经把钱存进去了").intent, 0);
        assert_eq!(best("最近手头没钱").intent, 1);
        assert_eq!(best("请问你是哪里的").intent, 2);
        assert!(best("我们已经把钱存进去了").confidence > 0.5);
        assert_eq!(model.predict("，。"), None);
        let why = model.explain("我们已经把钱存进去了", 0, 3);
        assert!(why.iter().any(|g| g.contains("进去") || g.contains("已经")), "{why:?}");
    }

    #[test]
    fn nothing_to_learn_is_no_model() {
        assert_eq!(train(&[], 3), None);
    }
}
