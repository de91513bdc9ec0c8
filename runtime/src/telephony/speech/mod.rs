//! Speech output for phone calls: a prompt's pieces (from [`Action::Play`]) become 8 kHz mono
//! 16-bit audio, from a speech engine (`[speech] tts = "espeak"`) or from recorded clips with
//! the engine for what has no clip (`tts = "clips"`).
//!
//! Written text is the same on every call, so its audio is made once per campaign and
//! cached (in memory, and on disk with `[speech] cache`); values are voiced per call.
//!
//! [`Action::Play`]: crate::vm::Action::Play

pub mod clips;
pub mod reading;
pub mod tts;
pub mod wav;

use std::path::PathBuf;
use std::sync::Arc;

use callscript_compiler::bytecode::{Program, PromptSegment, ScriptCode};

use crate::campaign::{InputError, Loaded, Tts};
use crate::vm::{PieceKind, SpeechPiece};
use clips::{ClipSet, Part, is_pause, trim_silence};
use tts::{Espeak, SpeechCache, Synthesizer};
pub use wav::LINE_RATE;

/// Why speech could not be made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpeechError {
    /// Files that are wrong (the clips manifest, a clip), each with its place.
    Input(Vec<InputError>),
    /// The speech engine is missing or failed, or the settings ask for no audio.
    Engine(String),
}

impl std::fmt::Display for SpeechError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpeechError::Input(errors) => {
                let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
                f.write_str(&lines.join("\n"))
            }
            SpeechError::Engine(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for SpeechError {}

enum Voice {
    Tts(Box<dyn Synthesizer>),
    /// Clips, and the engine for what they cannot voice (its error is kept: a clip set that
    /// covers everything needs no engine).
    Clips {
        clips: ClipSet,
        fallback: Result<Box<dyn Synthesizer>, SpeechError>,
    },
}

/// Makes the audio of prompts for one campaign. Shared by all its calls (`Send + Sync`);
/// `speak` may run a speech engine, so async callers should call it on a blocking thread.
pub struct Speaker {
    voice: Voice,
    cache: SpeechCache,
}

impl Speaker {
    /// The speaker the campaign's `[speech]` settings ask for. Nothing is synthesised yet;
    /// call [`Speaker::prepare`] before the first call.
    pub fn new(loaded: &Loaded) -> Result<Speaker, SpeechError> {
        let speech = &loaded.campaign.speech;
        let cache = SpeechCache::new(speech.cache.as_deref().map(|dir| loaded.resolve(dir)));
        let engine = || Espeak::find(&speech.voice, speech.rate).map(|e| Box::new(e) as Box<dyn Synthesizer>);
        let voice = match speech.tts {
            Tts::Espeak => Voice::Tts(engine()?),
            Tts::Clips => {
                let clips = Speaker::load_clips(loaded)?;
                Voice::Clips { clips, fallback: engine() }
            }
            Tts::Text => {
                return Err(SpeechError::Engine(format!(
                    "{}: [speech] tts = \"text\" makes no audio; phone calls need tts = \"espeak\" or \"clips\"",
                    loaded.path.display()
                )));
            }
        };
        Ok(Speaker { voice, cache })
    }

    /// The clip set the campaign's `[speech] clips` names.
    pub fn load_clips(loaded: &Loaded) -> Result<ClipSet, SpeechError> {
        let Some(manifest) = &loaded.campaign.speech.clips else {
            return Err(SpeechError::Input(vec![InputError::new(
                loaded.path.display().to_string(),
                "tts = \"clips\" needs a manifest: add clips = \"clips/manifest.toml\" under [speech]",
            )]));
        };
        let path = loaded.resolve(manifest);
        ClipSet::load(&path, &path.display().to_string()).map_err(SpeechError::Input)
    }

    /// A speaker from parts: an engine alone, or clips with an engine for the rest.
    pub fn with_parts(
        engine: Result<Box<dyn Synthesizer>, SpeechError>,
        clips: Option<ClipSet>,
        cache_dir: Option<PathBuf>,
    ) -> Result<Speaker, SpeechError> {
        let voice = match clips {
            Some(clips) => Voice::Clips { clips, fallback: engine },
            None => Voice::Tts(engine?),
        };
        Ok(Speaker { voice, cache: SpeechCache::new(cache_dir) })
    }

    /// Makes the audio of every written text of the script now, so calls only voice values;
    /// with clips, fails when something has no clip and there is no engine to speak it.
    /// Returns how many texts are ready.
    pub fn prepare(&self, program: &Program, script: &ScriptCode) -> Result<usize, SpeechError> {
        if let Voice::Clips { clips, fallback: Err(missing) } = &self.voice
            && let Some(gap) = clips::gaps(clips, script, &program.files).first()
        {
            return Err(SpeechError::Engine(format!(
                "{missing}\n(the clips cannot voice everything, e.g. {gap}; see `callscript clips check`)"
            )));
        }
        let mut ready = 0;
        for prompt in script.spoken_prompts() {
            for segment in &prompt.segments {
                if let PromptSegment::Text(text) = segment {
                    self.written(text)?;
                    ready += 1;
                }
            }
        }
        Ok(ready)
    }

    /// The audio of one rendered prompt: 8 kHz mono 16-bit samples.
    pub fn speak(&self, pieces: &[SpeechPiece]) -> Result<Vec<i16>, SpeechError> {
        let mut parts = Vec::new();
        for piece in pieces {
            match piece.kind {
                PieceKind::Static => parts.extend(self.written(&piece.text)?.iter().cloned()),
                PieceKind::Value(filter) => {
                    let from_clips = match &self.voice {
                        Voice::Clips { clips, .. } => clips.value(&piece.text, filter),
                        Voice::Tts(_) => None,
                    };
                    match from_clips {
                        Some(words) => parts.extend(words.into_iter().map(Part::Clip)),
                        None => parts.extend(self.synthesized(&piece.text)?),
                    }
                }
            }
        }
        Ok(join(&parts))
    }

    /// Written text as parts, made once and cached.
    fn written(&self, text: &str) -> Result<Arc<[Part]>, SpeechError> {
        if text.chars().all(is_pause) {
            return Ok(around(text, Vec::new().into()).into());
        }
        if let Voice::Clips { clips, .. } = &self.voice
            && let Some(parts) = clips.cover(text)
        {
            return Ok(parts.into());
        }
        let identity = self.engine().map_or_else(|_| String::new(), |e| e.identity());
        let key = SpeechCache::key(&identity, text);
        // The cache holds samples; the pauses around them come back from the text.
        let audio = self.cache.get_or_make(key, || Ok(trim_silence(&self.engine()?.synthesize(text.trim())?)))?;
        Ok(around(text, audio).into())
    }

    /// A value's text through the engine (not cached: it differs per call).
    fn synthesized(&self, text: &str) -> Result<Vec<Part>, SpeechError> {
        let audio = trim_silence(&self.engine()?.synthesize(text.trim())?);
        Ok(around(text, audio.into()))
    }

    fn engine(&self) -> Result<&dyn Synthesizer, SpeechError> {
        match &self.voice {
            Voice::Tts(engine) | Voice::Clips { fallback: Ok(engine), .. } => Ok(engine.as_ref()),
            Voice::Clips { fallback: Err(e), .. } => Err(e.clone()),
        }
    }

    /// Written texts whose audio is held.
    pub fn cached(&self) -> usize {
        self.cache.len()
    }
}

/// Engine audio with pauses for the punctuation at the text's edges (the engine's own
/// silence is cut, so every part is paced alike). Text with nothing to say is pauses only.
fn around(text: &str, audio: Arc<[i16]>) -> Vec<Part> {
    let chars: Vec<char> = text.chars().collect();
    if chars.iter().all(|&c| is_pause(c)) {
        return chars.into_iter().map(Part::Pause).collect();
    }
    let mut parts: Vec<Part> = chars.iter().take_while(|&&c| is_pause(c)).map(|&c| Part::Pause(c)).collect();
    let trailing: Vec<Part> =
        chars.iter().rev().take_while(|&&c| is_pause(c)).map(|&c| Part::Pause(c)).collect::<Vec<_>>();
    if !audio.is_empty() {
        parts.push(Part::Clip(audio));
    }
    parts.extend(trailing.into_iter().rev());
    parts
}

/// Milliseconds of silence a punctuation mark stands for.
fn pause_ms(c: char) -> usize {
    match c {
        '.' | '。' | '?' | '？' | '!' | '！' | ';' | '；' | '…' => 350,
        ',' | '，' | '、' | ':' | '：' => 180,
        _ => 60,
    }
}

/// Clips end to end; a run of punctuation is one pause (its longest), none at the start.
fn join(parts: &[Part]) -> Vec<i16> {
    let mut out = Vec::new();
    let mut pending_ms = 0;
    for part in parts {
        match part {
            Part::Pause(c) => pending_ms = pending_ms.max(pause_ms(*c)),
            Part::Clip(audio) => {
                if !out.is_empty() {
                    out.resize(out.len() + pending_ms * LINE_RATE as usize / 1_000, 0);
                }
                pending_ms = 0;
                out.extend_from_slice(audio);
            }
        }
    }
    if !out.is_empty() {
        out.resize(out.len() + pending_ms * LINE_RATE as usize / 1_000, 0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use callscript_compiler::bytecode::Filter;
    use std::sync::Mutex;

    /// An engine that "speaks" each character as 100 samples and counts its calls.
    struct Counting(Mutex<Vec<String>>);

    impl Synthesizer for Counting {
        fn identity(&self) -> String {
            "counting".into()
        }
        fn synthesize(&self, text: &str) -> Result<Vec<i16>, SpeechError> {
            self.0.lock().unwrap().push(text.to_string());
            Ok(vec![1_000; 100 * text.chars().count()])
        }
    }

    fn piece(text: &str, kind: PieceKind) -> SpeechPiece {
        SpeechPiece { text: text.into(), kind }
    }

    #[test]
    fn written_text_is_synthesised_once_values_every_time() {
        let engine = Arc::new(Counting(Mutex::new(Vec::new())));
        let speaker = Speaker::with_parts(Ok(Box::new(Arc::clone(&engine))), None, None).unwrap();
        let pieces = [
            piece("应还金额", PieceKind::Static),
            piece("一千元整", PieceKind::Value(Some(Filter::Money))),
            piece("。", PieceKind::Static),
        ];
        let first = speaker.speak(&pieces).unwrap();
        let second = speaker.speak(&pieces).unwrap();
        assert_eq!(first, second);
        // 4 + 4 characters, and the full stop's pause at the end.
        assert_eq!(first.len(), 800 + 350 * 8);
        assert_eq!(*engine.0.lock().unwrap(), ["应还金额", "一千元整", "一千元整"]);
        assert_eq!(speaker.cached(), 1, "应还金额; 。 is only a pause");
    }

    #[test]
    fn clips_voice_what_they_cover_and_the_engine_the_rest() {
        let wav = |n: usize| wav::mono_wav(8_000, &vec![5_000; n]);
        let manifest = "[clips]\n\"您尾号\" = \"a\"\n[digits]\n\"3\" = \"d\"\n\"8\" = \"d\"\n[units]\n\"幺\" = \"y\"\n";
        let clips = ClipSet::parse("m.toml", manifest, |f| Ok(wav(if f == "a" { 1_000 } else { 500 }))).unwrap();
        let engine = Arc::new(Counting(Mutex::new(Vec::new())));
        let speaker = Speaker::with_parts(Ok(Box::new(Arc::clone(&engine))), Some(clips), None).unwrap();
        let audio = speaker
            .speak(&[
                piece("您尾号", PieceKind::Static),
                piece("八八三幺", PieceKind::Value(Some(Filter::Digits))),
                piece("的贷款", PieceKind::Static),
                piece("张三", PieceKind::Value(None)),
            ])
            .unwrap();
        assert_eq!(audio.len(), 1_000 + 4 * 500 + 300 + 200);
        assert_eq!(*engine.0.lock().unwrap(), ["的贷款", "张三"]);

        // Without an engine, what has no clip is an error naming the missing engine.
        let clips = ClipSet::parse("m.toml", manifest, |_| Ok(wav(10))).unwrap();
        let speaker =
            Speaker::with_parts(Err(SpeechError::Engine(tts::ESPEAK_MISSING.into())), Some(clips), None).unwrap();
        assert!(speaker.speak(&[piece("您尾号", PieceKind::Static)]).is_ok());
        let err = speaker.speak(&[piece("张三", PieceKind::Value(None))]).unwrap_err();
        assert_eq!(err.to_string(), tts::ESPEAK_MISSING);
    }

    #[test]
    fn punctuation_becomes_pauses() {
        let clip = |n: usize| Part::Clip(vec![7; n].into());
        let parts = [Part::Pause('，'), clip(10), Part::Pause(','), Part::Pause('。'), clip(10), Part::Pause(' ')];
        assert_eq!(join(&parts).len(), 10 + 350 * 8 + 10 + 60 * 8);
        assert_eq!(around("。", vec![].into()), vec![Part::Pause('。')]);
    }
}
