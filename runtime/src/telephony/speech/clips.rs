//! Recorded clips (真人录音): the manifest that maps written prompt text and the words of
//! numbers to WAV files, the loaded clip set, and which parts of a script it cannot voice.
//!
//! ```toml
//! [clips]                      # written text → clip; a prompt part may be several clips
//! "您好,这里是星海银行信用卡中心,本次通话将被录音。" = "hello.wav"
//! [digits]                     # 0–9, for every number reading
//! "0" = "digits/0.wav"
//! [units]                      # one character each: 十 百 千 万 亿 元 角 分 整 点 年 月 日 …
//! "元" = "units/yuan.wav"
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use callscript_compiler::bytecode::{Filter, PromptSegment, ScriptCode};
use callscript_compiler::span::FileSpan;
use serde::Deserialize;
use toml::Spanned;

use super::{reading, wav};
use crate::campaign::{InputError, line_col};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    #[serde(default)]
    clips: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    digits: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    units: BTreeMap<Spanned<String>, Spanned<String>>,
}

/// The clips of a manifest, decoded to 8 kHz mono with their silent edges cut off (pauses
/// are put back between parts by punctuation, so every clip set sounds paced alike).
#[derive(Clone, Debug, Default)]
pub struct ClipSet {
    /// Written text (normalised) and its clip.
    phrases: Vec<(Vec<char>, Arc<[i16]>)>,
    /// One-character words: 零…九 from `[digits]`, the rest from `[units]`.
    words: HashMap<char, Arc<[i16]>>,
}

/// A part of a covered text: a clip, or a pause where punctuation stands.
#[derive(Clone, Debug, PartialEq)]
pub enum Part {
    Clip(Arc<[i16]>),
    Pause(char),
}

impl ClipSet {
    /// Reads a manifest and every clip it names (paths relative to the manifest's folder).
    /// `name` is how errors name the manifest.
    pub fn load(path: &Path, name: &str) -> Result<ClipSet, Vec<InputError>> {
        let text =
            std::fs::read_to_string(path).map_err(|e| vec![InputError::new(name, format!("cannot read: {e}"))])?;
        let dir = path.parent().unwrap_or(Path::new(""));
        ClipSet::parse(name, &text, |file| std::fs::read(dir.join(file)).map_err(|e| e.to_string()))
    }

    /// Parses a manifest's text; `read` gets a clip file's bytes.
    pub fn parse(
        name: &str,
        text: &str,
        mut read: impl FnMut(&str) -> Result<Vec<u8>, String>,
    ) -> Result<ClipSet, Vec<InputError>> {
        let at = |span: std::ops::Range<usize>, message: String| {
            let (line, column) = line_col(text, span.start);
            InputError::at(name, line, column, message)
        };
        let manifest: Manifest = toml::from_str(text).map_err(|e| {
            vec![match e.span() {
                Some(span) => at(span, e.message().to_string()),
                None => InputError::new(name, e.message()),
            }]
        })?;
        let mut errors = Vec::new();
        let mut load = |file: &Spanned<String>| -> Result<Arc<[i16]>, InputError> {
            let bytes = read(file.get_ref())
                .map_err(|e| at(file.span(), format!("cannot read clip `{}`: {e}", file.get_ref())))?;
            let pcm = wav::read_wav(&bytes).map_err(|e| at(file.span(), format!("clip `{}`: {e}", file.get_ref())))?;
            Ok(trim_silence(&wav::to_8k_mono(&pcm)).into())
        };
        let mut set = ClipSet::default();
        for (key, file) in &manifest.clips {
            let words = normalise(key.get_ref());
            if words.iter().all(|&c| is_pause(c)) {
                errors.push(at(key.span(), format!("clip text `{}` has nothing to say", key.get_ref())));
            } else {
                match load(file) {
                    Ok(audio) => set.phrases.push((words, audio)),
                    Err(e) => errors.push(e),
                }
            }
        }
        for (key, file) in &manifest.digits {
            let digit = key.get_ref().parse::<usize>().ok().filter(|d| *d <= 9 && key.get_ref().len() == 1);
            match digit {
                Some(d) => match load(file) {
                    Ok(audio) => _ = set.words.insert(reading::DIGIT_WORDS[d], audio),
                    Err(e) => errors.push(e),
                },
                None => errors.push(at(
                    key.span(),
                    format!("`{}` is not a digit; [digits] keys are \"0\" to \"9\"", key.get_ref()),
                )),
            }
        }
        for (key, file) in &manifest.units {
            let mut chars = key.get_ref().chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if !c.is_ascii_digit() => match load(file) {
                    Ok(audio) => _ = set.words.insert(c, audio),
                    Err(e) => errors.push(e),
                },
                _ => errors.push(at(
                    key.span(),
                    format!("`{}` is not one character; [units] keys are single words such as \"元\"", key.get_ref()),
                )),
            }
        }
        // Longest first, so a whole sentence's clip wins over its pieces.
        set.phrases.sort_by_key(|(words, _)| std::cmp::Reverse(words.len()));
        errors.sort_by_key(|e| (e.line, e.column));
        if errors.is_empty() { Ok(set) } else { Err(errors) }
    }

    /// Written text as clips and pauses, using as few clips as possible; `None` when some
    /// of it has no clip.
    pub fn cover(&self, text: &str) -> Option<Vec<Part>> {
        let chars = normalise(text);
        // best[i]: the fewest clips that voice chars[..i], and the step that got there.
        let mut best: Vec<Option<(usize, Step)>> = vec![None; chars.len() + 1];
        best[0] = Some((0, Step::Start));
        for i in 0..chars.len() {
            let Some((count, _)) = best[i] else { continue };
            let mut offer = |to: usize, cost: usize, step: Step| {
                if best[to].is_none_or(|(c, _)| cost < c) {
                    best[to] = Some((cost, step));
                }
            };
            if is_pause(chars[i]) {
                offer(i + 1, count, Step::Pause);
            }
            for (index, (words, _)) in self.phrases.iter().enumerate() {
                if chars[i..].starts_with(words) {
                    offer(i + words.len(), count + 1, Step::Phrase(index));
                }
            }
        }
        let mut parts = Vec::new();
        let mut at = chars.len();
        while at > 0 {
            let (_, step) = best[at]?;
            match step {
                Step::Pause => {
                    parts.push(Part::Pause(chars[at - 1]));
                    at -= 1;
                }
                Step::Phrase(index) => {
                    let (words, audio) = &self.phrases[index];
                    parts.push(Part::Clip(Arc::clone(audio)));
                    at -= words.len();
                }
                Step::Start => return None,
            }
        }
        parts.reverse();
        Some(parts)
    }

    /// The clip of a one-character word; 两 and 幺 fall back to the 2 and 1 clips.
    pub fn word(&self, c: char) -> Option<&Arc<[i16]>> {
        self.words.get(&c).or_else(|| match c {
            '两' => self.words.get(&'二'),
            '幺' => self.words.get(&'一'),
            _ => None,
        })
    }

    /// A value's reading as word clips; `None` when the reading needs a word without a clip
    /// or is not number-like.
    pub fn value(&self, text: &str, filter: Option<Filter>) -> Option<Vec<Arc<[i16]>>> {
        let words = reading::clip_reading(text, filter)?;
        words.chars().map(|c| self.word(c).cloned()).collect()
    }

    /// The words among `needed` without a clip.
    pub fn missing_words(&self, needed: &[char]) -> Vec<char> {
        needed.iter().copied().filter(|&c| self.word(c).is_none()).collect()
    }
}

#[derive(Clone, Copy, Debug)]
enum Step {
    Start,
    Pause,
    Phrase(usize),
}

/// Punctuation and spaces: silent in a cover, a pause in the audio.
pub fn is_pause(c: char) -> bool {
    c.is_whitespace() || c.is_ascii_punctuation() || "，。？！：；、（）“”‘’《》…—～·".contains(c)
}

/// Full-width punctuation and letters as their ASCII forms, without spaces: a manifest
/// written with "，" still matches a script written with ",".
fn normalise(text: &str) -> Vec<char> {
    text.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '，' => ',',
            '。' => '.',
            '？' => '?',
            '！' => '!',
            '：' => ':',
            '；' => ';',
            '（' => '(',
            '）' => ')',
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            c => c,
        })
        .collect()
}

/// Below this level a sample counts as silence (about −40 dBFS).
const SILENCE: u16 = 330;
/// Kept around the sound when edges are cut, so consonants are not clipped (20 ms).
const EDGE_MARGIN: usize = 160;

/// Cuts the silent start and end off a clip.
pub fn trim_silence(samples: &[i16]) -> Vec<i16> {
    let loud = |s: &i16| s.unsigned_abs() > SILENCE;
    let (Some(first), Some(last)) = (samples.iter().position(loud), samples.iter().rposition(loud)) else {
        return Vec::new();
    };
    samples[first.saturating_sub(EDGE_MARGIN)..(last + 1 + EDGE_MARGIN).min(samples.len())].to_vec()
}

/// Something in a script the clip set cannot voice (TTS speaks it instead).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gap {
    /// The prompt it is in.
    pub at: FileSpan,
    /// The file, 1-based line and column of the written text or the value.
    pub line: usize,
    pub column: usize,
    pub file: String,
    pub kind: GapKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GapKind {
    /// Written text with no clip (or no clips covering all of it).
    Text(String),
    /// A value never readable from clips (a name, masked text): `{{expression | filter}}`.
    Value(String),
    /// A number-like value whose reading needs words without a clip.
    Words { value: String, missing: Vec<char> },
}

impl std::fmt::Display for Gap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        match &self.kind {
            GapKind::Text(text) => write!(f, "no clip for \"{text}\""),
            GapKind::Value(value) => write!(f, "{value} cannot be read from digit and unit clips; TTS speaks it"),
            GapKind::Words { value, missing } => {
                let words: Vec<String> = missing.iter().map(|c| format!("\"{c}\"")).collect();
                write!(f, "{value} needs clips for {}", words.join(" "))
            }
        }
    }
}

/// What a clip set cannot voice in a script, in source order, each place once.
pub fn gaps(set: &ClipSet, script: &ScriptCode, files: &[callscript_compiler::bytecode::SourceFile]) -> Vec<Gap> {
    let mut gaps: Vec<Gap> = Vec::new();
    for prompt in script.spoken_prompts() {
        let source = files.get(prompt.span.file.0 as usize);
        let prompt_text = source
            .and_then(|f| f.text.get(prompt.span.span.start as usize..prompt.span.span.end as usize))
            .unwrap_or("");
        // Written parts are found in the prompt's source in order, for a precise place.
        let mut cursor = 0;
        for segment in &prompt.segments {
            let (offset, kind) = match segment {
                PromptSegment::Text(text) => {
                    let found = prompt_text.get(cursor..).and_then(|rest| rest.find(text.as_str()));
                    let offset = found.map_or(prompt.span.span.start as usize, |i| {
                        cursor += i + text.len();
                        prompt.span.span.start as usize + cursor - text.len()
                    });
                    let silent = text.chars().all(is_pause);
                    if silent || set.cover(text).is_some() {
                        continue;
                    }
                    (offset, GapKind::Text(text.clone()))
                }
                PromptSegment::Value { expr, filter } => {
                    let Some(code) = script.exprs.get(*expr as usize) else { continue };
                    let source_of = |s: FileSpan| {
                        files
                            .get(s.file.0 as usize)
                            .and_then(|f| f.text.get(s.span.start as usize..s.span.end as usize))
                            .unwrap_or("value")
                            .trim()
                            .to_string()
                    };
                    let shown = match filter {
                        Some(f) => format!("{{{{{} | {}}}}}", source_of(code.span), f.name()),
                        None => format!("{{{{{}}}}}", source_of(code.span)),
                    };
                    let kind = match reading::words_needed(*filter, reading::expr_type(script, code)) {
                        None => GapKind::Value(shown),
                        Some(needed) => {
                            let missing = set.missing_words(&needed);
                            if missing.is_empty() {
                                continue;
                            }
                            GapKind::Words { value: shown, missing }
                        }
                    };
                    (code.span.span.start as usize, kind)
                }
            };
            let at = FileSpan { file: prompt.span.file, span: prompt.span.span };
            let (line, column) = source.map_or((1, 1), |f| line_col(&f.text, offset));
            let file = source.map_or_else(String::new, |f| f.name.clone());
            let gap = Gap { at, line, column, file, kind };
            if !gaps.iter().any(|g| (g.line, g.column, &g.kind) == (line, column, &gap.kind)) {
                gaps.push(gap);
            }
        }
    }
    gaps.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    gaps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(len: usize, level: i16) -> Vec<u8> {
        let samples: Vec<i16> = (0..len).map(|i| if i % 2 == 0 { level } else { -level }).collect();
        wav::mono_wav(8_000, &samples)
    }

    fn set(manifest: &str) -> Result<ClipSet, Vec<InputError>> {
        ClipSet::parse("clips.toml", manifest, |file| match file {
            "missing.wav" => Err("No such file or directory (os error 2)".into()),
            "text.wav" => Ok(b"not audio".to_vec()),
            f => Ok(tone(f.len() * 100, 10_000)),
        })
    }

    #[test]
    fn written_text_is_covered_by_the_fewest_clips() {
        let s = set(
            "[clips]\n\"您好，这里是星海银行\" = \"a.wav\"\n\"您好\" = \"bb.wav\"\n\"这里是星海银行\" = \"ccc.wav\"\n",
        )
        .unwrap();
        let parts = s.cover("您好,这里是星海银行。").unwrap();
        assert_eq!(parts.len(), 2, "one clip and the closing pause: {parts:?}");
        assert_eq!(parts[1], Part::Pause('.'));
        let parts = s.cover("您好 这里是星海银行").unwrap();
        assert_eq!(parts.iter().filter(|p| matches!(p, Part::Clip(_))).count(), 2);
        assert_eq!(s.cover("您好,再见"), None);
    }

    #[test]
    fn values_are_read_from_word_clips() {
        let mut manifest = String::from("[digits]\n");
        for d in 0..10 {
            manifest.push_str(&format!("\"{d}\" = \"d{d}.wav\"\n"));
        }
        manifest.push_str("[units]\n\"十\" = \"shi.wav\"\n\"百\" = \"bai.wav\"\n\"千\" = \"qian.wav\"\n\"元\" = \"yuan.wav\"\n\"角\" = \"jiao.wav\"\n");
        let s = set(&manifest).unwrap();
        assert_eq!(s.value("一千二百元五角", Some(Filter::Money)).map(|w| w.len()), Some(7));
        assert_eq!(s.value("两元整", Some(Filter::Money)), None, "no clip for 整");
        assert_eq!(s.value("八八三幺", Some(Filter::Digits)).map(|w| w.len()), Some(4), "幺 falls back to 1");
        assert_eq!(s.value("12", None).map(|w| w.len()), Some(2));
        assert_eq!(s.missing_words(&['元', '分', '整']), vec!['分', '整']);
    }

    #[test]
    fn manifest_errors_name_file_line_and_column() {
        let errors = set("[clips]\n\"您好\" = \"missing.wav\"\n\"再见\" = \"text.wav\"\n[digits]\n\"10\" = \"d.wav\"\n[units]\n\"元角\" = \"y.wav\"\n").unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "clips.toml:2:8: cannot read clip `missing.wav`: No such file or directory (os error 2)",
                "clips.toml:3:8: clip `text.wav`: not a WAV file (no RIFF/WAVE header)",
                "clips.toml:5:1: `10` is not a digit; [digits] keys are \"0\" to \"9\"",
                "clips.toml:7:1: `元角` is not one character; [units] keys are single words such as \"元\"",
            ]
        );
        let errors = set("[clip]\n").unwrap_err();
        assert_eq!(errors[0].line, Some(1));
        assert!(errors[0].message.contains("unknown field `clip`"), "{}", errors[0].message);
    }

    #[test]
    fn silent_edges_are_cut() {
        let mut samples = vec![0i16; 1_000];
        samples.extend([5_000, -5_000, 5_000]);
        samples.extend(vec![10i16; 1_000]);
        let trimmed = trim_silence(&samples);
        assert_eq!(trimmed.len(), 3 + 2 * EDGE_MARGIN);
        assert!(trim_silence(&[0, 1, -1]).is_empty());
    }
}
