//! CS003 (retries and handler limits within the pack's maximum) and CS008 (a prompt's
//! estimated spoken length within the pack's maximum seconds).
//!
//! The estimate of CS008 (docs/compliance.md): a Chinese character (any non-ASCII letter) is
//! one unit, an ASCII digit one unit (digits are read aloud), `%` three (百分之), a Latin word
//! one unit per started three letters (about a syllable), spaces and punctuation none. An
//! interpolation counts at its longest rendering: a text value at the pack's
//! `text_input_chars`, numbers, amounts and dates at the longest reading the filters of
//! `crate::filters` give over extreme values. Seconds are units over `chars_per_second`.

use std::sync::OnceLock;

use super::Analysis;
use crate::bytecode::{ExprOp, Filter, PromptSegment, ScriptCode};
use crate::diagnostic::Diagnostic;
use crate::filters::Locale;
use crate::syntax::ast::Type;
use crate::value::{Date, Money, Time, Value};

/// CS003.
pub(super) fn retries(a: &Analysis, out: &mut Vec<Diagnostic>) {
    let code = a.code;
    let limits = &a.pack.limits;
    for (i, ask) in code.asks.iter().enumerate() {
        if ask.retries <= limits.max_retries {
            continue;
        }
        let pc = a.cfg.ask_pc[i];
        let mut d = a
            .finding(
                "CS003",
                ask.span,
                format!(
                    "this ask can be retried {} times; the {} pack allows at most {}",
                    ask.retries, a.pack.jurisdiction, limits.max_retries
                ),
            )
            .label(format!("retries {}", ask.retries))
            .with_help(format!(
                "lower `retries` to {} or fewer: a customer who does not answer must not be held on the line",
                limits.max_retries
            ));
        d = a.with_shortest_path(d, a.by_pc[pc as usize].iter().copied());
        out.push(d);
    }
    for h in &code.handlers {
        let Some(limit) = h.limit.filter(|l| *l > limits.max_handler_limit) else { continue };
        let mut d = a
            .finding(
                "CS003",
                h.span,
                format!(
                    "this handler can fire {limit} times a call; the {} pack allows at most {}",
                    a.pack.jurisdiction, limits.max_handler_limit
                ),
            )
            .label(format!("limit {limit}"))
            .with_help(format!("lower `limit` to {} or fewer", limits.max_handler_limit));
        d = a.with_shortest_path(d, a.by_pc[h.pc as usize].iter().copied());
        out.push(d);
    }
}

/// CS008.
pub(super) fn prompt_length(a: &Analysis, out: &mut Vec<Diagnostic>) {
    let code = a.code;
    let limits = &a.pack.limits;
    let rate = limits.chars_per_second.max(1);
    let locale = Locale::from_tag(&code.locale).unwrap_or_default();
    let mut stack = Vec::new();
    for (p, prompt) in code.prompts.iter().enumerate() {
        let units: u32 = prompt
            .segments
            .iter()
            .map(|seg| match seg {
                PromptSegment::Text(t) => spoken_units(t),
                PromptSegment::Value { expr, filter } => {
                    let (ty, text) = expr_type(code, *expr, limits.text_input_chars, &mut stack);
                    match declared_bounds(code, *expr) {
                        _ if ty == Type::Text => text,
                        Some((min, max)) => longest_within(locale, min, max, *filter),
                        None => longest(locale, ty, *filter),
                    }
                }
            })
            .sum();
        if units <= limits.max_prompt_seconds * rate {
            continue;
        }
        let seconds = units as f64 / rate as f64;
        let mut d = a
            .finding(
                "CS008",
                prompt.span,
                format!(
                    "this prompt takes about {seconds:.1} s to speak; the {} pack allows {} s",
                    a.pack.jurisdiction, limits.max_prompt_seconds
                ),
            )
            .label(format!("{units} characters at {rate} a second, values at their longest"))
            .with_help(
                "split it into shorter prompts, or allow it in place with the reason: `@allow(CS008, \"legal text must be read in full\")`",
            );
        d = a.with_shortest_path(d, a.prompt_nodes[p].iter().copied());
        out.push(d);
    }
}

/// Spoken units of literal text (see the module comment).
pub fn spoken_units(text: &str) -> u32 {
    let mut units = 0;
    let mut latin = 0u32;
    for c in text.chars() {
        if c.is_ascii_alphabetic() {
            latin += 1;
            continue;
        }
        units += latin.div_ceil(3);
        latin = 0;
        if c.is_ascii_digit() {
            units += 1;
        } else if c == '%' {
            units += 3;
        } else if super::CJK_IDEOGRAPHS.contains(&c)
            || (!c.is_ascii() && !super::CJK_PUNCTUATION.iter().any(|p| p.contains(&c)) && c.is_alphanumeric())
        {
            units += 1;
        }
    }
    units + latin.div_ceil(3)
}

/// The type of an expression (its ops are postfix) and, for text, its longest length: an input
/// or `let` at `text_chars`, a literal at its own length, a concatenation at the sum. `stack`
/// is a buffer the caller keeps for every value of every prompt.
fn expr_type(code: &ScriptCode, e: u32, text_chars: u32, stack: &mut Vec<(Type, u32)>) -> (Type, u32) {
    stack.clear();
    for op in &code.exprs[e as usize].ops {
        let item = match op {
            ExprOp::Const(v) => match v {
                Value::Text(t) => (Type::Text, spoken_units(t)),
                Value::Int(_) => (Type::Int, 0),
                Value::Money(_) => (Type::Money, 0),
                Value::Bool(_) => (Type::Bool, 0),
                Value::Date(_) => (Type::Date, 0),
                Value::Time(_) => (Type::Time, 0),
            },
            ExprOp::Load(s) => {
                let ty = code.slots[*s as usize].ty;
                (ty, if ty == Type::Text { text_chars } else { 0 })
            }
            ExprOp::Attempt | ExprOp::Hour | ExprOp::Weekday => (Type::Int, 0),
            ExprOp::Today => (Type::Date, 0),
            ExprOp::Neg => continue,
            ExprOp::Not => {
                stack.pop();
                (Type::Bool, 0)
            }
            // The left operand of `and`/`or` is dropped; the right one leaves the result.
            ExprOp::And(_) | ExprOp::Or(_) => {
                stack.pop();
                continue;
            }
            ExprOp::Add | ExprOp::Sub | ExprOp::Mul | ExprOp::Div | ExprOp::Rem => {
                let (rt, rl) = stack.pop().unwrap_or((Type::Int, 0));
                let (lt, ll) = stack.pop().unwrap_or((Type::Int, 0));
                match (lt, rt) {
                    (Type::Text, _) | (_, Type::Text) => (Type::Text, ll + rl),
                    (Type::Money, _) | (_, Type::Money) => (Type::Money, 0),
                    _ => (Type::Int, 0),
                }
            }
            ExprOp::Eq | ExprOp::Ne | ExprOp::Lt | ExprOp::Le | ExprOp::Gt | ExprOp::Ge => {
                stack.pop();
                stack.pop();
                (Type::Bool, 0)
            }
        };
        stack.push(item);
    }
    stack.pop().unwrap_or((Type::Text, text_chars))
}

/// The declared `min` and `max` of a value read on its own (`{{amount | money}}` of
/// `amount: money max 99999.99`; §11): `min` is 0 when only `max` is written, since values
/// customers say are counts and amounts.
fn declared_bounds(code: &ScriptCode, e: u32) -> Option<(&Value, &Value)> {
    static ZERO: Value = Value::Int(0);
    let [ExprOp::Load(slot)] = code.exprs[e as usize].ops.as_slice() else { return None };
    let decl = code.slots.get(*slot as usize)?;
    Some((decl.min.as_ref().unwrap_or(&ZERO), decl.max.as_ref()?))
}

/// The longest spoken rendering, in units, of a number between `min` and `max` through
/// `filter`: the ends, and the numbers of nines in between (the longest reading of each
/// length, since no 零 is dropped from it).
fn longest_within(locale: Locale, min: &Value, max: &Value, filter: Option<Filter>) -> u32 {
    let money = matches!(max, Value::Money(_)) || matches!(min, Value::Money(_));
    let cents = |v: &Value| match v {
        Value::Int(n) => n.saturating_mul(if money { 100 } else { 1 }),
        Value::Money(m) => m.cents(),
        _ => 0,
    };
    let (low, high) = (cents(min), cents(max));
    let as_value = |n: i64| if money { Value::Money(Money::from_cents(n)) } else { Value::Int(n) };
    let mut candidates = vec![low, high];
    let mut nines: i64 = 9;
    while nines <= high.max(low.saturating_neg()) {
        candidates.extend([nines, -nines].into_iter().filter(|n| (low..=high).contains(n)));
        nines = nines.saturating_mul(10).saturating_add(9);
        if nines == i64::MAX {
            break;
        }
    }
    candidates
        .into_iter()
        .map(as_value)
        .filter_map(|v| match filter {
            None => Some(crate::filters::plain_in(locale, &v)),
            Some(f) => crate::filters::apply_in(locale, f.name(), &v),
        })
        .map(|text| spoken_units(&text))
        .max()
        .unwrap_or(0)
}

/// The longest spoken rendering, in units, of a non-text value of type `ty` through `filter`
/// (None: the plain rendering) in `locale`, over extreme values: the ends of the range and the
/// longest numbers without a zero (no 零 is dropped from their reading). Computed once.
fn longest(locale: Locale, ty: Type, filter: Option<Filter>) -> u32 {
    /// The longest reading of each locale, type and filter, in units.
    type Longest = (Locale, Type, Option<Filter>, u32);
    static TABLE: OnceLock<Vec<Longest>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let ints = [i64::MIN, i64::MAX, -8_999_999_999_999_999_999, 8_999_999_999_999_999_999];
        let values = |ty: Type| -> Vec<Value> {
            match ty {
                Type::Int => ints.iter().map(|&n| Value::Int(n)).collect(),
                Type::Money => ints.iter().map(|&n| Value::Money(Money::from_cents(n))).collect(),
                Type::Date => {
                    [Date::new(9999, 12, 31), Date::new(2026, 12, 28)].into_iter().flatten().map(Value::Date).collect()
                }
                Type::Bool => vec![Value::Bool(true), Value::Bool(false)],
                // Every minute of the day: 1,440 readings, once.
                Type::Time => {
                    (0..24u8).flat_map(|h| (0..60u8).filter_map(move |m| Time::new(h, m))).map(Value::Time).collect()
                }
                Type::Text => Vec::new(),
            }
        };
        let filters = [None, Some(Filter::Money), Some(Filter::Digits), Some(Filter::Number), Some(Filter::Date)];
        let mut table = Vec::new();
        for locale in [Locale::ZhCn, Locale::EnUs] {
            for ty in [Type::Int, Type::Money, Type::Date, Type::Bool, Type::Time] {
                for filter in filters {
                    let units = values(ty)
                        .iter()
                        .filter_map(|v| match filter {
                            None => Some(crate::filters::plain_in(locale, v)),
                            Some(f) => crate::filters::apply_in(locale, f.name(), v),
                        })
                        .map(|text| spoken_units(&text))
                        .max()
                        .unwrap_or(0);
                    table.push((locale, ty, filter, units));
                }
            }
        }
        table
    });
    table.iter().find(|(l, t, f, _)| *l == locale && *t == ty && *f == filter).map_or(0, |(.., u)| *u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_of_literal_text() {
        assert_eq!(spoken_units("您好,本次通话将被录音。"), 10);
        assert_eq!(spoken_units("热线95555"), 7);
        assert_eq!(spoken_units("年化2.60%"), 2 + 3 + 3);
        // "This call may be monitored": 2 + 2 + 1 + 1 + 3.
        assert_eq!(spoken_units("This call may be monitored"), 9);
    }

    #[test]
    fn declared_bounds_shorten_the_estimate() {
        let max = Value::Money(Money::from_cents(9_999_999));
        let zero = Value::Int(0);
        // 九万九千九百九十九元九角九分: 14 units, against the type's extreme.
        let zh = Locale::ZhCn;
        assert_eq!(longest_within(zh, &zero, &max, Some(Filter::Money)), 14);
        assert!(longest(zh, Type::Money, Some(Filter::Money)) > 30);
        // A 1–5 score reads one digit.
        assert_eq!(longest_within(zh, &Value::Int(1), &Value::Int(5), Some(Filter::Number)), 1);
        // 10000.00 reads 一万元整, but 9999.99 below it is longer.
        let ten_thousand = Value::Money(Money::from_cents(1_000_000));
        assert_eq!(
            longest_within(zh, &zero, &ten_thousand, Some(Filter::Money)),
            spoken_units(&crate::filters::money_zh(Money::from_cents(999_999)))
        );
    }

    #[test]
    fn longest_readings_come_from_the_filters() {
        let zh = Locale::ZhCn;
        assert_eq!(longest(zh, Type::Int, None), 19);
        assert_eq!(longest(zh, Type::Bool, None), 1);
        assert!(longest(zh, Type::Money, Some(Filter::Money)) > longest(zh, Type::Int, None));
        assert_eq!(longest(zh, Type::Date, Some(Filter::Date)), 4 + 1 + 2 + 1 + 2 + 1);
        // en-US (one unit per digit and per started three letters): "December 28th, 2026" and
        // "minus 89,999,999,999,999,999 dollars and 99 cents".
        let en = Locale::EnUs;
        assert_eq!(longest(en, Type::Date, Some(Filter::Date)), 3 + 2 + 1 + 4);
        assert_eq!(longest(en, Type::Money, Some(Filter::Money)), 2 + 17 + 3 + 1 + 2 + 2);
        assert_eq!(longest(en, Type::Bool, None), 1);
    }
}
