//! Every attempt as CSV (`report --attempts`, CAMPAIGN.md §4).

use jiff::Timestamp;

use super::model::LetNames;
use crate::store::AttemptRow;
use crate::telephony::MASKED;

/// Every attempt as CSV (CAMPAIGN.md §4), `started_at` in UTC and `local_time` in the
/// customer's zone, both ISO 8601; then a `let.NAME` column per let of the script, in
/// declaration order: the value's literal form, `****` for a sensitive let, empty where the
/// attempt holds none (not answered, or another script). When any call used an action or
/// sent a text message, an `actions` column (`NAME ok|failed LATENCYms`, `; `-separated) and
/// an `sms` column (each message's status) follow.
pub fn attempts_csv(rows: &[AttemptRow]) -> String {
    let mut columns = CsvColumns::default();
    rows.iter().for_each(|r| columns.add(r));
    // Writing to memory cannot fail; a record that could not be written would be a bug here.
    let mut csv = AttemptsCsv::new(Vec::new(), columns).expect("CSV to memory");
    rows.iter().for_each(|r| csv.write(r).expect("CSV to memory"));
    String::from_utf8(csv.finish().expect("CSV to memory")).expect("CSV of UTF-8 fields is UTF-8")
}

/// The export's columns, which depend on every attempt: gathered in a first pass over them,
/// so the rows can then be written as they stream from the store.
#[derive(Default)]
pub struct CsvColumns {
    lets: LetNames,
    acted: bool,
    messaged: bool,
}

impl CsvColumns {
    pub fn add(&mut self, r: &AttemptRow) {
        self.lets.add(&r.lets);
        self.acted |= !r.actions.is_empty();
        self.messaged |= !r.messages.is_empty();
    }
}

/// The attempts CSV written one attempt at a time ([`attempts_csv`] in one go).
pub struct AttemptsCsv<W: std::io::Write> {
    out: csv::Writer<W>,
    columns: CsvColumns,
}

impl<W: std::io::Write> AttemptsCsv<W> {
    /// Writes the header.
    pub fn new(w: W, columns: CsvColumns) -> csv::Result<AttemptsCsv<W>> {
        let mut out = csv::Writer::from_writer(w);
        let mut header = vec![
            "customer_id".to_string(),
            "attempt".into(),
            "started_at".into(),
            "local_time".into(),
            "disposition".into(),
            "outcome".into(),
            "talk_seconds".into(),
            "last_step".into(),
            "cause".into(),
        ];
        header.extend(columns.lets.names().iter().map(|name| format!("let.{name}")));
        // Only campaigns whose calls act or send messages have these columns.
        if columns.acted {
            header.push("actions".into());
        }
        if columns.messaged {
            header.push("sms".into());
        }
        out.write_record(&header)?;
        Ok(AttemptsCsv { out, columns })
    }

    pub fn write(&mut self, r: &AttemptRow) -> csv::Result<()> {
        let started = Timestamp::from_millisecond(r.started_ms)
            .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
            .unwrap_or_default();
        let mut record = vec![
            r.customer_id.clone(),
            r.attempt.to_string(),
            started,
            r.local_time.clone(),
            r.disposition.clone(),
            r.outcome.clone().unwrap_or_default(),
            format!("{:.1}", r.talk_ms as f64 / 1000.0),
            r.last_step.clone().unwrap_or_default(),
            r.cause.clone().unwrap_or_default(),
        ];
        record.extend(self.columns.lets.names().iter().map(|name| match r.lets.iter().find(|l| l.name == *name) {
            Some(l) => l.value.clone().unwrap_or_else(|| MASKED.to_string()),
            None => String::new(),
        }));
        if self.columns.acted {
            // `balance_lookup ok 212ms; balance_lookup failed 2000ms`
            let calls: Vec<String> = r
                .actions
                .iter()
                .map(|a| format!("{} {} {}ms", a.name, if a.ok { "ok" } else { "failed" }, a.latency_ms))
                .collect();
            record.push(calls.join("; "));
        }
        if self.columns.messaged {
            record.push(r.messages.iter().map(|m| m.status.as_str()).collect::<Vec<_>>().join("; "));
        }
        self.out.write_record(&record)
    }

    /// Flushes the CSV and hands back the writer.
    pub fn finish(self) -> std::io::Result<W> {
        self.out.into_inner().map_err(|e| e.into_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::{let_names, with_lets};

    /// Attempts of two versions of a script (the campaign resumed with `--accept-new-script`):
    /// one column per let, each script's declaration order kept, empty where an attempt has
    /// no such let, `****` for a sensitive one.
    #[test]
    fn let_columns_are_the_union_of_the_scripts_in_declaration_order() {
        let rows = [
            with_lets(
                "a",
                Some("promised"),
                &[("pay_amount", "money", Some("100.00")), ("pay_date", "date", Some("2026-11-25"))],
            ),
            with_lets("b", None, &[]),
            with_lets(
                "c",
                Some("promised"),
                &[("pay_amount", "money", Some("0.50")), ("id_tail", "text", None), ("note", "text", Some("a,b"))],
            ),
            with_lets("d", None, &[("channel", "text", Some("app")), ("pay_amount", "money", Some("7.00"))]),
        ];
        assert_eq!(let_names(&rows), ["channel", "pay_amount", "id_tail", "note", "pay_date"]);
        let csv = attempts_csv(&rows);
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let header: Vec<String> = reader.headers().unwrap().iter().skip(9).map(String::from).collect();
        assert_eq!(header, ["let.channel", "let.pay_amount", "let.id_tail", "let.note", "let.pay_date"]);
        let lets: Vec<Vec<String>> =
            reader.records().map(|r| r.unwrap().iter().skip(9).map(String::from).collect()).collect();
        assert_eq!(
            lets,
            [
                ["", "100.00", "", "", "2026-11-25"],
                ["", "", "", "", ""],
                ["", "0.50", MASKED, "a,b", ""],
                ["app", "7.00", "", "", ""],
            ]
        );
    }

    #[test]
    fn attempts_csv_quotes_what_needs_quoting() {
        let row = AttemptRow {
            customer_id: "c,1".into(),
            attempt: 1,
            started_ms: 0,
            local_time: "1970-01-01T08:00:00+08:00".into(),
            disposition: "answered".into(),
            outcome: Some("说 \"好\"".into()),
            talk_ms: 1500,
            last_step: Some("line\nbreak".into()),
            cause: None,
            ..AttemptRow::default()
        };
        let csv = attempts_csv(&[row]);
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let record = reader.records().next().unwrap().unwrap();
        assert_eq!(&record[0], "c,1");
        assert_eq!(&record[5], "说 \"好\"");
        assert_eq!(&record[6], "1.5");
        assert_eq!(&record[7], "line\nbreak");
        assert_eq!(&record[8], "");
    }
}
