//! The built-in recogniser (LANGUAGE.md §6, matching order §4 and §9.1).
//!
//! An utterance is [`normalise`]d, then scored against the intents' tables:
//!
//! * **Phrases.** Every literal part of every form of every intent goes into one
//!   aho-corasick automaton. One overlapping scan of the utterance reports every occurrence
//!   of every part; each occurrence is mapped to the intents that use the part as a whole
//!   form (scored at once: the part's length in characters) and to the gapped forms that
//!   start with it (checked on the spot: the remaining parts in order, each after a gap of
//!   at most [`GAP_MAX_CHARS`] characters holding no negator). An intent's score is the
//!   length of its longest *counting* match, and a match counts unless the text just before
//!   it ends with one of [`NEGATORS`]. A phrase that itself starts with a negator (`不是`,
//!   `没问题`) counts normally: the check looks only at the text before the match. A gapped
//!   match scores its parts' characters only, never the gap.
//! * **Regexes** run on the normalised utterance and, when it holds Chinese numerals, on
//!   [`numerals_to_digits`] of it too (so `[0-9]{4}` matches "幺三八八" and "一千三百八十八",
//!   while "你等一下", "万一" and "先还一半" hold no digit: the numbers are those the
//!   extractors of §11 read). A regex match
//!   scores its length in characters; the negator rule applies to it as to phrases (one
//!   rule for every match: "不是1388" does not count for `[0-9]{4}`); an empty match never
//!   counts.
//! * **Dtmf** is separate: [`Recogniser::dtmf_selects`] compares key sequences exactly.
//!
//! [`Recogniser::best`] picks the winner among the candidates of one turn (§9.1): the highest
//! score above zero, a tie going to the earlier candidate.
//!
//! # Performance
//!
//! * The scan reads the utterance in a per-program dense alphabet (see `Alphabet`): one byte
//!   for most characters instead of three, and every character that occurs in no phrase
//!   folded into one byte value. Negator checks, gaps and the later parts of gapped forms
//!   work on the encoded bytes too, so the normalised text is only built when a regex needs
//!   it.
//! * Per-intent work happens only for intents that matched: a short candidate list is
//!   marked first (gapped forms and regexes of other intents are never tried); a long one is
//!   looked up after scoring every intent, and only as far as needed to find the intents
//!   that matched.
//! * A `RegexSet` over every regex rejects the usual utterance, which matches none of them,
//!   in one pass.
//! * Nothing is allocated per call once warm: the buffers and the score table live in a
//!   thread-local scratch space shared by every recogniser of the thread.

use std::cell::RefCell;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use aho_corasick::{AhoCorasick, MatchKind};
use callscript_compiler::bytecode::IntentTable;
use callscript_compiler::extract::{normalise_with, numerals_into};
use callscript_compiler::pattern::{GAP_MAX_CHARS, NEGATORS};
use regex::{Regex, RegexSet};

/// §6's normalisation and the reading of numerals for regexes live in the compiler
/// (`callscript_compiler::extract`), shared with the extractors of §11 so that a capture
/// and a regex read the same numbers.
pub use callscript_compiler::extract::{normalise, numerals_to_digits};

/// [`normalise`] into a reused buffer (cleared first).
fn normalise_into(text: &str, out: &mut String) {
    out.clear();
    normalise_with(text, |c| out.push(c));
}

/// Whether the text ends with one of [`NEGATORS`].
fn ends_with_negator(text: &str) -> bool {
    NEGATORS.iter().any(|n| text.ends_with(n))
}

/// The most distinct characters the dense alphabet codes: with 127 lead and 127 trail
/// bytes, one single byte and 127 × 127 pairs.
const DENSE_CAPACITY: usize = 1 + 127 * 127;

/// How the normalised text is transcoded for the phrase scan.
///
/// Scanning UTF-8 costs three automaton steps per Chinese character, each a likely cache
/// miss in a large automaton. The dense alphabet numbers the characters that occur in some
/// part or negator, most frequent first, and writes each in one or two bytes: with at most
/// 255 characters, each is one byte 1–255; with more, the byte values 1–255 are cut into
/// `single` one-byte codes, `x` lead bytes and `x` trail bytes, `x` the smallest for which
/// `255 − 2x + x²` codes suffice, so that as many characters as possible take one byte.
/// Every other character becomes the byte 0, which no part or negator holds. Like UTF-8
/// the code is self-synchronising (single, lead and trail bytes are disjoint), so a part
/// or negator found in the encoded text always starts and ends at a character boundary,
/// and the whole phrase logic (negators before a match, gaps, the later parts of a gapped
/// form) works on the encoded bytes.
enum Alphabet {
    /// More distinct characters than the dense code holds: the scan reads UTF-8.
    Utf8,
    Dense {
        /// Per character up to U+FFFF, its encoding: one byte (below 256; 0 for a character
        /// in no part) or a lead byte (high) and a trail byte (low).
        bmp: Box<[u16]>,
        /// Encodings of characters above U+FFFF, sorted by character.
        astral: Vec<(char, u16)>,
        /// The highest one-byte code; lead bytes follow it.
        single: u8,
        /// How many lead bytes there are (0 when every character takes one byte).
        leads: u8,
    },
}

impl Alphabet {
    /// The dense alphabet for these parts and [`NEGATORS`], or UTF-8 when they hold too many
    /// characters.
    fn for_parts<'a>(parts: impl Iterator<Item = &'a str>) -> Alphabet {
        let mut counts: HashMap<char, usize> = HashMap::new();
        for part in parts.chain(NEGATORS.iter().copied()) {
            for c in part.chars() {
                *counts.entry(c).or_default() += 1;
            }
        }
        let k = counts.len();
        if k > DENSE_CAPACITY {
            return Alphabet::Utf8;
        }
        let x = (0..=127usize).find(|&x| (x == 0 && k <= 255) || (x > 0 && 255 - 2 * x + x * x >= k)).unwrap_or(127);
        let single = 255 - 2 * x;
        let mut order: Vec<(char, usize)> = counts.into_iter().collect();
        order.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut bmp = vec![0u16; 0x1_0000].into_boxed_slice();
        let mut astral = Vec::new();
        for (rank, &(c, _)) in order.iter().enumerate() {
            let encoding = if rank < single {
                rank as u16 + 1
            } else {
                let i = rank - single;
                let (lead, trail) = (single + 1 + i / x, single + 1 + x + i % x);
                (lead << 8 | trail) as u16
            };
            match bmp.get_mut(c as usize) {
                Some(slot) => *slot = encoding,
                None => astral.push((c, encoding)),
            }
        }
        astral.sort_unstable();
        Alphabet::Dense { bmp, astral, single: single as u8, leads: x as u8 }
    }

    /// Appends the encoding of one character (dense alphabet only).
    #[inline]
    fn encode(bmp: &[u16], astral: &[(char, u16)], c: char, out: &mut Vec<u8>) {
        let encoding = match bmp.get(c as usize) {
            Some(&encoding) => encoding,
            None => astral.binary_search_by_key(&c, |&(c, _)| c).map_or(0, |i| astral[i].1),
        };
        if encoding < 256 {
            out.push(encoding as u8);
        } else {
            out.extend_from_slice(&encoding.to_be_bytes());
        }
    }

    /// Normalised text (a part, a negator) as the scan sees it.
    fn encode_text(&self, text: &str) -> Box<[u8]> {
        match self {
            Alphabet::Utf8 => text.as_bytes().into(),
            Alphabet::Dense { bmp, astral, .. } => {
                let mut out = Vec::with_capacity(text.len());
                for c in text.chars() {
                    Alphabet::encode(bmp, astral, c, &mut out);
                }
                out.into()
            }
        }
    }

    /// The length in bytes of the encoded character that starts with `first`.
    #[inline]
    fn char_len(&self, first: u8) -> usize {
        match *self {
            Alphabet::Dense { single, leads, .. } => 1 + usize::from(first > single && first - single <= leads),
            Alphabet::Utf8 => match first {
                0..0xE0 => 1 + usize::from(first >= 0xC0),
                0xE0..0xF0 => 3,
                _ => 4,
            },
        }
    }
}

/// What one automaton pattern (a distinct normalised part) leads to.
struct PartInfo {
    /// Its length in characters: the score of a form made of this part alone.
    chars: u32,
    /// Range into `Recogniser::whole_of`: intents with a one-part form equal to this part.
    whole: (u32, u32),
    /// Range into `Recogniser::first_of`: gapped forms that start with this part.
    first: (u32, u32),
}

/// A form with gaps, checked when its first part matched.
struct GappedForm {
    intent: u32,
    /// Its parts' characters.
    score: u32,
    /// The parts after the first, in order, encoded.
    rest: Box<[Box<[u8]>]>,
}

/// The recogniser's tables for one program (§6).
pub struct Recogniser {
    alphabet: Alphabet,
    /// [`NEGATORS`], encoded.
    negators: Vec<Box<[u8]>>,
    /// Per byte value: whether some encoded negator ends with it (a quick first test).
    negator_ends: [bool; 256],
    /// Over every distinct normalised part, encoded; None when no intent has phrases.
    automaton: Option<AhoCorasick>,
    /// Per automaton pattern id.
    parts: Vec<PartInfo>,
    whole_of: Vec<u32>,
    first_of: Vec<u32>,
    gapped: Vec<GappedForm>,
    /// Per intent: its compiled regexes.
    regexes: Vec<Vec<Regex>>,
    /// Intents with at least one regex, ascending.
    regex_intents: Vec<u32>,
    /// Every regex of every intent: one pass that says whether any of them can match, so
    /// the usual utterance, which matches none, costs one scan (None if it cannot be built).
    regex_set: Option<RegexSet>,
    /// Per intent: its dtmf key sequences.
    dtmf: Vec<Vec<String>>,
}

impl std::fmt::Debug for Recogniser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recogniser")
            .field("intents", &self.regexes.len())
            .field("parts", &self.parts.len())
            .field("gapped_forms", &self.gapped.len())
            .field("regex_intents", &self.regex_intents.len())
            .field("dense_alphabet", &matches!(self.alphabet, Alphabet::Dense { .. }))
            .finish()
    }
}

/// Candidate lists at least this long (or covering half the intents) are scored by scoring
/// every intent and looking the candidates up, rather than by marking the candidates first.
const MANY_CANDIDATES: usize = 64;

/// With at most this many matched intents and [`MANY_CANDIDATES`] or more candidates, the
/// winner is found by searching the candidates for each matched intent.
const FEW_MATCHED: usize = 4;

/// The first position of `intent` in `candidates`, searched in chunks without an early exit
/// inside a chunk, so that the comparisons can be vectorised.
fn first_position(candidates: &[u32], intent: u32) -> Option<usize> {
    let mut base = 0;
    for chunk in candidates.chunks(32) {
        if chunk.iter().fold(false, |hit, &c| hit | (c == intent)) {
            return chunk.iter().position(|&c| c == intent).map(|p| base + p);
        }
        base += chunk.len();
    }
    None
}

/// One utterance in the forms the scan needs.
#[derive(Default)]
struct Buffers {
    /// The normalised utterance; with the dense alphabet, only filled when a regex needs it.
    text: String,
    text_ready: bool,
    /// The normalised utterance in the dense alphabet (unused for [`Alphabet::Utf8`]).
    encoded: Vec<u8>,
    /// [`numerals_to_digits`] of `text`, computed when a regex needs it.
    digits: String,
}

/// Per-thread buffers reused by every call, so that scoring allocates nothing once warm.
#[derive(Default)]
struct Scratch {
    buffers: Buffers,
    /// Per intent id, zero between calls (any recogniser of the thread may use it).
    scores: Vec<u32>,
    /// The intents whose score rose above zero in this call.
    touched: Vec<u32>,
    /// Per intent id: the `generation` of the last call that listed it as a candidate.
    stamps: Vec<u32>,
    generation: u32,
    /// Set while a call runs: if a call never finished, the next one clears `scores`.
    dirty: bool,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl Recogniser {
    /// Builds the tables: one aho-corasick automaton over every literal part of every form of
    /// every intent (normalised again here, which changes nothing for parts the compiler
    /// normalised already), and the compiled regexes. Parts that normalise to nothing are
    /// dropped like the empty parts of a pattern; a form left without parts is dropped (it
    /// would match every utterance). Err names the intent and the regex that fails to
    /// compile. Intent ids are positions in `intents`.
    pub fn new(intents: &[IntentTable]) -> Result<Recogniser, String> {
        let mut ids: HashMap<String, u32> = HashMap::new();
        let mut texts: Vec<String> = Vec::new();
        let mut whole: Vec<Vec<u32>> = Vec::new();
        let mut first: Vec<Vec<u32>> = Vec::new();
        // (intent, parts) of each gapped form, duplicates left out.
        let mut gapped_forms: Vec<(u32, Vec<String>)> = Vec::new();
        let mut seen_gapped: HashSet<(u32, Vec<String>)> = HashSet::new();
        let mut regexes = Vec::with_capacity(intents.len());
        let mut regex_sources = Vec::new();
        let mut regex_intents = Vec::new();
        let mut dtmf = Vec::with_capacity(intents.len());

        for (intent_index, table) in intents.iter().enumerate() {
            let intent = u32::try_from(intent_index).map_err(|_| "too many intents".to_owned())?;
            for form in &table.forms {
                let parts: Vec<String> = form.parts.iter().map(|p| normalise(p)).filter(|p| !p.is_empty()).collect();
                let Some(first_part) = parts.first() else { continue };
                let id = match ids.entry(first_part.clone()) {
                    Entry::Occupied(e) => *e.get(),
                    Entry::Vacant(e) => {
                        let id = texts.len() as u32;
                        texts.push(e.key().clone());
                        whole.push(Vec::new());
                        first.push(Vec::new());
                        *e.insert(id)
                    }
                };
                if parts.len() == 1 {
                    if !whole[id as usize].contains(&intent) {
                        whole[id as usize].push(intent);
                    }
                } else if seen_gapped.insert((intent, parts.clone())) {
                    first[id as usize].push(gapped_forms.len() as u32);
                    gapped_forms.push((intent, parts));
                }
            }

            let mut compiled = Vec::with_capacity(table.regexes.len());
            for source in &table.regexes {
                let regex = Regex::new(source)
                    .map_err(|e| format!("intent `{}`: regex \"{}\" does not compile: {e}", table.name, source))?;
                compiled.push(regex);
                regex_sources.push(source.as_str());
            }
            if !compiled.is_empty() {
                regex_intents.push(intent);
            }
            regexes.push(compiled);
            dtmf.push(table.dtmf.clone());
        }

        let later_parts = gapped_forms.iter().flat_map(|(_, parts)| parts[1..].iter());
        let alphabet = Alphabet::for_parts(texts.iter().chain(later_parts).map(String::as_str));
        let negators: Vec<Box<[u8]>> = NEGATORS.iter().map(|n| alphabet.encode_text(n)).collect();
        let mut negator_ends = [false; 256];
        for negator in &negators {
            if let Some(&last) = negator.last() {
                negator_ends[usize::from(last)] = true;
            }
        }
        let gapped = gapped_forms
            .into_iter()
            .map(|(intent, parts)| GappedForm {
                intent,
                score: parts.iter().map(|p| p.chars().count() as u32).sum(),
                rest: parts[1..].iter().map(|p| alphabet.encode_text(p)).collect(),
            })
            .collect();
        let automaton = if texts.is_empty() {
            None
        } else {
            let patterns: Vec<Box<[u8]>> = texts.iter().map(|t| alphabet.encode_text(t)).collect();
            let built = AhoCorasick::builder().match_kind(MatchKind::Standard).dense_depth(1).build(&patterns);
            Some(built.map_err(|e| format!("the phrase automaton cannot be built: {e}"))?)
        };
        let regex_set = if regex_sources.is_empty() { None } else { RegexSet::new(&regex_sources).ok() };

        let mut parts = Vec::with_capacity(texts.len());
        let (mut whole_of, mut first_of) = (Vec::new(), Vec::new());
        for ((text, whole), first) in texts.iter().zip(whole).zip(first) {
            let whole_start = whole_of.len() as u32;
            whole_of.extend(whole);
            let first_start = first_of.len() as u32;
            first_of.extend(first);
            parts.push(PartInfo {
                chars: text.chars().count() as u32,
                whole: (whole_start, whole_of.len() as u32),
                first: (first_start, first_of.len() as u32),
            });
        }

        Ok(Recogniser {
            alphabet,
            negators,
            negator_ends,
            automaton,
            parts,
            whole_of,
            first_of,
            gapped,
            regexes,
            regex_intents,
            regex_set,
            dtmf,
        })
    }

    /// How many intents the tables hold.
    pub fn intent_count(&self) -> usize {
        self.regexes.len()
    }

    /// The score of every intent for one utterance (§6): the length in characters of its
    /// longest counting match, 0 for none (see the module documentation for what counts).
    /// Writes into `scores`, resized to the number of intents, so callers can reuse it.
    pub fn score_all(&self, utterance: &str, scores: &mut Vec<u32>) {
        scores.clear();
        scores.resize(self.intent_count(), 0);
        SCRATCH.with(|cell| {
            let mut guard = cell.borrow_mut();
            let scratch = &mut *guard;
            self.prepare(utterance, &mut scratch.buffers, !self.regex_intents.is_empty());
            self.score_text(utterance, &mut scratch.buffers, scores, &mut scratch.touched, |_| true);
            scratch.touched.clear();
        });
    }

    /// The winner of one turn among `candidates` (intent ids in priority order: the ask's own
    /// branches first, then the `objection` handlers, each in declaration order; §4, §9.1):
    /// the highest score above zero wins and a tie goes to the earlier candidate. Returns
    /// (position in `candidates`, score), or None when no candidate matched (`unknown`).
    /// Ids that name no intent never match.
    pub fn best(&self, utterance: &str, candidates: &[u32]) -> Option<(usize, u32)> {
        let n = self.intent_count();
        if n == 0 || candidates.is_empty() {
            return None;
        }
        SCRATCH.with(|cell| {
            let mut guard = cell.borrow_mut();
            let Scratch { buffers, scores, touched, stamps, generation, dirty } = &mut *guard;
            if scores.len() < n {
                scores.resize(n, 0);
                stamps.resize(n, 0);
            }
            if *dirty {
                scores.fill(0);
            }
            touched.clear();
            *dirty = true;

            if candidates.len() >= MANY_CANDIDATES || candidates.len() * 2 >= n {
                self.prepare(utterance, buffers, !self.regex_intents.is_empty());
                self.score_text(utterance, buffers, scores, touched, |_| true);
            } else {
                *generation = generation.wrapping_add(1);
                if *generation == 0 {
                    stamps.fill(0);
                    *generation = 1;
                }
                let generation = *generation;
                let mut need_text = false;
                for &c in candidates {
                    if let Some(stamp) = stamps.get_mut(c as usize) {
                        *stamp = generation;
                        need_text |= self.regexes.get(c as usize).is_some_and(|r| !r.is_empty());
                    }
                }
                self.prepare(utterance, buffers, need_text);
                let stamps = &*stamps;
                self.score_text(utterance, buffers, scores, touched, |i| stamps[i as usize] == generation);
            }

            let best = if touched.len() <= FEW_MATCHED && candidates.len() >= MANY_CANDIDATES {
                // A long list and few matches: find each matched intent's first position.
                let mut best: Option<(usize, u32)> = None;
                for &intent in touched.iter() {
                    let score = scores[intent as usize];
                    if let Some(position) = first_position(candidates, intent)
                        && best.is_none_or(|(p, b)| score > b || (score == b && position < p))
                    {
                        best = Some((position, score));
                    }
                }
                best
            } else {
                // Look the candidates up in order; a score is cleared once read, so that a
                // candidate listed twice counts at its first position, and the scan stops
                // once every intent that matched has been found.
                let mut best: Option<(usize, u32)> = None;
                let mut remaining = touched.len();
                for (position, &c) in candidates.iter().enumerate() {
                    if remaining == 0 {
                        break;
                    }
                    if (c as usize) >= n {
                        continue;
                    }
                    let score = std::mem::take(&mut scores[c as usize]);
                    if score > 0 {
                        if best.is_none_or(|(_, b)| score > b) {
                            best = Some((position, score));
                        }
                        remaining -= 1;
                    }
                }
                best
            };
            for &intent in touched.iter() {
                scores[intent as usize] = 0;
            }
            touched.clear();
            *dirty = false;
            best
        })
    }

    /// Whether a dtmf key sequence selects the intent: an exact match with one of its dtmf
    /// strings. An id that names no intent selects nothing.
    pub fn dtmf_selects(&self, intent: u32, keys: &str) -> bool {
        self.dtmf.get(intent as usize).is_some_and(|list| list.iter().any(|d| d == keys))
    }

    /// Normalises the utterance and encodes it for the scan; the normalised text itself is
    /// kept when `need_text` (for regexes) or when the scan reads UTF-8.
    fn prepare(&self, utterance: &str, buffers: &mut Buffers, need_text: bool) {
        let Buffers { text, text_ready, encoded, .. } = buffers;
        text.clear();
        encoded.clear();
        match &self.alphabet {
            Alphabet::Utf8 => {
                normalise_with(utterance, |c| text.push(c));
                *text_ready = true;
            }
            Alphabet::Dense { bmp, astral, .. } => {
                if need_text {
                    normalise_with(utterance, |c| {
                        text.push(c);
                        Alphabet::encode(bmp, astral, c, encoded);
                    });
                } else {
                    normalise_with(utterance, |c| Alphabet::encode(bmp, astral, c, encoded));
                }
                *text_ready = need_text;
            }
        }
    }

    /// Whether the encoded text ends with an encoded negator.
    #[inline]
    fn ends_with_negator(&self, encoded: &[u8]) -> bool {
        match encoded.last() {
            Some(&last) if self.negator_ends[usize::from(last)] => {
                self.negators.iter().any(|n| encoded.len() >= n.len() && same(&encoded[encoded.len() - n.len()..], n))
            }
            _ => false,
        }
    }

    /// Scores the prepared utterance into `scores` for the intents `wanted` accepts (others
    /// are left alone), pushing onto `touched` each intent whose score rises from zero.
    fn score_text(
        &self,
        utterance: &str,
        buffers: &mut Buffers,
        scores: &mut [u32],
        touched: &mut Vec<u32>,
        wanted: impl Fn(u32) -> bool,
    ) {
        let Buffers { text, text_ready, encoded, digits } = buffers;
        if let Some(automaton) = &self.automaton {
            let haystack = match self.alphabet {
                Alphabet::Utf8 => text.as_bytes(),
                Alphabet::Dense { .. } => encoded.as_slice(),
            };
            for m in automaton.find_overlapping_iter(haystack) {
                let part = &self.parts[m.pattern().as_usize()];
                let mut negated: Option<bool> = None;
                let mut is_negated = || *negated.get_or_insert_with(|| self.ends_with_negator(&haystack[..m.start()]));
                for &intent in &self.whole_of[part.whole.0 as usize..part.whole.1 as usize] {
                    if scores[intent as usize] < part.chars && wanted(intent) && !is_negated() {
                        raise(scores, touched, intent, part.chars);
                    }
                }
                for &form in &self.first_of[part.first.0 as usize..part.first.1 as usize] {
                    let form = &self.gapped[form as usize];
                    if scores[form.intent as usize] < form.score
                        && wanted(form.intent)
                        && !is_negated()
                        && self.rest_matches(haystack, m.end(), &form.rest)
                    {
                        raise(scores, touched, form.intent, form.score);
                    }
                }
            }
        }

        // (whether any regex of the program matches, whether `digits` differs from `text`)
        let mut prefilter: Option<(bool, bool)> = None;
        for &intent in &self.regex_intents {
            if !wanted(intent) {
                continue;
            }
            let (any, has_digits) = *prefilter.get_or_insert_with(|| {
                if !*text_ready {
                    normalise_into(utterance, text);
                    *text_ready = true;
                }
                let has_digits = numerals_into(text, digits) && *digits != *text;
                let any = self
                    .regex_set
                    .as_ref()
                    .is_none_or(|set| set.is_match(text) || (has_digits && set.is_match(digits)));
                (any, has_digits)
            });
            if !any {
                break;
            }
            let mut best = scores[intent as usize];
            for regex in &self.regexes[intent as usize] {
                best = best.max(regex_score(regex, text));
                if has_digits {
                    best = best.max(regex_score(regex, digits));
                }
            }
            if best > scores[intent as usize] {
                raise(scores, touched, intent, best);
            }
        }
    }

    /// Whether `rest` (the encoded parts after a gapped form's first) occur in order from
    /// byte `from` of the encoded text, each after a gap of at most [`GAP_MAX_CHARS`]
    /// characters holding no negator.
    fn rest_matches(&self, encoded: &[u8], from: usize, rest: &[Box<[u8]>]) -> bool {
        let Some((part, tail)) = rest.split_first() else { return true };
        let after = &encoded[from..];
        let mut gap = 0; // byte length of the gap tried
        for gap_chars in 0..=GAP_MAX_CHARS {
            if gap_chars > 0 {
                let Some(&first) = after.get(gap) else { return false };
                gap = (gap + self.alphabet.char_len(first)).min(after.len());
                // Every negator inside the gap is a suffix of some prefix of it.
                if self.ends_with_negator(&after[..gap]) {
                    return false;
                }
            }
            let start = &after[gap..];
            if start.len() >= part.len()
                && same(&start[..part.len()], part)
                && self.rest_matches(encoded, from + gap + part.len(), tail)
            {
                return true;
            }
        }
        false
    }
}

/// Whether two slices of equal length are equal: a plain loop, cheaper than a call to
/// `memcmp` for the few bytes of a part or a negator.
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// Raises an intent's score (only ever called with a higher one), noting its first rise.
#[inline]
fn raise(scores: &mut [u32], touched: &mut Vec<u32>, intent: u32, score: u32) {
    let slot = &mut scores[intent as usize];
    if *slot == 0 {
        touched.push(intent);
    }
    *slot = score;
}

/// The longest counting, non-empty match of `regex` in `text`, in characters.
fn regex_score(regex: &Regex, text: &str) -> u32 {
    let mut best = 0;
    for m in regex.find_iter(text) {
        if m.is_empty() || ends_with_negator(&text[..m.start()]) {
            continue;
        }
        best = best.max(m.as_str().chars().count() as u32);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use callscript_compiler::check::check_source;
    use callscript_compiler::pattern::{Form, parse};
    use callscript_compiler::syntax::ast::{ClauseKind, Item};
    use proptest::prelude::*;
    use std::sync::LazyLock;

    /// An intent table from phrases (patterns allowed), dtmf keys and regexes, normalised
    /// the way the compiler is expected to.
    fn table(name: &str, phrases: &[&str], dtmf: &[&str], regexes: &[&str]) -> IntentTable {
        let mut forms: Vec<Form> = Vec::new();
        let mut seen = HashSet::new();
        for phrase in phrases {
            for form in parse(phrase).unwrap_or_else(|e| panic!("{phrase:?}: {e}")) {
                let form = Form { parts: form.parts.iter().map(|p| normalise(p)).collect() };
                if seen.insert(form.clone()) {
                    forms.push(form);
                }
            }
        }
        IntentTable {
            name: name.to_owned(),
            forms,
            dtmf: dtmf.iter().map(|s| s.to_string()).collect(),
            regexes: regexes.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The intents of `stdlib/zh/common.call`, read from the file itself, in declaration order.
    fn common_intents() -> Vec<IntentTable> {
        let text = callscript_compiler::stdlib::module("std.zh.common").expect("the stdlib module exists");
        let checked = check_source("common.call", text);
        let mut tables = Vec::new();
        for item in &checked.files[0].ast.items {
            let Item::Intent(intent) = item else { continue };
            let mut phrases = Vec::new();
            let (mut dtmf, mut regexes) = (Vec::new(), Vec::new());
            for clause in &intent.clauses {
                let values = clause.values.iter().map(|v| v.value.as_str());
                match clause.kind {
                    ClauseKind::Phrases => phrases.extend(values),
                    ClauseKind::Dtmf => dtmf.extend(values),
                    ClauseKind::Regex => regexes.extend(values),
                    ClauseKind::Examples => {}
                }
            }
            tables.push(table(&intent.name.name, &phrases, &dtmf, &regexes));
        }
        tables
    }

    /// The common intents, then the example script's own: a gapped promise and a card tail.
    fn intents() -> Vec<IntentTable> {
        let mut tables = common_intents();
        let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["yes", "no", "busy", "angry", "complaint", "optout", "repeat", "who"]);
        tables.push(table("promise", &["(今天|明天|下午|马上)[就]…还", "会还的"], &["1"], &[]));
        tables.push(table("card_tail", &[], &[], &["[0-9]{4}"]));
        tables.push(table("rate", &["利率太高", "利息太高", "罚息太高"], &[], &[]));
        tables
    }

    fn recogniser() -> (Recogniser, Vec<IntentTable>) {
        let tables = intents();
        (Recogniser::new(&tables).expect("the tables build"), tables)
    }

    fn id(tables: &[IntentTable], name: &str) -> u32 {
        tables.iter().position(|t| t.name == name).unwrap_or_else(|| panic!("no intent {name}")) as u32
    }

    /// The winner's name among `candidates` (names), or None.
    fn winner(r: &Recogniser, tables: &[IntentTable], utterance: &str, candidates: &[&str]) -> Option<String> {
        let ids: Vec<u32> = candidates.iter().map(|c| id(tables, c)).collect();
        r.best(utterance, &ids).map(|(position, _)| candidates[position].to_owned())
    }

    fn score(r: &Recogniser, tables: &[IntentTable], utterance: &str, intent: &str) -> u32 {
        let mut scores = Vec::new();
        r.score_all(utterance, &mut scores);
        scores[id(tables, intent) as usize]
    }

    /// An ask handling promise, card_tail, yes and no, with every other intent as `objection`
    /// handlers.
    const CANDIDATES: &[&str] =
        &["promise", "card_tail", "yes", "no", "optout", "busy", "angry", "complaint", "repeat", "who", "rate"];

    #[test]
    fn table_of_utterances() {
        let (r, tables) = recogniser();
        let cases: &[(&str, Option<&str>)] = &[
            // Assent and identity.
            ("是", Some("yes")),
            ("是的", Some("yes")),
            ("是我", Some("yes")),
            ("对，是我本人", Some("yes")),
            ("嗯……是的是的", Some("yes")),
            ("嗯嗯", Some("yes")),
            ("好的好的，没问题", Some("yes")),
            ("没问题", Some("yes")),
            ("没有问题", Some("yes")),
            ("ＯＫ", Some("yes")),
            ("ok啊", Some("yes")),
            ("是　的", Some("yes")),
            ("可以可以", Some("yes")),
            ("我同意", Some("yes")),
            ("现在方便的", Some("yes")),
            ("我就是", Some("yes")),
            ("明白了，谢谢", Some("yes")),
            // Denial and refusal.
            ("不是", Some("no")),
            ("不是我", Some("no")),
            ("我不是他", Some("no")),
            ("我不同意", Some("no")),
            ("不可以", Some("no")),
            ("不需要，谢谢", Some("no")),
            ("我不太需要", Some("no")),
            ("不怎么需要", Some("no")),
            ("没什么兴趣", Some("no")),
            ("我是他老婆", Some("no")),
            ("你打错了吧", Some("no")),
            ("不用了不用了", Some("no")),
            ("算了吧", Some("no")),
            ("不要", Some("no")),
            // Opt-out beats the shorter `不要` / `不用` of no.
            ("不要再给我打电话了", Some("optout")),
            ("别再打了！", Some("optout")),
            ("以后不要打了", Some("optout")),
            ("把我拉黑吧", Some("optout")),
            ("退订", Some("optout")),
            // Busy.
            ("我在开会", Some("busy")),
            ("不太方便，在开车", Some("busy")),
            ("现在不方便", Some("busy")),
            ("晚点再打吧", Some("busy")),
            ("我在上班呢", Some("busy")),
            ("明天再联系", Some("busy")),
            // Anger and complaints.
            ("你们烦不烦啊", Some("angry")),
            ("神经病", Some("angry")),
            ("我要投诉你们", Some("complaint")),
            ("我打12378投诉", Some("complaint")),
            ("我要找银保监会", Some("complaint")),
            // Repeat and who.
            ("什么？", Some("repeat")),
            ("你说什么", Some("repeat")),
            ("信号不好听不清", Some("repeat")),
            ("对不起", Some("repeat")),
            ("你是谁", Some("who")),
            ("哪个银行的", Some("who")),
            ("是不是诈骗啊", Some("who")),
            ("你是机器人吗", Some("who")),
            // The script's own intents: gapped promises, card tails, a rate objection.
            ("明天下午就能还", Some("promise")),
            ("我今天下午就还", Some("promise")),
            ("马上就还", Some("promise")),
            ("会还的会还的", Some("promise")),
            ("今天能还上", Some("promise")),
            ("幺三八八", Some("card_tail")),
            ("尾号是1388", Some("card_tail")),
            ("尾号是一三八八", Some("card_tail")),
            ("尾号１３８８", Some("card_tail")),
            ("你们利率太高了", Some("rate")),
            // Nothing.
            ("今天不还", None),
            ("我今天没钱还", None),
            ("啊这个", None),
            ("", None),
            ("，。！？", None),
            ("不好意思", None),
        ];
        assert!(cases.len() >= 60, "{} cases", cases.len());
        let mut failures = Vec::new();
        for &(utterance, expected) in cases {
            let got = winner(&r, &tables, utterance, CANDIDATES);
            if got.as_deref() != expected {
                let mut scores = Vec::new();
                r.score_all(utterance, &mut scores);
                let nonzero: Vec<_> =
                    tables.iter().zip(&scores).filter(|(_, s)| **s > 0).map(|(t, s)| (&t.name, *s)).collect();
                failures.push(format!("{utterance:?}: expected {expected:?}, got {got:?}; scores {nonzero:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// Replies with 确认 and 确定, and the intent each must reach among [`CANDIDATES`].
    const CONFIRMATIONS: &[(&str, Option<&str>)] = &[
        ("确认", Some("yes")),
        ("确定", Some("yes")),
        ("确认。", Some("yes")),
        ("嗯，确定", Some("yes")),
        ("我确认", Some("yes")),
        ("确定的", Some("yes")),
        ("确认是我", Some("yes")),
        ("确认无误", Some("yes")),
        ("确认办理", Some("yes")),
        ("可以，确认", Some("yes")),
        ("不确定", Some("no")),
        ("我不确定", Some("no")),
        ("还不确定", Some("no")),
        ("不能确定", Some("no")),
        ("我也不太确定", Some("no")),
        ("不是很确定", Some("no")),
        ("不敢确定", Some("no")),
        ("无法确认", Some("no")),
        ("没法确认", Some("no")),
        ("没办法确定", Some("no")),
        ("确定不要", Some("no")),
        ("确定不需要", Some("no")),
        ("确认不需要了", Some("no")),
        ("确定不了", Some("no")),
        ("不用确认了", Some("no")),
        ("没确认", None),
        ("别确定", None),
        ("我确认一下", Some("busy")),
        ("我先确定一下", Some("busy")),
        ("等我确认一下", Some("busy")),
        ("确定没时间", Some("busy")),
        ("确认退订", Some("optout")),
        ("确定取消", Some("optout")),
        ("我确定要投诉", Some("complaint")),
        ("确认什么", Some("repeat")),
        ("确认一下你是谁", Some("who")),
    ];

    #[test]
    fn confirmations() {
        let (r, tables) = recogniser();
        let mut failures = Vec::new();
        for &(utterance, expected) in CONFIRMATIONS {
            let got = winner(&r, &tables, utterance, CANDIDATES);
            if got.as_deref() != expected {
                failures.push(format!("{utterance:?}: expected {expected:?}, got {got:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// Adding 确认 and 确定 to `yes` takes nothing from another intent: every phrase form of
    /// every std intent and every reply of [`CONFIRMATIONS`] that another intent won before
    /// (the tables without any form holding 确认 or 确定, as the module was) goes to that
    /// intent still.
    #[test]
    fn confirmations_take_nothing_from_other_intents() {
        let after = intents();
        let before: Vec<IntentTable> = after
            .iter()
            .map(|t| IntentTable {
                forms: t
                    .forms
                    .iter()
                    .filter(|f| !f.parts.iter().any(|p| p.contains("确认") || p.contains("确定")))
                    .cloned()
                    .collect(),
                ..t.clone()
            })
            .collect();
        let (now, then) = (Recogniser::new(&after).expect("builds"), Recogniser::new(&before).expect("builds"));
        let forms = after.iter().flat_map(|t| t.forms.iter().map(|f| f.parts.concat()));
        let replies = CONFIRMATIONS.iter().map(|(u, _)| u.to_string());
        let mut lost = Vec::new();
        for utterance in forms.chain(replies) {
            let was = winner(&then, &before, &utterance, CANDIDATES);
            let is = winner(&now, &after, &utterance, CANDIDATES);
            if was.is_some() && was.as_deref() != Some("yes") && is == Some("yes".to_string()) {
                lost.push(format!("{utterance:?}: {was:?} before, now yes"));
            }
        }
        assert!(lost.is_empty(), "{}", lost.join("\n"));
    }

    #[test]
    fn normalise_examples() {
        assert_eq!(normalise("ＯＫ"), "ok");
        assert_eq!(normalise("是　的"), "是的");
        assert_eq!(normalise("嗯……是的，是的！"), "嗯是的是的");
        assert_eq!(normalise(" Hello, World! "), "helloworld");
        assert_eq!(normalise("“你好”（测试）《书》【注】、；：‘’—～"), "你好测试书注");
        assert_eq!(normalise("１２３４５"), "12345");
        assert_eq!(normalise("1,200.50元"), "1200.50元");
        assert_eq!(normalise("１２００．５０"), "1200.50");
        assert_eq!(normalise("好的. 5"), "好的5");
        assert_eq!(normalise("3. 5"), "3.5", "a point between digits survives dropped spaces");
        assert_eq!(normalise("第3.章"), "第3章");
        assert_eq!(normalise("a\u{200B}b\u{FEFF}c\td\ne"), "abcde");
        assert_eq!(normalise("〇一二三"), "〇一二三", "numerals are not punctuation");
        assert_eq!(normalise("¥100"), "¥100");
    }

    #[test]
    fn normalise_is_idempotent_on_examples() {
        for text in ["1..2", "1. .2", "a.1", "1.a", "1.2.3", "ＯＫ。。", "…1…2…"] {
            let once = normalise(text);
            assert_eq!(normalise(&once), once, "{text:?}");
        }
    }

    #[test]
    fn numerals_are_read_as_the_extractors_read_them() {
        // The reading itself is tested in the compiler (`extract`); here, that it is the one used.
        assert_eq!(numerals_to_digits("尾号是一三八八"), "尾号是1388");
        assert_eq!(numerals_to_digits("还一千二百块"), "还1200块");
        assert_eq!(numerals_to_digits("你等一下"), "你等一下");
        assert_eq!(numerals_to_digits("万一"), "万一");
        assert_eq!(numerals_to_digits("1388"), "1388");
    }

    #[test]
    fn negated_matches_do_not_count() {
        let (r, t) = recogniser();
        // `是` and `是我` are preceded by 不; `不是我` itself counts.
        assert_eq!(score(&r, &t, "不是我", "yes"), 0);
        assert_eq!(score(&r, &t, "不是我", "no"), 3);
        // `同意` is negated, `不同意` counts.
        assert_eq!(score(&r, &t, "我不同意", "yes"), 0);
        assert_eq!(score(&r, &t, "我不同意", "no"), 3);
        // A phrase that starts with a negator matches normally.
        assert_eq!(score(&r, &t, "没问题", "yes"), 3);
        // Every negator of the list negates.
        for negator in NEGATORS {
            assert_eq!(score(&r, &t, &format!("{negator}同意"), "yes"), 0, "{negator}");
        }
        // A negated occurrence does not hide a counting one elsewhere.
        assert_eq!(score(&r, &t, "不同意，哦，我同意", "yes"), 2);
        // Punctuation is dropped before the check, so "不，同意" reads as 不同意.
        assert_eq!(score(&r, &t, "不，同意", "yes"), 0);
        // Negators are recognised even when no phrase holds their characters.
        let small = Recogniser::new(&[table("agree", &["同意"], &[], &[])]).unwrap();
        for negator in NEGATORS {
            assert_eq!(small.best(&format!("我{negator}同意"), &[0]), None, "{negator}");
        }
        assert_eq!(small.best("我同意", &[0]), Some((0, 2)));
        // A negator further back does not negate: only the text right before the match.
        assert_eq!(score(&r, &t, "不，我同意", "yes"), 2);
    }

    #[test]
    fn overlapping_matches_find_the_longest_counting_one() {
        let tables = vec![table("a", &["不要", "要再打"], &[], &[]), table("b", &["再打"], &[], &[])];
        let r = Recogniser::new(&tables).unwrap();
        let mut scores = Vec::new();
        // `要再打` is negated (preceded by 不), `不要` counts; `再打` is not negated.
        r.score_all("不要再打", &mut scores);
        assert_eq!(scores, [2, 2]);
        r.score_all("你要再打", &mut scores);
        assert_eq!(scores, [3, 2]);
    }

    #[test]
    fn gapped_forms() {
        let (r, t) = recogniser();
        // 下午就 + 还, no gap: four characters (the longest form that matches).
        assert_eq!(score(&r, &t, "明天下午就能还", "promise"), 4);
        // 明天 + (下午就能) + 还: a gap of exactly four characters.
        let only = vec![table("p", &["明天…还"], &[], &[])];
        let p = Recogniser::new(&only).unwrap();
        let mut s = Vec::new();
        for (utterance, expected) in [
            ("明天下午就能还", 3),
            ("明天还", 3),
            ("明天下午就能去还", 0),
            ("今天不还", 0),
            ("明天不还", 0),
            ("明天没钱还", 0),
            ("明天还不还", 3),
            ("不明天还", 0),
            ("还明天", 0),
            ("明天……还", 3),
            ("明天不行，后天还", 0),
        ] {
            p.score_all(utterance, &mut s);
            assert_eq!(s[0], expected, "{utterance}");
        }
        // A later part whose characters occur nowhere else is still told apart from others.
        let rare = Recogniser::new(&[table("r", &["甲…乙"], &[], &[])]).unwrap();
        assert_eq!(rare.best("甲丙乙", &[0]), Some((0, 2)));
        assert_eq!(rare.best("甲丙丁", &[0]), None);
        assert_eq!(rare.best("甲丙未乙", &[0]), None);
        // A gap holds no negator even when it straddles: `没有` after the first part.
        let three = vec![table("x", &["我…还…钱"], &[], &[])];
        let x = Recogniser::new(&three).unwrap();
        x.score_all("我明天还你钱", &mut s);
        assert_eq!(s[0], 3);
        x.score_all("我还不了钱", &mut s);
        assert_eq!(s[0], 0);
        x.score_all("我还还钱", &mut s);
        assert_eq!(s[0], 3, "backtracks over the choice of the middle part");
        // `没…兴趣`: 没 starts the form, so 有 in the gap is fine.
        assert_eq!(score(&r, &t, "没有兴趣", "no"), 3);
        assert_eq!(score(&r, &t, "没有兴趣", "yes"), 0);
    }

    #[test]
    fn longest_phrase_wins_across_intents() {
        let (r, t) = recogniser();
        assert_eq!(score(&r, &t, "不要再给我打电话了", "no"), 2);
        assert_eq!(score(&r, &t, "不要再给我打电话了", "optout"), 8);
        assert_eq!(winner(&r, &t, "不要再给我打电话了", &["no", "optout"]).as_deref(), Some("optout"));
        assert_eq!(winner(&r, &t, "不要再给我打电话了", &["no"]).as_deref(), Some("no"));
        assert_eq!(winner(&r, &t, "不要再给我打电话了", &["yes"]), None);
    }

    #[test]
    fn ties_go_to_the_earlier_candidate() {
        let tables =
            vec![table("a", &["可以"], &[], &[]), table("b", &["可以"], &[], &[]), table("c", &["以"], &[], &[])];
        let r = Recogniser::new(&tables).unwrap();
        assert_eq!(r.best("可以", &[0, 1, 2]), Some((0, 2)));
        assert_eq!(r.best("可以", &[1, 0, 2]), Some((0, 2)));
        assert_eq!(r.best("可以", &[2, 1, 0]), Some((1, 2)));
        assert_eq!(r.best("可以", &[2]), Some((0, 1)));
        // A repeated candidate keeps its first position.
        assert_eq!(r.best("可以", &[2, 1, 1]), Some((1, 2)));
        // Unknown ids never match and never panic.
        assert_eq!(r.best("可以", &[7, u32::MAX, 1]), Some((2, 2)));
        assert_eq!(r.best("可以", &[7]), None);
        assert_eq!(r.best("可以", &[]), None);
        // Between the common intents: 嗯 (yes) and 啥 (repeat) both score 1.
        let (r, t) = recogniser();
        assert_eq!(winner(&r, &t, "嗯啥", &["yes", "repeat"]).as_deref(), Some("yes"));
        assert_eq!(winner(&r, &t, "嗯啥", &["repeat", "yes"]).as_deref(), Some("repeat"));
    }

    #[test]
    fn regexes_read_numerals() {
        let (r, t) = recogniser();
        assert_eq!(score(&r, &t, "幺三八八", "card_tail"), 4);
        assert_eq!(score(&r, &t, "尾号是1388", "card_tail"), 4);
        assert_eq!(score(&r, &t, "一千三百八十八", "card_tail"), 4);
        assert_eq!(score(&r, &t, "尾号是138", "card_tail"), 0);
        assert_eq!(score(&r, &t, "不是1388", "card_tail"), 0, "negated like a phrase");
        assert_eq!(score(&r, &t, "不是1388是1399", "card_tail"), 4);
        assert_eq!(score(&r, &t, "12345678", "card_tail"), 4);
        assert_eq!(score(&r, &t, "尾号一三八八，对", "card_tail"), 4);
        assert_eq!(score(&r, &t, "一点五万", "card_tail"), 4, "15000");
        // A regex that matches the empty string scores nothing.
        let tables = vec![table("e", &[], &[], &["x*"])];
        let e = Recogniser::new(&tables).unwrap();
        assert_eq!(e.best("abc", &[0]), None);
        assert_eq!(e.best("axxb", &[0]), Some((0, 2)));
    }

    #[test]
    fn words_with_numerals_hold_no_digits_for_regexes() {
        // Issue 14: "你等一下" read as "你等1下" matched `[0-9]`, so any regex asking for a
        // digit took "wait a moment" for a number.
        let tables = vec![table("digit", &[], &[], &["[0-9]"]), table("amount", &[], &[], &["[0-9]+(块|元)"])];
        let r = Recogniser::new(&tables).unwrap();
        for utterance in [
            "你等一下",
            "万一还不上怎么办",
            "先还一半",
            "我们一起去",
            "一般般吧",
            "一定还",
            "一直在忙",
            "一样的",
            "统一还",
            "等一会儿",
            "不一定",
            "有一点困难",
            "我一发工资就还",
            "十分感谢",
            "千万别再打了",
            "星期一再说",
        ] {
            assert_eq!(r.best(utterance, &[0, 1]), None, "{utterance}");
        }
        assert_eq!(r.best("我还一块钱", &[1]), Some((0, 2)));
        assert_eq!(r.best("下午一点打给我", &[0]), Some((0, 1)), "one o'clock is a number");
        assert_eq!(r.best("一万一千块", &[1]), Some((0, 6)), "11000块");
        assert_eq!(r.best("三千五块", &[1]), Some((0, 5)), "3500块");
    }

    #[test]
    fn bad_regex_names_intent_and_regex() {
        let tables = vec![table("fine", &["好"], &[], &[]), table("card", &[], &[], &["[0-9{4}"])];
        let error = Recogniser::new(&tables).unwrap_err();
        assert!(error.contains("`card`"), "{error}");
        assert!(error.contains("[0-9{4}"), "{error}");
    }

    #[test]
    fn recogniser_is_shareable_across_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Recogniser>();
        let (r, t) = recogniser();
        let yes = id(&t, "yes");
        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| assert_eq!(r.best("是的", &[yes]), Some((0, 2))));
            }
        });
    }

    #[test]
    fn dtmf_is_exact() {
        let (r, t) = recogniser();
        assert!(r.dtmf_selects(id(&t, "yes"), "1"));
        assert!(r.dtmf_selects(id(&t, "no"), "2"));
        assert!(r.dtmf_selects(id(&t, "optout"), "9"));
        assert!(r.dtmf_selects(id(&t, "promise"), "1"));
        assert!(!r.dtmf_selects(id(&t, "yes"), "2"));
        assert!(!r.dtmf_selects(id(&t, "yes"), "11"));
        assert!(!r.dtmf_selects(id(&t, "yes"), ""));
        assert!(!r.dtmf_selects(id(&t, "busy"), "1"));
        assert!(!r.dtmf_selects(999, "1"));
        let multi = vec![table("m", &["x"], &["#", "*0"], &[])];
        let m = Recogniser::new(&multi).unwrap();
        assert!(m.dtmf_selects(0, "*0"));
        assert!(!m.dtmf_selects(0, "*"));
    }

    #[test]
    fn phrases_are_normalised_when_built() {
        // A table written by hand with unnormalised phrases still matches.
        let tables = vec![IntentTable {
            name: "ok".into(),
            forms: vec![Form { parts: vec!["ＯＫ！".into()] }, Form { parts: vec!["！！".into()] }],
            dtmf: vec![],
            regexes: vec![],
        }];
        let r = Recogniser::new(&tables).unwrap();
        assert_eq!(r.best("Ok", &[0]), Some((0, 2)));
        assert_eq!(r.best("随便说点什么", &[0]), None, "a form normalised to nothing is dropped");
    }

    #[test]
    fn empty_tables() {
        let r = Recogniser::new(&[]).unwrap();
        assert_eq!(r.best("是的", &[0]), None);
        let mut scores = vec![5];
        r.score_all("是的", &mut scores);
        assert!(scores.is_empty());
        let r = Recogniser::new(&[table("d", &[], &["1"], &[])]).unwrap();
        assert_eq!(r.best("是的", &[0]), None);
    }

    #[test]
    fn best_agrees_with_score_all() {
        let (r, t) = recogniser();
        let all: Vec<u32> = (0..t.len() as u32).collect();
        let mut scores = Vec::new();
        for utterance in
            ["不要再给我打电话了", "明天下午就能还", "嗯是的", "随便", "尾号一三八八", "你们利率太高了不要再打了"]
        {
            r.score_all(utterance, &mut scores);
            let expected = scores.iter().enumerate().fold(None, |best: Option<(usize, u32)>, (i, &s)| {
                if s > 0 && best.is_none_or(|(_, b)| s > b) { Some((i, s)) } else { best }
            });
            assert_eq!(r.best(utterance, &all), expected, "{utterance}");
        }
    }

    /// `tables` plus an intent with `count` one-character phrases (CJK Extension B, which no
    /// test utterance uses but for 𠀀): past 255 characters the dense alphabet takes two bytes
    /// for some, past [`DENSE_CAPACITY`] the automaton scans UTF-8.
    fn with_characters(tables: &[IntentTable], count: u32) -> Vec<IntentTable> {
        let phrases: Vec<String> = (0x2_0000u32..0x2_0000 + count)
            .map(|c| char::from_u32(c).expect("a CJK Extension B character").to_string())
            .collect();
        let phrases: Vec<&str> = phrases.iter().map(String::as_str).collect();
        let mut tables = tables.to_vec();
        tables.push(table("filler", &phrases, &[], &[]));
        tables
    }

    fn with_many_characters(tables: &[IntentTable]) -> Vec<IntentTable> {
        with_characters(tables, DENSE_CAPACITY as u32 + 10)
    }

    fn is_dense(r: &Recogniser) -> bool {
        format!("{r:?}").contains("dense_alphabet: true")
    }

    #[test]
    fn alphabets_agree() {
        let small = vec![
            table("yes", &["是", "是的", "好的", "OK", "😀好"], &[], &[]),
            table("no", &["不是", "不要", "不…需要"], &[], &[]),
            table("card", &[], &[], &["[0-9]{4}"]),
        ];
        let variants = [
            (Recogniser::new(&small).unwrap(), Recogniser::new(&with_many_characters(&small)).unwrap()),
            (
                Recogniser::new(&with_characters(&intents(), 300)).unwrap(),
                Recogniser::new(&with_many_characters(&intents())).unwrap(),
            ),
            (
                Recogniser::new(&with_characters(&intents(), DENSE_CAPACITY as u32 - 400)).unwrap(),
                Recogniser::new(&with_many_characters(&intents())).unwrap(),
            ),
        ];
        let Alphabet::Dense { leads, .. } = variants[2].0.alphabet else { panic!("dense") };
        assert_eq!(leads, 127);
        assert!(matches!(variants[0].0.alphabet, Alphabet::Dense { leads: 0, .. }));
        let Alphabet::Dense { single, leads, .. } = variants[1].0.alphabet else { panic!("dense") };
        assert!(leads > 0 && usize::from(single) == 255 - 2 * usize::from(leads), "{single} {leads}");
        assert!(is_dense(&variants[0].0) && !is_dense(&variants[0].1) && !is_dense(&variants[1].1));
        let utterances = [
            "是的",
            "ＯＫ",
            "😀好的",
            "不是我",
            "我不太需要",
            "不要再给我打电话了",
            "明天下午就能还",
            "尾号幺三八八",
            "好😀好",
            "𠀀是",
            "今天不还",
        ];
        for (dense, utf8) in &variants {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for utterance in utterances {
                dense.score_all(utterance, &mut a);
                utf8.score_all(utterance, &mut b);
                assert_eq!(a[..], b[..a.len()], "{utterance}");
                let all: Vec<u32> = (0..a.len() as u32).collect();
                assert_eq!(dense.best(utterance, &all), utf8.best(utterance, &all), "{utterance}");
            }
        }
        let r = &variants[0].0;
        assert_eq!(r.best("😀好的", &[0, 1]), Some((0, 2)));
        assert_eq!(r.best("😀好", &[1, 0]), Some((1, 2)));
        assert_eq!(r.best("不😀好", &[0, 1]), None, "😀好 is negated by 不");
    }

    #[test]
    fn many_candidates_and_few_agree() {
        let (r, t) = recogniser();
        let all: Vec<u32> = (0..t.len() as u32).collect();
        let long: Vec<u32> = all.iter().copied().cycle().take(MANY_CANDIDATES + 5).collect();
        for utterance in [
            "不要再给我打电话了",
            "嗯啥",
            "是",
            "随便",
            "尾号一三八八是的",
            "明天下午就能还",
            "是啊不要投诉什么哪位在忙滚",
        ] {
            // The long list holds every intent, then repeats: positions are the first ones.
            assert_eq!(r.best(utterance, &long), r.best(utterance, &all), "{utterance}");
            for window in all.windows(3) {
                let expected = window
                    .iter()
                    .enumerate()
                    .map(|(i, &c)| (i, score(&r, &t, utterance, &t[c as usize].name)))
                    .filter(|&(_, s)| s > 0)
                    .fold(
                        None,
                        |best: Option<(usize, u32)>, (i, s)| {
                            if best.is_none_or(|(_, b)| s > b) { Some((i, s)) } else { best }
                        },
                    );
                assert_eq!(r.best(utterance, window), expected, "{utterance} {window:?}");
            }
        }
        // The last utterance matches more intents than the per-intent search handles.
        let mut scores = Vec::new();
        r.score_all("是啊不要投诉什么哪位在忙滚", &mut scores);
        assert!(scores.iter().filter(|&&s| s > 0).count() > FEW_MATCHED);
    }

    #[test]
    fn recognisers_share_the_thread_scratch() {
        // Two recognisers of different sizes, alternating on one thread, stay independent.
        let (big, t) = recogniser();
        let small = Recogniser::new(&[table("x", &["是"], &[], &[])]).unwrap();
        let all: Vec<u32> = (0..t.len() as u32).collect();
        for _ in 0..3 {
            assert_eq!(small.best("是的", &[0]), Some((0, 1)));
            assert_eq!(big.best("是的", &all), Some((id(&t, "yes") as usize, 2)));
            assert_eq!(small.best("不是", &[0, 5, 6]), None);
            assert_eq!(big.best("随便", &[0, 1]), None);
        }
    }

    static COMMON: LazyLock<Recogniser> = LazyLock::new(|| Recogniser::new(&intents()).unwrap());
    static COMMON_SPLIT: LazyLock<Recogniser> =
        LazyLock::new(|| Recogniser::new(&with_characters(&intents(), 300)).unwrap());
    static COMMON_UTF8: LazyLock<Recogniser> =
        LazyLock::new(|| Recogniser::new(&with_many_characters(&intents())).unwrap());

    proptest! {
        #[test]
        fn best_never_panics(text in any::<String>(), candidates in proptest::collection::vec(0u32..16, 0..12)) {
            for r in [&*COMMON, &*COMMON_SPLIT, &*COMMON_UTF8] {
                if let Some((position, score)) = r.best(&text, &candidates) {
                    prop_assert!(position < candidates.len());
                    prop_assert!(score > 0);
                }
                let mut scores = Vec::new();
                r.score_all(&text, &mut scores);
            }
        }

        #[test]
        fn best_never_panics_on_chinese_like_text(text in "[是不没有要再打明天还今下午就一二三幺八十百万，。 ａＯＫ0-9]{0,30}") {
            let r = &*COMMON;
            let all: Vec<u32> = (0..r.intent_count() as u32).collect();
            let _ = r.best(&text, &all);
            let _ = numerals_to_digits(&text);
        }

        #[test]
        fn dense_and_utf8_alphabets_agree(text in "[是不没有要再打明天还今下午就一二三幺八十百万的好了我，。 ａＯＫ0-9𠀀😀]{0,24}") {
            let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
            COMMON.score_all(&text, &mut a);
            COMMON_SPLIT.score_all(&text, &mut b);
            COMMON_UTF8.score_all(&text, &mut c);
            prop_assert_eq!(&a[..], &b[..a.len()]);
            prop_assert_eq!(&a[..], &c[..a.len()]);
        }

        #[test]
        fn normalise_is_idempotent(text in any::<String>()) {
            let once = normalise(&text);
            prop_assert_eq!(normalise(&once), once);
        }
    }
}
