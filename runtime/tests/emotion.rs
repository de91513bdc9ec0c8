//! Emotion on real calls (LANGUAGE.md §15) on generated speech: espeak-ng says a sentence,
//! sox makes it calm (quieter) or angry (louder and higher), then it goes the way a caller's
//! voice goes on a call — 8 kHz, PCMU and back, cut into an utterance by the VAD — and the
//! call's ear compares it with the customer's earlier speech.
//!
//! Needs espeak-ng and sox (Debian packages `espeak-ng`, `sox`); skips without them unless
//! CALLSCRIPT_REQUIRE_ESPEAK is set (CI sets it).

use std::path::Path;

use callscript_runtime::call::EmotionCause;
use callscript_runtime::telephony::emotion::{AngerWords, EmotionEar, EmotionThresholds};
use callscript_runtime::telephony::media::FRAME_SAMPLES;
use callscript_runtime::telephony::media::g711::Codec;
use callscript_runtime::telephony::media::vad::{Vad, VadConfig, VadEvent};
use callscript_runtime::telephony::media::voice::{self, Voice};

#[path = "support/generated_speech.rs"]
mod generated_speech;
use generated_speech::{ANGRY, CALM, generated_speech, tools_available};

/// How the generated customer says a sentence.
#[derive(Clone, Copy)]
enum Said {
    Calm,
    Angry,
}

/// `text` spoken by espeak-ng, shaped by sox, as 8 kHz 16-bit samples.
fn speak(dir: &Path, name: &str, text: &str, said: Said) -> Vec<i16> {
    generated_speech(dir, name, text, if matches!(said, Said::Calm) { CALM } else { ANGRY })
}

/// The utterance as a call hears it: over PCMU, cut by the VAD (with silence around it).
fn heard_on_a_call(pcm: &[i16]) -> Vec<i16> {
    let mut line = vec![0i16; 4_000];
    line.extend(pcm);
    line.extend(vec![0i16; 8_000]);
    let mut vad = Vad::new(VadConfig::default());
    for frame in line.chunks(FRAME_SAMPLES) {
        let (mut bytes, mut decoded) = (Vec::new(), Vec::new());
        Codec::Pcmu.encode(frame, &mut bytes);
        Codec::Pcmu.decode(&bytes, &mut decoded);
        if let VadEvent::UtteranceEnded { samples } = vad.push(&decoded) {
            return samples.into_samples();
        }
    }
    panic!("the VAD heard no utterance");
}

fn measure(dir: &Path, name: &str, text: &str, said: Said) -> Option<Voice> {
    voice::analyse(&heard_on_a_call(&speak(dir, name, text, said)), VadConfig::default().threshold_dbfs)
}

fn case_dir(name: &str) -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("emotion").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn calm_then_loud_and_high_is_angry_by_voice() {
    if !tools_available() {
        return;
    }
    let dir = case_dir("calm_then_angry");
    let calm = measure(&dir, "calm", "喂,你好,请问有什么事", Said::Calm);
    let angry = measure(&dir, "angry", "我现在没空,你们晚点再打吧", Said::Angry);
    eprintln!("calm {calm:?}, angry {angry:?}");
    let (calm_pitch, angry_pitch) = (calm.unwrap().pitch_hz.unwrap(), angry.unwrap().pitch_hz.unwrap());
    // espeak-ng's Mandarin voice speaks around 100-200 Hz; sox raised it by about a third.
    assert!((70.0..260.0).contains(&calm_pitch), "{calm:?}");
    assert!(angry_pitch / calm_pitch > 1.2, "{calm:?} {angry:?}");

    let mut ear = EmotionEar::new();
    let words = AngerWords::new(&[]);
    let thresholds = EmotionThresholds::default();
    assert_eq!(ear.hear(&words, thresholds, "喂,你好,请问有什么事", calm), None, "no baseline yet");
    let heard = ear.hear(&words, thresholds, "我现在没空,你们晚点再打吧", angry).expect("angry by voice");
    let [EmotionCause::Voice(why)] = heard.why.as_slice() else { panic!("{heard:?}") };
    assert!(why.starts_with("voice +") && why.ends_with("over the first utterance"), "{why}");
}

#[test]
fn calm_then_calm_is_not_angry() {
    if !tools_available() {
        return;
    }
    let dir = case_dir("calm_then_calm");
    let mut ear = EmotionEar::new();
    let words = AngerWords::new(&[]);
    let thresholds = EmotionThresholds::default();
    for (i, text) in ["喂,你好,请问有什么事", "我现在没空,你们晚点再打吧", "好的,知道了,我明天去还"].iter().enumerate()
    {
        let voice = measure(&dir, &format!("calm{i}"), text, Said::Calm);
        eprintln!("{text}: {voice:?}");
        assert_eq!(ear.hear(&words, thresholds, text, voice), None, "{text}: {voice:?}");
    }
}

#[test]
fn angry_words_in_a_calm_voice_are_angry_by_words() {
    if !tools_available() {
        return;
    }
    let dir = case_dir("angry_words");
    let mut ear = EmotionEar::new();
    let words = AngerWords::new(&[]);
    let thresholds = EmotionThresholds::default();
    let first = measure(&dir, "first", "喂,你好", Said::Calm);
    assert_eq!(ear.hear(&words, thresholds, "喂,你好", first), None);
    let calm = measure(&dir, "abuse", "你们有病吧,天天打电话", Said::Calm);
    let heard = ear.hear(&words, thresholds, "你们有病吧,天天打电话", calm).expect("angry by words");
    assert_eq!(heard.why, [EmotionCause::Words("你们有病吧,天天打电话".into())]);
}
