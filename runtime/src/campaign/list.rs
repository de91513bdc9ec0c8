//! A campaign's customers as the scheduler holds them (CAMPAIGN.md §8): no struct per
//! customer, but a few dense arrays: the script's inputs as a [`CustomerTable`], the ids in
//! one string, each phone as one `u64`, and time zones and segments as small indexes into
//! their distinct names. A million customers of the loan reminder take about 60 bytes each; a
//! [`Customer`] is built only where one is needed whole (a call's inputs, the shared queue's
//! seeding, tests).
use std::fmt;

use hashbrown::HashMap;

use callscript_compiler::bytecode::{ExprId, ScriptCode};
use callscript_compiler::value::Value;

use super::InputError;
use super::customers::{self, Customer, Row};
use super::table::{Cell, CustomerTable, TableBuilder, TableError, retain_rows};

/// An E.164 number (`+` and 1–15 digits) in one word: the digits as a number, their count in
/// the top byte (so a leading zero survives). Caps, parking and do-not-call key on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Phone(u64);

impl Phone {
    const DIGITS_SHIFT: u32 = 56;

    /// `+` followed by 1–15 ASCII digits, as [`customers::e164`] writes them; None otherwise.
    pub fn parse(e164: &str) -> Option<Phone> {
        let digits = e164.strip_prefix('+')?;
        if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let number = digits.bytes().fold(0u64, |n, b| n * 10 + u64::from(b - b'0'));
        Some(Phone(number | (digits.len() as u64) << Self::DIGITS_SHIFT))
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = (self.0 >> Self::DIGITS_SHIFT) as usize;
        let number = self.0 & ((1 << Self::DIGITS_SHIFT) - 1);
        write!(f, "+{number:0digits$}")
    }
}

/// Distinct names (time zones, segments) by a small index; index 0 is "none".
#[derive(Clone, Debug, Default, PartialEq)]
struct Names {
    names: Vec<String>,
    index: HashMap<String, u32>,
}

impl Names {
    fn id(&mut self, name: Option<&str>) -> u32 {
        let Some(name) = name else { return 0 };
        if let Some(&id) = self.index.get(name) {
            return id;
        }
        self.names.push(name.to_string());
        let id = self.names.len() as u32;
        self.index.insert(name.to_string(), id);
        id
    }

    fn get(&self, id: u32) -> Option<&str> {
        id.checked_sub(1).and_then(|i| self.names.get(i as usize)).map(String::as_str)
    }
}

/// The customers of a campaign, in list order, as columns.
#[derive(Clone, Debug)]
pub struct CustomerList {
    inputs: CustomerTable,
    /// Every customer's id, one after another; `id_ends[i]` is where customer `i`'s ends.
    ids: String,
    id_ends: Vec<u32>,
    /// Per customer: its phone (8 bytes: as small as an index into distinct phones would be
    /// with the phones themselves, and no map to build while loading).
    phones: Vec<Phone>,
    /// Per customer: its zone in `zones` (0: the campaign's).
    zone_of: Vec<u16>,
    zones: Names,
    /// Per customer: its `segment` column in `segments` (0: none); empty while no customer
    /// has one (most lists have no such column).
    segment_of: Vec<u32>,
    segments: Names,
    /// Conditions of the scripts computed per customer before the calls
    /// ([`CustomerList::fix_guard`]); kept in step with the customers when they are retained.
    guards: Vec<FixedGuard>,
}

/// One script's condition (`ScriptCode::fixed_guards`) for every customer.
#[derive(Clone, Debug)]
struct FixedGuard {
    /// The campaign's variant whose script it is.
    variant: usize,
    expr: ExprId,
    /// Per customer: its value, or None where the session evaluates it.
    values: Vec<Option<bool>>,
}

/// Why a customer cannot join a list.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error("`{0}` is not an E.164 phone number")]
    Phone(String),
    #[error("the list holds at most {} bytes of customer ids", u32::MAX)]
    TooManyIds,
    #[error("the list holds at most {} time zones", u16::MAX)]
    TooManyZones,
}

impl CustomerList {
    /// An empty list for `script`'s inputs, with room for `rows` customers.
    fn builder(script: &ScriptCode, rows: usize) -> ListBuilder {
        let mut inputs = TableBuilder::new(script);
        inputs.reserve(rows);
        ListBuilder {
            inputs,
            list: CustomerList {
                inputs: TableBuilder::new(script).finish(),
                ids: String::new(),
                id_ends: Vec::with_capacity(rows),
                phones: Vec::with_capacity(rows),
                zone_of: Vec::with_capacity(rows),
                zones: Names::default(),
                segment_of: Vec::new(),
                segments: Names::default(),
                guards: Vec::new(),
            },
        }
    }

    /// Reads a customer list straight into columns, with the checks and the
    /// `file:line:column` errors of [`customers::load`].
    pub fn load_csv(
        name: &str,
        text: &str,
        script: &ScriptCode,
        jurisdiction: &str,
    ) -> Result<CustomerList, Vec<InputError>> {
        // The columns grow once; the loader's index of ids too.
        let rows = customers::rows_hint(text);
        let mut builder = CustomerList::builder(script, rows);
        let mut refused = None;
        customers::load_each(name, text, rows, script, jurisdiction, |row| {
            if refused.is_none()
                && let Err(e) = builder.push(row)
            {
                refused = Some(InputError::at(name, row.line, 1, e.to_string()));
            }
        })?;
        match refused {
            Some(e) => Err(vec![e]),
            None => Ok(builder.finish()),
        }
    }

    /// The list of `customers` as [`customers::load`] gives them.
    pub fn from_customers<'c>(
        script: &ScriptCode,
        customers: impl IntoIterator<Item = &'c Customer>,
    ) -> Result<CustomerList, ListError> {
        let mut builder = CustomerList::builder(script, 0);
        for c in customers {
            let inputs: Vec<(&str, Cell)> = c.inputs.iter().map(|(n, v)| (n.as_str(), Cell::from(v))).collect();
            let row = Row {
                id: &c.id,
                phone: &c.phone,
                timezone: c.timezone.as_deref(),
                inputs: &inputs,
                segment: c.segment.as_deref(),
                line: c.line,
            };
            builder.push(&row)?;
        }
        Ok(builder.finish())
    }

    pub fn len(&self) -> usize {
        self.id_ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.id_ends.is_empty()
    }

    pub fn id(&self, i: usize) -> &str {
        let end = self.id_ends[i] as usize;
        let start = i.checked_sub(1).map_or(0, |p| self.id_ends[p] as usize);
        &self.ids[start..end]
    }

    pub fn phone(&self, i: usize) -> Phone {
        self.phones[i]
    }

    /// Every customer's phone, by index.
    pub fn phones(&self) -> &[Phone] {
        &self.phones
    }

    /// The customer's time zone when the list gives one (else the campaign's).
    pub fn timezone(&self, i: usize) -> Option<&str> {
        self.zones.get(self.zone_of[i].into())
    }

    /// The customer's zone as an index: 0 when the list gives none, else `k` for the `k`th
    /// of [`zone_names`](Self::zone_names).
    pub fn zone_index(&self, i: usize) -> u16 {
        self.zone_of[i]
    }

    /// The distinct zones the list names, in the order of their indexes (from 1).
    pub fn zone_names(&self) -> impl Iterator<Item = &str> {
        self.zones.names.iter().map(String::as_str)
    }

    /// The `segment` column, when the list has one.
    pub fn segment(&self, i: usize) -> Option<&str> {
        self.segments.get(self.segment_of.get(i).copied().unwrap_or(0))
    }

    /// The customer's line in the list.
    pub fn line(&self, i: usize) -> usize {
        self.inputs.line(i).unwrap_or(0)
    }

    /// The inputs the customer gives, by name, as a session starts from them.
    pub fn inputs(&self, i: usize) -> Vec<(String, Value)> {
        self.inputs.row_inputs(i)
    }

    /// The inputs as columns (what a segment reads).
    pub fn table(&self) -> &CustomerTable {
        &self.inputs
    }

    /// Customer `i` whole.
    pub fn customer(&self, i: usize) -> Customer {
        Customer {
            id: self.id(i).to_string(),
            phone: self.phone(i).to_string(),
            timezone: self.timezone(i).map(str::to_string),
            inputs: self.inputs(i),
            segment: self.segment(i).map(str::to_string),
            line: self.line(i),
        }
    }

    /// Every customer whole, in order.
    pub fn customers(&self) -> impl ExactSizeIterator<Item = Customer> + '_ {
        (0..self.len()).map(|i| self.customer(i))
    }

    /// Whether any customer has a `segment` value.
    pub fn has_segments(&self) -> bool {
        !self.segments.names.is_empty()
    }

    /// Keeps the customers whose `keep` is true, in order (`keep` has one entry per customer).
    pub fn retain(&mut self, keep: &[bool]) {
        assert_eq!(keep.len(), self.len(), "one verdict per customer");
        self.inputs.retain(keep);
        let mut ids = String::with_capacity(self.ids.len());
        let mut id_ends = Vec::new();
        for (i, _) in keep.iter().enumerate().filter(|(_, k)| **k) {
            ids.push_str(self.id(i));
            id_ends.push(ids.len() as u32);
        }
        (self.ids, self.id_ends) = (ids, id_ends);
        retain_rows(&mut self.phones, keep);
        retain_rows(&mut self.zone_of, keep);
        retain_rows(&mut self.segment_of, keep);
        for guard in &mut self.guards {
            retain_rows(&mut guard.values, keep);
        }
    }

    /// Keeps the value of condition `expr` of variant `variant`'s script for every customer
    /// (`values[i]`, None where unknown), so that calls take it instead of evaluating it. The
    /// caller vouches that the condition reads nothing a call changes.
    pub fn fix_guard(&mut self, variant: usize, expr: ExprId, values: Vec<Option<bool>>) -> Result<(), TableError> {
        if values.len() != self.len() {
            return Err(TableError::ColumnLength { rows: self.len(), found: values.len() });
        }
        self.guards.retain(|g| (g.variant, g.expr) != (variant, expr));
        self.guards.push(FixedGuard { variant, expr, values });
        Ok(())
    }

    /// The conditions of variant `variant`'s script known for customer `i`, with their values.
    pub fn fixed_guards(&self, variant: usize, i: usize) -> impl Iterator<Item = (ExprId, bool)> + '_ {
        self.guards
            .iter()
            .filter(move |g| g.variant == variant)
            .filter_map(move |g| Some((g.expr, g.values.get(i).copied().flatten()?)))
    }

    /// How many conditions are fixed per customer, over all variants.
    pub fn fixed_guard_count(&self) -> usize {
        self.guards.len()
    }

    /// Bytes the list holds (the columns and arenas, not the hash indexes of its names).
    pub fn data_bytes(&self) -> usize {
        self.inputs.data_bytes()
            + self.ids.len()
            + self.id_ends.len() * 4
            + self.phones.len() * 8
            + self.zone_of.len() * 2
            + self.segment_of.len() * 4
            + self.guards.iter().map(|g| g.values.len()).sum::<usize>()
    }
}

/// Builds a [`CustomerList`] customer by customer.
struct ListBuilder {
    inputs: TableBuilder,
    list: CustomerList,
}

impl ListBuilder {
    fn push(&mut self, c: &Row) -> Result<(), ListError> {
        let phone = Phone::parse(c.phone).ok_or_else(|| ListError::Phone(c.phone.to_string()))?;
        let zone = u16::try_from(self.list.zones.id(c.timezone)).map_err(|_| ListError::TooManyZones)?;
        if self.list.ids.len() + c.id.len() > u32::MAX as usize {
            return Err(ListError::TooManyIds);
        }
        self.inputs.push_row(c.line, c.inputs.iter().map(|(n, v)| (*n, v)))?;
        let list = &mut self.list;
        list.phones.push(phone);
        list.ids.push_str(c.id);
        list.id_ends.push(list.ids.len() as u32);
        list.zone_of.push(zone);
        if c.segment.is_some() || !list.segment_of.is_empty() {
            // The first customer with a segment: those before it had none.
            list.segment_of.resize(list.zone_of.len() - 1, 0);
            list.segment_of.push(list.segments.id(c.segment));
        }
        Ok(())
    }

    fn finish(self) -> CustomerList {
        let mut list = self.list;
        list.inputs = self.inputs.finish();
        list.ids.shrink_to_fit();
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::customers::tests::script;

    const CSV: &str = "id,phone,name,amount,days,timezone,segment\nc1,13800000001,张三,1200.50,3,Asia/Shanghai,a\nc2,010-12345678,李四,5,,,\nc3,13800000001,王五,7.00,9,Asia/Singapore,b\n";

    #[test]
    fn a_list_in_columns_gives_back_every_customer_as_loaded() {
        let loaded = customers::load("c.csv", CSV, &script(), "cn").unwrap();
        let list = CustomerList::load_csv("c.csv", CSV, &script(), "cn").unwrap();
        assert_eq!(list.customers().collect::<Vec<_>>(), loaded);
        assert_eq!(list.phone(0), list.phone(2), "one phone, one key");
        assert!(list.has_segments());
        let bad = "phone,name,amount\n13800000001,张三,12.345\n";
        assert_eq!(
            CustomerList::load_csv("c.csv", bad, &script(), "cn").unwrap_err(),
            customers::load("c.csv", bad, &script(), "cn").unwrap_err()
        );
    }

    #[test]
    fn retained_customers_keep_their_order_and_values() {
        let loaded = customers::load("c.csv", CSV, &script(), "cn").unwrap();
        let mut list = CustomerList::from_customers(&script(), &loaded).unwrap();
        list.retain(&[true, false, true]);
        assert_eq!(list.customers().collect::<Vec<_>>(), [loaded[0].clone(), loaded[2].clone()]);
        assert_eq!(list.table().rows(), 2);
    }

    /// CAMPAIGN.md §8: a list in memory within 2× its CSV's size; here every name and phone
    /// is different, the worst case for the text arena.
    #[test]
    fn a_list_holds_less_than_twice_its_csv() {
        let mut csv = String::from("id,phone,name,amount,days,timezone\n");
        for i in 0..10_000 {
            let zone = ["Asia/Shanghai", "Asia/Singapore", ""][i % 3];
            csv.push_str(&format!(
                "L{i:07},{},客户{i},{}.{:02},{},{zone}\n",
                13_800_000_000u64 + i as u64,
                i * 7,
                i % 100,
                i % 60
            ));
        }
        let list = CustomerList::load_csv("c.csv", &csv, &script(), "cn").unwrap();
        assert_eq!(list.len(), 10_000);
        let per_customer = list.data_bytes() / list.len();
        assert!(list.data_bytes() < 2 * csv.len(), "{} bytes for a CSV of {}", list.data_bytes(), csv.len());
        assert!(per_customer < 80, "{per_customer} bytes a customer");
    }

    #[test]
    fn phones_keep_their_digits_and_leading_zeros() {
        for text in ["+8613800000001", "+0123456789", "+1", "+999999999999999"] {
            assert_eq!(Phone::parse(text).unwrap().to_string(), text);
        }
        for bad in ["8613800000001", "+", "+1234567890123456", "+86 138", "+८६"] {
            assert_eq!(Phone::parse(bad), None, "{bad}");
        }
        assert_ne!(Phone::parse("+0123"), Phone::parse("+123"));
    }
}
