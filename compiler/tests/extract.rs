//! The zh-CN extractors (§11): a table of customer utterances (`tests/extract/cases.tsv`),
//! round trips through the prompt filters (a value the filters speak reads back to itself),
//! and totality on arbitrary text.

use callscript_compiler::extract;
use callscript_compiler::filters::{date_zh, digits_zh, money_zh, number_zh_int, number_zh_money};
use callscript_compiler::value::{Date, Money, Time};
use proptest::prelude::*;

const CASES: &str = include_str!("extract/cases.tsv");

/// The day the table's relative dates are read from unless a case names another: a Tuesday,
/// as in LANGUAGE.md §11.
const TODAY: &str = "2026-11-24";

/// What one extractor reads from `utterance`, written as the table writes values ("-" for
/// nothing).
fn read(kind: &str, utterance: &str, today: Date) -> Result<String, String> {
    let shown = |value: Option<String>| value.unwrap_or_else(|| "-".to_owned());
    Ok(shown(match kind {
        "int" => extract::int(utterance).map(|v| v.to_string()),
        "money" => extract::money(utterance).map(|v| v.to_string()),
        "date" => extract::date(utterance, today).map(|v| v.to_string()),
        "time" => extract::time(utterance).map(|v| v.to_string()),
        "digits" => extract::digits(utterance),
        "text" => extract::text(utterance),
        _ => {
            let lengths = kind.strip_prefix("digits:").ok_or_else(|| format!("unknown kind `{kind}`"))?;
            let (min, max) = lengths.split_once("..").unwrap_or((lengths, lengths));
            let parse = |n: &str| n.parse::<usize>().map_err(|e| format!("bad length `{n}`: {e}"));
            extract::find_digits(utterance, parse(min)?..=parse(max)?).map(|e| e.value)
        }
    }))
}

/// Every line of the table is `utterance<TAB>kind<TAB>expected[<TAB>today]`; `#` starts a
/// comment line.
#[test]
fn table_of_utterances() {
    let default_today = Date::parse(TODAY).unwrap();
    let mut failures = Vec::new();
    let mut cases = 0;
    let mut kinds = std::collections::BTreeMap::new();
    for (index, line) in CASES.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let columns: Vec<&str> = line.split('\t').collect();
        let (utterance, kind, expected) = match columns[..] {
            [u, k, e] | [u, k, e, _] => (u, k, e),
            _ => panic!("cases.tsv:{}: expected 3 or 4 tab-separated columns: {line:?}", index + 1),
        };
        let today = match columns.get(3) {
            Some(day) => Date::parse(day).unwrap_or_else(|| panic!("cases.tsv:{}: bad today {day:?}", index + 1)),
            None => default_today,
        };
        cases += 1;
        *kinds.entry(kind.split(':').next().unwrap_or(kind).to_owned()).or_insert(0) += 1;
        match read(kind, utterance, today) {
            Ok(got) if got == expected => {}
            Ok(got) => failures
                .push(format!("cases.tsv:{}: {kind} of {utterance:?}: expected {expected}, got {got}", index + 1)),
            Err(e) => failures.push(format!("cases.tsv:{}: {e}", index + 1)),
        }
    }
    assert!(failures.is_empty(), "{} of {cases} cases fail:\n{}", failures.len(), failures.join("\n"));
    assert!(cases >= 400, "only {cases} cases");
    for kind in ["int", "money", "date", "time", "digits", "text"] {
        assert!(kinds.get(kind).is_some_and(|&n| n >= 20), "too few {kind} cases: {kinds:?}");
    }
}

/// §16.1's reading of a time, as prompts speak it.
fn spoken_time(time: Time) -> String {
    callscript_compiler::filters::time_zh(time)
}

#[test]
fn spoken_times_examples() {
    let t = |h, m| Time::new(h, m).unwrap();
    assert_eq!(spoken_time(t(15, 45)), "下午三点四十五分");
    assert_eq!(spoken_time(t(10, 0)), "上午十点");
    assert_eq!(spoken_time(t(12, 0)), "中午十二点");
    assert_eq!(spoken_time(t(20, 0)), "晚上八点");
    assert_eq!(spoken_time(t(0, 5)), "凌晨零点零五分");
    assert_eq!(spoken_time(t(14, 5)), "下午两点零五分");
}

proptest! {
    #[test]
    fn ints_read_back_from_the_number_filter(n in any::<i64>()) {
        let spoken = number_zh_int(n);
        prop_assert_eq!(extract::int(&spoken), Some(n), "{}", spoken);
        prop_assert_eq!(extract::int(&format!("大概{spoken}吧")), Some(n), "{}", spoken);
    }

    #[test]
    fn small_ints_read_back(n in 0i64..100_000) {
        let spoken = number_zh_int(n);
        prop_assert_eq!(extract::int(&spoken), Some(n), "{}", spoken);
        prop_assert_eq!(extract::int(&n.to_string()), Some(n));
    }

    #[test]
    fn amounts_read_back_from_the_money_filter(cents in 0i64..=i64::MAX) {
        let money = Money::from_cents(cents);
        let spoken = money_zh(money);
        prop_assert_eq!(extract::money(&spoken), Some(money), "{}", spoken);
        prop_assert_eq!(extract::money(&format!("我能还{spoken}吧")), Some(money), "{}", spoken);
        let plain = money.to_string();
        prop_assert_eq!(extract::money(&plain), Some(money), "{}", plain);
    }

    #[test]
    fn small_amounts_read_back(cents in 0i64..10_000_000) {
        let money = Money::from_cents(cents);
        let spoken = money_zh(money);
        prop_assert_eq!(extract::money(&spoken), Some(money), "{}", spoken);
        let number = number_zh_money(money);
        prop_assert_eq!(extract::money(&number), Some(money), "{}", number);
    }

    #[test]
    fn amounts_read_back_from_the_number_filter(cents in 0i64..=i64::MAX) {
        let money = Money::from_cents(cents);
        let spoken = number_zh_money(money);
        prop_assert_eq!(extract::money(&spoken), Some(money), "{}", spoken);
    }

    #[test]
    fn dates_read_back_from_the_date_filter(
        year in 100i32..=9999,
        month in 1u8..=12,
        day in 1u8..=31,
        today in -719_528i64..=2_932_896,
    ) {
        let Some(date) = Date::new(year, month, day) else { return Ok(()) };
        let today = Date::from_days(today).unwrap();
        let spoken = date_zh(date);
        prop_assert_eq!(extract::date(&spoken, today), Some(date), "{}", spoken);
        prop_assert_eq!(extract::date(&date.to_string(), today), Some(date));
        prop_assert_eq!(extract::date(&format!("我{spoken}还"), today), Some(date), "{}", spoken);
    }

    #[test]
    fn digit_strings_read_back_from_the_digits_filter(digits in "[0-9]{1,24}") {
        let spoken = digits_zh(&digits);
        prop_assert_eq!(extract::digits(&spoken), Some(digits.clone()), "{}", spoken);
        let spaced: String = digits.chars().flat_map(|c| [c, ' ']).collect();
        prop_assert_eq!(extract::digits(&spaced), Some(digits.clone()));
        prop_assert_eq!(extract::find_digits(&format!("尾号是{spoken}"), digits.len()..=digits.len()).map(|e| e.value), Some(digits));
    }

    #[test]
    fn times_read_back(hour in 0u8..24, minute in 0u8..60) {
        let time = Time::new(hour, minute).unwrap();
        let spoken = spoken_time(time);
        prop_assert_eq!(extract::time(&spoken), Some(time), "{}", spoken);
        prop_assert_eq!(extract::time(&time.to_string()), Some(time));
    }

    #[test]
    fn extractors_never_panic(text in any::<String>()) {
        read_everything(&text);
    }

    #[test]
    fn extractors_never_panic_on_numeral_soup(
        text in "[零〇一幺二两三四五六七八九十百千万亿点.,:：\\-/年月日号周星期下个这上午晚天后多几半块元毛角分钟整刻不是没有负¥０-９0-9 一下万一点儿]{0,40}"
    ) {
        read_everything(&text);
    }
}

/// Every extractor on `text`, with a few days for `today`; checks the spans point into it.
fn read_everything(text: &str) {
    for today in ["0000-01-01", "2026-11-24", "9999-12-31", "2024-02-29"] {
        let today = Date::parse(today).unwrap();
        if let Some(found) = extract::find_date(text, today) {
            assert!(text.get(found.span.clone()).is_some());
        }
    }
    for span in [
        extract::find_int(text).map(|e| e.span),
        extract::find_money(text).map(|e| e.span),
        extract::find_time(text).map(|e| e.span),
        extract::find_digits(text, 1..=usize::MAX).map(|e| e.span),
        extract::find_digits(text, 4..=6).map(|e| e.span),
    ]
    .into_iter()
    .flatten()
    {
        assert!(text.get(span).is_some_and(|s| !s.is_empty()));
    }
    let _ = extract::text(text);
    let _ = extract::numerals_to_digits(text);
}
