//! Expression evaluation (the reference interpreter; a JIT may replace it, never change it)
//! and prompt rendering with the filters of the script's locale.

use callscript_compiler::bytecode::{ExprCode, ExprOp, Filter, PromptCode, PromptSegment, ScriptCode};
use callscript_compiler::filters;
use callscript_compiler::value::{Date, Money, Value};

/// A runtime error of an expression: the call ends `failed` (§9.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvalError(pub String);

/// What expressions can read besides slots.
#[derive(Clone, Copy, Debug)]
pub struct Builtins {
    pub attempt: i64,
    pub hour: i64,
    /// The customer's local date (§11's `today`; `weekday` is its day of the week).
    pub today: Date,
}

/// Evaluates a postfix expression over the slot values.
pub fn eval(expr: &ExprCode, slots: &[Value], builtins: Builtins) -> Result<Value, EvalError> {
    eval_with(expr, slots, None, builtins)
}

/// [`eval`] with one slot read as another value: a captured candidate in its let while the
/// guards of `captured` branches are tried (§11), without copying the session's values.
pub fn eval_with(
    expr: &ExprCode,
    slots: &[Value],
    overlay: Option<(u16, &Value)>,
    builtins: Builtins,
) -> Result<Value, EvalError> {
    let mut stack: Vec<Value> = Vec::with_capacity(4);
    let mut i = 0;
    let ops = &expr.ops;
    while i < ops.len() {
        match &ops[i] {
            ExprOp::Const(v) => stack.push(v.clone()),
            ExprOp::Load(slot) => stack.push(match overlay {
                Some((over, value)) if over == *slot => value.clone(),
                _ => slots.get(*slot as usize).cloned().ok_or_else(|| bad("slot"))?,
            }),
            ExprOp::Attempt => stack.push(Value::Int(builtins.attempt)),
            ExprOp::Hour => stack.push(Value::Int(builtins.hour)),
            ExprOp::Today => stack.push(Value::Date(builtins.today)),
            ExprOp::Weekday => stack.push(Value::Int(i64::from(builtins.today.weekday()))),
            ExprOp::Neg => {
                let v = pop(&mut stack)?;
                stack.push(match v {
                    Value::Int(n) => Value::Int(n.checked_neg().ok_or_else(overflow)?),
                    Value::Money(m) => Value::Money(m.checked_neg().ok_or_else(overflow)?),
                    _ => return Err(bad("-")),
                });
            }
            ExprOp::Not => {
                let v = pop(&mut stack)?;
                stack.push(Value::Bool(!truthy(&v)?));
            }
            ExprOp::And(skip) | ExprOp::Or(skip) => {
                let is_and = matches!(ops[i], ExprOp::And(_));
                let top = truthy(stack.last().ok_or_else(|| bad("and/or"))?)?;
                if top != is_and {
                    // `false and …` / `true or …`: the result is the top; skip the right side.
                    i += *skip as usize + 1;
                    continue;
                }
                stack.pop();
            }
            op => {
                let r = pop(&mut stack)?;
                let l = pop(&mut stack)?;
                stack.push(binary(op, l, r)?);
            }
        }
        i += 1;
    }
    stack.pop().ok_or_else(|| bad("empty"))
}

fn pop(stack: &mut Vec<Value>) -> Result<Value, EvalError> {
    stack.pop().ok_or_else(|| bad("stack"))
}

fn bad(what: &str) -> EvalError {
    EvalError(format!("malformed expression code ({what})"))
}

fn overflow() -> EvalError {
    EvalError("a number is too large".into())
}

fn no_such_date() -> EvalError {
    EvalError("a date left the calendar (years 0 to 9999)".into())
}

fn truthy(v: &Value) -> Result<bool, EvalError> {
    match v {
        Value::Bool(b) => Ok(*b),
        _ => Err(bad("not a bool")),
    }
}

fn money(v: &Value) -> Option<Money> {
    match v {
        Value::Money(m) => Some(*m),
        Value::Int(n) => Money::from_int(*n),
        _ => None,
    }
}

fn binary(op: &ExprOp, l: Value, r: Value) -> Result<Value, EvalError> {
    use Value::*;
    Ok(match (op, &l, &r) {
        (ExprOp::Add, Int(a), Int(b)) => Int(a.checked_add(*b).ok_or_else(overflow)?),
        (ExprOp::Sub, Int(a), Int(b)) => Int(a.checked_sub(*b).ok_or_else(overflow)?),
        (ExprOp::Mul, Int(a), Int(b)) => Int(a.checked_mul(*b).ok_or_else(overflow)?),
        (ExprOp::Div | ExprOp::Rem, _, Int(0)) => return Err(EvalError("division by zero".into())),
        (ExprOp::Div, Int(a), Int(b)) => Int(a.checked_div(*b).ok_or_else(overflow)?),
        (ExprOp::Rem, Int(a), Int(b)) => Int(a.checked_rem(*b).ok_or_else(overflow)?),
        (ExprOp::Add, Text(a), Text(b)) => Text(format!("{a}{b}")),
        // §11: dates move by days, and two dates are days apart.
        (ExprOp::Add, Date(d), Int(n)) | (ExprOp::Add, Int(n), Date(d)) => {
            Date(d.add_days(*n).ok_or_else(no_such_date)?)
        }
        (ExprOp::Sub, Date(d), Int(n)) => Date(n.checked_neg().and_then(|n| d.add_days(n)).ok_or_else(no_such_date)?),
        (ExprOp::Sub, Date(a), Date(b)) => Int(a.days() - b.days()),
        (ExprOp::Add | ExprOp::Sub, _, _) => {
            let (a, b) = (money(&l).ok_or_else(|| bad("+"))?, money(&r).ok_or_else(|| bad("+"))?);
            let v = if matches!(op, ExprOp::Add) { a.checked_add(b) } else { a.checked_sub(b) };
            Money(v.ok_or_else(overflow)?)
        }
        (ExprOp::Mul, Money(m), Int(n)) | (ExprOp::Mul, Int(n), Money(m)) => {
            Money(m.checked_mul_int(*n).ok_or_else(overflow)?)
        }
        (ExprOp::Div, Money(m), Int(n)) => Money(m.checked_div_int(*n).ok_or_else(overflow)?),
        (ExprOp::Rem, Money(m), Int(n)) => Money(m.checked_rem_int(*n).ok_or_else(overflow)?),
        (ExprOp::Eq | ExprOp::Ne, _, _) => {
            let equal = match (money(&l), money(&r)) {
                (Some(a), Some(b)) if matches!((&l, &r), (Int(_) | Money(_), Int(_) | Money(_))) => a == b,
                _ => l == r,
            };
            Bool(equal == matches!(op, ExprOp::Eq))
        }
        (ExprOp::Lt | ExprOp::Le | ExprOp::Gt | ExprOp::Ge, _, _) => {
            let ordering = match (&l, &r) {
                (Int(a), Int(b)) => a.cmp(b),
                (Date(a), Date(b)) => a.cmp(b),
                (Time(a), Time(b)) => a.cmp(b),
                _ => money(&l).ok_or_else(|| bad("<"))?.cmp(&money(&r).ok_or_else(|| bad("<"))?),
            };
            Bool(match op {
                ExprOp::Lt => ordering.is_lt(),
                ExprOp::Le => ordering.is_le(),
                ExprOp::Gt => ordering.is_gt(),
                _ => ordering.is_ge(),
            })
        }
        _ => return Err(bad("operator")),
    })
}

/// A rendered prompt: what is spoken, and (when it interpolates a sensitive value) the text
/// with that value masked, for transcripts and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub text: String,
    pub log_text: Option<String>,
    /// The text of each segment in order; concatenated they equal `text`.
    pub pieces: Vec<SpeechPiece>,
}

/// One segment of a rendered prompt, so speech output can treat the written text (the same
/// on every call, synthesised once) apart from interpolated values (different per call).
/// A sensitive value is here in clear, like in `text`: never log pieces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpeechPiece {
    pub text: String,
    pub kind: PieceKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PieceKind {
    /// Text as written in the script.
    Static,
    /// An interpolated value, read through its filter (if any).
    Value(Option<Filter>),
}

/// Renders a prompt: text segments as written, values through their filter or plainly, in the
/// readings of the script's `locale` (zh-CN when a loaded program names another).
pub fn render(
    script: &ScriptCode,
    prompt: &PromptCode,
    slots: &[Value],
    builtins: Builtins,
) -> Result<Rendered, EvalError> {
    let locale = filters::Locale::from_tag(&script.locale).unwrap_or_default();
    let mut text = String::new();
    let mut log: Option<String> = None;
    let mut pieces = Vec::with_capacity(prompt.segments.len());
    for seg in &prompt.segments {
        match seg {
            PromptSegment::Text(t) => {
                text.push_str(t);
                pieces.push(SpeechPiece { text: t.clone(), kind: PieceKind::Static });
                if let Some(l) = &mut log {
                    l.push_str(t);
                }
            }
            PromptSegment::Value { expr, filter } => {
                let code = &script.exprs[*expr as usize];
                let value = eval(code, slots, builtins)?;
                let spoken = match filter {
                    Some(f) => filters::apply_in(locale, f.name(), &value).ok_or_else(|| bad(f.name()))?,
                    None => filters::plain_in(locale, &value),
                };
                if code.sensitive && log.is_none() {
                    log = Some(text.clone());
                }
                if let Some(l) = &mut log {
                    if code.sensitive {
                        l.push_str(&"*".repeat(spoken.chars().count().min(8)));
                    } else {
                        l.push_str(&spoken);
                    }
                }
                text.push_str(&spoken);
                pieces.push(SpeechPiece { text: spoken, kind: PieceKind::Value(*filter) });
            }
        }
    }
    Ok(Rendered { text, log_text: log, pieces })
}

/// The filter applied to a sample value, for hovers and docs.
pub fn sample(filter: Filter, value: &Value) -> Option<String> {
    filters::apply(filter.name(), value)
}
