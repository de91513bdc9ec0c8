//! The customer list: a CSV with a header whose columns are the script's inputs plus `phone`
//! (and optional `id`, `timezone`, `segment`). Every problem is reported at once, with the
//! file, line and column (counting the header as line 1).

use std::collections::HashMap;

use callscript_compiler::bytecode::ScriptCode;
use callscript_compiler::syntax::ast::Type;
use callscript_compiler::value::{Date, Money, Value};

use super::InputError;

/// One customer as loaded.
#[derive(Clone, Debug, PartialEq)]
pub struct Customer {
    pub id: String,
    /// E.164, e.g. `+8613800000001`: caps and the do-not-call list are keyed by it.
    pub phone: String,
    pub timezone: Option<String>,
    /// The script's inputs in slot order (only inputs given or defaulted by the script).
    pub inputs: Vec<(String, Value)>,
    /// The `segment` column, when the CSV has one (named segments of the JSON task shape).
    pub segment: Option<String>,
    /// Line of the row in the file, for later errors (a segment that fails at runtime).
    pub line: usize,
}

/// Normalises a phone number to E.164 with the jurisdiction's country code.
pub fn e164(raw: &str, jurisdiction: &str) -> Option<String> {
    let cleaned: String = raw.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')')).collect();
    if let Some(rest) = cleaned.strip_prefix('+') {
        return (rest.len() >= 8 && rest.len() <= 15 && rest.bytes().all(|b| b.is_ascii_digit())).then_some(cleaned);
    }
    if !cleaned.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match jurisdiction {
        "us" => match cleaned.len() {
            10 => Some(format!("+1{cleaned}")),
            11 if cleaned.starts_with('1') => Some(format!("+{cleaned}")),
            _ => None,
        },
        _ => match cleaned.len() {
            // Mobile numbers: 11 digits starting with 1.
            11 if cleaned.starts_with('1') => Some(format!("+86{cleaned}")),
            // Landlines with the trunk prefix 0: 010 12345678 → +86 10 12345678.
            10..=12 if cleaned.starts_with('0') => Some(format!("+86{}", &cleaned[1..])),
            13 if cleaned.starts_with("86") => Some(format!("+{cleaned}")),
            _ => None,
        },
    }
}

/// Parses one cell as a value of an input's type.
pub fn parse_value(ty: Type, raw: &str) -> Result<Value, String> {
    let raw = raw.trim();
    Ok(match ty {
        Type::Text => Value::Text(raw.to_string()),
        Type::Int => Value::Int(raw.parse().map_err(|_| format!("`{raw}` is not a whole number"))?),
        Type::Money => {
            let m = Money::parse(raw).ok_or_else(|| format!("`{raw}` is not an amount of money (write 1200.50)"))?;
            if m.cents() < 0 {
                return Err(format!("`{raw}` is a negative amount"));
            }
            Value::Money(m)
        }
        Type::Bool => Value::Bool(match raw {
            "true" | "TRUE" | "True" | "1" | "是" | "yes" => true,
            "false" | "FALSE" | "False" | "0" | "否" | "no" | "" => false,
            _ => return Err(format!("`{raw}` is not true or false")),
        }),
        Type::Date => Value::Date(Date::parse(raw).ok_or_else(|| format!("`{raw}` is not a date (write 2026-11-24)"))?),
    })
}

/// Loads and checks the customer list against the script's inputs.
pub fn load(name: &str, text: &str, script: &ScriptCode, jurisdiction: &str) -> Result<Vec<Customer>, Vec<InputError>> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::Headers).from_reader(text.as_bytes());
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(vec![InputError::at(name, 1, 1, format!("the header row cannot be read: {e}"))]),
    };
    let column: HashMap<&str, usize> = headers.iter().enumerate().map(|(i, h)| (h, i)).collect();
    let mut errors = Vec::new();
    if !column.contains_key("phone") {
        errors.push(InputError::at(name, 1, 1, "the header has no `phone` column".to_string()));
    }
    let inputs: Vec<(&str, Type, bool, Option<usize>)> = script
        .slots
        .iter()
        .filter(|s| s.input)
        .map(|s| (s.name.as_str(), s.ty, s.init.is_none(), column.get(s.name.as_str()).copied()))
        .collect();
    for (input, ty, required, col) in &inputs {
        if *required && col.is_none() {
            errors.push(InputError::at(
                name,
                1,
                1,
                format!(
                    "the header has no column `{input}` ({}), a required input of script `{}`",
                    ty.name(),
                    script.name
                ),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // The character column where each field starts, for error positions.
    let char_col = |record: &csv::StringRecord, field: usize, line_text: &str| -> usize {
        let mut col = 1;
        for (i, f) in record.iter().enumerate() {
            if i == field {
                return col;
            }
            col += f.chars().count() + 1;
        }
        line_text.chars().count().max(1)
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut customers = Vec::new();
    let mut seen_ids: HashMap<String, usize> = HashMap::new();
    for result in reader.records() {
        let record = match result {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                errors.push(InputError::at(name, line, 1, format!("this row cannot be read: {e}")));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line() as usize);
        let line_text = lines.get(line.saturating_sub(1)).copied().unwrap_or("");
        if record.len() != headers.len() {
            errors.push(InputError::at(
                name,
                line,
                1,
                format!("this row has {} fields but the header has {}", record.len(), headers.len()),
            ));
            continue;
        }
        let cell = |col: usize| record.get(col).unwrap_or("").trim();
        let phone_col = column["phone"];
        let phone = match e164(cell(phone_col), jurisdiction) {
            Some(p) => p,
            None => {
                errors.push(InputError::at(
                    name,
                    line,
                    char_col(&record, phone_col, line_text),
                    format!("`{}` in column `phone` is not a phone number", cell(phone_col)),
                ));
                continue;
            }
        };
        let id = column.get("id").map(|&c| cell(c).to_string()).filter(|s| !s.is_empty()).unwrap_or(phone.clone());
        if let Some(first) = seen_ids.insert(id.clone(), line) {
            errors.push(InputError::at(
                name,
                line,
                1,
                format!("customer `{id}` is listed twice (first on line {first})"),
            ));
            continue;
        }
        let timezone = column.get("timezone").map(|&c| cell(c).to_string()).filter(|s| !s.is_empty());
        if let Some(tz) = &timezone
            && jiff::tz::TimeZone::get(tz).is_err()
        {
            let c = column["timezone"];
            errors.push(InputError::at(
                name,
                line,
                char_col(&record, c, line_text),
                format!("`{tz}` in column `timezone` is not a time zone (use a name such as Asia/Shanghai)"),
            ));
        }
        let mut values = Vec::with_capacity(inputs.len());
        for (input, ty, required, col) in &inputs {
            let Some(col) = col else { continue };
            let raw = cell(*col);
            if raw.is_empty() && !*required {
                continue;
            }
            if raw.is_empty() && *ty != Type::Text {
                errors.push(InputError::at(
                    name,
                    line,
                    char_col(&record, *col, line_text),
                    format!("column `{input}` is empty, but the input is required"),
                ));
                continue;
            }
            match parse_value(*ty, raw) {
                Ok(v) => values.push((input.to_string(), v)),
                Err(message) => errors.push(InputError::at(
                    name,
                    line,
                    char_col(&record, *col, line_text),
                    format!("{message} in column `{input}` ({})", ty.name()),
                )),
            }
        }
        let segment = column.get("segment").map(|&c| cell(c).to_string());
        customers.push(Customer { id, phone, timezone, inputs: values, segment, line });
    }
    if errors.is_empty() { Ok(customers) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callscript_compiler::check::check_source;

    fn script() -> ScriptCode {
        let src = "script s {\n  purpose service\n  input { name: text, amount: money, days: int = 0 }\n  outcomes { done }\n  opening { say \"本次通话将被录音{{name}}{{amount}}{{days}}\"; hangup done }\n}\n";
        let checked = check_source("s.call", src);
        assert_eq!(checked.error_count(), 0);
        callscript_compiler::lower::lower(&checked, checked.files[0].id).scripts.remove(0)
    }

    #[test]
    fn loads_typed_values_and_normalises_phones() {
        let csv = "id,phone,name,amount,timezone\nc1,13800000001,张三,1200.50,Asia/Shanghai\nc2,010-12345678,李四,5,\n";
        let customers = load("c.csv", csv, &script(), "cn").unwrap();
        assert_eq!(customers[0].phone, "+8613800000001");
        assert_eq!(customers[1].phone, "+861012345678");
        assert_eq!(customers[0].inputs[1], ("amount".to_string(), Value::Money(Money::from_cents(120_050))));
        assert_eq!(customers[1].timezone, None);
    }

    #[test]
    fn every_bad_cell_is_reported_with_line_and_column() {
        let csv = "id,phone,name,amount,timezone\nc1,13800000001,张三,12.345,Asia/Shanghai\nc2,abc,李四,5,\nc3,13800000003,王五,7,Mars/Base\nc1,13800000004,赵六,8,\n";
        let errors = load("c.csv", csv, &script(), "cn").unwrap_err();
        let shown: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            shown,
            [
                "c.csv:2:19: `12.345` is not an amount of money (write 1200.50) in column `amount` (money)",
                "c.csv:3:4: `abc` in column `phone` is not a phone number",
                "c.csv:4:21: `Mars/Base` in column `timezone` is not a time zone (use a name such as Asia/Shanghai)",
                "c.csv:5:1: customer `c1` is listed twice (first on line 2)",
            ]
        );
    }

    #[test]
    fn missing_required_column() {
        let errors = load("c.csv", "phone,name\n13800000001,张三\n", &script(), "cn").unwrap_err();
        assert!(errors[0].to_string().contains("no column `amount` (money)"), "{}", errors[0]);
    }
}
