//! Unit tests of the extractors' edges; the table of utterances is `compiler/tests/extract/cases.tsv`.

use super::*;

fn today() -> Date {
    Date::parse("2026-11-24").unwrap()
}

#[test]
fn spans_and_scores_name_what_was_read() {
    let found = find_money("我下个月十号左右能还三千五百块钱吧").unwrap();
    assert_eq!(found.value, Money::from_cents(350_000));
    assert_eq!(&"我下个月十号左右能还三千五百块钱吧"[found.span.clone()], "三千五百块钱");
    assert_eq!(found.chars, 6);
    let found = find_digits("8 8 3 1", 4..=4).unwrap();
    assert_eq!((found.value.as_str(), found.span, found.chars), ("8831", 0..7, 4));
    let found = find_date("不是明天，是后天", today()).unwrap();
    assert_eq!((found.value.to_string(), found.chars), ("2026-11-26".to_owned(), 2));
}

#[test]
fn digits_of_a_length() {
    assert_eq!(find_digits("我住1号楼，尾号3936", 4..=4).map(|e| e.value).as_deref(), Some("3936"));
    assert_eq!(find_digits("尾号三九三", 4..=4), None);
    assert_eq!(digits("尾号三九三").as_deref(), Some("393"));
}

#[test]
fn not_every_word_with_a_numeral_is_a_number() {
    for utterance in ["你等一下", "万一还不上怎么办", "我们一起还", "一般般", "先还一半", "有一点困难", "一直在忙"]
    {
        assert_eq!(int(utterance), None, "{utterance}");
        assert_eq!(money(utterance), None, "{utterance}");
        assert_eq!(digits(utterance), None, "{utterance}");
        assert_eq!(time(utterance), None, "{utterance}");
        assert_eq!(numerals_to_digits(utterance), utterance);
    }
}

#[test]
fn long_input_is_read_in_linear_time() {
    // Quadratic work on these would take minutes.
    for unit in ["一", "一万一", "下午三点半", "1.5万块", "周一", "一点", "1-", "二零二六年十二月三号", "八百多"]
    {
        let text = unit.repeat(40_000);
        let _ = (int(&text), money(&text), date(&text, today()), time(&text), digits(&text), text::text(&text));
        let _ = numerals_to_digits(&text);
    }
}

#[test]
fn huge_numbers_read_nothing_rather_than_overflow() {
    let huge = "3402823669209384634633746074317682114";
    assert_eq!(money(&format!("{huge}块五毛五")), None);
    assert_eq!(money(&format!("{huge}{huge}元")), None);
    assert_eq!(int(&format!("{huge}{huge}")), None);
    assert_eq!(digits(&format!("{huge}{huge}")).map(|d| d.len()), Some(2 * huge.len()));
    assert_eq!(
        money("九百二十二亿三千三百七十二万零三百六十八亿五千四百七十七万五千八百零八元"),
        None,
        "too many cents"
    );
    assert_eq!(int("九百二十二亿三千三百七十二万零三百六十八亿五千四百七十七万五千八百零八"), None);
    assert_eq!(int("负九百二十二亿三千三百七十二万零三百六十八亿五千四百七十七万五千八百零八"), Some(i64::MIN));
}
