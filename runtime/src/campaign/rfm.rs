//! RFM and quantiles over a customer list (CAMPAIGN.md §8): the columns `[rfm]` names, read
//! from the list, and the columns a segment derives from them and from the script's inputs
//! (`recency_days`, the 1–5 scores, `rfm_score`, `quantile(COLUMN, N)`). Pure: columns in,
//! columns out; the segment then reads a derived column like an input.
//!
//! Groups are by rank over the rows that have a value, the mid-rank rule: with `less` rows
//! below a value and `equal` rows holding it, among `n`, its group out of `g` is
//! `1 + floor((less + equal / 2) * g / n)`. Equal values always share a group (the order of
//! the list never matters), groups differ in size by at most one when the values are distinct,
//! and a lone value, or a list where every value is the same, sits in the middle group.

use callscript_compiler::campaign::Rfm;
use callscript_compiler::segment::{Derived, DerivedSlot, Measure, QuantileOf};
use callscript_compiler::syntax::ast::Type;
use callscript_compiler::value::{Date, Money, Value};

use super::InputError;
use super::customers::{Lines, parse_value};

/// The scores of `r_score`, `f_score`, `m_score`: quintiles.
pub const SCORES: u32 = 5;

/// Why the `[rfm]` columns cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RfmError {
    /// The list's header has no column `[rfm] KEY` names.
    #[error("[rfm] {key} names the column `{column}`, but the customer list has no such column")]
    MissingColumn { key: &'static str, column: String },
    /// Cells that are not values of their measure, each at its place.
    #[error("{} cells of the [rfm] columns cannot be read", .0.len())]
    Cells(Vec<InputError>),
}

/// One `[rfm]` column as read: per row of the list (in file order), the value (days since
/// 1970-01-01 for recency, a count, cents), None for an empty cell.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MeasureColumn {
    pub column: String,
    pub values: Vec<Option<i64>>,
}

/// The `[rfm]` columns of a list, by row (each row's line in `lines`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Measures {
    pub recency: Option<MeasureColumn>,
    pub frequency: Option<MeasureColumn>,
    pub monetary: Option<MeasureColumn>,
    /// The line of each row in the list.
    pub lines: Vec<usize>,
    /// The day `recency_days` counts to.
    pub as_of: Date,
}

impl Measures {
    /// No column, no row.
    pub fn empty(as_of: Date) -> Measures {
        Measures { recency: None, frequency: None, monetary: None, lines: Vec::new(), as_of }
    }

    pub fn get(&self, measure: Measure) -> Option<&MeasureColumn> {
        match measure {
            Measure::Recency => self.recency.as_ref(),
            Measure::Frequency => self.frequency.as_ref(),
            Measure::Monetary => self.monetary.as_ref(),
        }
    }

    /// The row of the list at `line`.
    pub fn row_of_line(&self, line: usize) -> Option<usize> {
        self.lines.binary_search(&line).ok()
    }

    /// The values a segment reads as `recency_days`, `frequency`, `monetary` (recency: days
    /// from the date to `as_of`, negative for a date after it), in the rows of `rows`.
    fn values(&self, measure: Measure, rows: &[usize]) -> Vec<Option<i64>> {
        let Some(column) = self.get(measure) else { return vec![None; rows.len()] };
        let as_of = self.as_of.days();
        rows.iter()
            .map(|&r| {
                let v = (*column.values.get(r)?)?;
                if measure == Measure::Recency { as_of.checked_sub(v) } else { Some(v) }
            })
            .collect()
    }

    /// Each row's score of `measure`, 1–5, over every row of the list: recent, frequent and
    /// large are 5 (recency is scored on the date, later higher).
    pub fn scores(&self, measure: Measure) -> Vec<Option<u32>> {
        self.get(measure).map_or_else(|| vec![None; self.lines.len()], |c| groups(&c.values, SCORES))
    }
}

/// Reads the columns `rfm` names from a customer list (the text the loader read): recency a
/// date (`yyyy-mm-dd`), frequency a whole number of at least 0, monetary an amount (`1200.50`,
/// not negative); an empty cell is a missing value. Every bad cell is reported, at its line and
/// column. Rows the CSV reader cannot read are skipped: the loader reports them.
pub fn read_measures(name: &str, text: &str, rfm: &Rfm, as_of: Date) -> Result<Measures, RfmError> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::Headers).from_reader(text.as_bytes());
    let headers = reader.headers().cloned().unwrap_or_default();
    let mut wanted: Vec<(Measure, &str, usize)> = Vec::new();
    for measure in Measure::ALL {
        let Some(column) = measure.column(rfm) else { continue };
        match headers.iter().position(|h| h == column) {
            Some(field) => wanted.push((measure, column, field)),
            None => return Err(RfmError::MissingColumn { key: measure.key(), column: column.to_string() }),
        }
    }
    let mut lines = Lines::new(text);
    let mut measures = Measures::empty(as_of);
    let mut read: Vec<MeasureColumn> =
        wanted.iter().map(|(_, column, _)| MeasureColumn { column: column.to_string(), values: Vec::new() }).collect();
    let mut errors = Vec::new();
    for record in reader.records().filter_map(Result::ok) {
        let line = record.position().map_or(1, |p| lines.of_record(p.byte()));
        for ((measure, column, field), out) in wanted.iter().zip(&mut read) {
            let raw = record.get(*field).unwrap_or("").trim();
            match cell(*measure, raw) {
                Ok(value) => out.values.push(value),
                Err(problem) => {
                    let at = record.iter().take(*field).map(|f| f.chars().count() + 1).sum::<usize>() + 1;
                    let key = measure.key();
                    errors.push(InputError::at(
                        name,
                        line,
                        at,
                        format!("this cell {problem} in column `{column}` ([rfm] {key})"),
                    ));
                    out.values.push(None);
                }
            }
        }
        measures.lines.push(line);
    }
    if !errors.is_empty() {
        return Err(RfmError::Cells(errors));
    }
    for ((measure, ..), column) in wanted.iter().zip(read) {
        match measure {
            Measure::Recency => measures.recency = Some(column),
            Measure::Frequency => measures.frequency = Some(column),
            Measure::Monetary => measures.monetary = Some(column),
        }
    }
    Ok(measures)
}

/// One cell of a measure's column: None when empty.
fn cell(measure: Measure, raw: &str) -> Result<Option<i64>, &'static str> {
    if raw.is_empty() {
        return Ok(None);
    }
    let ty = match measure {
        Measure::Recency => Type::Date,
        Measure::Frequency => Type::Int,
        Measure::Monetary => Type::Money,
    };
    match parse_value(ty, raw)? {
        Value::Date(d) => Ok(Some(d.days())),
        Value::Int(n) if n < 0 => Err("is a negative count"),
        Value::Int(n) => Ok(Some(n)),
        Value::Money(m) => Ok(Some(m.cents())),
        _ => Err("cannot be read"),
    }
}

/// Each value's group, 1..=`groups`, among the values present (the mid-rank rule of the
/// module's documentation); None where the value is.
pub fn groups(values: &[Option<i64>], groups: u32) -> Vec<Option<u32>> {
    let mut sorted: Vec<i64> = values.iter().flatten().copied().collect();
    sorted.sort_unstable();
    let n = sorted.len() as u128;
    values
        .iter()
        .map(|v| {
            let v = (*v)?;
            let less = sorted.partition_point(|&x| x < v) as u128;
            let equal = sorted.partition_point(|&x| x <= v) as u128 - less;
            // (less + equal / 2) / n of the way up, in whole groups; below `groups` as equal ≥ 1.
            Some(1 + ((2 * less + equal) * u128::from(groups) / (2 * n)) as u32)
        })
        .collect()
}

/// A derived column missing a row's value: the row, and the list's column that is empty there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gap {
    pub row: usize,
    /// The derived column (`rfm_score`).
    pub derived: String,
    /// The list's column that gives it no value (`last_txn_date`).
    pub column: String,
}

/// The derived columns of a segment over the rows of a list: for each of `derived` (in its
/// order), each row's value. `rows` are the rows of `measures` the list holds, in list order;
/// `input` gives a row's value of a script input as the list gives it (None when empty).
/// Every row a derived column has no value for is a [`Gap`].
pub fn derive(
    derived: &[DerivedSlot],
    measures: Option<&Measures>,
    rows: &[usize],
    input: &dyn Fn(usize, &str) -> Option<Value>,
) -> (Vec<Vec<Option<Value>>>, Vec<Gap>) {
    let empty = Measures::empty(Date { year: 1970, month: 1, day: 1 });
    let m = measures.unwrap_or(&empty);
    // Scores are over the whole list `measures` read, then taken at the list's rows.
    let at_rows = |scores: Vec<Option<u32>>| -> Vec<Option<u32>> {
        rows.iter().map(|&r| scores.get(r).copied().flatten()).collect()
    };
    let column_name = |measure: Measure| m.get(measure).map_or_else(String::new, |c| c.column.clone());
    // A row's cell of `measure` is empty (or the row is not in the list `measures` read).
    let empty =
        |measure: Measure, row: usize| m.get(measure).is_none_or(|c| c.values.get(row).is_none_or(Option::is_none));
    let int = |v: Option<u32>| v.map(|v| Value::Int(v.into()));
    let mut gaps = Vec::new();
    let mut columns = Vec::with_capacity(derived.len());
    for d in derived {
        // The values, and the measures they are made of.
        let (values, made_of): (Vec<Option<Value>>, Vec<Measure>) = match &d.derived {
            Derived::Value(measure) => {
                let values = m.values(*measure, rows).into_iter().map(|v| v.map(|v| measure_value(*measure, v)));
                (values.collect(), vec![*measure])
            }
            Derived::Score(measure) => (at_rows(m.scores(*measure)).into_iter().map(int).collect(), vec![*measure]),
            Derived::RfmScore => {
                let [r, f, mm] = Measure::ALL.map(|measure| at_rows(m.scores(measure)));
                let values = (0..rows.len()).map(|i| Some(Value::Text(format!("{}{}{}", r[i]?, f[i]?, mm[i]?))));
                (values.collect(), Measure::ALL.to_vec())
            }
            Derived::Quantile { of: QuantileOf::Measure(measure), groups: g } => {
                (groups(&m.values(*measure, rows), *g).into_iter().map(int).collect(), vec![*measure])
            }
            Derived::Quantile { of: QuantileOf::Input(name), groups: g } => {
                let values: Vec<Option<i64>> =
                    (0..rows.len()).map(|i| input(i, name).as_ref().and_then(ordinal)).collect();
                (groups(&values, *g).into_iter().map(int).collect(), Vec::new())
            }
        };
        for row in (0..values.len()).filter(|&row| values[row].is_none()) {
            let column = match (&d.derived, made_of.iter().find(|&&measure| empty(measure, rows[row]))) {
                (Derived::Quantile { of: QuantileOf::Input(name), .. }, _) => name.clone(),
                (_, Some(measure)) => column_name(*measure),
                (_, None) => String::new(),
            };
            gaps.push(Gap { row, derived: d.name.clone(), column });
        }
        columns.push(values);
    }
    (columns, gaps)
}

/// A measure's value as the segment reads it.
fn measure_value(measure: Measure, v: i64) -> Value {
    match measure {
        Measure::Monetary => Value::Money(Money::from_cents(v)),
        Measure::Recency | Measure::Frequency => Value::Int(v),
    }
}

/// A value's place in its order, for `quantile`: ints, cents, days.
fn ordinal(value: &Value) -> Option<i64> {
    match value {
        Value::Int(n) => Some(*n),
        Value::Money(m) => Some(m.cents()),
        Value::Date(d) => Some(d.days()),
        _ => None,
    }
}

/// The RFM grid of `callscript segment --explain`: customers by R and F score (and their
/// monetary sum), and the range of each score's values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grid {
    /// `cells[r - 1][f - 1]`: customers with R score r and F score f.
    pub cells: [[usize; SCORES as usize]; SCORES as usize],
    /// The monetary sum of each cell, in cents (when `[rfm]` names monetary).
    pub monetary: Option<[[i64; SCORES as usize]; SCORES as usize]>,
    /// Per measure declared, each score's values.
    pub ranges: Vec<ScoreRanges>,
    /// Rows without an R or an F score (a cell left empty).
    pub unscored: usize,
}

/// A measure's quintile boundaries: its column, and per score (1–5) the lowest and highest
/// value holding it (recency as dates), None for a score no row has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScoreRanges {
    pub measure: Measure,
    pub column: String,
    pub ranges: Vec<Option<(Value, Value)>>,
}

/// The grid over every row of `measures`. Needs recency and frequency for the cells; the
/// ranges are there for each measure declared.
pub fn grid(measures: &Measures) -> Grid {
    let mut grid = Grid::default();
    for measure in Measure::ALL {
        let Some(column) = measures.get(measure) else { continue };
        let scores = measures.scores(measure);
        let mut ranges: Vec<Option<(i64, i64)>> = vec![None; SCORES as usize];
        for (v, s) in column.values.iter().zip(&scores) {
            if let (Some(v), Some(s)) = (v, s) {
                let range = &mut ranges[*s as usize - 1];
                *range = Some(range.map_or((*v, *v), |(lo, hi)| (lo.min(*v), hi.max(*v))));
            }
        }
        let shown = |v: i64| match measure {
            Measure::Recency => Date::from_days(v).map_or(Value::Int(v), Value::Date),
            _ => measure_value(measure, v),
        };
        let ranges = ranges.into_iter().map(|r| r.map(|(lo, hi)| (shown(lo), shown(hi)))).collect();
        grid.ranges.push(ScoreRanges { measure, column: column.column.clone(), ranges });
    }
    let (r, f) = (measures.scores(Measure::Recency), measures.scores(Measure::Frequency));
    let money = measures.monetary.as_ref();
    let mut sums = [[0i64; SCORES as usize]; SCORES as usize];
    for (row, (r, f)) in r.iter().zip(&f).enumerate() {
        let (Some(r), Some(f)) = (r, f) else {
            grid.unscored += 1;
            continue;
        };
        let (r, f) = (*r as usize - 1, *f as usize - 1);
        grid.cells[r][f] += 1;
        let cents = money.and_then(|m| m.values.get(row).copied().flatten()).unwrap_or(0);
        sums[r][f] = sums[r][f].saturating_add(cents);
    }
    grid.monetary = money.map(|_| sums);
    grid
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(values: &[Option<i64>], n: u32) -> Vec<Option<u32>> {
        groups(values, n)
    }

    #[test]
    fn distinct_values_fill_equal_groups() {
        let values: Vec<Option<i64>> = (1..=10).map(Some).collect();
        let q: Vec<u32> = g(&values, 5).into_iter().flatten().collect();
        assert_eq!(q, [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
        // The order of the list does not matter.
        let reversed: Vec<Option<i64>> = values.iter().rev().copied().collect();
        let q2: Vec<u32> = g(&reversed, 5).into_iter().flatten().collect();
        assert_eq!(q2, [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]);
    }

    #[test]
    fn groups_that_do_not_divide_the_count_differ_by_one() {
        let values: Vec<Option<i64>> = (0..7).map(Some).collect();
        assert_eq!(g(&values, 5), [1, 2, 2, 3, 4, 4, 5].map(Some));
        for n in 1..60 {
            for k in 2..=10u32 {
                let values: Vec<Option<i64>> = (0..n).map(Some).collect();
                let mut sizes = vec![0usize; k as usize];
                for q in g(&values, k).into_iter().flatten() {
                    assert!((1..=k).contains(&q));
                    sizes[q as usize - 1] += 1;
                }
                let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                if n as u32 >= k {
                    assert!(hi - lo <= 1, "{n} rows in {k} groups: {sizes:?}");
                }
            }
        }
    }

    #[test]
    fn ties_share_a_group() {
        let values = [Some(1), Some(5), Some(5), Some(5), Some(5), Some(5), Some(9), Some(9), Some(2), Some(3)];
        let q = g(&values, 5);
        assert_eq!(q, [1, 3, 3, 3, 3, 3, 5, 5, 1, 2].map(Some));
    }

    #[test]
    fn one_row_and_one_value_sit_in_the_middle() {
        assert_eq!(g(&[Some(42)], 5), [Some(3)]);
        assert_eq!(g(&[Some(7); 4], 5), [Some(3); 4]);
        assert_eq!(g(&[Some(7); 4], 4), [Some(3); 4]);
        assert_eq!(g(&[], 5), []);
    }

    #[test]
    fn missing_values_take_no_part_and_get_no_group() {
        let q = g(&[None, Some(10), None, Some(20)], 2);
        assert_eq!(q, [None, Some(1), None, Some(2)]);
        assert_eq!(g(&[None, None], 5), [None, None]);
    }

    fn rfm() -> Rfm {
        Rfm {
            recency: Some("last".into()),
            frequency: Some("count".into()),
            monetary: Some("amount".into()),
            as_of: None,
        }
    }

    const LIST: &str = "phone,last,count,amount\n\
        13800000001,2026-11-30,12,5000.00\n\
        13800000002,2026-06-01,1,20.00\n\
        13800000003,,0,0\n\
        13800000004,2026-11-01,4,800.50\n\
        13800000005,2026-10-01,7,120.00\n";

    fn as_of() -> Date {
        Date::parse("2026-12-01").unwrap()
    }

    #[test]
    fn measures_are_read_with_empty_cells_missing() {
        let m = read_measures("c.csv", LIST, &rfm(), as_of()).unwrap();
        assert_eq!(m.lines, [2, 3, 4, 5, 6]);
        assert_eq!(m.frequency.as_ref().unwrap().values, [12, 1, 0, 4, 7].map(Some));
        assert_eq!(m.recency.as_ref().unwrap().values[2], None);
        assert_eq!(m.values(Measure::Recency, &[0, 1, 2]), [Some(1), Some(183), None]);
        // Recent is high: 2026-11-30 is the latest of four dates.
        assert_eq!(m.scores(Measure::Recency), [Some(5), Some(1), None, Some(4), Some(2)]);
    }

    #[test]
    fn bad_cells_and_missing_columns_are_reported_at_their_place() {
        let bad = "phone,last,count,amount\n13800000001,2026-13-01,-2,12.345\n";
        let Err(RfmError::Cells(errors)) = read_measures("c.csv", bad, &rfm(), as_of()) else { panic!() };
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "c.csv:2:13: this cell is not a date (write 2026-11-24) in column `last` ([rfm] recency)",
                "c.csv:2:24: this cell is a negative count in column `count` ([rfm] frequency)",
                "c.csv:2:27: this cell is not an amount of money (write 1200.50) in column `amount` ([rfm] monetary)",
            ]
        );
        let no_amount = "phone,last,count\n13800000001,2026-11-01,2\n";
        assert_eq!(
            read_measures("c.csv", no_amount, &rfm(), as_of()),
            Err(RfmError::MissingColumn { key: "monetary", column: "amount".into() })
        );
    }

    fn slot(name: &str, ty: Type, derived: Derived) -> DerivedSlot {
        DerivedSlot { slot: 9, name: name.into(), ty, derived }
    }

    #[test]
    fn derived_columns_and_the_rows_that_lack_them() {
        let m = read_measures("c.csv", LIST, &rfm(), as_of()).unwrap();
        let derived = [
            slot("rfm_score", Type::Text, Derived::RfmScore),
            slot("monetary", Type::Money, Derived::Value(Measure::Monetary)),
            slot("quantile(days, 2)", Type::Int, Derived::Quantile { of: QuantileOf::Input("days".into()), groups: 2 }),
        ];
        let days = |row: usize, _: &str| (row != 4).then(|| Value::Int(row as i64 * 10));
        let rows = [0, 1, 2, 3, 4];
        let (columns, gaps) = derive(&derived, Some(&m), &rows, &days);
        let text = |s: &str| Some(Value::Text(s.into()));
        assert_eq!(columns[0], [text("555"), text("122"), None, text("434"), text("243")]);
        assert_eq!(columns[1][3], Some(Value::Money(Money::from_cents(80_050))));
        assert_eq!(columns[2], [Some(1), Some(1), Some(2), Some(2), None].map(|q| q.map(Value::Int)));
        assert_eq!(
            gaps,
            [
                Gap { row: 2, derived: "rfm_score".into(), column: "last".into() },
                Gap { row: 4, derived: "quantile(days, 2)".into(), column: "days".into() },
            ]
        );
    }

    #[test]
    fn the_grid_counts_customers_by_r_and_f() {
        let m = read_measures("c.csv", LIST, &rfm(), as_of()).unwrap();
        let grid = grid(&m);
        assert_eq!(grid.unscored, 1);
        assert_eq!(grid.cells[4][4], 1);
        assert_eq!(grid.cells.iter().flatten().sum::<usize>(), 4);
        assert_eq!(grid.monetary.unwrap()[4][4], 500_000);
        let ScoreRanges { measure, column, ranges } = &grid.ranges[0];
        assert_eq!((*measure, column.as_str()), (Measure::Recency, "last"));
        assert_eq!(
            ranges[4],
            Some((Value::Date(Date::parse("2026-11-30").unwrap()), Value::Date(Date::parse("2026-11-30").unwrap())))
        );
    }
}
