//! Where each value of a campaign file stands: a side table from a key path
//! (`schedule.start_time`, `schedule.days.1`) to the byte span of its value, read from the
//! TOML document or the JSON text. Diagnostics about a value point at it through this table;
//! a key that is not written has no span (and falls back to its table, then the file's start).

use std::collections::BTreeMap;

use crate::span::Span;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Spans {
    values: BTreeMap<String, Span>,
    keys: BTreeMap<String, Span>,
}

impl Spans {
    /// The value's span, if the key is written.
    pub fn get(&self, path: &str) -> Option<Span> {
        self.values.get(path).copied()
    }

    /// The span of the key itself (`CS009` in `[allow] CS009 = "…"`), else its value's.
    pub fn key(&self, path: &str) -> Span {
        self.keys.get(path).copied().unwrap_or_else(|| self.at(path))
    }

    /// Whether the file writes this key.
    pub fn has(&self, path: &str) -> bool {
        self.values.contains_key(path)
    }

    /// The value's span, else its nearest written table's, else the file's first byte.
    pub fn at(&self, path: &str) -> Span {
        let mut path = path;
        loop {
            if let Some(span) = self.get(path) {
                return span;
            }
            match path.rsplit_once('.') {
                Some((parent, _)) => path = parent,
                None => return Span::new(0, 0),
            }
        }
    }

    fn insert(&mut self, path: String, span: Span) {
        self.values.entry(path).or_insert(span);
    }

    /// Spans of a TOML document that parsed.
    pub fn of_toml(root: &toml::de::DeTable<'_>) -> Spans {
        let mut spans = Spans::default();
        for (key, value) in root {
            let r = key.span();
            spans.keys.insert(key.get_ref().to_string(), Span::new(r.start, r.end));
            walk_toml(&mut spans, key.get_ref().to_string(), value);
        }
        spans
    }

    /// Spans of a JSON text that parsed (the caller has parsed it).
    pub fn of_json(text: &str) -> Spans {
        let mut spans = Spans::default();
        let mut scanner = JsonScanner { bytes: text.as_bytes(), at: 0 };
        scanner.value(&mut spans, String::new(), 0);
        spans
    }
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() { key.to_string() } else { format!("{parent}.{key}") }
}

fn walk_toml(spans: &mut Spans, path: String, value: &toml::Spanned<toml::de::DeValue<'_>>) {
    let r = value.span();
    spans.insert(path.clone(), Span::new(r.start, r.end));
    match value.get_ref() {
        toml::de::DeValue::Table(table) => {
            for (key, value) in table {
                let r = key.span();
                spans.keys.entry(join(&path, key.get_ref())).or_insert(Span::new(r.start, r.end));
                walk_toml(spans, join(&path, key.get_ref()), value);
            }
        }
        toml::de::DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk_toml(spans, join(&path, &i.to_string()), item);
            }
        }
        _ => {}
    }
}

/// Just enough of JSON to find where values stand, over text serde_json has accepted. Depth is
/// bounded (serde_json refuses deeper input anyway), and every step moves forward.
struct JsonScanner<'t> {
    bytes: &'t [u8],
    at: usize,
}

const MAX_DEPTH: usize = 128;

impl JsonScanner<'_> {
    fn blank(&mut self) {
        while self.at < self.bytes.len() && self.bytes[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
    }

    /// Skips a string starting at its quote; returns its raw text (escapes kept).
    fn string(&mut self) -> String {
        let start = self.at + 1;
        self.at += 1;
        while self.at < self.bytes.len() {
            match self.bytes[self.at] {
                b'\\' => self.at += 2,
                b'"' => {
                    self.at += 1;
                    return String::from_utf8_lossy(&self.bytes[start..self.at - 1]).into_owned();
                }
                _ => self.at += 1,
            }
        }
        String::new()
    }

    fn value(&mut self, spans: &mut Spans, path: String, depth: usize) {
        self.blank();
        let start = self.at;
        match self.bytes.get(self.at) {
            Some(b'{') if depth < MAX_DEPTH => {
                self.at += 1;
                loop {
                    self.blank();
                    match self.bytes.get(self.at) {
                        Some(b'"') => {
                            let key_start = self.at;
                            let key = self.string();
                            spans.keys.entry(join(&path, &key)).or_insert(Span::new(key_start, self.at));
                            self.blank();
                            if self.bytes.get(self.at) == Some(&b':') {
                                self.at += 1;
                            }
                            self.value(spans, join(&path, &key), depth + 1);
                        }
                        Some(b',') => self.at += 1,
                        Some(b'}') => {
                            self.at += 1;
                            break;
                        }
                        _ => return,
                    }
                }
            }
            Some(b'[') if depth < MAX_DEPTH => {
                self.at += 1;
                let mut index = 0;
                loop {
                    self.blank();
                    match self.bytes.get(self.at) {
                        Some(b',') => self.at += 1,
                        Some(b']') => {
                            self.at += 1;
                            break;
                        }
                        Some(_) => {
                            let before = self.at;
                            self.value(spans, join(&path, &index.to_string()), depth + 1);
                            index += 1;
                            if self.at == before {
                                return;
                            }
                        }
                        None => return,
                    }
                }
            }
            Some(b'"') => {
                self.string();
            }
            Some(_) => {
                while self.at < self.bytes.len() && !b",}] \t\r\n".contains(&self.bytes[self.at]) {
                    self.at += 1;
                }
            }
            None => return,
        }
        if !path.is_empty() {
            spans.insert(path, Span::new(start, self.at));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_values_and_array_items() {
        let text = "task_id = \"t\"\n[schedule]\nstart_time = \"09:00\"\ndays = [\"mon\", \"xyz\"]\n";
        let spans = Spans::of_toml(toml::de::DeTable::parse(text).unwrap().get_ref());
        assert_eq!(&text[spans.at("schedule.start_time").range()], "\"09:00\"");
        assert_eq!(&text[spans.at("schedule.days.1").range()], "\"xyz\"");
        // Not written: the table's span, then the file's start.
        assert_eq!(spans.get("schedule.end_time"), None);
        assert!(spans.at("schedule.end_time").start > 0);
        assert_eq!(spans.at("retry.backoff"), Span::new(0, 0));
        assert_eq!(&text[spans.key("schedule.start_time").range()], "start_time");
    }

    #[test]
    fn json_values_and_array_items() {
        let text =
            r#"{ "task_id": "T\"1", "schedule": { "start_time": "9am", "days": ["mon", "x"], "max_concurrent": 0 } }"#;
        let spans = Spans::of_json(text);
        assert_eq!(&text[spans.at("task_id").range()], r#""T\"1""#);
        assert_eq!(&text[spans.at("schedule.start_time").range()], "\"9am\"");
        assert_eq!(&text[spans.at("schedule.days.1").range()], "\"x\"");
        assert_eq!(&text[spans.at("schedule.max_concurrent").range()], "0");
    }

    #[test]
    fn json_scanner_is_total_on_bad_text() {
        for text in ["", "{", "[[[", "{\"a\":", "\"", "{\"a\" 1}", "[1,,]"] {
            let _ = Spans::of_json(text);
        }
        let deep = "[".repeat(10_000);
        let _ = Spans::of_json(&deep);
    }
}
