//! Campaign reports (CAMPAIGN.md §4 and §7) computed from the store, one job per module:
//! `model` builds the [`Report`] from the stored attempts, `compare` sets two reports side by
//! side, `table`, `html` and the JSON below render them, `charts` draws the HTML page's SVG
//! charts, `labels` holds the titles the report shows for names, and `export` writes every
//! attempt as CSV (`--attempts`).

mod charts;
mod compare;
mod export;
mod html;
pub mod labels;
mod model;
mod table;

pub use compare::{Comparison, Difference, compare};
pub use export::{AttemptsCsv, CsvColumns, attempts_csv};
pub use html::{html, html_comparison};
pub use model::{
    ActionFigures, Breakdowns, Bucket, Captured, FunnelStep, LetFigures, LetNames, LetSummary, Report, ReportBuilder,
    Sum, Transfers, build, let_names,
};
pub use table::{table, table_comparison};

/// The report as pretty JSON (CAMPAIGN.md §4's fields, then §7's).
pub fn json(r: &Report) -> String {
    serde_json::to_string_pretty(r).expect("a report serialises")
}

/// Two reports and their differences as pretty JSON: `{ "a": …, "b": …, "differences": … }`.
pub fn json_comparison(c: &Comparison) -> String {
    serde_json::to_string_pretty(c).expect("a comparison serialises")
}
