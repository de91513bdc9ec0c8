//! Intent phrase patterns (§6): `"(今天|明天|下午)[就]…还"`.
//!
//! A pattern is checked once, at compile time, and expanded into at most [`MAX_FORMS`]
//! literal [`Form`]s, so the recogniser at call time only ever searches for plain strings
//! in order. Errors carry a byte offset into the pattern text so that the editor can point
//! at the offending character inside the string literal.
//!
//! # Syntax
//!
//! * any character stands for itself;
//! * `(a|b|c)` one of the alternatives; each alternative is a pattern of its own and may
//!   hold groups, optional parts and gaps;
//! * `[x]` an optional part (a choice inside it is written `[(a|b)]`);
//! * `…` (U+2026 only) a gap of up to [`GAP_MAX_CHARS`] characters;
//! * `\` makes the next `(` `)` `[` `]` `|` `…` or `\` literal.
//!
//! # Expansion rule for empty parts
//!
//! Expansion can leave a gap with nothing on one side, e.g. `"[就]…还"` without 就. Such an
//! empty part is dropped: a gap at the start or end of a form matches nothing extra (the form
//! above is just `还`), and two gaps that meet in the middle (`"a…[b]…c"` without b) merge
//! into one gap, still of at most four characters. A gap written at the very start or end of
//! the pattern, or two gaps written in a row, are errors, because there the author plainly
//! meant something the pattern does not do. A pattern that can expand to nothing at all
//! (`"[就]"`) is an error too: it would match every utterance.

use pest::Parser as _;
use pest::iterators::Pair;

/// The most literal forms one pattern may expand into (§6); it bounds the recogniser's work
/// per phrase and catches patterns that multiply out by accident.
pub const MAX_FORMS: usize = 256;

/// How many characters a `…` gap may span (§6); shared with the recogniser.
pub const GAP_MAX_CHARS: usize = 4;

/// Words that, directly before a match or inside a gap, turn it into its opposite (§6).
/// One list for the recogniser and for CS004's "本产品不保本" exception, so the two can
/// never disagree about what counts as negated.
pub const NEGATORS: &[&str] = &["不", "没", "没有", "别", "未", "非", "不会", "不是"];

/// Brackets nested deeper than this are refused: no real phrase needs it, and the limit keeps
/// parsing and expansion free of deep recursion on hostile input.
const MAX_NESTING: usize = 16;

/// The characters with a meaning in a pattern; any other character is literal.
const SPECIAL: [char; 7] = ['(', ')', '[', ']', '|', '…', '\\'];

/// A mistake in a pattern, in words a script author understands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternError {
    /// Byte offset of the offending text inside the pattern; the caller adds where the
    /// string's contents start in the file.
    pub offset: usize,
    /// Byte length of the offending text (0 for a position, such as the end of an empty
    /// pattern).
    pub len: usize,
    /// What is wrong, e.g. "this `(` is never closed".
    pub message: String,
}

impl PatternError {
    fn new(offset: usize, len: usize, message: impl Into<String>) -> PatternError {
        PatternError { offset, len, message: message.into() }
    }
}

impl std::fmt::Display for PatternError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PatternError {}

/// One literal form of a pattern: parts that must occur in order, with a gap of at most
/// [`GAP_MAX_CHARS`] characters between consecutive parts.
///
/// Every part is non-empty and there is at least one; a form without gaps has one part.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Form {
    /// The literal parts, in order.
    pub parts: Vec<String>,
}

impl Form {
    /// The length a match of this form scores, in characters: its parts only, never the
    /// gaps (§6), so a gapped form does not outscore a longer literal phrase.
    pub fn matched_chars(&self) -> usize {
        self.parts.iter().map(|p| p.chars().count()).sum()
    }
}

/// Regex syntax written in a phrase: the pattern language has none of it, and the recogniser
/// drops these ASCII characters as punctuation, so `"^行.?$"` would stand for `行` (which is in
/// 银行). The checker refuses it (E404).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegexSyntax {
    /// Byte offset and length of the regex syntax inside the pattern.
    pub offset: usize,
    pub len: usize,
    /// What it is and what the pattern language offers instead, for the label.
    pub what: String,
}

/// Finds regex syntax in a phrase: `^` and `$` where they anchor (at an end, or beside `(` and
/// `|`), `[^`, `.` (alone or quantified as `.*`, `.+`, `.?`; not a decimal point between two
/// digits), `...` meant as a gap, `*` and `+`, `?` (after a character or a group), `{2}` and
/// `{2,4}`, and classes such as `\d`. Pattern escapes (`\(` …) are skipped. Full-width
/// punctuation (`？`) is left alone: it is written as punctuation, never as a regex.
pub fn regex_syntax(text: &str) -> Vec<RegexSyntax> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let at = |i: usize| chars.get(i).map(|&(_, c)| c);
    let offset = |i: usize| chars.get(i).map_or(text.len(), |&(o, _)| o);
    // The `{n}` or `{n,m}` quantifier starting at `i`: its length in characters.
    let braces = |i: usize| -> Option<usize> {
        let rest: String = chars[i..].iter().map(|&(_, c)| c).take(12).collect();
        let close = rest.find('}')?;
        let inner = &rest[1..close];
        let (low, high) = inner.split_once(',').unwrap_or((inner, "0"));
        let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        (rest.starts_with('{') && !low.is_empty() && digits(low) && digits(high)).then_some(close + 1)
    };
    let mut found = Vec::new();
    let mut push = |from: usize, count: usize, what: String| {
        found.push(RegexSyntax { offset: offset(from), len: offset(from + count) - offset(from), what });
    };
    let mut i = 0;
    while let Some(c) = at(i) {
        let (prev, next) = (i.checked_sub(1).and_then(at), at(i + 1));
        let mut width = 1;
        match c {
            '\\' => match next {
                Some(n) if n.is_ascii_alphabetic() => {
                    push(i, 2, format!("`\\{n}` is a regex class; phrases have no classes"));
                    width = 2;
                }
                Some(_) => width = 2,
                None => {}
            },
            '^' if prev == Some('[') => push(i, 1, "`[^` is a regex class; phrases have no classes".into()),
            '^' if matches!(prev, None | Some('(' | '|')) => {
                push(i, 1, "`^` anchors a regex; a phrase matches anywhere in the utterance".into());
            }
            '$' if matches!(next, None | Some(')' | '|')) => {
                push(i, 1, "`$` anchors a regex; a phrase matches anywhere in the utterance".into());
            }
            '.' if prev.is_some_and(|p| p.is_ascii_digit()) && next.is_some_and(|n| n.is_ascii_digit()) => {}
            '.' if next == Some('.') && at(i + 2) == Some('.') => {
                push(i, 3, "three dots are not a gap; a gap is `…` (U+2026)".into());
                width = 3;
            }
            '.' => {
                width += match next {
                    Some('*' | '+' | '?') => 1,
                    Some('{') => braces(i + 1).unwrap_or(0),
                    _ => 0,
                };
                let written: String = chars[i..i + width].iter().map(|&(_, c)| c).collect();
                push(
                    i,
                    width,
                    format!("`{written}` is a regex wildcard; write `…` for a gap of up to {GAP_MAX_CHARS} characters"),
                );
            }
            '*' | '+' => push(i, 1, format!("`{c}` repeats in a regex; phrases have no repetition")),
            '?' => {
                let what = match prev {
                    Some('*' | '+' | '?' | '}') => "`?` after a repetition is regex syntax".to_string(),
                    Some(')') => "`(…)?` is optional in a regex; write `[(…|…)]` for an optional choice".to_string(),
                    Some(p) if !SPECIAL.contains(&p) => format!(
                        "`{p}?` is optional in a regex; write `[{p}]`, or leave a question mark out (phrases ignore punctuation)"
                    ),
                    _ => "`?` is regex syntax; write `[x]` for an optional part".to_string(),
                };
                push(i, 1, what);
            }
            '{' => {
                if let Some(len) = braces(i) {
                    push(i, len, "a count in braces repeats in a regex; phrases have no repetition".into());
                    width = len;
                }
            }
            _ => {}
        }
        i += width;
    }
    found
}

/// True when `text` uses pattern syntax at all, so a plain phrase can skip [`parse`].
pub fn is_pattern(text: &str) -> bool {
    text.contains(SPECIAL)
}

/// Checks a pattern and expands it into its literal forms, duplicates removed (first one
/// kept), in the order the alternatives are written. See the module documentation for the
/// syntax and the rule for empty parts.
pub fn parse(text: &str) -> Result<Vec<Form>, PatternError> {
    if text.is_empty() {
        return Err(PatternError::new(0, 0, "this phrase is empty"));
    }
    // Most phrases are plain words: their one form is the text itself, without a parse.
    if !is_pattern(text) {
        return Ok(vec![Form { parts: vec![text.to_string()] }]);
    }
    parse_tree(text)
}

/// [`parse`] through the grammar, for any text (plain words included).
fn parse_tree(text: &str) -> Result<Vec<Form>, PatternError> {
    scan_structure(text)?;
    let mut pairs = PatternParser::parse(Rule::pattern, text).map_err(|e| from_pest(text, &e))?;
    let pattern = pairs.next().expect("pest returns the pattern rule");
    let sequence = pattern.into_inner().next().expect("a pattern holds a sequence");
    let seq = build_seq(sequence);

    check_ends(&seq)?;
    check_seq(&seq)?;

    let count = count_seq(&seq);
    if count > MAX_FORMS as u64 {
        let how_many = if count > 1_000_000 { "more than a million".to_owned() } else { count.to_string() };
        return Err(PatternError::new(
            0,
            text.len(),
            format!("this pattern expands into {how_many} forms; at most {MAX_FORMS} are allowed"),
        ));
    }

    let mut forms: Vec<Form> = Vec::new();
    for tokens in expand_seq(&seq) {
        let form = to_form(&tokens).ok_or_else(|| {
            PatternError::new(
                0,
                text.len(),
                "leaving out its optional parts, this pattern matches an empty phrase, which \
                 would match every utterance; make at least one part required",
            )
        })?;
        if !forms.contains(&form) {
            forms.push(form);
        }
    }
    Ok(forms)
}

#[derive(pest_derive::Parser)]
#[grammar = "pattern.pest"]
struct PatternParser;

/// Finds the mistakes the grammar would reject (bracket balance, `|` placement, escapes,
/// nesting depth) and words them for the author; pest's own "expected …" messages never
/// reach a script author.
fn scan_structure(text: &str) -> Result<(), PatternError> {
    let mut open: Vec<(char, usize)> = Vec::new();
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                None => {
                    return Err(PatternError::new(
                        at,
                        1,
                        "a `\\` at the end escapes nothing; write `\\\\` for a backslash",
                    ));
                }
                Some((_, next)) if SPECIAL.contains(&next) => {}
                Some((_, next)) => {
                    return Err(PatternError::new(
                        at,
                        1 + next.len_utf8(),
                        format!(
                            "`\\{next}` is not an escape; only ( ) [ ] | … and \\ can follow \
                             a `\\` (write `\\\\` for a backslash)"
                        ),
                    ));
                }
            },
            '(' | '[' => {
                if open.len() == MAX_NESTING {
                    return Err(PatternError::new(
                        at,
                        1,
                        format!("brackets are nested too deeply here (at most {MAX_NESTING} levels)"),
                    ));
                }
                open.push((c, at));
            }
            ')' | ']' => {
                let (opener, literal) = if c == ')' { ('(', "\\)") } else { ('[', "\\]") };
                match open.pop() {
                    Some((o, _)) if o == opener => {}
                    Some((o, _)) => {
                        let closer = if o == '(' { ')' } else { ']' };
                        return Err(PatternError::new(
                            at,
                            1,
                            format!(
                                "this `{c}` comes before the `{o}` is closed; close it with \
                                 `{closer}` first"
                            ),
                        ));
                    }
                    None => {
                        return Err(PatternError::new(
                            at,
                            1,
                            format!(
                                "this `{c}` has no `{opener}` to close; write `{literal}` for \
                                 a literal bracket"
                            ),
                        ));
                    }
                }
            }
            '|' => match open.last() {
                Some(('(', _)) => {}
                Some(_) => {
                    return Err(PatternError::new(
                        at,
                        1,
                        "`|` cannot separate alternatives directly inside `[ ]`; write \
                         `[(a|b)]` for an optional choice",
                    ));
                }
                None => {
                    return Err(PatternError::new(
                        at,
                        1,
                        "`|` separates alternatives only inside `( )`, as in `(今天|明天)`; \
                         write `\\|` for a literal bar",
                    ));
                }
            },
            _ => {}
        }
    }
    match open.pop() {
        Some((o, at)) => Err(PatternError::new(at, 1, format!("this `{o}` is never closed"))),
        None => Ok(()),
    }
}

/// Words a grammar failure that [`scan_structure`] did not foresee. It points at the
/// character where parsing stopped.
fn from_pest(text: &str, error: &pest::error::Error<Rule>) -> PatternError {
    let at = match error.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    }
    .min(text.len());
    let len = text[at..].chars().next().map_or(0, char::len_utf8);
    PatternError::new(at, len, "this character cannot stand here; write `\\` before it to mean it literally")
}

/// A pattern as a tree, with the byte spans the checks need for their messages.
#[derive(Debug)]
enum Node {
    /// Consecutive literal characters, escapes resolved.
    Literal(String),
    /// `…`, with its start offset.
    Gap(usize),
    /// `( … | … )`: its span and the alternatives.
    Group { start: usize, end: usize, alternatives: Vec<Seq> },
    /// `[ … ]`: its span and contents.
    Optional { start: usize, end: usize, body: Seq },
}

/// A sequence of nodes with its byte span (an empty sequence has `start == end`).
#[derive(Debug)]
struct Seq {
    start: usize,
    end: usize,
    nodes: Vec<Node>,
}

fn build_seq(pair: Pair<'_, Rule>) -> Seq {
    let span = pair.as_span();
    let mut nodes: Vec<Node> = Vec::new();
    for item in pair.into_inner() {
        let item_span = item.as_span();
        let node = match item.as_rule() {
            Rule::literal => Node::Literal(item.as_str().to_owned()),
            Rule::escape => Node::Literal(item.as_str()['\\'.len_utf8()..].to_owned()),
            Rule::gap => Node::Gap(item_span.start()),
            Rule::group => Node::Group {
                start: item_span.start(),
                end: item_span.end(),
                alternatives: item.into_inner().map(build_seq).collect(),
            },
            Rule::optional => Node::Optional {
                start: item_span.start(),
                end: item_span.end(),
                body: build_seq(item.into_inner().next().expect("`[ ]` holds a sequence")),
            },
            other => unreachable!("a sequence never holds {other:?}"),
        };
        match (nodes.last_mut(), node) {
            (Some(Node::Literal(prev)), Node::Literal(more)) => prev.push_str(&more),
            (_, node) => nodes.push(node),
        }
    }
    Seq { start: span.start(), end: span.end(), nodes }
}

const GAP_LEN: usize = '…'.len_utf8();

/// A gap written at the very start or end of the pattern has only one side to stand between.
fn check_ends(seq: &Seq) -> Result<(), PatternError> {
    if let Some(Node::Gap(at)) = seq.nodes.first() {
        return Err(PatternError::new(*at, GAP_LEN, "a phrase cannot start with `…`: a gap stands between two words"));
    }
    if let Some(Node::Gap(at)) = seq.nodes.last() {
        return Err(PatternError::new(*at, GAP_LEN, "a phrase cannot end with `…`: a gap stands between two words"));
    }
    Ok(())
}

/// Empty groups, alternatives and optional parts, and gaps in a row, anywhere in the tree;
/// the first mistake in text order is reported.
fn check_seq(seq: &Seq) -> Result<(), PatternError> {
    let mut previous_gap = false;
    for node in &seq.nodes {
        match node {
            Node::Gap(at) => {
                if previous_gap {
                    return Err(PatternError::new(
                        *at,
                        GAP_LEN,
                        format!(
                            "two gaps in a row; one `…` already allows up to {GAP_MAX_CHARS} \
                             characters"
                        ),
                    ));
                }
            }
            Node::Literal(_) => {}
            Node::Group { start, end, alternatives } => {
                if let [only] = alternatives.as_slice()
                    && only.nodes.is_empty()
                {
                    return Err(PatternError::new(
                        *start,
                        end - start,
                        "this group `()` is empty; write alternatives inside it, as in \
                         `(今天|明天)`",
                    ));
                }
                let last = alternatives.len() - 1;
                for (i, alternative) in alternatives.iter().enumerate() {
                    if alternative.nodes.is_empty() {
                        // Point at the `|` beside the empty alternative: the one after it,
                        // or for the last alternative the one before it.
                        let bar = if i < last { alternative.end } else { alternative.start - 1 };
                        return Err(PatternError::new(
                            bar,
                            1,
                            "an alternative beside this `|` is empty; to make a choice \
                             optional, put the group inside `[ ]`, as in `[(就|会)]`",
                        ));
                    }
                    check_seq(alternative)?;
                }
            }
            Node::Optional { start, end, body } => {
                if body.nodes.is_empty() {
                    return Err(PatternError::new(*start, end - start, "this optional part `[]` is empty"));
                }
                check_seq(body)?;
            }
        }
        previous_gap = matches!(node, Node::Gap(_));
    }
    Ok(())
}

/// How many forms `seq` expands into before duplicates are removed, saturating, so that
/// a pattern like `(a|b)(a|b)…` sixty times over is refused without being expanded.
fn count_seq(seq: &Seq) -> u64 {
    seq.nodes.iter().fold(1u64, |acc, node| acc.saturating_mul(count_node(node)))
}

fn count_node(node: &Node) -> u64 {
    match node {
        Node::Literal(_) | Node::Gap(_) => 1,
        Node::Group { alternatives, .. } => {
            alternatives.iter().fold(0u64, |acc, alt| acc.saturating_add(count_seq(alt)))
        }
        Node::Optional { body, .. } => count_seq(body).saturating_add(1),
    }
}

/// A piece of an expanded form before it is split at its gaps.
#[derive(Clone, Debug)]
enum Token<'a> {
    Text(&'a str),
    Gap,
}

/// All forms of `seq` as token lists. Called only after [`count_seq`] is within
/// [`MAX_FORMS`], which also bounds every intermediate product.
fn expand_seq(seq: &Seq) -> Vec<Vec<Token<'_>>> {
    let mut forms: Vec<Vec<Token<'_>>> = vec![Vec::new()];
    for node in &seq.nodes {
        let choices: Vec<Vec<Token<'_>>> = match node {
            Node::Literal(text) => vec![vec![Token::Text(text)]],
            Node::Gap(_) => vec![vec![Token::Gap]],
            Node::Group { alternatives, .. } => alternatives.iter().flat_map(expand_seq).collect(),
            Node::Optional { body, .. } => {
                let mut choices = expand_seq(body);
                choices.push(Vec::new());
                choices
            }
        };
        forms = forms
            .iter()
            .flat_map(|prefix| {
                choices.iter().map(move |choice| {
                    let mut form = prefix.clone();
                    form.extend(choice.iter().cloned());
                    form
                })
            })
            .collect();
    }
    forms
}

/// Joins tokens into parts at the gaps and drops empty parts (the rule in the module
/// documentation); `None` when nothing is left.
fn to_form(tokens: &[Token<'_>]) -> Option<Form> {
    let mut parts = vec![String::new()];
    for token in tokens {
        match token {
            Token::Text(text) => parts.last_mut().expect("never empty").push_str(text),
            Token::Gap => parts.push(String::new()),
        }
    }
    parts.retain(|part| !part.is_empty());
    (!parts.is_empty()).then_some(Form { parts })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The plain-words shortcut gives exactly what the grammar gives.
        #[test]
        fn plain_phrases_skip_the_grammar_with_the_same_forms(text in "[^()\\[\\]|…\\\\]{1,12}") {
            prop_assert_eq!(parse(&text), parse_tree(&text));
        }
    }

    /// Forms written as strings, `…` between parts, for compact expectations.
    fn forms(text: &str) -> Vec<String> {
        parse(text)
            .unwrap_or_else(|e| panic!("{text:?} should parse: {e:?}"))
            .into_iter()
            .map(|f| f.parts.join("…"))
            .collect()
    }

    fn error(text: &str) -> PatternError {
        match parse(text) {
            Ok(f) => panic!("{text:?} should be refused, got {f:?}"),
            Err(e) => e,
        }
    }

    /// The pattern text an error points at.
    fn pointed<'a>(text: &'a str, e: &PatternError) -> &'a str {
        &text[e.offset..e.offset + e.len]
    }

    #[test]
    fn spec_example_expands() {
        assert_eq!(
            forms("(今天|明天|下午)[就]…还"),
            ["今天就…还", "今天…还", "明天就…还", "明天…还", "下午就…还", "下午…还"]
        );
        let parsed = parse("(今天|明天|下午|马上)[就]…还").unwrap();
        assert_eq!(parsed.len(), 8);
        assert_eq!(parsed[0], Form { parts: vec!["今天就".into(), "还".into()] });
        assert_eq!(parsed[0].matched_chars(), 4);
    }

    #[test]
    fn plain_text_is_one_form() {
        assert_eq!(forms("会还的"), ["会还的"]);
        assert_eq!(parse("a").unwrap(), [Form { parts: vec!["a".into()] }]);
        assert_eq!(forms("..."), ["..."], "three ASCII dots are not a gap");
    }

    #[test]
    fn gaps_split_parts() {
        let parsed = parse("我…还…钱").unwrap();
        assert_eq!(parsed, [Form { parts: vec!["我".into(), "还".into(), "钱".into()] }]);
        assert_eq!(parsed[0].matched_chars(), 3);
    }

    #[test]
    fn empty_parts_after_expansion_are_dropped() {
        assert_eq!(forms("[就]…还"), ["就…还", "还"]);
        assert_eq!(forms("还…[钱]"), ["还…钱", "还"]);
        assert_eq!(forms("a…[b]…c"), ["a…b…c", "a…c"]);
        assert_eq!(forms("(…a|b)c"), ["ac", "bc"]);
        assert_eq!(forms("[x…]y"), ["x…y", "y"]);
    }

    #[test]
    fn alternatives_and_options_combine() {
        assert_eq!(forms("(a|b)(c|d)"), ["ac", "ad", "bc", "bd"]);
        assert_eq!(forms("x[y]z"), ["xyz", "xz"]);
        assert_eq!(forms("[a][b]c"), ["abc", "ac", "bc", "c"]);
        assert_eq!(forms("(是|对)[的]"), ["是的", "是", "对的", "对"]);
    }

    #[test]
    fn nested_groups() {
        assert_eq!(forms("(a(b|c)|d)e"), ["abe", "ace", "de"]);
        assert_eq!(forms("(不[是](我|他)|没有)"), ["不是我", "不是他", "不我", "不他", "没有"]);
        assert_eq!(forms("[(就|会)]还"), ["就还", "会还", "还"]);
        assert_eq!(forms("((a))"), ["a"]);
        assert_eq!(forms("[[a]b]c"), ["abc", "bc", "c"]);
        assert_eq!(forms("(今天…还|明天[再]还)"), ["今天…还", "明天再还", "明天还"]);
    }

    #[test]
    fn duplicates_are_removed_in_order() {
        assert_eq!(forms("(a|b|a)"), ["a", "b"]);
        assert_eq!(forms("(a|[a])b"), ["ab", "b"]);
        assert_eq!(forms("(ab|a[b])"), ["ab", "a"]);
    }

    #[test]
    fn escapes_are_literal() {
        assert_eq!(forms(r"\(a\)"), ["(a)"]);
        assert_eq!(forms(r"\[注\]"), ["[注]"]);
        assert_eq!(forms(r"a\|b"), ["a|b"]);
        assert_eq!(forms(r"等等\…"), ["等等…"]);
        assert_eq!(forms(r"a\\b"), [r"a\b"]);
        assert_eq!(forms(r"(\||\()"), ["|", "("]);
        assert_eq!(forms(r"\……x"), ["……x"]);
    }

    #[test]
    fn limit_of_forms() {
        // 2^8 = 256 forms is allowed, 2^9 is not.
        assert_eq!(parse(&"(a|b)".repeat(8)).unwrap().len(), 256);
        let text = "(a|b)".repeat(9);
        let e = error(&text);
        assert_eq!((e.offset, e.len), (0, text.len()));
        assert_eq!(e.message, "this pattern expands into 512 forms; at most 256 are allowed");
        // The limit applies before duplicates are removed.
        let text = "(a|a)".repeat(9);
        assert!(error(&text).message.contains("512 forms"));
        // Astronomically many forms are refused at once, without being expanded.
        let text = "(a|b|c|d)".repeat(400);
        let e = error(&text);
        assert!(e.message.contains("more than a million forms"), "{}", e.message);
        let text = "[x]".repeat(200);
        assert!(error(&text).message.contains("more than a million"));
    }

    /// The regex syntax `regex_syntax` finds in `text`, as the text it points at.
    fn regex_parts(text: &str) -> Vec<&str> {
        regex_syntax(text).iter().map(|r| &text[r.offset..r.offset + r.len]).collect()
    }

    #[test]
    fn regex_syntax_is_found() {
        assert_eq!(regex_parts("^行.?$"), ["^", ".?", "$"]);
        assert_eq!(regex_parts("(是|对)?"), ["?"]);
        assert_eq!(regex_parts("(^是|对$)"), ["^", "$"]);
        assert_eq!(regex_parts("还.*钱"), [".*"]);
        assert_eq!(regex_parts("还.+钱"), [".+"]);
        assert_eq!(regex_parts("还.{2}钱"), [".{2}"]);
        assert_eq!(regex_parts("还.{1,3}钱"), [".{1,3}"]);
        assert_eq!(regex_parts("好.钱"), ["."]);
        assert_eq!(regex_parts("好+"), ["+"]);
        assert_eq!(regex_parts("对*"), ["*"]);
        assert_eq!(regex_parts("是吗?"), ["?"]);
        assert_eq!(regex_parts("[0-9]{4}"), ["{4}"]);
        assert_eq!(regex_parts("[^不]要"), ["^"]);
        assert_eq!(regex_parts(r"\d\d"), [r"\d", r"\d"]);
        assert_eq!(regex_parts("等等..."), ["..."]);
        assert_eq!(regex_parts(".*?"), [".*", "?"]);
        assert_eq!(
            regex_syntax("是吗?")[0].what,
            "`吗?` is optional in a regex; write `[吗]`, or leave a question mark out (phrases ignore punctuation)"
        );
    }

    #[test]
    fn pattern_text_is_not_regex_syntax() {
        for text in [
            "(今天|明天|下午)[就]…还",
            "1.5万",
            "利率2.5",
            r"\(注\)",
            r"a\|b",
            "是吗？",
            "$5",
            "a^b",
            "a$b",
            "{x}",
            "还{",
            "会还的",
        ] {
            assert_eq!(regex_parts(text), Vec::<&str>::new(), "{text}");
        }
    }

    #[test]
    fn empty_pattern_is_an_error() {
        let e = error("");
        assert_eq!((e.offset, e.len), (0, 0));
        assert_eq!(e.message, "this phrase is empty");
    }

    #[test]
    fn pattern_that_can_vanish_is_an_error() {
        for text in ["[就]", "[a][b]", "(a|[b])", "[a]…[b]", "(…)", "[a…b]"] {
            let e = error(text);
            assert_eq!((e.offset, e.len), (0, text.len()), "{text}");
            assert!(e.message.contains("empty phrase"), "{text}: {}", e.message);
        }
    }

    #[test]
    fn unclosed_brackets() {
        let text = "我(今天|明天还";
        let e = error(text);
        assert_eq!(e.offset, "我".len());
        assert_eq!(pointed(text, &e), "(");
        assert_eq!(e.message, "this `(` is never closed");

        let text = "今天[就还";
        let e = error(text);
        assert_eq!((e.offset, e.len), ("今天".len(), 1));
        assert_eq!(e.message, "this `[` is never closed");

        // The innermost unclosed bracket is the one reported.
        let text = "((a)(b";
        assert_eq!(error(text).offset, 4);
    }

    #[test]
    fn stray_and_mismatched_closers() {
        let text = "今天)还";
        let e = error(text);
        assert_eq!((e.offset, e.len), ("今天".len(), 1));
        assert!(e.message.contains("no `(` to close"), "{}", e.message);
        assert!(e.message.contains(r"`\)`"), "{}", e.message);

        let text = "还钱]";
        let e = error(text);
        assert_eq!(e.offset, "还钱".len());
        assert!(e.message.contains("no `[` to close"));

        let text = "(今天]";
        let e = error(text);
        assert_eq!(e.offset, "(今天".len());
        assert_eq!(e.message, "this `]` comes before the `(` is closed; close it with `)` first");

        let text = "[今天)";
        let e = error(text);
        assert_eq!(e.offset, "[今天".len());
        assert!(e.message.contains("close it with `]` first"));
    }

    #[test]
    fn misplaced_bars() {
        let text = "今天|明天";
        let e = error(text);
        assert_eq!((e.offset, e.len), ("今天".len(), 1));
        assert!(e.message.contains("only inside `( )`"), "{}", e.message);

        let text = "还[就|会]";
        let e = error(text);
        assert_eq!(e.offset, "还[就".len());
        assert!(e.message.contains("[(a|b)]"), "{}", e.message);

        // Inside a group nested in an option, `|` is fine.
        assert_eq!(forms("[(就|会)]还"), ["就还", "会还", "还"]);
    }

    #[test]
    fn bad_escapes() {
        let text = "还钱\\";
        let e = error(text);
        assert_eq!((e.offset, e.len), ("还钱".len(), 1));
        assert!(e.message.contains("at the end escapes nothing"), "{}", e.message);

        let text = "还\\钱";
        let e = error(text);
        assert_eq!(e.offset, "还".len());
        assert_eq!(pointed(text, &e), "\\钱");
        assert!(e.message.starts_with("`\\钱` is not an escape"), "{}", e.message);

        let text = r"a\nb";
        assert_eq!(pointed(text, &error(text)), r"\n");
        // An escaped backslash followed by a trailing one.
        let text = r"a\\\";
        assert_eq!(error(text).offset, 3);
    }

    #[test]
    fn empty_groups_alternatives_and_options() {
        let text = "还()";
        let e = error(text);
        assert_eq!(pointed(text, &e), "()");
        assert!(e.message.contains("group `()` is empty"));

        let text = "还[]钱";
        let e = error(text);
        assert_eq!(pointed(text, &e), "[]");
        assert_eq!(e.message, "this optional part `[]` is empty");

        // Empty first alternative: the `|` after it.
        let text = "还(|钱)";
        let e = error(text);
        assert_eq!(e.offset, "还(".len());
        assert_eq!(pointed(text, &e), "|");
        assert!(e.message.contains("alternative beside this `|` is empty"));

        // Empty last alternative: the `|` before it.
        let text = "(今天|)还";
        assert_eq!(error(text).offset, "(今天".len());

        // Empty middle alternative: the `|` after it.
        let text = "(今天||明天)还";
        assert_eq!(error(text).offset, "(今天|".len());

        // Inside nested groups.
        let text = "(a(b|)|c)";
        assert_eq!(error(text).offset, 4);
    }

    #[test]
    fn misplaced_gaps() {
        let text = "…还";
        let e = error(text);
        assert_eq!((e.offset, e.len), (0, 3));
        assert!(e.message.contains("cannot start with `…`"));

        let text = "还钱…";
        let e = error(text);
        assert_eq!((e.offset, e.len), ("还钱".len(), 3));
        assert!(e.message.contains("cannot end with `…`"));

        let text = "今天……还";
        let e = error(text);
        assert_eq!((e.offset, e.len), ("今天…".len(), 3));
        assert_eq!(pointed(text, &e), "…");
        assert!(e.message.starts_with("two gaps in a row"));

        let text = "(今天……还|明天)";
        assert_eq!(error(text).offset, "(今天…".len());

        assert_eq!(error("…").offset, 0);
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{}a{}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
        assert_eq!(forms(&deep), ["a"]);
        let too_deep = format!("{}a{}", "[".repeat(100_000), "]".repeat(100_000));
        let e = error(&too_deep);
        assert_eq!(e.offset, MAX_NESTING);
        assert!(e.message.contains("nested too deeply"));
    }

    #[test]
    fn is_pattern_detects_syntax() {
        for text in ["(a|b)", "[就]还", "a…b", r"a\b", "a|b", "a)"] {
            assert!(is_pattern(text), "{text}");
        }
        for text in ["会还的", "", "a.b", "...", "不是"] {
            assert!(!is_pattern(text), "{text}");
        }
    }

    #[test]
    fn negators_are_the_spec_list() {
        assert_eq!(NEGATORS, ["不", "没", "没有", "别", "未", "非", "不会", "不是"]);
    }

    #[test]
    fn errors_display_their_message() {
        let e = error("(a");
        assert_eq!(e.to_string(), "this `(` is never closed");
    }

    fn check_error_span(text: &str, result: &Result<Vec<Form>, PatternError>) {
        match result {
            Ok(forms) => {
                assert!(!forms.is_empty() && forms.len() <= MAX_FORMS);
                for form in forms {
                    assert!(!form.parts.is_empty());
                    assert!(form.parts.iter().all(|p| !p.is_empty()));
                }
                for (i, form) in forms.iter().enumerate() {
                    assert!(!forms[..i].contains(form), "duplicate {form:?}");
                }
            }
            Err(e) => {
                assert!(e.offset <= text.len(), "{e:?}");
                assert!(e.offset + e.len <= text.len(), "{e:?}");
                assert!(text.is_char_boundary(e.offset), "{e:?}");
                assert!(text.is_char_boundary(e.offset + e.len), "{e:?}");
                assert!(!e.message.contains("expected"), "{e:?}");
            }
        }
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_text(text in any::<String>()) {
            let result = parse(&text);
            check_error_span(&text, &result);
        }

        #[test]
        fn never_panics_on_pattern_like_text(text in r"[ab今天还()\[\]|…\\]{0,24}") {
            let result = parse(&text);
            check_error_span(&text, &result);
        }

        #[test]
        fn regex_syntax_points_inside_the_text(text in r"[a今1.^$*+?{},()\[\]|…\\d]{0,24}") {
            for found in regex_syntax(&text) {
                prop_assert!(found.len > 0);
                prop_assert!(text.get(found.offset..found.offset + found.len).is_some(), "{:?}", found);
            }
        }

        #[test]
        fn text_without_syntax_is_one_literal_form(text in r"[^()\[\]|…\\]{1,20}") {
            prop_assert!(!is_pattern(&text));
            prop_assert_eq!(parse(&text).unwrap(), vec![Form { parts: vec![text.clone()] }]);
        }
    }
}
