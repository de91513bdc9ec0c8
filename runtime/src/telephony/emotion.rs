//! Emotion on real calls (LANGUAGE.md §15; the decisions are docs/language.md §17): an
//! utterance is `angry` when its words are the anger vocabulary, or when its voice is louder
//! and higher than the customer's own earlier speech on the call.
//!
//! - **Words.** `std.zh.common`'s `angry` phrases, whatever the script imports, and every
//!   intent named `angry` of the program (a script's own vocabulary), matched by the built-in
//!   recogniser as any intent is (§6: substrings of the normalised utterance, negated matches
//!   not counting), so `on angry` and the words half of `on emotion angry` agree.
//! - **Voice.** [`media::voice`](super::media::voice) measures each utterance; the baseline is
//!   the median loudness and the median pitch of the customer's earlier utterances on this
//!   call. An utterance at least `emotion_loudness_db` louder AND with a pitch at least
//!   `emotion_pitch_ratio` times the baseline's is angry. The first utterance has no baseline
//!   and is never angry by voice.
//!
//! Sans-IO like the rest of the media code: the SIP call feeds it text and measurements.

use callscript_compiler::bytecode::{Emotion, IntentTable};

use super::media::voice::{Voice, median};
use crate::call::{EmotionCause, HeardEmotion};
use crate::vm::recognise::Recogniser;

/// How far above the baseline a voice must go to be heard as angry (`[speech]`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EmotionThresholds {
    /// `emotion_loudness_db`: decibels louder than the baseline, at least.
    pub loudness_db: f32,
    /// `emotion_pitch_ratio`: times the baseline's pitch, at least.
    pub pitch_ratio: f32,
}

impl Default for EmotionThresholds {
    /// The campaign's defaults (docs/campaigns.md `[speech]`).
    fn default() -> EmotionThresholds {
        EmotionThresholds { loudness_db: 6.0, pitch_ratio: 1.2 }
    }
}

/// The anger vocabulary of one program, built once per campaign.
pub struct AngerWords {
    recogniser: Recogniser,
    /// Every table's id: the candidates of [`Recogniser::best`].
    candidates: Vec<u32>,
}

impl std::fmt::Debug for AngerWords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AngerWords").field("tables", &self.candidates.len()).finish()
    }
}

impl AngerWords {
    /// The stdlib's `angry` and the program's intents named `angry`.
    pub fn new(program_intents: &[IntentTable]) -> AngerWords {
        let stdlib = callscript_compiler::stdlib::intent_table("std.zh.common", "angry");
        let tables: Vec<IntentTable> =
            stdlib.into_iter().chain(program_intents.iter().filter(|t| t.name == "angry").cloned()).collect();
        // The tables come from checked sources: phrases only, or regexes the compiler accepted.
        let recogniser = Recogniser::new(&tables).unwrap_or_else(|_| {
            Recogniser::new(
                &tables.iter().map(|t| IntentTable { regexes: Vec::new(), ..t.clone() }).collect::<Vec<_>>(),
            )
            .expect("phrase tables always build")
        });
        AngerWords { candidates: (0..tables.len() as u32).collect(), recogniser }
    }

    /// Whether the utterance says something angry.
    pub fn heard_in(&self, text: &str) -> bool {
        self.recogniser.best(text, &self.candidates).is_some()
    }
}

/// How an utterance's voice compared with the customer's earlier speech.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VoiceComparison {
    /// Decibels louder than the baseline (negative: quieter).
    pub louder_db: f32,
    /// The pitch over the baseline's; None when either has no pitch.
    pub pitch_ratio: Option<f32>,
    /// How many earlier utterances the baseline is the median of.
    pub earlier: usize,
}

impl VoiceComparison {
    /// Whether this is an angry voice: louder AND higher, both by the thresholds.
    pub fn is_angry(&self, thresholds: EmotionThresholds) -> bool {
        self.louder_db >= thresholds.loudness_db && self.pitch_ratio.is_some_and(|r| r >= thresholds.pitch_ratio)
    }

    /// The transcript's words: `voice +9.5 dB, pitch ×1.42 over the first utterance`.
    pub fn describe(&self) -> String {
        let pitch = match self.pitch_ratio {
            Some(ratio) => format!("pitch ×{ratio:.2}"),
            None => "no pitch".to_string(),
        };
        let over = match self.earlier {
            1 => "the first utterance".to_string(),
            n => format!("the median of {n} earlier utterances"),
        };
        format!("voice {:+.1} dB, {pitch} over {over}", self.louder_db)
    }
}

/// One call's ear for emotion: the customer's earlier voice, and the vocabulary.
#[derive(Debug, Default)]
pub struct EmotionEar {
    /// Loudness of each earlier utterance that had speech, in dBFS.
    loudness: Vec<f32>,
    /// Pitch of each earlier utterance that had one, in Hz.
    pitch: Vec<f32>,
    /// Utterances measured so far (with speech).
    utterances: usize,
}

impl EmotionEar {
    pub fn new() -> EmotionEar {
        EmotionEar::default()
    }

    /// Compares `voice` with the baseline, then adds it to the baseline. None for the first
    /// utterance (no baseline yet) and for audio with no speech in it.
    pub fn compare(&mut self, voice: Option<Voice>) -> Option<VoiceComparison> {
        let voice = voice?;
        let comparison = (self.utterances > 0).then(|| {
            let louder_db = voice.loudness_dbfs - median(&mut self.loudness.clone());
            let pitch_ratio = match (voice.pitch_hz, self.pitch.is_empty()) {
                (Some(hz), false) => Some(hz / median(&mut self.pitch.clone())),
                _ => None,
            };
            VoiceComparison { louder_db, pitch_ratio, earlier: self.utterances }
        });
        self.utterances += 1;
        self.loudness.push(voice.loudness_dbfs);
        if let Some(hz) = voice.pitch_hz {
            self.pitch.push(hz);
        }
        comparison
    }

    /// The emotion heard in one utterance, with why: the words (regardless of the voice)
    /// and the voice against the baseline. None: neutral.
    pub fn hear(
        &mut self,
        words: &AngerWords,
        thresholds: EmotionThresholds,
        text: &str,
        voice: Option<Voice>,
    ) -> Option<HeardEmotion> {
        let mut why = Vec::new();
        if !text.trim().is_empty() && words.heard_in(text) {
            why.push(EmotionCause::Words(text.to_string()));
        }
        if let Some(comparison) = self.compare(voice)
            && comparison.is_angry(thresholds)
        {
            why.push(EmotionCause::Voice(comparison.describe()));
        }
        (!why.is_empty()).then_some(HeardEmotion { emotion: Emotion::Angry, why })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voice(loudness_dbfs: f32, pitch_hz: Option<f32>) -> Option<Voice> {
        Some(Voice { loudness_dbfs, pitch_hz })
    }

    fn angry(ear: &mut EmotionEar, text: &str, v: Option<Voice>) -> Option<Vec<EmotionCause>> {
        ear.hear(&AngerWords::new(&[]), EmotionThresholds::default(), text, v).map(|h| h.why)
    }

    #[test]
    fn the_first_utterance_is_never_angry_by_voice() {
        let mut ear = EmotionEar::new();
        assert_eq!(angry(&mut ear, "喂", voice(-3.0, Some(300.0))), None);
    }

    #[test]
    fn louder_and_higher_than_the_first_utterance_is_angry() {
        let mut ear = EmotionEar::new();
        assert_eq!(angry(&mut ear, "喂你好", voice(-24.0, Some(120.0))), None);
        let why = angry(&mut ear, "什么", voice(-14.5, Some(170.4))).unwrap();
        assert_eq!(why, [EmotionCause::Voice("voice +9.5 dB, pitch ×1.42 over the first utterance".into())]);
    }

    #[test]
    fn louder_alone_or_higher_alone_is_not_angry() {
        let mut ear = EmotionEar::new();
        angry(&mut ear, "喂", voice(-24.0, Some(120.0)));
        // The phone held closer: louder, same voice.
        assert_eq!(angry(&mut ear, "对", voice(-12.0, Some(125.0))), None);
        // A question: higher, not louder.
        assert_eq!(angry(&mut ear, "是吗", voice(-23.0, Some(170.0))), None);
        // No pitch (a whisper, noise): the voice cannot say.
        assert_eq!(angry(&mut ear, "嗯", voice(-6.0, None)), None);
    }

    #[test]
    fn the_baseline_is_the_median_of_the_earlier_utterances() {
        let mut ear = EmotionEar::new();
        for (level, hz) in [(-24.0, 120.0), (-22.0, 130.0), (-30.0, 110.0)] {
            ear.compare(voice(level, Some(hz)));
        }
        let c = ear.compare(voice(-16.0, Some(156.0))).unwrap();
        assert_eq!((c.louder_db, c.earlier), (8.0, 3));
        assert!((c.pitch_ratio.unwrap() - 1.3).abs() < 1e-6, "{c:?}");
        assert!(c.is_angry(EmotionThresholds::default()));
        assert_eq!(c.describe(), "voice +8.0 dB, pitch ×1.30 over the median of 3 earlier utterances");
        // Audio without speech neither compares nor moves the baseline.
        assert_eq!(ear.compare(None), None);
        assert_eq!(ear.utterances, 4);
    }

    #[test]
    fn thresholds_are_inclusive_and_configurable() {
        let c = VoiceComparison { louder_db: 6.0, pitch_ratio: Some(1.2), earlier: 1 };
        assert!(c.is_angry(EmotionThresholds::default()));
        assert!(!c.is_angry(EmotionThresholds { loudness_db: 6.5, pitch_ratio: 1.2 }));
        assert!(!c.is_angry(EmotionThresholds { loudness_db: 6.0, pitch_ratio: 1.25 }));
    }

    #[test]
    fn the_anger_vocabulary_is_angry_whatever_the_voice() {
        let mut ear = EmotionEar::new();
        let why = angry(&mut ear, "你们有病吧", voice(-30.0, Some(100.0))).unwrap();
        assert_eq!(why, [EmotionCause::Words("你们有病吧".into())]);
        // Negated words do not count, as in the recogniser (§6).
        assert_eq!(angry(&mut ear, "不讨厌", voice(-30.0, Some(100.0))), None);
        assert_eq!(angry(&mut ear, "好的", None), None);
    }

    #[test]
    fn words_and_voice_together_give_both_reasons() {
        let mut ear = EmotionEar::new();
        angry(&mut ear, "喂", voice(-24.0, Some(120.0)));
        let why = angry(&mut ear, "烦死了", voice(-12.0, Some(160.0))).unwrap();
        assert!(matches!(why.as_slice(), [EmotionCause::Words(_), EmotionCause::Voice(_)]), "{why:?}");
    }

    #[test]
    fn a_scripts_own_angry_intent_adds_to_the_vocabulary() {
        let own = IntentTable {
            name: "angry".into(),
            forms: vec![callscript_compiler::pattern::Form { parts: vec!["骗子".into()] }],
            dtmf: Vec::new(),
            regexes: Vec::new(),
        };
        let other = IntentTable { name: "rate".into(), ..own.clone() };
        assert!(AngerWords::new(std::slice::from_ref(&own)).heard_in("你们就是骗子"));
        assert!(!AngerWords::new(&[other]).heard_in("你们就是骗子"));
        assert!(AngerWords::new(&[]).heard_in("烦死了"));
    }
}
