//! The customer list as columns (CAMPAIGN.md §8): one typed column per script input, so a
//! segment reads a few dense arrays instead of a struct per customer, and native code (the
//! segment JIT) can walk them with plain loads.
//!
//! Ints and money (cents) are `i64`, dates `i32` days since 1970-01-01, times `u16` minutes
//! after midnight, bools `u8`, texts `u32` ids into one arena where equal texts share one id
//! (so text equality is id equality). A value the row does not give (an input left to its
//! default) is marked missing in the column's validity bitmap; columns without missing values
//! have no bitmap.

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use callscript_compiler::bytecode::ScriptCode;
use callscript_compiler::syntax::ast::Type;
use callscript_compiler::value::{Date, Money, Time, Value};

use super::customers::Customer;

/// Why customers cannot be put into a table (the caller then keeps to the interpreter, whose
/// session start reports the same problem per customer).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("`{0}` is not an input of the script")]
    UnknownInput(String),
    #[error("input `{input}` is {expected}, but a row holds {found:?}")]
    WrongType { input: String, expected: &'static str, found: Value },
    #[error("the table holds at most {} rows", u32::MAX)]
    TooManyRows,
    #[error("the table holds at most {} different texts", u32::MAX)]
    TooManyTexts,
    #[error("a column of {found} values for a table of {rows} rows")]
    ColumnLength { rows: usize, found: usize },
}

/// A value as a row hands it to the table: a text borrowed from where it was read (a list of
/// millions of names is not copied into a `String` per row on its way into the arena), any
/// other type as its value.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell<'a> {
    Text(&'a str),
    Value(Value),
}

impl Cell<'_> {
    pub fn to_value(&self) -> Value {
        match self {
            Cell::Text(t) => Value::Text(t.to_string()),
            Cell::Value(v) => v.clone(),
        }
    }
}

impl<'a> From<&'a Value> for Cell<'a> {
    fn from(value: &'a Value) -> Cell<'a> {
        match value {
            Value::Text(t) => Cell::Text(t),
            v => Cell::Value(v.clone()),
        }
    }
}

impl<'a> From<&Cell<'a>> for Cell<'a> {
    fn from(cell: &Cell<'a>) -> Cell<'a> {
        cell.clone()
    }
}

/// The values of one column, in row order.
#[derive(Clone, Debug, PartialEq)]
pub enum ColumnData {
    Int(Vec<i64>),
    /// Cents.
    Money(Vec<i64>),
    /// Days since 1970-01-01.
    Date(Vec<i32>),
    /// Minutes after midnight.
    Time(Vec<u16>),
    /// 0 or 1.
    Bool(Vec<u8>),
    /// Ids into the table's [`TextArena`].
    Text(Vec<u32>),
}

impl ColumnData {
    fn new(ty: Type) -> ColumnData {
        match ty {
            Type::Int => ColumnData::Int(Vec::new()),
            Type::Money => ColumnData::Money(Vec::new()),
            Type::Date => ColumnData::Date(Vec::new()),
            Type::Time => ColumnData::Time(Vec::new()),
            Type::Bool => ColumnData::Bool(Vec::new()),
            Type::Text => ColumnData::Text(Vec::new()),
        }
    }

    /// The start of the values, for native code that reads them by row index.
    pub fn as_ptr(&self) -> *const u8 {
        match self {
            ColumnData::Int(v) | ColumnData::Money(v) => v.as_ptr().cast(),
            ColumnData::Date(v) => v.as_ptr().cast(),
            ColumnData::Time(v) => v.as_ptr().cast(),
            ColumnData::Bool(v) => v.as_ptr(),
            ColumnData::Text(v) => v.as_ptr().cast(),
        }
    }

    /// Appends a placeholder for a missing value (its bit in the validity bitmap says so).
    fn push_placeholder(&mut self) {
        match self {
            ColumnData::Int(v) | ColumnData::Money(v) => v.push(0),
            ColumnData::Date(v) => v.push(0),
            ColumnData::Time(v) => v.push(0),
            ColumnData::Bool(v) => v.push(0),
            ColumnData::Text(v) => v.push(0),
        }
    }

    fn len(&self) -> usize {
        match self {
            ColumnData::Int(v) | ColumnData::Money(v) => v.len(),
            ColumnData::Date(v) => v.len(),
            ColumnData::Time(v) => v.len(),
            ColumnData::Bool(v) => v.len(),
            ColumnData::Text(v) => v.len(),
        }
    }
}

/// One bit per row, set when the row has a value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Validity {
    bits: Vec<u8>,
}

impl Validity {
    /// All `rows` rows valid.
    fn all_valid(rows: usize) -> Validity {
        let mut bits = vec![0xff; rows.div_ceil(8)];
        if !rows.is_multiple_of(8)
            && let Some(last) = bits.last_mut()
        {
            *last = (1u8 << (rows % 8)) - 1;
        }
        Validity { bits }
    }

    fn push(&mut self, row: usize, valid: bool) {
        if row / 8 == self.bits.len() {
            self.bits.push(0);
        }
        if valid {
            self.bits[row / 8] |= 1 << (row % 8);
        }
    }

    pub fn is_valid(&self, row: usize) -> bool {
        self.bits.get(row / 8).is_some_and(|b| b & (1 << (row % 8)) != 0)
    }

    /// The bitmap's bytes: row `r` is bit `r % 8` of byte `r / 8`.
    pub fn as_ptr(&self) -> *const u8 {
        self.bits.as_ptr()
    }
}

/// A script input as a column.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: String,
    /// The input's slot in the script.
    pub slot: u16,
    pub ty: Type,
    pub data: ColumnData,
    /// None when every row has a value.
    pub validity: Option<Validity>,
}

impl Column {
    pub fn is_valid(&self, row: usize) -> bool {
        self.validity.as_ref().is_none_or(|v| v.is_valid(row))
    }

    /// Appends `cell` (its text interned in `texts`); the caller marks the row valid.
    fn push(&mut self, cell: Cell, texts: &mut TextArena) -> Result<(), TableError> {
        let expected = self.ty.name();
        let wrong = |cell: &Cell| TableError::WrongType { input: self.name.clone(), expected, found: cell.to_value() };
        match (&mut self.data, &cell) {
            (ColumnData::Text(v), Cell::Text(t)) => v.push(texts.intern(t).ok_or(TableError::TooManyTexts)?),
            (ColumnData::Int(v), Cell::Value(Value::Int(n))) => v.push(*n),
            (ColumnData::Money(v), Cell::Value(Value::Money(m))) => v.push(m.cents()),
            // A session widens an int to money (§9.5); one too large is its error to report.
            (ColumnData::Money(v), Cell::Value(Value::Int(n))) => {
                v.push(Money::from_int(*n).ok_or_else(|| wrong(&cell))?.cents())
            }
            (ColumnData::Date(v), Cell::Value(Value::Date(d))) => v.push(d.days() as i32),
            (ColumnData::Time(v), Cell::Value(Value::Time(t))) => v.push(u16::from(t.hour) * 60 + u16::from(t.minute)),
            (ColumnData::Bool(v), Cell::Value(Value::Bool(b))) => v.push(u8::from(*b)),
            (ColumnData::Text(v), Cell::Value(Value::Text(t))) => {
                v.push(texts.intern(t).ok_or(TableError::TooManyTexts)?)
            }
            _ => return Err(wrong(&cell)),
        }
        Ok(())
    }

    /// Records whether `row` (just pushed) has a value.
    fn mark(&mut self, row: usize, valid: bool) {
        if !valid {
            // The first missing value: every earlier row had one.
            self.validity.get_or_insert_with(|| Validity::all_valid(row)).push(row, false);
        } else if let Some(validity) = &mut self.validity {
            validity.push(row, true);
        }
    }
}

/// Every distinct text of the table once; equal texts have one id. The index holds ids only
/// (hashing the text in the arena): a list of ten million different names costs 5 bytes a
/// name in it, where a map from owned strings cost about 50.
#[derive(Clone, Default)]
pub struct TextArena {
    bytes: String,
    /// Where text `id` ends in `bytes` (it starts where `id - 1` ends).
    ends: Vec<u32>,
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl TextArena {
    fn slice<'a>(bytes: &'a str, ends: &[u32], id: u32) -> Option<&'a str> {
        let end = *ends.get(id as usize)? as usize;
        let start = id.checked_sub(1).map_or(0, |prev| ends[prev as usize] as usize);
        bytes.get(start..end)
    }

    /// The id of `text`, added when new; None when ids (or the arena's 4 GB) ran out.
    pub fn intern(&mut self, text: &str) -> Option<u32> {
        let TextArena { bytes, ends, index, hasher } = self;
        let hash = hasher.hash_one(text);
        if let Some(&id) = index.find(hash, |&id| Self::slice(bytes, ends, id) == Some(text)) {
            return Some(id);
        }
        let id = u32::try_from(ends.len()).ok()?;
        let end = u32::try_from(bytes.len() + text.len()).ok()?;
        bytes.push_str(text);
        ends.push(end);
        index.insert_unique(hash, id, |&id| hasher.hash_one(Self::slice(bytes, ends, id).unwrap_or("")));
        Some(id)
    }

    /// The id of `text` when some row holds it.
    pub fn id(&self, text: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(text);
        self.index.find(hash, |&id| self.get(id) == Some(text)).copied()
    }

    /// The text of `id`; None for an id the arena did not give.
    pub fn get(&self, id: u32) -> Option<&str> {
        Self::slice(&self.bytes, &self.ends, id)
    }

    /// How many distinct texts the arena holds.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Bytes held: the texts, their ends and the index.
    fn data_bytes(&self) -> usize {
        self.bytes.len() + self.ends.len() * 4 + self.index.capacity() * 5
    }
}

impl PartialEq for TextArena {
    fn eq(&self, other: &TextArena) -> bool {
        (&self.bytes, &self.ends) == (&other.bytes, &other.ends)
    }
}

impl std::fmt::Debug for TextArena {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextArena").field("texts", &self.ends.len()).field("bytes", &self.bytes.len()).finish()
    }
}

/// The customers' inputs as columns, with each row's line in the CSV for error messages.
#[derive(Clone, Debug, PartialEq)]
pub struct CustomerTable {
    columns: Vec<Column>,
    texts: TextArena,
    lines: Vec<u32>,
}

impl CustomerTable {
    /// The columns of `customers` (as [`super::customers::load`] gives them) for `script`'s inputs.
    pub fn from_customers(script: &ScriptCode, customers: &[Customer]) -> Result<CustomerTable, TableError> {
        let mut builder = TableBuilder::new(script);
        for c in customers {
            builder.push_row(c.line, c.inputs.iter().map(|(name, value)| (name.as_str(), value)))?;
        }
        Ok(builder.finish())
    }

    pub fn rows(&self) -> usize {
        self.lines.len()
    }

    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The column of the input in `slot`.
    pub fn column_of_slot(&self, slot: u16) -> Option<&Column> {
        self.columns.iter().find(|c| c.slot == slot)
    }

    pub fn texts(&self) -> &TextArena {
        &self.texts
    }

    /// The row's line in the customer list.
    pub fn line(&self, row: usize) -> Option<usize> {
        self.lines.get(row).map(|&line| line as usize)
    }

    /// The value of `column` in `row`; None when missing (or past the last row).
    pub fn value(&self, column: &Column, row: usize) -> Option<Value> {
        if !column.is_valid(row) {
            return None;
        }
        Some(match &column.data {
            ColumnData::Int(v) => Value::Int(*v.get(row)?),
            ColumnData::Money(v) => Value::Money(Money::from_cents(*v.get(row)?)),
            ColumnData::Date(v) => Value::Date(Date::from_days(i64::from(*v.get(row)?))?),
            ColumnData::Time(v) => {
                let minutes = *v.get(row)?;
                Value::Time(Time::new((minutes / 60) as u8, (minutes % 60) as u8)?)
            }
            ColumnData::Bool(v) => Value::Bool(*v.get(row)? != 0),
            ColumnData::Text(v) => Value::Text(self.texts.get(*v.get(row)?)?.to_string()),
        })
    }

    /// The inputs the row gives, by name, as a session starts from them (the interpreter's view
    /// of the row).
    pub fn row_inputs(&self, row: usize) -> Vec<(String, Value)> {
        self.columns.iter().filter_map(|c| Some((c.name.clone(), self.value(c, row)?))).collect()
    }

    /// Adds a column for the input in `slot` (one value per row, None for a missing one): a
    /// segment's derived column (`super::rfm`), which the JIT and [`Self::row_inputs`] then
    /// read like any input's.
    pub fn append_column(
        &mut self,
        name: &str,
        slot: u16,
        ty: Type,
        values: &[Option<Value>],
    ) -> Result<(), TableError> {
        if values.len() != self.rows() {
            return Err(TableError::ColumnLength { rows: self.rows(), found: values.len() });
        }
        let mut column = Column { name: name.to_string(), slot, ty, data: ColumnData::new(ty), validity: None };
        for (row, value) in values.iter().enumerate() {
            match value {
                Some(value) => column.push(value.into(), &mut self.texts)?,
                None => column.data.push_placeholder(),
            }
            column.mark(row, value.is_some());
        }
        self.columns.push(column);
        Ok(())
    }

    /// Keeps the rows whose `keep` is true, in order (one entry per row). Texts no row holds
    /// any more stay in the arena: ids do not move.
    pub fn retain(&mut self, keep: &[bool]) {
        for column in &mut self.columns {
            if let Some(validity) = &column.validity {
                let mut kept = Validity::default();
                let rows = (0..keep.len()).filter(|&r| keep[r]);
                for (new_row, old_row) in rows.enumerate() {
                    kept.push(new_row, validity.is_valid(old_row));
                }
                column.validity = Some(kept);
            }
            match &mut column.data {
                ColumnData::Int(v) | ColumnData::Money(v) => retain_rows(v, keep),
                ColumnData::Date(v) => retain_rows(v, keep),
                ColumnData::Time(v) => retain_rows(v, keep),
                ColumnData::Bool(v) => retain_rows(v, keep),
                ColumnData::Text(v) => retain_rows(v, keep),
            }
        }
        retain_rows(&mut self.lines, keep);
    }

    /// Bytes the table holds (values, bitmaps, texts and their index).
    pub fn data_bytes(&self) -> usize {
        let values: usize = self
            .columns
            .iter()
            .map(|c| {
                let width = match c.data {
                    ColumnData::Int(_) | ColumnData::Money(_) => 8,
                    ColumnData::Date(_) | ColumnData::Text(_) => 4,
                    ColumnData::Time(_) => 2,
                    ColumnData::Bool(_) => 1,
                };
                c.data.len() * width + c.validity.as_ref().map_or(0, |v| v.bits.len())
            })
            .sum();
        values + self.lines.len() * 4 + self.texts.data_bytes()
    }
}

/// Keeps the values whose `keep` is true (one entry per value), in order.
pub(super) fn retain_rows<T>(values: &mut Vec<T>, keep: &[bool]) {
    let mut verdicts = keep.iter();
    values.retain(|_| verdicts.next().copied().unwrap_or(false));
    values.shrink_to_fit();
}

/// Builds a [`CustomerTable`] row by row.
#[derive(Debug)]
pub struct TableBuilder {
    columns: Vec<Column>,
    /// Per column: whether the current row gave it, reset for each row.
    given: Vec<bool>,
    texts: TextArena,
    lines: Vec<u32>,
}

impl TableBuilder {
    /// An empty table with a column per input of `script`, in slot order.
    pub fn new(script: &ScriptCode) -> TableBuilder {
        let columns: Vec<Column> = script
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.input)
            .map(|(slot, s)| Column {
                name: s.name.clone(),
                slot: slot as u16,
                ty: s.ty,
                data: ColumnData::new(s.ty),
                validity: None,
            })
            .collect();
        let given = vec![false; columns.len()];
        TableBuilder { columns, given, texts: TextArena::default(), lines: Vec::new() }
    }

    /// Room for `rows` more rows in every column.
    pub fn reserve(&mut self, rows: usize) {
        for column in &mut self.columns {
            match &mut column.data {
                ColumnData::Int(v) | ColumnData::Money(v) => v.reserve(rows),
                ColumnData::Date(v) => v.reserve(rows),
                ColumnData::Time(v) => v.reserve(rows),
                ColumnData::Bool(v) => v.reserve(rows),
                ColumnData::Text(v) => v.reserve(rows),
            }
        }
        self.lines.reserve(rows);
    }

    /// Appends a row: its line in the list and the inputs it gives (the others are missing).
    /// After an error the builder holds a partial row: drop it.
    pub fn push_row<'a, C: Into<Cell<'a>>>(
        &mut self,
        line: usize,
        inputs: impl IntoIterator<Item = (&'a str, C)>,
    ) -> Result<(), TableError> {
        let row = self.lines.len();
        if row >= u32::MAX as usize {
            return Err(TableError::TooManyRows);
        }
        self.given.fill(false);
        for (name, value) in inputs {
            let index = self
                .columns
                .iter()
                .position(|c| c.name == name)
                .ok_or_else(|| TableError::UnknownInput(name.to_string()))?;
            self.columns[index].push(value.into(), &mut self.texts)?;
            self.given[index] = true;
        }
        for (column, &given) in self.columns.iter_mut().zip(&self.given) {
            if !given {
                column.data.push_placeholder();
            }
            column.mark(row, given);
        }
        self.lines.push(line as u32);
        Ok(())
    }

    pub fn finish(self) -> CustomerTable {
        CustomerTable { columns: self.columns, texts: self.texts, lines: self.lines }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callscript_compiler::check::check_source;

    fn script() -> ScriptCode {
        let src = "script s {\n  purpose service\n  input { name: text, amount: money, days: int = 0, due: date, paid: bool = false }\n  outcomes { done }\n  opening { say \"本次通话将被录音{{name}}{{amount}}{{days}}{{due}}\"; hangup done }\n}\n";
        let checked = check_source("s.call", src);
        assert_eq!(checked.error_count(), 0);
        callscript_compiler::lower::lower(&checked, checked.files[0].id).scripts.remove(0)
    }

    #[test]
    fn rows_read_back_as_given_with_missing_values_marked() {
        let csv = "phone,name,amount,days,due,paid\n13800000001,张三,1200.50,3,2026-01-31,true\n13800000002,李四,5,,2026-02-01,\n13800000003,张三,0.01,9,2026-02-02,false\n";
        let customers = super::super::customers::load("c.csv", csv, &script(), "cn").unwrap();
        let table = CustomerTable::from_customers(&script(), &customers).unwrap();
        assert_eq!(table.rows(), 3);
        for (row, c) in customers.iter().enumerate() {
            assert_eq!(table.row_inputs(row), c.inputs, "row {row}");
            assert_eq!(table.line(row), Some(c.line));
        }
        let days = &table.columns()[2];
        assert_eq!((days.is_valid(0), days.is_valid(1), days.is_valid(2)), (true, false, true));
        assert!(table.columns()[0].validity.is_none());
        // Equal texts share an id.
        assert_eq!(table.texts().len(), 2);
    }

    #[test]
    fn a_value_of_another_type_is_refused() {
        let mut builder = TableBuilder::new(&script());
        let err = builder.push_row(2, [("days", &Value::Text("x".into()))]).unwrap_err();
        assert!(matches!(err, TableError::WrongType { .. }));
        assert!(matches!(builder.push_row(2, [("nope", &Value::Int(1))]), Err(TableError::UnknownInput(_))));
    }

    #[test]
    fn an_appended_column_reads_back_like_an_input() {
        let csv = "phone,name,amount,days,due\n13800000001,张三,1200.50,3,2026-01-31\n13800000002,李四,5,,2026-02-01\n";
        let customers = super::super::customers::load("c.csv", csv, &script(), "cn").unwrap();
        let mut table = CustomerTable::from_customers(&script(), &customers).unwrap();
        let score = [Some(Value::Text("555".into())), None];
        table.append_column("rfm_score", 9, Type::Text, &score).unwrap();
        let column = table.column_of_slot(9).unwrap();
        assert_eq!((table.value(column, 0), column.is_valid(1)), (score[0].clone(), false));
        assert_eq!(table.row_inputs(0).last(), Some(&("rfm_score".to_string(), Value::Text("555".into()))));
        assert_eq!(
            table.append_column("q", 10, Type::Int, &[Some(Value::Int(1))]),
            Err(TableError::ColumnLength { rows: 2, found: 1 })
        );
        assert!(matches!(
            table.append_column("q", 10, Type::Int, &[Some(Value::Bool(true)), None]),
            Err(TableError::WrongType { .. })
        ));
    }

    #[test]
    fn validity_bits_cross_byte_boundaries() {
        let mut builder = TableBuilder::new(&script());
        let name = Value::Text("a".into());
        for row in 0..20 {
            let days = Value::Int(row);
            let mut inputs = vec![("name", &name)];
            if row % 7 != 3 {
                inputs.push(("days", &days));
            }
            builder.push_row(row as usize + 2, inputs).unwrap();
        }
        let table = builder.finish();
        let days = table.column_of_slot(2).unwrap();
        for row in 0..20 {
            assert_eq!(days.is_valid(row), row % 7 != 3, "row {row}");
        }
    }
}
