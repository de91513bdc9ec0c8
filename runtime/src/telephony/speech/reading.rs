//! Readings of interpolated values as words recorded digit and unit clips can voice: the
//! filters already write amounts and counts in Chinese words (一千二百元五角), so most
//! readings are the filter's own text, one clip per character.

use callscript_compiler::bytecode::{ExprCode, ExprOp, Filter, ScriptCode};
use callscript_compiler::filters::number_zh_int;
use callscript_compiler::syntax::ast::Type;
use callscript_compiler::value::Value;

/// The ten digits as spoken in counts and dates, index = digit.
pub const DIGIT_WORDS: [char; 10] = ['零', '一', '二', '三', '四', '五', '六', '七', '八', '九'];

/// The words of `money` and `number` readings besides the digits.
const COUNT_UNITS: &[char] = &['十', '百', '千', '万', '亿', '元', '角', '分', '整', '点', '负', '两'];

/// The words of `digits` readings besides the digits: 幺 (1 on the phone).
const DIGITS_EXTRA: &[char] = &['幺'];

/// A value's reading in words that digit and unit clips can voice, or `None` when it is not
/// a number-like reading (a name, masked text, a letter in an account number).
pub fn clip_reading(text: &str, filter: Option<Filter>) -> Option<String> {
    let made_of = |extra: &[char]| text.chars().all(|c| DIGIT_WORDS.contains(&c) || extra.contains(&c));
    match filter {
        Some(Filter::Money | Filter::Number) => (!text.is_empty() && made_of(COUNT_UNITS)).then(|| text.to_string()),
        Some(Filter::Digits) => (!text.is_empty() && made_of(DIGITS_EXTRA)).then(|| text.to_string()),
        Some(Filter::Date) => date_reading(text),
        Some(Filter::Mask) => None,
        // A plain whole number is read as a count: 12 → 十二.
        None => text.parse::<i64>().ok().map(number_zh_int),
    }
}

/// `2026年11月24日` (the `date` filter) → 二零二六年十一月二十四日: the year digit by
/// digit, month and day as counts.
fn date_reading(text: &str) -> Option<String> {
    let (year, rest) = text.split_once('年')?;
    let (month, rest) = rest.split_once('月')?;
    let day = rest.strip_suffix('日')?;
    if year.is_empty() || !year.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (month, day): (i64, i64) = (month.parse().ok()?, day.parse().ok()?);
    let mut out: String = year.bytes().map(|b| DIGIT_WORDS[usize::from(b - b'0')]).collect();
    out.push('年');
    out.push_str(&number_zh_int(month));
    out.push('月');
    out.push_str(&number_zh_int(day));
    out.push('日');
    Some(out)
}

/// The words any value through `filter` may need, for checking a clip set before a call;
/// `None` when such values can never be read from digit and unit clips. 负 (negative
/// amounts) and 两/幺 (which fall back to the 2 and 1 clips) are left out: a set without
/// them is still complete.
pub fn words_needed(filter: Option<Filter>, ty: Option<Type>) -> Option<Vec<char>> {
    let with = |extra: &[char]| DIGIT_WORDS.iter().chain(extra).copied().collect();
    match (filter, ty) {
        (Some(Filter::Money), _) => Some(with(&['十', '百', '千', '万', '亿', '元', '角', '分', '整'])),
        (Some(Filter::Number), _) => Some(with(&['十', '百', '千', '万', '亿', '点'])),
        (Some(Filter::Digits), Some(Type::Int | Type::Text) | None) => Some(with(&[])),
        (Some(Filter::Date), _) => Some(with(&['十', '年', '月', '日'])),
        (None, Some(Type::Int)) => Some(with(&['十', '百', '千', '万', '亿', '负'])),
        _ => None,
    }
}

/// The type of a value expression when it is a lone input, `let`, builtin or constant.
pub fn expr_type(script: &ScriptCode, expr: &ExprCode) -> Option<Type> {
    match expr.ops.as_slice() {
        [ExprOp::Load(slot)] => script.slots.get(usize::from(*slot)).map(|s| s.ty),
        [ExprOp::Attempt | ExprOp::Hour] | [ExprOp::Const(Value::Int(_))] => Some(Type::Int),
        [ExprOp::Const(Value::Text(_))] => Some(Type::Text),
        [ExprOp::Const(Value::Money(_))] => Some(Type::Money),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_readings_become_clip_words() {
        assert_eq!(clip_reading("一千二百元五角", Some(Filter::Money)).as_deref(), Some("一千二百元五角"));
        assert_eq!(clip_reading("两元整", Some(Filter::Money)).as_deref(), Some("两元整"));
        assert_eq!(clip_reading("八八三幺", Some(Filter::Digits)).as_deref(), Some("八八三幺"));
        assert_eq!(clip_reading("八八-三幺", Some(Filter::Digits)), None);
        assert_eq!(clip_reading("2026年11月24日", Some(Filter::Date)).as_deref(), Some("二零二六年十一月二十四日"));
        assert_eq!(clip_reading("2026年1月5日", Some(Filter::Date)).as_deref(), Some("二零二六年一月五日"));
        assert_eq!(clip_reading("****8831", Some(Filter::Mask)), None);
        assert_eq!(clip_reading("12", None).as_deref(), Some("十二"));
        assert_eq!(clip_reading("-3", None).as_deref(), Some("负三"));
        assert_eq!(clip_reading("张三", None), None);
        assert_eq!(clip_reading("", Some(Filter::Money)), None);
    }

    #[test]
    fn needed_words_cover_the_readings() {
        let money = words_needed(Some(Filter::Money), Some(Type::Money)).unwrap();
        for c in "九千九百九十九亿零一万元五角零八分整".chars() {
            assert!(money.contains(&c), "{c}");
        }
        assert_eq!(words_needed(Some(Filter::Mask), Some(Type::Text)), None);
        assert_eq!(words_needed(None, Some(Type::Text)), None);
        assert!(words_needed(None, Some(Type::Int)).is_some());
    }
}
