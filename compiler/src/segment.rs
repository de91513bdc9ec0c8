//! A campaign's segment (CAMPAIGN.md §8): an expression over the script's values that may
//! also read the RFM values of the campaign's `[rfm]` (`recency_days`, `frequency`,
//! `monetary`, `r_score`, `f_score`, `m_score`, `rfm_score`) and `quantile(COLUMN, N)`.
//!
//! None of those is a value of the script: each is a column derived from the whole list
//! (`callscript_runtime::campaign::rfm`). Here each one the segment reads becomes one more
//! input slot of a copy of the script, and the segment is compiled over that copy like any
//! condition. So the interpreter and the JIT read a derived value like an input, with nothing
//! new to run.

use crate::bytecode::{ExprCode, ScriptCode, Slot, SlotDecl};
use crate::campaign::Rfm;
use crate::diagnostic::Diagnostic;
use crate::span::{SourceId, Span};
use crate::syntax::ast::{Expr, ExprKind, Ident, Type};

/// The RFM values a segment may read, with their types.
pub const RFM_VALUES: &[(&str, Type)] = &[
    ("recency_days", Type::Int),
    ("frequency", Type::Int),
    ("monetary", Type::Money),
    ("r_score", Type::Int),
    ("f_score", Type::Int),
    ("m_score", Type::Int),
    ("rfm_score", Type::Text),
];

/// The most groups `quantile` makes (percentiles).
pub const MAX_QUANTILES: i64 = 100;

/// One of the three columns `[rfm]` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Measure {
    Recency,
    Frequency,
    Monetary,
}

impl Measure {
    pub const ALL: [Measure; 3] = [Measure::Recency, Measure::Frequency, Measure::Monetary];

    /// Its key in `[rfm]`.
    pub fn key(self) -> &'static str {
        match self {
            Measure::Recency => "recency",
            Measure::Frequency => "frequency",
            Measure::Monetary => "monetary",
        }
    }

    /// The value a segment reads: `recency_days`, `frequency`, `monetary`.
    pub fn value_name(self) -> &'static str {
        match self {
            Measure::Recency => "recency_days",
            Measure::Frequency => "frequency",
            Measure::Monetary => "monetary",
        }
    }

    /// Its score's name: `r_score`, `f_score`, `m_score`.
    pub fn score_name(self) -> &'static str {
        match self {
            Measure::Recency => "r_score",
            Measure::Frequency => "f_score",
            Measure::Monetary => "m_score",
        }
    }

    /// The list's column that `rfm` names for it.
    pub fn column(self, rfm: &Rfm) -> Option<&str> {
        match self {
            Measure::Recency => rfm.recency.as_deref(),
            Measure::Frequency => rfm.frequency.as_deref(),
            Measure::Monetary => rfm.monetary.as_deref(),
        }
    }
}

/// What a derived column holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Derived {
    /// `recency_days` (int), `frequency` (int), `monetary` (money).
    Value(Measure),
    /// `r_score`, `f_score`, `m_score`: 1–5 by quintile.
    Score(Measure),
    /// `rfm_score`: the three scores as text, `"555"`.
    RfmScore,
    /// `quantile(COLUMN, N)`: the row's N-tile, 1..=N, of a script input or an RFM value.
    Quantile { of: QuantileOf, groups: u32 },
}

/// The column a `quantile` groups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QuantileOf {
    /// A script input (int, money or date), by name.
    Input(String),
    Measure(Measure),
}

/// A derived column the segment reads, in its slot of [`Segment::script`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DerivedSlot {
    pub slot: Slot,
    /// As the segment's code names it: `rfm_score`, `quantile(amount_due, 4)`.
    pub name: String,
    pub ty: Type,
    pub derived: Derived,
}

/// A segment compiled: its code over `script` (the campaign's script with one input slot per
/// derived column, after the script's own), and those columns.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    pub code: ExprCode,
    pub script: ScriptCode,
    pub derived: Vec<DerivedSlot>,
}

impl Segment {
    /// The derived column in `slot`, if it is one.
    pub fn derived_at(&self, slot: Slot) -> Option<&DerivedSlot> {
        self.derived.iter().find(|d| d.slot == slot)
    }
}

/// Compiles a segment over `script`'s values and, with `rfm`, the RFM built-ins and
/// `quantile`. Diagnostics are in file 0 (the segment's text): E001–E006 as any expression,
/// E103 and E2xx as script code, E211 for a built-in `[rfm]` does not declare or a bad call.
pub fn compile(text: &str, script: &ScriptCode, rfm: Option<&Rfm>) -> Result<Segment, Vec<Diagnostic>> {
    let (mut expr, diagnostics) = crate::syntax::parse_expr(text, SourceId(0));
    if !diagnostics.is_empty() {
        return Err(diagnostics);
    }
    let mut reader = Reader { script, rfm, derived: Vec::new(), diagnostics: Vec::new() };
    reader.expr(&mut expr);
    let mut augmented = script.clone();
    let mut derived = Vec::with_capacity(reader.derived.len());
    for (name, ty, what, sensitive) in reader.derived {
        let slot = Slot::try_from(augmented.slots.len()).map_err(|_| {
            vec![Diagnostic::new("E211", SourceId(0), expr.span, "the segment reads too many values").label("here")]
        })?;
        augmented.slots.push(SlotDecl {
            name: name.clone(),
            ty,
            sensitive,
            input: true,
            init: None,
            min: None,
            max: None,
            local: false,
            output: false,
        });
        derived.push(DerivedSlot { slot, name, ty, derived: what });
    }
    // What was refused above is an `Error` node now: the rest is still checked, once.
    let mut diagnostics = reader.diagnostics;
    match crate::lower::condition_code(&expr, &augmented) {
        Ok(code) if diagnostics.is_empty() => Ok(Segment { code, script: augmented, derived }),
        Ok(_) => Err(diagnostics),
        Err(more) => {
            diagnostics.extend(more);
            Err(diagnostics)
        }
    }
}

/// A diagnostic of the segment written as `segment = "…"` in a campaign file (`file`, the
/// value at `value`), moved there: at its place inside the value when the value is written
/// without escapes (its text is then the segment's, byte for byte), else on the whole value.
pub fn in_campaign(mut d: Diagnostic, file: SourceId, value: Span, campaign: &str, segment: &str) -> Diagnostic {
    let raw = campaign.get(value.start as usize + 1..(value.end as usize).saturating_sub(1)).unwrap_or("");
    let places = raw_offsets(raw).filter(|(text, _)| text == segment).map(|(_, places)| places);
    let at = |span: Span| match &places {
        Some(places) => {
            let place = |i: u32| value.start + 1 + places.get(i as usize).copied().unwrap_or(0) as u32;
            Span { start: place(span.start), end: place(span.end) }
        }
        None => value,
    };
    d.primary.at = crate::span::FileSpan::new(file, at(d.primary.at.span));
    for label in &mut d.secondary {
        label.at = crate::span::FileSpan::new(file, at(label.at.span));
    }
    d.message = format!("segment: {}", d.message);
    d
}

/// A TOML string's inside as written (`rfm_score == \"555\"`): the text it means, and where
/// each byte of that text (and its end) stands in `raw`. None for what it cannot read.
fn raw_offsets(raw: &str) -> Option<(String, Vec<usize>)> {
    let mut text = String::with_capacity(raw.len());
    let mut places = Vec::with_capacity(raw.len() + 1);
    let mut chars = raw.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let meant = match c {
            '\\' => match chars.next()?.1 {
                'u' | 'U' => return None,
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                other => other,
            },
            c => c,
        };
        places.extend(std::iter::repeat_n(at, meant.len_utf8()));
        text.push(meant);
    }
    places.push(raw.len());
    Some((text, places))
}

/// E211 for a call in a script: functions are for a campaign's segment only.
pub fn misplaced_call(file: SourceId, name: &Ident) -> Diagnostic {
    let message = if name.name == "quantile" {
        "`quantile` groups a campaign's customer list: it is for a campaign's `segment`, not a script".to_string()
    } else {
        format!("there is no function `{}`", name.name)
    };
    Diagnostic::new("E211", file, name.span, message)
        .label("not a function here")
        .with_help("a campaign's `segment` may call `quantile(COLUMN, N)`; a script calls no functions")
}

/// Walks the segment: checks each RFM name and call and turns each call into the name of its
/// derived column.
struct Reader<'a> {
    script: &'a ScriptCode,
    rfm: Option<&'a Rfm>,
    /// Name, type, meaning and sensitivity of each derived column, first read first.
    derived: Vec<(String, Type, Derived, bool)>,
    diagnostics: Vec<Diagnostic>,
}

impl Reader<'_> {
    fn expr(&mut self, expr: &mut Expr) {
        match &mut expr.kind {
            ExprKind::Name(ident) if !self.name(ident) => expr.kind = ExprKind::Error,
            ExprKind::Unary(_, inner) | ExprKind::Paren(inner) => self.expr(inner),
            ExprKind::Binary(_, lhs, rhs) => {
                self.expr(lhs);
                self.expr(rhs);
            }
            ExprKind::Call(name, args) => {
                if let Some((column, what, ty, sensitive)) = self.quantile(name, args, expr.span) {
                    self.add(column.clone(), ty, what, sensitive);
                    expr.kind = ExprKind::Name(Ident { name: column, span: expr.span });
                } else {
                    expr.kind = ExprKind::Error;
                }
            }
            _ => {}
        }
    }

    /// A script value (these come first: a script's `frequency` input is what it says), else
    /// an RFM value when `[rfm]` declares what it needs. False when it is an RFM value `[rfm]`
    /// does not declare (reported).
    fn name(&mut self, ident: &Ident) -> bool {
        if self.script.slots.iter().any(|s| s.name == ident.name) {
            return true;
        }
        let Some(&(_, ty)) = RFM_VALUES.iter().find(|(n, _)| *n == ident.name) else { return true };
        let what = Measure::ALL
            .into_iter()
            .find_map(|m| {
                if m.value_name() == ident.name {
                    Some(Derived::Value(m))
                } else {
                    (m.score_name() == ident.name).then_some(Derived::Score(m))
                }
            })
            .unwrap_or(Derived::RfmScore);
        let needs: Vec<Measure> = match &what {
            Derived::Value(m) | Derived::Score(m) => vec![*m],
            _ => Measure::ALL.to_vec(),
        };
        let undeclared: Vec<&str> =
            needs.iter().filter(|m| self.rfm.and_then(|r| m.column(r)).is_none()).map(|m| m.key()).collect();
        if undeclared.is_empty() {
            self.add(ident.name.clone(), ty, what, false);
            return true;
        }
        self.undeclared(ident, &undeclared);
        false
    }

    fn undeclared(&mut self, ident: &Ident, keys: &[&str]) {
        let wanted: Vec<String> = keys.iter().map(|k| format!("{k} = \"COLUMN\"")).collect();
        self.diagnostics.push(
            Diagnostic::new(
                "E211",
                SourceId(0),
                ident.span,
                format!("`{}` needs the campaign's `[rfm]` to name {}", ident.name, wanted.join(", ")),
            )
            .label("an RFM value")
            .with_help("add `[rfm]` naming the customer list's columns (CAMPAIGN.md §8)"),
        );
    }

    fn add(&mut self, name: String, ty: Type, what: Derived, sensitive: bool) {
        if !self.derived.iter().any(|(n, ..)| *n == name) {
            self.derived.push((name, ty, what, sensitive));
        }
    }

    fn bad_call(&mut self, span: Span, message: String, help: &str) {
        self.diagnostics.push(Diagnostic::new("E211", SourceId(0), span, message).label("here").with_help(format!(
            "{help}; `quantile(COLUMN, N)` is the row's N-tile (1 to N) of COLUMN over the whole list"
        )));
    }

    /// `quantile(COLUMN, N)`: the derived column's name (`quantile(amount_due, 4)`), meaning,
    /// type and sensitivity; None after reporting what is wrong.
    fn quantile(&mut self, name: &Ident, args: &[Expr], span: Span) -> Option<(String, Derived, Type, bool)> {
        if name.name != "quantile" {
            self.diagnostics.push(
                Diagnostic::new("E211", SourceId(0), name.span, format!("there is no function `{}`", name.name))
                    .label("unknown function")
                    .with_help("a segment has one function: `quantile(COLUMN, N)`"),
            );
            return None;
        }
        let [column, groups] = args else {
            self.bad_call(
                span,
                format!("`quantile` takes a column and a number of groups, but this call gives {}", args.len()),
                "write e.g. `quantile(amount_due, 4) == 4`",
            );
            return None;
        };
        let groups = match groups.kind {
            ExprKind::Int(n) if (2..=MAX_QUANTILES).contains(&n) => n as u32,
            _ => {
                self.bad_call(
                    groups.span,
                    format!("the number of groups of `quantile` is a whole number from 2 to {MAX_QUANTILES}"),
                    "write it as a number: 4 for quartiles, 5 for quintiles, 10 for deciles",
                );
                return None;
            }
        };
        let ExprKind::Name(ident) = &column.kind else {
            self.bad_call(column.span, "`quantile` groups a column: name it".into(), "an input or an RFM value");
            return None;
        };
        let of = match self.script.slots.iter().find(|s| s.name == ident.name) {
            Some(s) if s.input && !s.output && !s.local => {
                if !matches!(s.ty, Type::Int | Type::Money | Type::Date) {
                    self.bad_call(
                        column.span,
                        format!("`quantile` orders numbers, amounts or dates, but `{}` is {}", ident.name, s.ty.a()),
                        "group an int, money or date input",
                    );
                    return None;
                }
                (QuantileOf::Input(s.name.clone()), s.sensitive)
            }
            Some(_) => {
                self.bad_call(
                    column.span,
                    format!("`{}` is not a column of the customer list", ident.name),
                    "group an input of the script, or `recency_days`, `frequency` or `monetary`",
                );
                return None;
            }
            None => match Measure::ALL.into_iter().find(|m| m.value_name() == ident.name) {
                Some(m) if self.rfm.and_then(|r| m.column(r)).is_some() => (QuantileOf::Measure(m), false),
                Some(m) => {
                    self.undeclared(ident, &[m.key()]);
                    return None;
                }
                None => {
                    self.bad_call(
                        column.span,
                        format!("there is no input `{}`", ident.name),
                        "group an input of the script, or `recency_days`, `frequency` or `monetary`",
                    );
                    return None;
                }
            },
        };
        let column_name = format!("quantile({}, {groups})", ident.name);
        let (of, sensitive) = of;
        Some((column_name, Derived::Quantile { of, groups }, Type::Int, sensitive))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script() -> ScriptCode {
        let src = "script s {\n  purpose service\n  input { name: text, amount: money, due: date, frequency: int = 0 }\n  outcomes { done }\n  opening { say \"本次通话将被录音{{name}}{{amount}}{{due}}{{frequency}}\"; hangup done }\n}\n";
        let checked = crate::check::check_source("s.call", src);
        assert_eq!(checked.error_count(), 0);
        crate::lower::lower(&checked, checked.files[0].id).scripts.remove(0)
    }

    fn rfm(recency: bool) -> Rfm {
        Rfm {
            recency: recency.then(|| "last".to_string()),
            frequency: Some("count".into()),
            monetary: Some("spent".into()),
            as_of: None,
        }
    }

    fn errors(text: &str, rfm: Option<&Rfm>) -> Vec<String> {
        compile(text, &script(), rfm).unwrap_err().iter().map(|d| format!("[{}] {}", d.code, d.message)).collect()
    }

    #[test]
    fn rfm_values_and_quantiles_become_input_slots_after_the_scripts() {
        let s = compile(
            "rfm_score == \"555\" and quantile(amount, 4) >= 3 and quantile(recency_days, 10) == 1 and monetary > 10.00",
            &script(),
            Some(&rfm(true)),
        )
        .unwrap();
        let first = script().slots.len() as Slot;
        let names: Vec<(Slot, &str, Type)> = s.derived.iter().map(|d| (d.slot, d.name.as_str(), d.ty)).collect();
        assert_eq!(
            names,
            [
                (first, "rfm_score", Type::Text),
                (first + 1, "quantile(amount, 4)", Type::Int),
                (first + 2, "quantile(recency_days, 10)", Type::Int),
                (first + 3, "monetary", Type::Money),
            ]
        );
        assert_eq!(s.derived[2].derived, Derived::Quantile { of: QuantileOf::Measure(Measure::Recency), groups: 10 });
        assert!(s.script.slots[first as usize..].iter().all(|d| d.input && d.init.is_none()));
        // A name read twice is one column.
        let twice = compile("r_score >= 4 or r_score == 1", &script(), Some(&rfm(true))).unwrap();
        assert_eq!(twice.derived.len(), 1);
    }

    #[test]
    fn a_script_value_shadows_an_rfm_value() {
        // The script has an input `frequency`: the segment reads it, not `[rfm] frequency`.
        let s = compile("frequency > 3", &script(), None).unwrap();
        assert!(s.derived.is_empty());
        let q = compile("quantile(frequency, 4) == 4", &script(), None).unwrap();
        assert_eq!(q.derived[0].derived, Derived::Quantile { of: QuantileOf::Input("frequency".into()), groups: 4 });
    }

    #[test]
    fn rfm_values_need_their_columns_and_calls_their_form() {
        assert_eq!(
            errors("recency_days < 30", None),
            ["[E211] `recency_days` needs the campaign's `[rfm]` to name recency = \"COLUMN\""]
        );
        assert_eq!(
            errors("rfm_score == \"555\"", Some(&rfm(false))),
            ["[E211] `rfm_score` needs the campaign's `[rfm]` to name recency = \"COLUMN\""]
        );
        assert_eq!(
            errors("quantile(name, 4) == 1 or quantile(amount, 1) == 1 or quantile(amount) == 1", None),
            [
                "[E211] `quantile` orders numbers, amounts or dates, but `name` is a `text`",
                "[E211] the number of groups of `quantile` is a whole number from 2 to 100",
                "[E211] `quantile` takes a column and a number of groups, but this call gives 1",
            ]
        );
        assert_eq!(
            errors("top(amount) or quantile(amount + 1.00, 4) == 1 or quantile(nope, 4) == 1", None),
            [
                "[E211] there is no function `top`",
                "[E211] `quantile` groups a column: name it",
                "[E211] there is no input `nope`",
            ]
        );
        // The call is an int: compared with text, it is a type error like any other.
        assert_eq!(errors("quantile(amount, 4) == \"4\"", None), ["[E202] an `int` cannot be compared with a `text`"]);
    }

    /// A segment's diagnostic lands on its words in the file, escapes counted as written.
    #[test]
    fn diagnostics_point_into_the_value_as_written() {
        let campaign = "segment = \"x == \\\"a\\\" and nope\"\n";
        let value = Span::new(10, campaign.len() - 1);
        let segment = "x == \"a\" and nope";
        let nope = segment.find("nope").unwrap();
        let d = Diagnostic::new("E103", SourceId(0), Span::new(nope, nope + 4), "no `nope`");
        let moved = in_campaign(d.clone(), SourceId(3), value, campaign, segment);
        let at = moved.primary.at.span;
        assert_eq!(&campaign[at.start as usize..at.end as usize], "nope");
        assert_eq!((moved.primary.at.file, moved.message.as_str()), (SourceId(3), "segment: no `nope`"));
        // A value that is not the segment as written (a `\u` escape): the whole value.
        let other = "segment = \"\\u0078 > 1\"\n";
        let value = Span::new(10, other.len() - 1);
        assert_eq!(in_campaign(d, SourceId(3), value, other, "x > 1").primary.at.span, value);
    }
}
