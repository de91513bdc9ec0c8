//! Lints of intents' phrases (LANGUAGE.md §14): warnings about phrases that match more, or
//! other, than their author meant. They run on a root file's own intents (so they can be
//! `@allow`ed like any warning) and look at every intent in scope, imported ones included:
//!
//! * W010, a one-character phrase that occurs inside common words (`行` is in 银行, `好` in
//!   你好), from the small table [`COMMON_WORDS`];
//! * W011, characters that look like regex syntax but that E404 leaves alone because they may
//!   be meant literally: full-width `．＊＋＾＄｛｝` and an ASCII `^` or `$` in the middle of the
//!   words. The recogniser drops them as punctuation, like the ASCII ones of E404;
//! * W012, two intents of one scope with the same phrase (after normalisation and pattern
//!   expansion): equal matches, so ties (§9.1), not the words, decide between them.
//!
//! Phrases with errors (E400, E401, E404) are left to those errors.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::check::ParsedFile;
use crate::check::scope::IntentInfo;
use crate::diagnostic::Diagnostic;
use crate::extract::normalise;
use crate::span::{SourceId, Span};
use crate::syntax::ast::{ClauseKind, Intent, StrLit};

/// Common words that hold a character in another sense than the one-character phrase means.
/// One list per character that scripts write alone as a reply; a character missing here is
/// not reported. The words are those a customer says on a bank's call, where the phrase would
/// fire: the character's other reading (行 háng in 银行), a greeting (你好), a conjunction
/// (但是, 只要), an apology (对不起), a meeting (开会, busy rather than "will"). Words where a
/// negator stands right before the character (不行, 没有) are left out: the recogniser does not
/// count a negated match anyway (§6). A word is not reported when a longer phrase of an intent
/// the file defines or imports holds the character inside it (a `greeting` intent with `你好`
/// claims 你好), since the longest match wins there (§6).
pub const COMMON_WORDS: &[(char, &[&str])] = &[
    ('好', &["你好", "您好", "好像", "好多", "只好", "还好", "最好", "正好"]),
    ('行', &["银行", "进行", "行业", "执行", "旅行"]),
    ('对', &["对不起", "对方", "对面", "针对"]),
    ('是', &["但是", "可是", "还是", "要是", "只是", "于是"]),
    ('要', &["重要", "只要", "主要", "要求", "要是"]),
    ('可', &["可能", "可是", "可惜"]),
    ('能', &["可能", "功能", "能力"]),
    ('会', &["开会", "会议", "机会", "一会儿", "社会"]),
    ('有', &["所有", "有点", "有的", "有时候"]),
    ('还', &["还是", "还有", "还好", "还在"]),
    ('忙', &["帮忙"]),
    ('烦', &["麻烦"]),
    ('打', &["打算", "打开", "打折", "打工"]),
    ('懂', &["懂事"]),
    ('分', &["分钟", "部分", "十分"]),
    ('停', &["停车"]),
    ('退', &["退休"]),
];

/// One phrase of an intent with its normalised forms (parts joined by `…`).
struct Phrase<'a> {
    intent: &'a str,
    file: SourceId,
    lit: &'a StrLit,
    forms: Vec<String>,
}

/// The normalised forms of a phrase, or None when the phrase is in error (reported elsewhere).
fn forms(lit: &StrLit) -> Option<Vec<String>> {
    if lit.value.trim().is_empty() || !crate::pattern::regex_syntax(&lit.value).is_empty() {
        return None;
    }
    let forms: Vec<String> = if crate::pattern::is_pattern(&lit.value) {
        let parsed = crate::pattern::parse(&lit.value).ok()?;
        parsed.iter().map(|f| f.parts.iter().map(|p| normalise(p)).collect::<Vec<_>>().join("…")).collect()
    } else {
        vec![normalise(&lit.value)]
    };
    let mut seen = HashSet::default();
    Some(forms.into_iter().filter(|f| !f.is_empty() && seen.insert(f.clone())).collect())
}

fn phrases_of<'a>(name: &'a str, file: SourceId, def: &'a Intent) -> Vec<Phrase<'a>> {
    def.clauses
        .iter()
        .filter(|c| c.kind == ClauseKind::Phrases)
        .flat_map(|c| &c.values)
        .filter_map(|lit| Some(Phrase { intent: name, file, lit, forms: forms(lit)? }))
        .collect()
}

/// W010, W011 and W012 for the intents of `file`. `scopes` are the intents in scope at file
/// level and in each script (a phrase of two scripts' own intents never competes).
pub fn check_file_phrases(file: &ParsedFile, scopes: &[&HashMap<&str, IntentInfo<'_>>], found: &mut Vec<Diagnostic>) {
    // Every phrase visible anywhere in the file, parsed once: by intent for W012, and all of
    // them for the words longer phrases claim (W010).
    let mut by_intent: HashMap<(SourceId, Span), Vec<Phrase>> = HashMap::default();
    for scope in scopes {
        for (name, info) in scope.iter() {
            by_intent.entry((info.file, info.def.name.span)).or_insert_with(|| phrases_of(name, info.file, info.def));
        }
    }
    let visible: Vec<&Phrase> = by_intent.values().flatten().collect();
    let claims: Vec<&str> = visible
        .iter()
        .flat_map(|p| &p.forms)
        .filter(|f| f.chars().count() > 1 && !f.contains('…'))
        .map(String::as_str)
        .collect();
    let mut own: Vec<&Phrase> = visible.iter().copied().filter(|p| p.file == file.id).collect();
    own.sort_by_key(|p| p.lit.span.start);
    // W011 says what a phrase with regex-like characters stands for; W010 would repeat it.
    let mut regex_like_at = HashSet::default();
    for def in own_intents(file) {
        for lit in def.clauses.iter().filter(|c| c.kind == ClauseKind::Phrases).flat_map(|c| &c.values) {
            if let Some(d) = regex_like(file.id, lit) {
                regex_like_at.insert(lit.span);
                found.push(d);
            }
        }
    }
    for phrase in own.iter().filter(|p| !regex_like_at.contains(&p.lit.span)) {
        if let Some(d) = one_character(file.id, phrase, &claims) {
            found.push(d);
        }
    }
    let mut reported: HashSet<(Span, SourceId, Span)> = HashSet::default();
    for scope in scopes {
        same_phrase(file.id, scope, &by_intent, &mut reported, found);
    }
}

/// The intents written in `file`: top-level and inside scripts.
fn own_intents(file: &ParsedFile) -> Vec<&Intent> {
    use crate::syntax::ast::{Item, Member};
    let mut out = Vec::new();
    for item in &file.ast.items {
        match item {
            Item::Intent(def) => out.push(def),
            Item::Script(script) => {
                out.extend(script.members.iter().filter_map(|m| if let Member::Intent(d) = m { Some(d) } else { None }))
            }
            _ => {}
        }
    }
    out
}

/// W010: a form of one character that common words hold, unless a longer phrase claims them.
fn one_character(file: SourceId, phrase: &Phrase, claims: &[&str]) -> Option<Diagnostic> {
    let (c, words) = phrase.forms.iter().find_map(|form| {
        let mut chars = form.chars();
        let c = chars.next()?;
        if chars.next().is_some() {
            return None;
        }
        let (_, words) = COMMON_WORDS.iter().find(|(k, _)| *k == c)?;
        let c = c.to_string();
        let open: Vec<&str> = words
            .iter()
            .copied()
            .filter(|w| !claims.iter().any(|claim| claim.contains(c.as_str()) && w.contains(claim)))
            .collect();
        (!open.is_empty()).then_some((c, open))
    })?;
    let written = normalise(&phrase.lit.value);
    let message = if written == c {
        format!("the one-character phrase `{c}` also matches inside common words: {}", words.join(", "))
    } else {
        format!("this phrase can match `{c}` alone, which is also inside common words: {}", words.join(", "))
    };
    Some(
        Diagnostic::new("W010", file, phrase.lit.span, message)
            .label(format!("fires on \"{}\" too", words[0]))
            .with_help(format!(
                "write the longer words customers answer with (`{c}啊`, `{c}的`), or `regex \"^{c}$\"` for `{c}` said on its own"
            )),
    )
}

/// W011: full-width `．＊＋＾＄｛｝`, or an ASCII `^` or `$` in the middle, in a phrase that E404
/// found nothing in.
fn regex_like(file: SourceId, lit: &StrLit) -> Option<Diagnostic> {
    let text = &lit.value;
    if text.trim().is_empty() || !crate::pattern::regex_syntax(text).is_empty() {
        return None;
    }
    // The phrase with full-width ASCII folded, and each folded character's place in `text`.
    let mut folded = String::new();
    let mut origin: Vec<(usize, usize)> = Vec::new();
    for (at, c) in text.char_indices() {
        let f = crate::extract::fold_width(c);
        origin.push((at, c.len_utf8()));
        folded.push(f);
    }
    let char_index = |byte: usize| folded[..byte.min(folded.len())].chars().count();
    let mut found: Vec<(usize, usize, String)> = Vec::new();
    for syntax in crate::pattern::regex_syntax(&folded) {
        let (from, to) = (char_index(syntax.offset), char_index(syntax.offset + syntax.len));
        let original: String = text.chars().skip(from).take(to - from).collect();
        // A full-width question mark is punctuation (E404's rule); the rest were typed as regex.
        if original == "？" || original.is_ascii() {
            continue;
        }
        let (start, _) = origin[from];
        let end = origin.get(to).map_or(text.len(), |(o, _)| *o);
        found.push((
            start,
            end - start,
            format!("`{original}` is `{}` in full width: {}", fold(&original), syntax.what),
        ));
    }
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let beside_digit = |j: Option<usize>| j.and_then(|j| chars.get(j)).is_some_and(char::is_ascii_digit);
        let what = match crate::extract::fold_width(c) {
            '^' => "`^` in the middle anchors nothing",
            '$' if !beside_digit(i.checked_sub(1)) && !beside_digit(Some(i + 1)) => "`$` in the middle anchors nothing",
            _ => continue,
        };
        let what = if c.is_ascii() {
            what.to_string()
        } else {
            format!("`{c}` is `{}` in full width: {what}", fold(&c.to_string()))
        };
        found.push((origin[i].0, c.len_utf8(), what));
    }
    found.sort_by_key(|f| f.0);
    let ((offset, len, what), rest) = found.split_first()?;
    let stands_for = normalise(&text.replace(['＊', '＋', '．', '＾', '＄', '^', '$', '｛', '｝'], ""));
    let mut d = Diagnostic::new(
        "W011",
        file,
        lit.inner_span(*offset, *len),
        format!(
            "this phrase holds what looks like regex syntax; the recogniser drops it as punctuation, so the phrase matches `{stands_for}` anywhere in an utterance"
        ),
    )
    .label(what.clone())
    .with_help(
        "for a regex write `regex \"…\"` with ASCII characters; in a phrase use `[x]` for an optional part, `(a|b)` for alternatives and `…` for a gap, or leave the character out",
    );
    for (offset, len, what) in rest {
        d = d.with_secondary(file, lit.inner_span(*offset, *len), what.clone());
    }
    Some(d)
}

fn fold(text: &str) -> String {
    text.chars().map(crate::extract::fold_width).collect()
}

/// W012: in one scope, a phrase of a local intent whose form is a form of an earlier intent's
/// phrase. One finding per phrase and earlier phrase, at the later one.
fn same_phrase(
    file: SourceId,
    scope: &HashMap<&str, IntentInfo<'_>>,
    by_intent: &HashMap<(SourceId, Span), Vec<Phrase>>,
    reported: &mut HashSet<(Span, SourceId, Span)>,
    found: &mut Vec<Diagnostic>,
) {
    let mut intents: Vec<&IntentInfo> = scope.values().collect();
    intents.sort_by_key(|info| info.order);
    let mut first: HashMap<&str, &Phrase> = HashMap::default();
    for info in intents {
        for phrase in by_intent.get(&(info.file, info.def.name.span)).into_iter().flatten() {
            let mut earlier_seen = HashSet::default();
            for form in &phrase.forms {
                let Some(earlier) = first.get(form.as_str()) else { continue };
                if earlier.intent == phrase.intent || !earlier_seen.insert(earlier.lit.span) {
                    continue;
                }
                if phrase.file == file && reported.insert((phrase.lit.span, earlier.file, earlier.lit.span)) {
                    found.push(clash(file, phrase, earlier, form));
                }
            }
            for form in &phrase.forms {
                first.entry(form.as_str()).or_insert(phrase);
            }
        }
    }
}

fn clash(file: SourceId, phrase: &Phrase, earlier: &Phrase, form: &str) -> Diagnostic {
    let (a, b) = (phrase.intent, earlier.intent);
    let plain = normalise(&phrase.lit.value) == form && normalise(&earlier.lit.value) == form;
    let message = if plain {
        format!("intents `{a}` and `{b}` both have the phrase `{form}`")
    } else {
        format!("intents `{a}` and `{b}` both have a phrase that matches `{form}`")
    };
    Diagnostic::new("W012", file, phrase.lit.span, message)
        .label(format!("in `{a}`"))
        .with_secondary(earlier.file, earlier.lit.span, format!("in `{b}`"))
        .with_help(format!(
            "both match it equally well, so when both are candidates of a turn the tie rule decides, not what was said (§9.1: an ask's own branch first, then the intent declared first, here `{b}`); keep the phrase in one intent, or make one of them longer"
        ))
}
