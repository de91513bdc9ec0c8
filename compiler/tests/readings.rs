//! What each prompt filter reads for sample values in each locale with readings (§10.16): a
//! snapshot, so a change to what customers hear is reviewed.

use callscript_compiler::filters::{FILTERS, LOCALES, Locale, accepts, apply_in, plain_in};
use callscript_compiler::value::{Date, Money, Value};

#[test]
fn readings_of_every_locale() {
    let money = |s: &str| Value::Money(Money::parse(s).expect("an amount"));
    let date = |s: &str| Value::Date(Date::parse(s).expect("a date"));
    let samples = [
        Value::Int(0),
        Value::Int(2),
        Value::Int(1001),
        Value::Int(1250),
        Value::Int(-1250),
        Value::Int(20_000_000),
        money("0"),
        money("0.05"),
        money("1"),
        money("1.01"),
        money("1250.50"),
        money("1200.05"),
        money("20000000"),
        money("-5"),
        Value::Text("8831".into()),
        Value::Text("138-0000".into()),
        Value::Text("6222021234568831".into()),
        date("2026-12-03"),
        date("2026-01-01"),
        date("2026-11-22"),
        Value::Bool(true),
    ];
    let mut out = String::new();
    for tag in LOCALES {
        let locale = Locale::from_tag(tag).expect("a listed locale");
        out.push_str(&format!("## {tag}\n"));
        for value in &samples {
            let shown = match value {
                Value::Text(s) => format!("{s:?}"),
                Value::Bool(b) => b.to_string(),
                other => other.render_plain(),
            };
            out.push_str(&format!("{shown} ({}): plain {:?}", value.type_name(), plain_in(locale, value)));
            for filter in FILTERS.iter().filter(|f| accepts(f, value.type_name())) {
                let reading = apply_in(locale, filter, value).expect("accepted");
                out.push_str(&format!(", {filter} {reading:?}"));
            }
            out.push('\n');
        }
    }
    insta::assert_snapshot!(out);
}
