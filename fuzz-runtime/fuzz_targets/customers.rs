//! The customer-list loader (`campaign::customers::decode`, then `load`), as `callscript run`
//! calls it: any bytes decode to text or one UTF-8 error, and any text loads to customers or
//! errors, never a panic. Each text is loaded against two scripts compiled once (one with
//! every kind of input required, one with every input defaulted), for both jurisdictions.
//! What must hold: every error has a position inside the file; a loaded list is non-empty,
//! its ids unique, its phones E.164, its rows in file order, every required input present; no
//! error quotes a cell of a `sensitive` input. The list read straight into columns
//! (`CustomerList::load_csv`) gives back the loaded customers, or the same errors.
#![no_main]

use std::collections::HashSet;
use std::sync::LazyLock;

use callscript_compiler::bytecode::ScriptCode;
use callscript_compiler::check::check_source;
use callscript_runtime::campaign::InputError;
use callscript_runtime::campaign::customers::{self, Customer};
use callscript_runtime::campaign::list::CustomerList;
use callscript_runtime::campaign::table::CustomerTable;
use libfuzzer_sys::fuzz_target;

/// Every input type, all required; `phone` is also a sensitive input (so the phone and
/// duplicate-customer errors must hide it).
const STRICT: &str = r#"script strict {
  purpose service
  input { customer_name: text, days_overdue: int, amount_due: money, account_tail: text sensitive, phone: text sensitive, pin: int sensitive, due: date, consent: bool }
  outcomes { done }
  opening { say "本次通话将被录音{{customer_name}}{{days_overdue}}{{amount_due}}{{due}}"; hangup done }
}
"#;

/// Every input type, all defaulted, named after the examples' columns so their lists load.
const LENIENT: &str = r#"script lenient {
  purpose service
  input {
    customer_name: text = "",
    card_tail: text sensitive = "",
    days_overdue: int = 0,
    term_days: int = 0,
    product_risk: int sensitive = 0,
    annual_fee: money = 0,
    amount_due: money = 0,
    annual_fee_waived: bool = false,
    marketing_consent: bool = false,
    due: date = 2026-11-24
  }
  outcomes { done }
  opening { say "本次通话将被录音{{customer_name}}{{days_overdue}}{{term_days}}{{annual_fee}}{{amount_due}}{{due}}"; hangup done }
}
"#;

fn compile(source: &str, inputs: usize) -> ScriptCode {
    let checked = check_source("fuzz.call", source);
    assert_eq!(checked.error_count(), 0, "{:?}", checked.diagnostics);
    let script = callscript_compiler::lower::lower(&checked, checked.files[0].id).scripts.remove(0);
    assert_eq!(script.slots.iter().filter(|s| s.input).count(), inputs);
    script
}

static SCRIPTS: LazyLock<[ScriptCode; 2]> = LazyLock::new(|| [compile(STRICT, 8), compile(LENIENT, 10)]);

fuzz_target!(|data: &[u8]| {
    let text = match customers::decode("c.csv", data.to_vec()) {
        Ok(text) => {
            assert_eq!(text.as_bytes(), data);
            text
        }
        Err(error) => {
            assert!(std::str::from_utf8(data).is_err(), "valid UTF-8 refused: {error}");
            let (line, column) = (error.line.unwrap(), error.column.unwrap());
            let valid = std::str::from_utf8(&data[..data.utf8_chunks().next().map_or(0, |c| c.valid().len())]).unwrap();
            // The first bad byte ends the valid text: on its last line, after its last character.
            let lines = lines(valid);
            assert_eq!((line, column), (lines.len(), lines[lines.len() - 1].chars().count() + 1), "{error}");
            return;
        }
    };
    for script in SCRIPTS.iter() {
        for jurisdiction in ["cn", "us"] {
            let columns = CustomerList::load_csv("c.csv", &text, script, jurisdiction);
            match customers::load("c.csv", &text, script, jurisdiction) {
                Ok(list) => {
                    loaded(&text, script, jurisdiction, &list);
                    let columns = columns.expect("the list put into columns");
                    assert_eq!(columns.customers().collect::<Vec<_>>(), list, "the same customers from the columns");
                    let table = CustomerTable::from_customers(script, &list).expect("the inputs put into columns");
                    assert_eq!(&table, columns.table());
                    for (row, customer) in list.iter().enumerate() {
                        assert_eq!(table.row_inputs(row), customer.inputs, "row {row} reads back");
                    }
                }
                Err(errors) => {
                    assert!(!errors.is_empty());
                    refused(&text, script, &errors);
                    assert_eq!(columns.err(), Some(errors), "the same errors from the columns");
                }
            }
        }
    }
});

/// The file's lines, each ended by `\n`, `\r\n` or a lone `\r` (as the CSV reader ends rows
/// and editors show them).
fn lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = text;
    while let Some(end) = rest.find(['\r', '\n']) {
        lines.push(&rest[..end]);
        rest = &rest[end + if rest[end..].starts_with("\r\n") { 2 } else { 1 }..];
    }
    lines.push(rest);
    lines
}

fn loaded(text: &str, script: &ScriptCode, jurisdiction: &str, list: &[Customer]) {
    assert!(!list.is_empty(), "an empty list loaded");
    let lines = lines(text);
    let mut ids = HashSet::new();
    let mut last_line = 1;
    for customer in list {
        assert!(ids.insert(&customer.id), "customer {} loaded twice", customer.id);
        assert_eq!(customers::e164(&customer.phone, jurisdiction).as_deref(), Some(customer.phone.as_str()), "phone");
        // Each row on a line of its own after the header's, and not on a blank line.
        assert!(
            customer.line > last_line && customer.line <= lines.len(),
            "row line {} after {last_line}",
            customer.line
        );
        assert!(!lines[customer.line - 1].is_empty(), "row {} on a blank line", customer.id);
        last_line = customer.line;
        // Inputs in slot order, each at most once, every required one present.
        let mut given = customer.inputs.iter().map(|(name, _)| name.as_str()).peekable();
        for slot in script.slots.iter().filter(|s| s.input) {
            if given.peek() == Some(&slot.name.as_str()) {
                given.next();
            } else {
                assert!(slot.init.is_some(), "required input `{}` missing", slot.name);
            }
        }
        assert!(given.next().is_none(), "inputs out of slot order: {:?}", customer.inputs);
    }
}

fn refused(text: &str, script: &ScriptCode, errors: &[InputError]) {
    let lines = lines(text).len();
    let chars = text.chars().count();
    for error in errors {
        assert_eq!(error.file, "c.csv");
        let (line, column) = (error.line.expect("a line"), error.column.expect("a column"));
        // Line 2 of a file of one line: "a header but no customers".
        assert!(line >= 1 && line <= lines.max(2), "line outside the file: {error}");
        assert!(column >= 1 && column <= chars + 1, "column outside the file: {error}");
    }
    // No error quotes a sensitive cell. Checked for cells that cannot be confused with the
    // messages' own words, numbers or other cells: six or more ASCII letters and digits, at
    // least one of each, found nowhere in the file but in sensitive cells.
    let Some(secrets) = sensitive_cells(text, script) else { return };
    for secret in &secrets {
        for error in errors {
            assert!(!error.message.contains(secret.as_str()), "a sensitive cell is shown: {error}");
        }
    }
}

/// The cells of sensitive inputs worth looking for in messages (see `refused`), or None when
/// the header cannot be read.
fn sensitive_cells(text: &str, script: &ScriptCode) -> Option<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::Headers).from_reader(text.as_bytes());
    let headers = reader.headers().ok()?.clone();
    let sensitive: HashSet<usize> = headers
        .iter()
        .enumerate()
        .filter(|(_, h)| script.slots.iter().any(|s| s.input && s.sensitive && s.name == *h))
        .map(|(i, _)| i)
        .collect();
    if sensitive.is_empty() {
        return Some(Vec::new());
    }
    let mut secret = Vec::new();
    let mut public: Vec<String> = headers.iter().map(str::to_string).collect();
    for record in reader.records() {
        let Ok(record) = record else { continue };
        for (i, cell) in record.iter().enumerate() {
            if sensitive.contains(&i) && record.len() == headers.len() {
                secret.push(cell.trim().to_string());
            } else {
                public.push(cell.to_string());
            }
        }
    }
    let worth = |s: &String| {
        s.len() >= 6
            && s.bytes().all(|b| b.is_ascii_alphanumeric())
            && s.bytes().any(|b| b.is_ascii_digit())
            && s.bytes().any(|b| b.is_ascii_alphabetic())
    };
    Some(
        secret
            .iter()
            .filter(|s| worth(s) && !public.iter().any(|p| p.contains(s.as_str())))
            .filter(|s| {
                text.matches(s.as_str()).count() == secret.iter().map(|t| t.matches(s.as_str()).count()).sum::<usize>()
            })
            .cloned()
            .collect(),
    )
}
