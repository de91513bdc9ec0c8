//! The customer list: a CSV with a header whose columns are the script's inputs plus `phone`
//! (and optional `id`, `timezone`, `segment`). Every problem is reported at once, with the
//! file, line and column (counting the header as line 1).

use std::collections::HashMap;

use smallvec::SmallVec;

use callscript_compiler::bytecode::ScriptCode;
use callscript_compiler::syntax::ast::Type;
use callscript_compiler::value::{Date, Money, Time, Value};

use super::InputError;
use super::table::Cell;

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
    let mut out = String::new();
    e164_into(raw, jurisdiction, &mut out).then_some(out)
}

/// [`e164`] written into `out` (a loader of millions of rows reuses one buffer); false when
/// `raw` is not a phone number.
pub fn e164_into(raw: &str, jurisdiction: &str, out: &mut String) -> bool {
    out.clear();
    let mut digits = raw.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')'));
    let plus = raw.trim_start_matches([' ', '-', '(', ')']).starts_with('+');
    if plus {
        digits.next();
    }
    // Everything but the separators must be an ASCII digit.
    for c in digits {
        if !c.is_ascii_digit() {
            return false;
        }
        out.push(c);
    }
    let cleaned = out.as_str();
    let n = cleaned.len();
    let prefix = if plus {
        if !(8..=15).contains(&n) {
            return false;
        }
        "+"
    } else {
        match jurisdiction {
            "us" => match n {
                10 => "+1",
                11 if cleaned.starts_with('1') => "+",
                _ => return false,
            },
            _ => match n {
                // Mobile numbers: 11 digits starting with 1.
                11 if cleaned.starts_with('1') => "+86",
                // Landlines with the trunk prefix 0: 010 12345678 → +86 10 12345678.
                10..=12 if cleaned.starts_with('0') => {
                    out.replace_range(..1, "+86");
                    return true;
                }
                13 if cleaned.starts_with("86") => "+",
                _ => return false,
            },
        }
    };
    out.insert_str(0, prefix);
    true
}

/// Parses one cell as a value of an input's type; the error says what is wrong without
/// quoting the cell (the caller decides how much of it may be shown).
pub fn parse_value(ty: Type, raw: &str) -> Result<Value, &'static str> {
    parse_cell(ty, raw).map(|cell| cell.to_value())
}

/// [`parse_value`] with a text borrowed from `raw`.
fn parse_cell(ty: Type, raw: &str) -> Result<Cell<'_>, &'static str> {
    let raw = raw.trim();
    Ok(Cell::Value(match ty {
        Type::Text => return Ok(Cell::Text(raw)),
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
    }))
}

/// Characters in UTF-8 `bytes` (those that do not continue a character).
fn chars_in(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b & 0xC0 != 0x80).count()
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
    pub inputs: &'a [(&'a str, Cell<'a>)],
    pub segment: Option<&'a str>,
    pub line: usize,
}

impl Row<'_> {
    pub fn customer(&self) -> Customer {
        Customer {
            id: self.id.to_string(),
            phone: self.phone.to_string(),
            timezone: self.timezone.map(str::to_string),
            inputs: self.inputs.iter().map(|(n, v)| (n.to_string(), v.to_value())).collect(),
            segment: self.segment.map(str::to_string),
            line: self.line,
        }
    }
}

/// The ids of a list with the line of each, for "listed twice": the ids one after another in
/// one string, and (hash, position) pairs sorted once at the end, so that repeats are found by
/// one sort instead of a hash table probed at random per row (lists run to millions, and the
/// probes missed the cache on every row).
#[derive(Default)]
struct SeenIds {
    ids: String,
    ends: Vec<u32>,
    lines: Vec<u32>,
    /// Per id: its 32-bit hash in the high half, its position in the low half.
    keys: Vec<u64>,
    hasher: hashbrown::DefaultHashBuilder,
}

/// The ids of one list run past what [`SeenIds`] indexes.
#[derive(Debug, thiserror::Error)]
#[error("the list holds more than {} bytes of customer ids; split it", u32::MAX)]
struct TooManyIds;

impl SeenIds {
    fn with_capacity(rows: usize) -> SeenIds {
        SeenIds {
            ends: Vec::with_capacity(rows),
            lines: Vec::with_capacity(rows),
            keys: Vec::with_capacity(rows),
            ..SeenIds::default()
        }
    }

    fn id(&self, at: u32) -> &str {
        let end = self.ends[at as usize] as usize;
        let start = at.checked_sub(1).map_or(0, |p| self.ends[p as usize] as usize);
        &self.ids[start..end]
    }

    fn line(&self, at: u32) -> usize {
        self.lines[at as usize] as usize
    }

    /// Adds `id`, read on `line`.
    fn push(&mut self, id: &str, line: usize) -> Result<(), TooManyIds> {
        use std::hash::BuildHasher;
        let at = u32::try_from(self.ends.len()).map_err(|_| TooManyIds)?;
        let end = u32::try_from(self.ids.len() + id.len()).map_err(|_| TooManyIds)?;
        self.ids.push_str(id);
        self.ends.push(end);
        self.lines.push(line.min(u32::MAX as usize) as u32);
        let hash = self.hasher.hash_one(id) as u32;
        self.keys.push(u64::from(hash) << 32 | u64::from(at));
        Ok(())
    }

    /// Each id listed again, as (its position, the position of its first listing), in list
    /// order.
    fn repeats(&mut self) -> Vec<(u32, u32)> {
        let mut keys = std::mem::take(&mut self.keys);
        keys.sort_unstable();
        let mut repeats = Vec::new();
        for run in keys.chunk_by(|a, b| a >> 32 == b >> 32).filter(|run| run.len() > 1) {
            // Positions ascend within a run: the first equal id before `at` is its first listing
            // (a third listing names the first, not the second).
            for (i, &key) in run.iter().enumerate().skip(1) {
                let at = key as u32;
                if let Some(&first) = run[..i].iter().find(|&&k| self.id(k as u32) == self.id(at)) {
                    repeats.push((at, first as u32));
                }
            }
        }
        repeats.sort_unstable();
        repeats
    }
}

/// Two lists of errors in line order as one, `first`'s before `then`'s on the same line.
fn merge_by_line(first: Vec<InputError>, then: Vec<InputError>) -> Vec<InputError> {
    let mut merged = Vec::with_capacity(first.len() + then.len());
    let mut then = then.into_iter().peekable();
    for e in first {
        while let Some(t) = then.next_if(|t| t.line < e.line) {
            merged.push(t);
        }
        merged.push(e);
    }
    merged.extend(then);
    merged
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
    let char_col = |record: &csv::ByteRecord, field: usize, line_text: &str| -> usize {
        let mut col = 1;
        for (i, f) in record.iter().enumerate() {
            if i == field {
                return col;
            }
            col += chars_in(f) + 1;
        }
        line_text.chars().count().max(1)
    };
    let phone_col = column["phone"];
    let id_col = column.get("id").copied();
    let zone_col = column.get("timezone").copied();
    let segment_col = column.get("segment").copied();
    let mut lines = Lines::new(text);
    let mut count = 0;
    let mut seen_ids = SeenIds::with_capacity(rows_hint);
    // Zones are few: each name is looked up once.
    let mut zone_known: HashMap<String, bool> = HashMap::new();
    let mut phone = String::new();
    // Bytes, not a `StringRecord`: the text is UTF-8 already, and only the cells read are
    // turned into `str`.
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(1, |p| lines.of_record(p.byte()));
                errors.push(InputError::at(name, line, 1, format!("this row cannot be read: {e}")));
                continue;
            }
        }
        let record = &record;
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
        // Cells of a UTF-8 text split at ASCII commas and quotes are UTF-8.
        let cell = |col: usize| record.get(col).and_then(|f| std::str::from_utf8(f).ok()).unwrap_or("").trim();
        if !e164_into(cell(phone_col), jurisdiction, &mut phone) {
            errors.push(InputError::at(
                name,
                line,
                char_col(record, phone_col, line_text()),
                format!("{} in column `phone` is not a phone number", show(phone_col, cell(phone_col))),
            ));
            continue;
        }
        let id = id_col.map(cell).filter(|s| !s.is_empty()).unwrap_or(&phone);
        if let Err(full) = seen_ids.push(id, line) {
            errors.push(InputError::at(name, line, 1, full.to_string()));
            break;
        }
        let timezone = zone_col.map(cell).filter(|s| !s.is_empty());
        let mut known = |tz: &str| match zone_known.get(tz) {
            Some(&known) => known,
            None => *zone_known.entry(tz.to_string()).or_insert(jiff::tz::TimeZone::get(tz).is_ok()),
        };
        if let (Some(tz), Some(c)) = (timezone, zone_col)
            && !known(tz)
        {
            errors.push(InputError::at(
                name,
                line,
                char_col(record, c, line_text()),
                format!("{} in column `timezone` is not a time zone (use a name such as Asia/Shanghai)", show(c, tz)),
            ));
        }
        let mut values: SmallVec<[(&str, Cell); 8]> = SmallVec::new();
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
            match parse_cell(*ty, raw) {
                Ok(v) => values.push((input, v)),
                Err(problem) => errors.push(InputError::at(
                    name,
                    line,
                    char_col(record, *col, line_text()),
                    format!("{} {problem} in column `{input}` ({})", show(*col, raw), ty.name()),
                )),
            }
        }
        let segment = segment_col.map(cell);
        each(&Row { id, phone: &phone, timezone, inputs: &values, segment, line });
        count += 1;
    }
    let repeats = seen_ids.repeats();
    if !repeats.is_empty() {
        let listed_twice = repeats.iter().map(|&(at, first)| {
            let id = seen_ids.id(at);
            InputError::at(
                name,
                seen_ids.line(at),
                1,
                format!(
                    "customer {} is listed twice (first on line {})",
                    show(id_col.unwrap_or(phone_col), id),
                    seen_ids.line(first)
                ),
            )
        });
        errors = merge_by_line(listed_twice.collect(), errors);
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

    /// The rules of [`e164`] as first written (a copy per number), which the buffered
    /// version must keep.
    fn e164_reference(raw: &str, jurisdiction: &str) -> Option<String> {
        let cleaned: String = raw.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')')).collect();
        if let Some(rest) = cleaned.strip_prefix('+') {
            return (rest.len() >= 8 && rest.len() <= 15 && rest.bytes().all(|b| b.is_ascii_digit()))
                .then_some(cleaned);
        }
        if !cleaned.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        match (jurisdiction, cleaned.len()) {
            ("us", 10) => Some(format!("+1{cleaned}")),
            ("us", 11) if cleaned.starts_with('1') => Some(format!("+{cleaned}")),
            ("us", _) => None,
            (_, 11) if cleaned.starts_with('1') => Some(format!("+86{cleaned}")),
            (_, 10..=12) if cleaned.starts_with('0') => Some(format!("+86{}", &cleaned[1..])),
            (_, 13) if cleaned.starts_with("86") => Some(format!("+{cleaned}")),
            _ => None,
        }
    }

    proptest::proptest! {
        #[test]
        fn phones_normalise_as_the_rules_say(
            raw in "[-+() 0-9a１٣]{0,18}|\\(?\\+?(86)?[01][0-9 -]{6,14}",
            jurisdiction in proptest::sample::select(vec!["cn", "us", "sg"]),
        ) {
            proptest::prop_assert_eq!(e164(&raw, jurisdiction), e164_reference(&raw, jurisdiction));
        }
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

    /// Repeats are found after the last row (by one sort): each names the first listing, and
    /// comes in line order with the other errors, first on its own line.
    #[test]
    fn an_id_listed_three_times_names_its_first_line_each_time() {
        let csv = "id,phone,name,amount\nc1,13800000001,张三,1\nc2,13800000002,李四,2\nc1,13800000003,王五,x\nc2,abc,赵六,4\nc1,13800000005,钱七,5\n";
        assert_eq!(
            errors(csv),
            [
                "c.csv:4:1: customer `c1` is listed twice (first on line 2)",
                "c.csv:4:19: `x` is not an amount of money (write 1200.50) in column `amount` (money)",
                "c.csv:5:4: `abc` in column `phone` is not a phone number",
                "c.csv:6:1: customer `c1` is listed twice (first on line 2)",
            ]
        );
    }

    proptest::proptest! {
        /// Whatever the ids, those listed again are exactly the ones a set would find.
        #[test]
        fn repeats_are_exactly_the_ids_seen_before(ids in proptest::collection::vec("[a-c]{0,2}", 0..60)) {
            let mut seen = SeenIds::with_capacity(0);
            for (i, id) in ids.iter().enumerate() {
                seen.push(id, i + 2).unwrap();
            }
            let repeats = seen.repeats();
            let mut expected = Vec::new();
            for (i, id) in ids.iter().enumerate() {
                if let Some(first) = ids[..i].iter().position(|x| x == id) {
                    expected.push((i as u32, first as u32));
                }
            }
            proptest::prop_assert_eq!(repeats, expected);
        }
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
