//! The segment's RFM values and quantiles for `run` and `segment` (CAMPAIGN.md §8): the
//! `[rfm]` columns read from the list, the derived columns a segment reads added to a copy of
//! the list's table as inputs of a copy of the script, and the RFM grid `segment --explain`
//! prints.

use std::collections::BTreeMap;
use std::sync::Arc;

use callscript_compiler::segment::Segment;
use callscript_compiler::value::{Date, Money};
use callscript_runtime::campaign::list::CustomerList;
use callscript_runtime::campaign::rfm::{self, Grid, Measures, RfmError, SCORES};
use callscript_runtime::campaign::table::CustomerTable;
use callscript_runtime::campaign::{InputError, Loaded};
use callscript_runtime::vm::Executable;

use crate::error::CliError;

/// Rows missing a value a segment reads that are each reported; the others are counted.
const SHOWN_GAPS: usize = 20;

/// The day `recency_days` counts to: `[rfm] as_of`, else today in the campaign's zone.
pub(crate) fn as_of(loaded: &Loaded) -> Date {
    let campaign = &loaded.campaign;
    campaign.rfm.as_ref().and_then(|r| r.as_of).unwrap_or_else(|| {
        let today = campaign.schedule.timezone.to_datetime(jiff::Timestamp::now()).date();
        callscript_runtime::vm::today_of(today)
    })
}

/// The `[rfm]` columns of the list, when the campaign declares them; a column the list lacks
/// is refused at its `[rfm]` key, bad cells at theirs.
pub(crate) fn measures(loaded: &Loaded, csv_name: &str, csv_text: &str) -> Result<Option<Measures>, CliError> {
    let Some(declared) = &loaded.campaign.rfm else { return Ok(None) };
    match rfm::read_measures(csv_name, csv_text, declared, as_of(loaded)) {
        Ok(measures) => Ok(Some(measures)),
        Err(RfmError::Cells(errors)) => Err(CliError::Input { errors, consequence: "no call was placed" }),
        Err(e @ RfmError::MissingColumn { key, .. }) => Err(CliError::Refused(format!(
            "{}: {e} ({csv_name})\nno call was placed",
            crate::campaign::setting_place(loaded, &format!("rfm.{key}"))
        ))),
    }
}

/// What the segment runs over when it reads RFM values or quantiles: `exec` with `script`
/// replaced by the segment's copy (its inputs plus the derived columns), and a copy of the
/// list's table with those columns; `(exec, None)` when it reads none. A row without a value
/// the segment reads is an error at its line, as a required input left empty is: no call is
/// placed.
pub(crate) fn with_derived(
    segment: &Segment,
    measures: Option<&Measures>,
    exec: &Arc<Executable>,
    list: &CustomerList,
    csv_name: &str,
) -> Result<(Arc<Executable>, Option<CustomerTable>), CliError> {
    if segment.derived.is_empty() {
        return Ok((Arc::clone(exec), None));
    }
    let rows: Vec<usize> = match measures {
        Some(m) => (0..list.len()).map(|i| m.row_of_line(list.line(i)).unwrap_or(usize::MAX)).collect(),
        None => (0..list.len()).collect(),
    };
    let table = list.table();
    let input = |row: usize, name: &str| {
        let column = table.columns().iter().find(|c| c.name == name)?;
        table.value(column, row)
    };
    let (columns, gaps) = rfm::derive(&segment.derived, measures, &rows, &input);
    if !gaps.is_empty() {
        return Err(CliError::Input { errors: gap_errors(gaps, list, csv_name), consequence: "no call was placed" });
    }
    let mut derived = table.clone();
    for (d, values) in segment.derived.iter().zip(&columns) {
        derived.append_column(&d.name, d.slot, d.ty, values).map_err(|e| CliError::Refused(e.to_string()))?;
    }
    let mut program = exec.program.clone();
    if let Some(code) = program.scripts.iter_mut().find(|s| s.name == segment.script.name) {
        *code = segment.script.clone();
    }
    Ok((Executable::new(program).map_err(CliError::Refused)?, Some(derived)))
}

/// One error per row that lacks a value the segment reads: what it reads there, and the cells
/// that are empty; the first [`SHOWN_GAPS`] rows, then how many more.
fn gap_errors(gaps: Vec<rfm::Gap>, list: &CustomerList, csv_name: &str) -> Vec<InputError> {
    let mut rows: BTreeMap<usize, (Vec<String>, Vec<String>)> = BTreeMap::new();
    for g in gaps {
        let (reads, empty) = rows.entry(g.row).or_default();
        reads.push(format!("`{}`", g.derived));
        if !empty.contains(&format!("`{}`", g.column)) {
            empty.push(format!("`{}`", g.column));
        }
    }
    let count = rows.len();
    let mut errors: Vec<InputError> = rows
        .into_iter()
        .take(SHOWN_GAPS)
        .map(|(row, (reads, empty))| InputError {
            file: csv_name.to_string(),
            line: Some(list.line(row)),
            column: None,
            message: format!("the segment reads {}, but {} is empty on this row", reads.join(", "), empty.join(", ")),
        })
        .collect();
    if count > SHOWN_GAPS {
        errors.push(InputError::new(
            csv_name,
            format!("and {} more rows lack a value the segment reads", count - SHOWN_GAPS),
        ));
    }
    errors
}

/// The RFM grid as `segment --explain` prints it.
pub(crate) fn render_grid(grid: &Grid, as_of: Date) -> String {
    let mut out = String::new();
    let scores = 1..=SCORES as usize;
    let table = |out: &mut String, title: &str, cell: &dyn Fn(usize, usize) -> String| {
        out.push_str(&format!("    {title}\n      {:<4}", "R\\F"));
        for f in scores.clone() {
            out.push_str(&format!("{:>12}", format!("F{f}")));
        }
        out.push('\n');
        for r in scores.clone().rev() {
            out.push_str(&format!("      {:<4}", format!("R{r}")));
            for f in scores.clone() {
                out.push_str(&format!("{:>12}", cell(r - 1, f - 1)));
            }
            out.push('\n');
        }
    };
    let keys: Vec<_> = grid.ranges.iter().map(|r| r.measure.key()).collect();
    let counted = if keys.contains(&"recency") { format!("; recency counted to {as_of}") } else { String::new() };
    out.push_str(&format!("  RFM (scores 1–5 by quintile{counted})\n"));
    if keys.contains(&"recency") && keys.contains(&"frequency") {
        table(&mut out, "customers by R (5: most recent) and F (5: most frequent)", &|r, f| {
            grid.cells[r][f].to_string()
        });
        if let Some(sums) = &grid.monetary {
            table(&mut out, "monetary sum by R and F", &|r, f| Money::from_cents(sums[r][f]).to_string());
        }
        if grid.unscored > 0 {
            out.push_str(&format!("    {} customers have no R or F score (an empty cell)\n", grid.unscored));
        }
    }
    out.push_str("    each score's values (lowest – highest)\n");
    for measure in &grid.ranges {
        let letter = measure.measure.key()[..1].to_uppercase();
        out.push_str(&format!("      {letter} {}\n", measure.column));
        for (score, range) in measure.ranges.iter().enumerate() {
            let range = range.as_ref().map_or_else(
                || "none".to_string(),
                |(lo, hi)| format!("{} – {}", lo.literal_text(), hi.literal_text()),
            );
            out.push_str(&format!("        {} {range}\n", score + 1));
        }
    }
    out
}
