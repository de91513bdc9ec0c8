//! The customer list: a CSV with a header whose columns are the script's inputs plus `phone`
//! (and optional `id`, `timezone`, `segment`). Every problem is reported at once, with the
//! file, line and column (counting the header as line 1).

use std::collections::HashMap;

use callscript_compiler::bytecode::ScriptCode;
use callscript_compiler::syntax::ast::Type;
use callscript_compiler::value::{Date, Money, Time, Value};

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

/// Parses one cell as a value of an input's type; the error says what is wrong without
/// quoting the cell (the caller decides how much of it may be shown).
pub fn parse_value(ty: Type, raw: &str) -> Result<Value, &'static str> {
    let raw = raw.trim();
    Ok(match ty {
        Type::Text => Value::Text(raw.to_string()),
        Type::Int => Value::Int(raw.parse().map_err(|_| "is not a whole number")?),
        Type::Money => {
            let m = Money::parse(raw).ok_or("is not an amount of money (write 1200.50)")?;
            if m.cents() < 0 {
                return Err("is a negative amount");
            }
            Value::Money(m)
        }
        Type::Bool => Value::Bool(match raw {
            "true" | "TRUE" | "True" | "1" | "是" | "yes" => true,
            "false" | "FALSE" | "False" | "0" | "否" | "no" | "" => false,
            _ => return Err("is not true or false"),
        }),
        Type::Date => Value::Date(Date::parse(raw).ok_or("is not a date (write 2026-11-24)")?),
        Type::Time => Value::Time(Time::parse(raw).ok_or("is not a time of day (write 15:30)")?),
    })
}

/// The longest cell (in characters) an error message quotes; longer ones are cut.
const EXCERPT_CHARS: usize = 40;

/// A cell as an error message shows it: hidden for a `sensitive` input, cut when long.
fn shown(raw: &str, sensitive: bool) -> String {
    if sensitive {
        return format!("(a sensitive value, {} characters, not shown)", raw.chars().count());
    }
    let count = raw.chars().count();
    if count <= EXCERPT_CHARS {
        return format!("`{raw}`");
    }
    let head: String = raw.chars().take(EXCERPT_CHARS).collect();
    format!("`{head}…` ({count} characters)")
}

/// Where each line of the list starts (byte offsets). A line ends at `\n`, `\r\n` or a lone
/// `\r`, as the CSV reader ends its records: Excel on Windows writes `\r\n`, old Mac Excel a
/// lone `\r`.
pub fn line_starts(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut starts = vec![0];
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
            starts.push(i + 1);
        }
    }
    starts
}

/// The 1-based line of the record the CSV reader places at byte `at`. The reader's own line
/// count is wrong after a `\r\n` (it counts the `\n` only when it reads the next record, so
/// every row of an Excel file was reported one line up, the first on the header) and after a
/// blank line (rust-csv issues 395 and 208), and its offset can point at the end of the
/// previous line: a record starts at the first byte after `at` that ends no line.
pub fn record_line(text: &str, starts: &[usize], at: u64) -> usize {
    let at = (at as usize).min(text.len());
    let skipped = text.as_bytes()[at..].iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
    starts.partition_point(|&start| start <= at + skipped)
}

/// [`record_line`] for records read in order, as a reader goes forward: it counts the line
/// ends from the last record to this one, so a list of millions needs neither a table of line
/// starts nor a search in it per row; the text of a line is found only for an error that
/// quotes it.
pub struct Lines<'t> {
    text: &'t str,
    /// Line ends before `at` are counted in `line`.
    at: usize,
    line: usize,
    starts: std::cell::OnceCell<Vec<usize>>,
}

impl<'t> Lines<'t> {
    pub fn new(text: &'t str) -> Lines<'t> {
        Lines { text, at: 0, line: 1, starts: std::cell::OnceCell::new() }
    }

    /// The 1-based line of the record the CSV reader places at byte `at` (see [`record_line`]).
    pub fn of_record(&mut self, at: u64) -> usize {
        let bytes = self.text.as_bytes();
        let at = (at as usize).min(bytes.len());
        let skipped = bytes[at..].iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
        let to = at + skipped;
        if to < self.at {
            (self.at, self.line) = (0, 1);
        }
        for i in self.at..to {
            if bytes[i] == b'\n' || (bytes[i] == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
                self.line += 1;
            }
        }
        self.at = to;
        self.line
    }

    /// Line `line` without its line end.
    pub fn text_of(&self, line: usize) -> &'t str {
        let starts = self.starts.get_or_init(|| line_starts(self.text));
        let start = starts[line.clamp(1, starts.len()) - 1];
        let end = starts.get(line).copied().unwrap_or(self.text.len());
        self.text[start..end].trim_end_matches(['\r', '\n'])
    }
}

/// The customer list's bytes as text; invalid UTF-8 is an error naming its line and column.
pub fn decode(name: &str, bytes: Vec<u8>) -> Result<String, InputError> {
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let valid = std::str::from_utf8(&e.as_bytes()[..at]).unwrap_or("");
        let starts = line_starts(valid);
        let line = starts.partition_point(|&start| start <= at);
        let column = valid[starts[line - 1]..].chars().count() + 1;
        InputError::at(name, line, column, "this byte is not UTF-8; save the customer list as UTF-8".to_string())
    })
}

/// Loads and checks the customer list against the script's inputs.
pub fn load(name: &str, text: &str, script: &ScriptCode, jurisdiction: &str) -> Result<Vec<Customer>, Vec<InputError>> {
    let mut customers = Vec::new();
    load_each(name, text, rows_hint(text), script, jurisdiction, |row| customers.push(row.customer()))?;
    Ok(customers)
}

/// One customer as [`load_each`] reads it, borrowed from the list and the loader: nothing is
/// kept per row unless the caller keeps it.
#[derive(Debug)]
pub struct Row<'a> {
    pub id: &'a str,
    /// E.164.
    pub phone: &'a str,
    pub timezone: Option<&'a str>,
    /// The inputs the row gives, in slot order.
    pub inputs: &'a [(&'a str, Value)],
    pub segment: Option<&'a str>,
    pub line: usize,
}

impl Row<'_> {
    pub fn customer(&self) -> Customer {
        Customer {
            id: self.id.to_string(),
            phone: self.phone.to_string(),
            timezone: self.timezone.map(str::to_string),
            inputs: self.inputs.iter().map(|(n, v)| (n.to_string(), v.clone())).collect(),
            segment: self.segment.map(str::to_string),
            line: self.line,
        }
    }
}

/// The ids seen so far with the line of each, for "listed twice": the ids one after another
/// in one string and an index of positions (a few bytes an id, where a map of owned strings
/// cost tens: lists run to millions).
#[derive(Default)]
struct SeenIds {
    ids: String,
    ends: Vec<usize>,
    lines: Vec<u32>,
    index: hashbrown::HashTable<u32>,
    hasher: hashbrown::DefaultHashBuilder,
}

impl SeenIds {
    fn with_capacity(rows: usize) -> SeenIds {
        SeenIds {
            ends: Vec::with_capacity(rows),
            lines: Vec::with_capacity(rows),
            index: hashbrown::HashTable::with_capacity(rows),
            ..SeenIds::default()
        }
    }

    fn id<'a>(ids: &'a str, ends: &[usize], at: u32) -> &'a str {
        let end = ends[at as usize];
        let start = at.checked_sub(1).map_or(0, |p| ends[p as usize]);
        &ids[start..end]
    }

    /// Adds `id` first seen on `line`; the line of its first sighting when it was seen before.
    fn insert(&mut self, id: &str, line: usize) -> Option<usize> {
        use std::hash::BuildHasher;
        let SeenIds { ids, ends, lines, index, hasher } = self;
        let hash = hasher.hash_one(id);
        if let Some(&at) = index.find(hash, |&at| Self::id(ids, ends, at) == id) {
            return Some(lines[at as usize] as usize);
        }
        let at = ends.len() as u32;
        ids.push_str(id);
        ends.push(ids.len());
        lines.push(line.min(u32::MAX as usize) as u32);
        index.insert_unique(hash, at, |&at| hasher.hash_one(Self::id(ids, ends, at)));
        None
    }
}

/// How many rows `text` holds, about: its line feeds (for reserving room; a file whose lines
/// end with a lone `\r` has none).
pub fn rows_hint(text: &str) -> usize {
    text.bytes().filter(|&b| b == b'\n').count()
}

/// [`load`], handing each customer to `each` as it is read instead of keeping them all (so a
/// list of millions can go into columns, [`super::list::CustomerList::load_csv`]); every
/// problem is still reported, at the end. `rows_hint`: [`rows_hint`] of `text`, counted once
/// by a caller that reserves room too. Returns how many customers the list holds.
pub fn load_each(
    name: &str,
    text: &str,
    rows_hint: usize,
    script: &ScriptCode,
    jurisdiction: &str,
    mut each: impl FnMut(&Row),
) -> Result<usize, Vec<InputError>> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::Headers).from_reader(text.as_bytes());
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(vec![InputError::at(name, 1, 1, format!("the header row cannot be read: {e}"))]),
    };
    let mut errors = Vec::new();
    let mut column: HashMap<&str, usize> = HashMap::new();
    let mut header_col = 1;
    for (i, h) in headers.iter().enumerate() {
        if let Some(&first) = column.get(h) {
            errors.push(InputError::at(
                name,
                1,
                header_col,
                format!("column `{h}` appears twice in the header (columns {} and {}); keep one", first + 1, i + 1),
            ));
        } else {
            column.insert(h, i);
        }
        header_col += h.chars().count() + 1;
    }
    if !column.contains_key("phone") {
        errors.push(InputError::at(name, 1, 1, "the header has no `phone` column".to_string()));
    }
    let inputs: Vec<(&str, Type, bool, Option<usize>)> = script
        .slots
        .iter()
        .filter(|s| s.input)
        .map(|s| (s.name.as_str(), s.ty, s.init.is_none(), column.get(s.name.as_str()).copied()))
        .collect();
    let sensitive: Vec<usize> = script
        .slots
        .iter()
        .filter(|s| s.input && s.sensitive)
        .filter_map(|s| column.get(s.name.as_str()).copied())
        .collect();
    let show = |col: usize, raw: &str| shown(raw, sensitive.contains(&col));
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
    let mut lines = Lines::new(text);
    let mut count = 0;
    let mut seen_ids = SeenIds::with_capacity(rows_hint);
    // Zones are few: each name is looked up once.
    let mut zone_known: HashMap<String, bool> = HashMap::new();
    let mut values: Vec<(&str, Value)> = Vec::with_capacity(inputs.len());
    let mut record = csv::StringRecord::new();
    loop {
        let result = match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => Ok(&record),
            Err(e) => Err(e),
        };
        let record = match result {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(1, |p| lines.of_record(p.byte()));
                errors.push(InputError::at(name, line, 1, format!("this row cannot be read: {e}")));
                continue;
            }
        };
        let line = record.position().map_or(1, |p| lines.of_record(p.byte()));
        let line_text = || lines.text_of(line);
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
                    char_col(record, phone_col, line_text()),
                    format!("{} in column `phone` is not a phone number", show(phone_col, cell(phone_col))),
                ));
                continue;
            }
        };
        let id = column.get("id").map(|&c| cell(c)).filter(|s| !s.is_empty()).unwrap_or(&phone);
        if let Some(first) = seen_ids.insert(id, line) {
            errors.push(InputError::at(
                name,
                line,
                1,
                format!(
                    "customer {} is listed twice (first on line {first})",
                    column.get("id").map_or_else(|| show(phone_col, id), |&c| show(c, id))
                ),
            ));
            continue;
        }
        let timezone = column.get("timezone").map(|&c| cell(c)).filter(|s| !s.is_empty());
        let mut known = |tz: &str| match zone_known.get(tz) {
            Some(&known) => known,
            None => *zone_known.entry(tz.to_string()).or_insert(jiff::tz::TimeZone::get(tz).is_ok()),
        };
        if let Some(tz) = timezone
            && !known(tz)
        {
            let c = column["timezone"];
            errors.push(InputError::at(
                name,
                line,
                char_col(record, c, line_text()),
                format!("{} in column `timezone` is not a time zone (use a name such as Asia/Shanghai)", show(c, tz)),
            ));
        }
        values.clear();
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
                    char_col(record, *col, line_text()),
                    format!("column `{input}` is empty, but the input is required"),
                ));
                continue;
            }
            match parse_value(*ty, raw) {
                Ok(v) => values.push((input, v)),
                Err(problem) => errors.push(InputError::at(
                    name,
                    line,
                    char_col(record, *col, line_text()),
                    format!("{} {problem} in column `{input}` ({})", show(*col, raw), ty.name()),
                )),
            }
        }
        let segment = column.get("segment").map(|&c| cell(c));
        each(&Row { id, phone: &phone, timezone, inputs: &values, segment, line });
        count += 1;
    }
    if errors.is_empty() && count == 0 {
        errors.push(InputError::at(name, 2, 1, "the customer list has a header but no customers".to_string()));
    }
    if errors.is_empty() { Ok(count) } else { Err(errors) }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use callscript_compiler::check::check_source;

    /// A script with a text, a money and a defaulted int input (the list tests' too).
    pub(in crate::campaign) fn script() -> ScriptCode {
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

    fn errors(csv: &str) -> Vec<String> {
        load("c.csv", csv, &script(), "cn").unwrap_err().iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn a_duplicated_column_is_refused_with_both_positions() {
        assert_eq!(
            errors("phone,name,amount,phone\n13800000001,张三,5,13800000002\n"),
            ["c.csv:1:19: column `phone` appears twice in the header (columns 1 and 4); keep one"]
        );
    }

    #[test]
    fn a_header_without_customers_is_refused() {
        assert_eq!(errors("phone,name,amount\n"), ["c.csv:2:1: the customer list has a header but no customers"]);
    }

    #[test]
    fn sensitive_cells_are_never_shown() {
        let src = "script s {\n  purpose service\n  input { name: text, id_no: int sensitive }\n  outcomes { done }\n  opening { say \"本次通话将被录音{{name}}\"; hangup done }\n}\n";
        let checked = check_source("s.call", src);
        assert_eq!(checked.error_count(), 0, "{:?}", checked.diagnostics);
        let script = callscript_compiler::lower::lower(&checked, checked.files[0].id).scripts.remove(0);
        let shown: Vec<String> = load("c.csv", "phone,name,id_no\n13800000001,张三,4401X0199\n", &script, "cn")
            .unwrap_err()
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            shown,
            ["c.csv:2:16: (a sensitive value, 9 characters, not shown) is not a whole number in column `id_no` (int)"]
        );
    }

    #[test]
    fn a_huge_cell_is_cut_in_errors() {
        let huge = "9".repeat(1_000_000) + "x";
        let shown = errors(&format!("phone,name,amount\n13800000001,张三,{huge}\n"));
        assert_eq!(shown.len(), 1);
        assert!(shown[0].len() < 200, "{} bytes", shown[0].len());
        assert!(
            shown[0].ends_with(
                "…` (1000001 characters) is not an amount of money (write 1200.50) in column `amount` (money)"
            ),
            "{}",
            shown[0]
        );
    }

    #[test]
    fn invalid_utf8_names_line_and_column() {
        let e = decode("c.csv", b"phone,name\n13800000001,\xe5\xbc\xa0\xff\n".to_vec()).unwrap_err();
        assert_eq!(e.to_string(), "c.csv:2:14: this byte is not UTF-8; save the customer list as UTF-8");
        assert_eq!(decode("c.csv", b"phone\n1\n".to_vec()).unwrap(), "phone\n1\n");
    }

    // The `customers` fuzz target found these: the CSV reader's own line numbers put every
    // row of a `\r\n` file (as Excel writes) one line up, its first row on the header, and
    // the row after a blank line on the blank line.
    #[test]
    fn rows_of_a_crlf_file_are_on_their_own_lines() {
        let csv = "id,phone,name,amount\r\nc1,13800000001,张三,5\r\nc2,abc,李四,5\r\nc3,13800000003,王五,x\r\n";
        assert_eq!(
            errors(csv),
            [
                "c.csv:3:4: `abc` in column `phone` is not a phone number",
                "c.csv:4:19: `x` is not an amount of money (write 1200.50) in column `amount` (money)",
            ]
        );
        let csv = "pho%ne,phone,name,amount\r\n1,13800000001,张三,5\r\n2,13800000002,李四,6\r\n";
        let lines: Vec<usize> = load("c.csv", csv, &script(), "cn").unwrap().iter().map(|c| c.line).collect();
        assert_eq!(lines, [2, 3]);
    }

    #[test]
    fn blank_lines_and_lone_carriage_returns_count_as_lines() {
        let csv = "phone,name,amount\r\n\r\n13800000001,张三,5\rabc,李四,5\n\n13800000001,王五,5\n";
        assert_eq!(
            errors(csv),
            [
                "c.csv:4:1: `abc` in column `phone` is not a phone number",
                "c.csv:6:1: customer `+8613800000001` is listed twice (first on line 3)",
            ]
        );
        let e = decode("c.csv", b"phone\r13800000001,\xff\n".to_vec()).unwrap_err();
        assert_eq!(e.to_string(), "c.csv:2:13: this byte is not UTF-8; save the customer list as UTF-8");
    }

    #[test]
    fn missing_required_column() {
        let errors = load("c.csv", "phone,name\n13800000001,张三\n", &script(), "cn").unwrap_err();
        assert!(errors[0].to_string().contains("no column `amount` (money)"), "{}", errors[0]);
    }
}
