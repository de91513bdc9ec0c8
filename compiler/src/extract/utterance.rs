//! The utterance as the readers see it, and §6's normalisation, shared with the recogniser.

use crate::pattern::NEGATORS;

/// Normalises an utterance or a phrase (§6), the same way for both so that they meet:
///
/// * full-width ASCII (U+FF01–U+FF5E) becomes half-width, and the ideographic space U+3000
///   a space;
/// * ASCII letters are lower-cased (`ＯＫ` and `OK` both become `ok`);
/// * whitespace, control and format characters (zero-width spaces, BOM) are dropped;
/// * punctuation is dropped: ASCII punctuation and symbols (every printable ASCII character
///   but letters and digits), Latin-1 punctuation (`¡§«¶·»¿`), General Punctuation (U+2010–U+205E: dashes, curly
///   quotes, `…`, `‥`, `※`), CJK punctuation (`、。〃〈〉《》「」『』【】〔〕〖〗〘〙〚〛〜〝〞〟〰〽`,
///   `・`), the vertical, compatibility and small forms (U+FE10–U+FE1F, U+FE30–U+FE6F) and
///   the half-width CJK punctuation U+FF5F–U+FF65;
/// * one exception keeps numbers intact: a `.` (or `．`) between two ASCII digits is kept as
///   a decimal point ("1200.50" stays "1200.50", "1,200" becomes "1200");
/// * everything else (Chinese characters and numerals, digits, letters of other scripts,
///   non-ASCII symbols such as `¥`) is kept as it is.
///
/// Normalising is idempotent: `normalise(&normalise(s)) == normalise(s)`.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    normalise_with(text, |c| out.push(c));
    out
}

/// Normalises `text`, handing each character of the result to `emit` (the recogniser encodes
/// them for its scan as they come).
#[inline]
pub fn normalise_with(text: &str, mut emit: impl FnMut(char)) {
    // A `.` seen right after a digit: written only if the next kept character is a digit.
    let mut pending_point = false;
    let mut after_digit = false;
    for c in text.chars() {
        if ('\u{4E00}'..='\u{9FFF}').contains(&c) {
            // The common case, a CJK ideograph: kept as it is.
            pending_point = false;
            after_digit = false;
            emit(c);
            continue;
        }
        let c = fold_width(c);
        if c.is_ascii() {
            if c.is_ascii_alphanumeric() {
                let digit = c.is_ascii_digit();
                if pending_point && digit {
                    emit('.');
                }
                pending_point = false;
                after_digit = digit;
                emit(c.to_ascii_lowercase());
            } else if c == '.' && after_digit {
                pending_point = true;
            }
            // Other ASCII: punctuation, symbols, whitespace and controls, all dropped.
            continue;
        }
        if is_dropped(c) {
            continue;
        }
        pending_point = false;
        after_digit = false;
        emit(c);
    }
}

/// Full-width ASCII (U+FF01–U+FF5E) to half-width, the ideographic space to a space.
#[inline]
pub(crate) fn fold_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

/// Non-ASCII characters that normalisation drops (see [`normalise`]).
#[inline]
pub(crate) fn is_dropped(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(
            c,
            '¡' | '§'
                | '«'
                | '¶'
                | '·'
                | '»'
                | '¿'
                | '\u{00AD}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2010}'..='\u{205E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3001}'..='\u{3003}'
                | '\u{3008}'..='\u{3011}'
                | '\u{3014}'..='\u{301F}'
                | '\u{3030}'
                | '\u{303D}'
                | '\u{30FB}'
                | '\u{FE10}'..='\u{FE1F}'
                | '\u{FE30}'..='\u{FE6F}'
                | '\u{FEFF}'
                | '\u{FF5F}'..='\u{FF65}'
        )
}

/// Whether normalisation drops `c` once its width is folded: spaces, punctuation, controls.
#[inline]
pub(crate) fn is_separator(c: char) -> bool {
    if c.is_ascii() { !c.is_ascii_alphanumeric() } else { is_dropped(c) }
}

/// One utterance prepared for the readers: its characters with full-width ASCII folded to
/// half-width (so `１２：３０` reads like `12:30`); a reading says which characters it came
/// from by their indices, turned into bytes of the original text once, at the end.
pub(crate) struct Utterance<'a> {
    pub text: &'a str,
    pub chars: Vec<char>,
}

impl<'a> Utterance<'a> {
    pub fn new(text: &'a str) -> Utterance<'a> {
        Utterance::reusing(text, Vec::new())
    }

    /// The utterance, its characters written into `chars` (cleared first), a buffer kept
    /// between calls so that reading allocates nothing once warm.
    pub fn reusing(text: &'a str, mut chars: Vec<char>) -> Utterance<'a> {
        chars.clear();
        chars.extend(text.chars().map(fold_width));
        Utterance { text, chars }
    }

    /// Gives the character buffer back for the next utterance.
    pub fn into_buffer(self) -> Vec<char> {
        self.chars
    }

    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// The character at `i`, or `'\0'` past either end (which no rule looks for).
    #[inline]
    pub fn at(&self, i: usize) -> char {
        self.chars.get(i).copied().unwrap_or('\0')
    }

    /// The character before `i`, or `'\0'` at the start.
    #[inline]
    pub fn before(&self, i: usize) -> char {
        if i == 0 { '\0' } else { self.at(i - 1) }
    }

    /// Whether the characters from `i` spell `word`.
    #[inline]
    pub fn has(&self, i: usize, word: &str) -> bool {
        word.chars().enumerate().all(|(k, c)| self.at(i + k) == c)
    }

    /// The first of `words` that the characters from `i` spell, with its length in characters.
    pub fn first_of<T: Copy>(&self, i: usize, words: &[(&str, T)]) -> Option<(usize, T)> {
        words.iter().find(|(w, _)| self.has(i, w)).map(|&(w, value)| (w.chars().count(), value))
    }

    /// The byte range in the original text of the characters `start..end` (found by walking
    /// the text: a reading asks once).
    pub fn span(&self, start: usize, end: usize) -> std::ops::Range<usize> {
        let mut offsets = self.text.char_indices().map(|(at, _)| at).chain(std::iter::once(self.text.len()));
        let from = offsets.nth(start).unwrap_or(self.text.len());
        let to = if end > start { offsets.nth(end - start - 1).unwrap_or(self.text.len()) } else { from };
        from..to
    }

    /// The characters `start..end` that normalisation keeps: the length a reading scores.
    pub fn kept(&self, start: usize, end: usize) -> u32 {
        self.chars[start..end].iter().filter(|&&c| !is_separator(c)).count() as u32
    }

    /// Whether what stands before character `i` ends with a negator of §6 (不 没 没有 别 未 非
    /// 不会 不是), spaces and punctuation skipped as normalisation drops them: "不是明天" and
    /// "不，明天" negate 明天.
    pub fn negated_before(&self, i: usize) -> bool {
        let mut last = ['\0'; 2];
        let mut found = 0;
        let mut at = i;
        while at > 0 && found < 2 {
            at -= 1;
            let c = self.chars[at];
            if !is_separator(c) {
                last[1 - found] = c;
                found += 1;
            }
        }
        NEGATORS.iter().any(|n| {
            let mut want = n.chars().rev();
            let mut have = last[2 - found..].iter().rev();
            loop {
                match (want.next(), have.next()) {
                    (None, _) => return true,
                    (Some(w), Some(&h)) if w == h => continue,
                    _ => return false,
                }
            }
        })
    }

    /// Whether a refusal directly follows character `end` (spaces and punctuation skipped,
    /// and one adverb such as 可能 or 实在): "明天不行，后天吧", "今天没钱，明天还",
    /// "今天还不了" refuse the value before them.
    pub fn refused_after(&self, end: usize) -> bool {
        let mut at = end;
        while at < self.len() && is_separator(self.chars[at]) {
            at += 1;
        }
        if let Some((n, ())) = self.first_of(at, ADVERBS) {
            at += n;
        }
        REFUSALS.iter().any(|r| self.has(at, r))
    }
}

/// Adverbs that may stand between a value and its refusal ("明天可能不行").
const ADVERBS: &[(&str, ())] = &[
    ("可能", ()),
    ("肯定", ()),
    ("实在", ()),
    ("确实", ()),
    ("恐怕", ()),
    ("估计", ()),
    ("应该", ()),
    ("还是", ()),
    ("真的", ()),
    ("也", ()),
    ("都", ()),
    ("真", ()),
];

/// What a customer says right after a value to turn it down.
const REFUSALS: &[&str] = &[
    "不行",
    "不可以",
    "不方便",
    "不太方便",
    "不太行",
    "不成",
    "不了",
    "不能",
    "不一定",
    "不可能",
    "不太可能",
    "不还",
    "没空",
    "没有空",
    "没时间",
    "没有时间",
    "没钱",
    "没有钱",
    "来不及",
    "还不了",
    "还不上",
    "还不起",
    "够呛",
];
