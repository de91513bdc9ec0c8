//! Cranelift IR for a segment: the loop over rows, the session's start (defaults and lets,
//! as `Session::start` computes them) and the expression, following `eval` case by case.
//!
//! A row's code has no branch but one: every case where `eval` fails sets a flag, read once at
//! the row's end (then the verdict is `Interpret`). Both sides of an `and`/`or` run, and
//! defaults are computed for every row, with their failures counted only where `eval` would
//! run them; nothing that runs for nothing can trap (a division that would fail divides by 1).
//! Rows follow no pattern, so branches on their values would be mispredicted half the time.

use std::collections::HashMap;

use callscript_compiler::bytecode::{ExprCode, ExprOp, ScriptCode};
use callscript_compiler::syntax::ast::Type;
use callscript_compiler::value::{Date, Value};
use callscript_runtime::campaign::table::{ColumnData, CustomerTable};
use callscript_runtime::vm::DEFAULT_TODAY;
use callscript_runtime::vm::eval::Builtins;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{self, AbiParam, BlockArg, InstBuilder, MemFlagsData, types};
use cranelift_codegen::isa::TargetFrontendConfig;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::JITModule;
use cranelift_module::{Linkage, Module};

use crate::{JitError, VERDICT_INTERPRET};

/// The type of a value the compiled code holds: bools are `i8` 0 or 1, everything else `i64`
/// (money in cents, dates in days since 1970-01-01, times in minutes, texts as arena ids).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Int,
    Money,
    Date,
    Time,
    Bool,
    Text,
}

impl Kind {
    fn of_column(data: &ColumnData) -> Kind {
        match data {
            ColumnData::Int(_) => Kind::Int,
            ColumnData::Money(_) => Kind::Money,
            ColumnData::Date(_) => Kind::Date,
            ColumnData::Time(_) => Kind::Time,
            ColumnData::Bool(_) => Kind::Bool,
            ColumnData::Text(_) => Kind::Text,
        }
    }

    fn is_number(self) -> bool {
        matches!(self, Kind::Int | Kind::Money)
    }
}

/// An `and`/`or` whose right side is being compiled.
#[derive(Clone, Copy)]
struct Join {
    /// The op index the right side ends before.
    end: usize,
    /// The stack's depth below the result.
    depth: usize,
    is_and: bool,
    left: ir::Value,
    /// The row's failure flag before the right side (whose own failures count only where
    /// `eval` runs it).
    failed_before: Option<ir::Value>,
}

#[derive(Clone, Copy)]
struct Typed {
    kind: Kind,
    value: ir::Value,
}

/// Where a slot's value comes from.
#[derive(Clone, Copy)]
enum SlotSource {
    /// Loaded from this column of the table where the expression reads it.
    Column(usize),
    /// Computed at the row's start (a let, an input's default, a flow's blank).
    Computed(Typed),
}

/// The calendar `Date` allows (years 0 to 9999), in days since 1970-01-01.
const FIRST_DAY: Date = Date { year: 0, month: 1, day: 1 };
const LAST_DAY: Date = Date { year: 9999, month: 12, day: 31 };

fn unsupported(what: impl Into<String>) -> JitError {
    JitError::Unsupported(what.into())
}

fn codegen_error(e: impl std::fmt::Display) -> JitError {
    JitError::Codegen(e.to_string())
}

/// Defines and finalises the segment's function in `module`; returns its address.
pub(crate) fn define(
    module: &mut JITModule,
    condition: &ExprCode,
    script: &ScriptCode,
    table: &CustomerTable,
    builtins: Builtins,
) -> Result<*const u8, JitError> {
    let pointer = module.target_config().pointer_type();
    let mut context = module.make_context();
    context.func.signature.params.extend([
        AbiParam::new(pointer),
        AbiParam::new(pointer),
        AbiParam::new(types::I64),
        AbiParam::new(types::I64),
        AbiParam::new(pointer),
    ]);
    let mut function_context = FunctionBuilderContext::new();
    let builder = FunctionBuilder::new(&mut context.func, &mut function_context);
    Codegen::build(builder, module.target_config(), condition, script, table, builtins)?;
    let id = module.declare_function("segment", Linkage::Local, &context.func.signature).map_err(codegen_error)?;
    module.define_function(id, &mut context).map_err(codegen_error)?;
    module.clear_context(&mut context);
    module.finalize_definitions().map_err(codegen_error)?;
    Ok(module.get_finalized_function(id))
}

struct Codegen<'a, 'f> {
    b: FunctionBuilder<'f>,
    script: &'a ScriptCode,
    table: &'a CustomerTable,
    builtins: Builtins,
    /// The row being evaluated (defined at the top of the loop body, so it dominates the rest).
    row: ir::Value,
    /// Each column's values and (when it has missing values) validity bitmap.
    columns: Vec<ir::Value>,
    validity: Vec<Option<ir::Value>>,
    slots: Vec<SlotSource>,
    /// Set (an `i8` 1) where the interpreter must decide the row; None while nothing can fail.
    failed: Option<ir::Value>,
    /// Ids for constant texts no row holds: equal to each other when equal, never to a row's.
    absent_texts: HashMap<String, u32>,
}

/// Reads that never trap and never change while the code runs: the table is borrowed.
fn table_read() -> MemFlagsData {
    MemFlagsData::trusted().with_readonly()
}

impl<'a, 'f> Codegen<'a, 'f> {
    /// `for k in 0..count { out[k] = verdict(start + k) }`
    fn build(
        mut b: FunctionBuilder<'f>,
        frontend: TargetFrontendConfig,
        condition: &ExprCode,
        script: &'a ScriptCode,
        table: &'a CustomerTable,
        builtins: Builtins,
    ) -> Result<(), JitError> {
        let entry = b.create_block();
        let header = b.create_block();
        let body = b.create_block();
        let interpret = b.create_block();
        let next = b.create_block();
        let exit = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let [columns_at, validity_at, start, count, out] = b.block_params(entry) else {
            return Err(codegen_error("the function takes five parameters"));
        };
        let (columns_at, validity_at, start, count, out) = (*columns_at, *validity_at, *start, *count, *out);
        let pointer = frontend.pointer_type();
        let width = i32::from(pointer.bytes() as u16);
        let mut columns = Vec::new();
        let mut validity = Vec::new();
        for (i, column) in table.columns().iter().enumerate() {
            let at = i32::try_from(i)
                .ok()
                .and_then(|i| i.checked_mul(width))
                .ok_or_else(|| unsupported("so many columns"))?;
            columns.push(b.ins().load(pointer, table_read(), columns_at, at));
            validity.push(column.validity.is_some().then(|| b.ins().load(pointer, table_read(), validity_at, at)));
        }
        let k = b.declare_var(types::I64);
        let zero = b.ins().iconst(types::I64, 0);
        b.def_var(k, zero);
        b.ins().jump(header, &[]);

        b.switch_to_block(header);
        let k_now = b.use_var(k);
        let more = b.ins().icmp(IntCC::UnsignedLessThan, k_now, count);
        b.ins().brif(more, body, &[], exit, &[]);

        b.switch_to_block(body);
        let k_now = b.use_var(k);
        let row = b.ins().iadd(start, k_now);
        let mut code = Codegen {
            b,
            script,
            table,
            builtins,
            row,
            columns,
            validity,
            slots: Vec::new(),
            failed: None,
            absent_texts: HashMap::new(),
        };
        code.start_session()?;
        let result = code.expr(condition)?;
        if result.kind != Kind::Bool {
            return Err(unsupported("a segment that is not a condition"));
        }
        let failed = code.failed;
        let mut b = code.b;
        let verdict = [BlockArg::Value(result.value)];
        match failed {
            Some(failed) => b.ins().brif(failed, interpret, &[], next, &verdict),
            None => b.ins().jump(next, &verdict),
        };

        b.switch_to_block(interpret);
        let verdict = b.ins().iconst(types::I8, i64::from(VERDICT_INTERPRET));
        b.ins().jump(next, &[BlockArg::Value(verdict)]);

        b.switch_to_block(next);
        let verdict = b.append_block_param(next, types::I8);
        let k_now = b.use_var(k);
        let at = b.ins().iadd(out, k_now);
        b.ins().store(MemFlagsData::trusted(), verdict, at, 0);
        let k_next = b.ins().iadd_imm_s(k_now, 1);
        b.def_var(k, k_next);
        b.ins().jump(header, &[]);

        b.switch_to_block(exit);
        b.ins().return_(&[]);
        b.seal_all_blocks();
        b.finalize(frontend);
        Ok(())
    }

    /// Each slot's value as `Session::start` gives it, in slot order: an input from its
    /// column (its default where the row leaves it empty), a let from its start expression,
    /// a flow's value blank.
    fn start_session(&mut self) -> Result<(), JitError> {
        let script = self.script;
        for (slot, decl) in script.slots.iter().enumerate() {
            let source = if decl.input {
                let column = self
                    .table
                    .columns()
                    .iter()
                    .position(|c| usize::from(c.slot) == slot)
                    .ok_or_else(|| unsupported("an input the table has no column for"))?;
                match (self.validity[column], decl.init) {
                    (None, _) => SlotSource::Column(column),
                    // A row without the value: the session would refuse to start.
                    (Some(_), None) => {
                        let missing = self.is_missing(column);
                        self.interpret_if(missing);
                        SlotSource::Column(column)
                    }
                    (Some(_), Some(init)) => SlotSource::Computed(self.input_or_default(column, init, decl.ty)?),
                }
            } else if let Some(init) = decl.init {
                SlotSource::Computed(self.start_value(init, decl.ty)?)
            } else if decl.local {
                SlotSource::Computed(self.blank(decl.ty))
            } else {
                return Err(unsupported(format!("value `{}`, which a session does not compute at start", decl.name)));
            };
            self.slots.push(source);
        }
        Ok(())
    }

    /// A start expression's value as the slot keeps it (an int widened to money).
    fn start_value(&mut self, init: u32, ty: Type) -> Result<Typed, JitError> {
        let code =
            self.script.exprs.get(init as usize).ok_or_else(|| unsupported("a start value that does not exist"))?;
        let value = self.expr(code)?;
        Ok(match (ty, value.kind) {
            (Type::Money, Kind::Int) => self.widen(value),
            _ => value,
        })
    }

    /// The column's value, or the input's default where the row has none (computed for every
    /// row, its failures counted only where the row has no value).
    fn input_or_default(&mut self, column: usize, init: u32, ty: Type) -> Result<Typed, JitError> {
        let missing = self.is_missing(column);
        let given = self.load(column);
        let failed_before = self.failed.take();
        let default = self.start_value(init, ty)?;
        if default.kind != given.kind {
            return Err(unsupported("a default of another type than its input"));
        }
        let default_failed = self.failed.take().map(|f| self.b.ins().band(missing, f));
        self.failed = self.either(failed_before, default_failed);
        let value = self.b.ins().select(missing, default.value, given.value);
        Ok(Typed { kind: given.kind, value })
    }

    fn blank(&mut self, ty: Type) -> Typed {
        match ty {
            Type::Text => self.text("", Kind::Text),
            Type::Int => self.int(Kind::Int, 0),
            Type::Money => self.int(Kind::Money, 0),
            Type::Bool => self.bool(false),
            Type::Date => self.int(Kind::Date, DEFAULT_TODAY.days()),
            Type::Time => self.int(Kind::Time, 0),
        }
    }

    fn int(&mut self, kind: Kind, n: i64) -> Typed {
        Typed { kind, value: self.b.ins().iconst(types::I64, n) }
    }

    fn bool(&mut self, b: bool) -> Typed {
        Typed { kind: Kind::Bool, value: self.b.ins().iconst(types::I8, i64::from(b)) }
    }

    fn text(&mut self, text: &str, kind: Kind) -> Typed {
        let id = match self.table.texts().id(text) {
            Some(id) => id,
            None => {
                let next = (self.table.texts().len() + self.absent_texts.len()) as u32;
                *self.absent_texts.entry(text.to_string()).or_insert(next)
            }
        };
        self.int(kind, i64::from(id))
    }

    fn constant(&mut self, value: &Value) -> Typed {
        match value {
            Value::Int(n) => self.int(Kind::Int, *n),
            Value::Money(m) => self.int(Kind::Money, m.cents()),
            Value::Date(d) => self.int(Kind::Date, d.days()),
            Value::Time(t) => self.int(Kind::Time, i64::from(t.hour) * 60 + i64::from(t.minute)),
            Value::Bool(b) => self.bool(*b),
            Value::Text(t) => self.text(t, Kind::Text),
        }
    }

    /// 1 when the row has no value in the column (which has a bitmap).
    fn is_missing(&mut self, column: usize) -> ir::Value {
        let Some(bits) = self.validity[column] else { return self.b.ins().iconst(types::I8, 0) };
        let b = &mut self.b;
        let byte_index = b.ins().ushr_imm_s(self.row, 3);
        let at = b.ins().iadd(bits, byte_index);
        let byte = b.ins().uload8(types::I64, table_read(), at, 0);
        let bit = b.ins().band_imm_s(self.row, 7);
        let shifted = b.ins().ushr(byte, bit);
        let valid = b.ins().band_imm_s(shifted, 1);
        b.ins().icmp_imm_s(IntCC::Equal, valid, 0)
    }

    fn load(&mut self, column: usize) -> Typed {
        let data = &self.table.columns()[column].data;
        let kind = Kind::of_column(data);
        let width = match data {
            ColumnData::Int(_) | ColumnData::Money(_) => 8,
            ColumnData::Date(_) | ColumnData::Text(_) => 4,
            ColumnData::Time(_) => 2,
            ColumnData::Bool(_) => 1,
        };
        let b = &mut self.b;
        let offset = b.ins().imul_imm_s(self.row, width);
        let at = b.ins().iadd(self.columns[column], offset);
        let value = match data {
            ColumnData::Int(_) | ColumnData::Money(_) => b.ins().load(types::I64, table_read(), at, 0),
            ColumnData::Date(_) => b.ins().sload32(table_read(), at, 0),
            ColumnData::Time(_) => b.ins().uload16(types::I64, table_read(), at, 0),
            ColumnData::Bool(_) => b.ins().load(types::I8, table_read(), at, 0),
            ColumnData::Text(_) => b.ins().uload32(table_read(), at, 0),
        };
        Typed { kind, value }
    }

    /// Leaves the row to the interpreter where `condition` (an `i8`) is 1.
    fn interpret_if(&mut self, condition: ir::Value) {
        self.failed = self.either(self.failed, Some(condition));
    }

    /// Either flag set.
    fn either(&mut self, a: Option<ir::Value>, b: Option<ir::Value>) -> Option<ir::Value> {
        match (a, b) {
            (Some(a), Some(b)) => Some(self.b.ins().bor(a, b)),
            (a, None) => a,
            (None, b) => b,
        }
    }

    /// `int` as `money` (`Money::from_int`): cents, the row interpreted on overflow.
    fn widen(&mut self, value: Typed) -> Typed {
        if value.kind != Kind::Int {
            return value;
        }
        let hundred = self.b.ins().iconst(types::I64, 100);
        let (cents, overflow) = self.b.ins().smul_overflow(value.value, hundred);
        self.interpret_if(overflow);
        Typed { kind: Kind::Money, value: cents }
    }

    fn checked(&mut self, op: ExprOp, l: ir::Value, r: ir::Value) -> ir::Value {
        let (value, overflow) = match op {
            ExprOp::Add => self.b.ins().sadd_overflow(l, r),
            ExprOp::Sub => self.b.ins().ssub_overflow(l, r),
            _ => self.b.ins().smul_overflow(l, r),
        };
        self.interpret_if(overflow);
        value
    }

    /// `checked_div` / `checked_rem`: a zero divisor and `MIN / -1` go to the interpreter, and
    /// divide by 1 meanwhile (the hardware would trap).
    fn divide(&mut self, op: &ExprOp, l: ir::Value, r: ir::Value) -> ir::Value {
        let zero = self.b.ins().icmp_imm_s(IntCC::Equal, r, 0);
        let min = self.b.ins().icmp_imm_s(IntCC::Equal, l, i64::MIN);
        let minus_one = self.b.ins().icmp_imm_s(IntCC::Equal, r, -1);
        let overflows = self.b.ins().band(min, minus_one);
        let fails = self.b.ins().bor(zero, overflows);
        self.interpret_if(fails);
        let one = self.b.ins().iconst(types::I64, 1);
        let divisor = self.b.ins().select(fails, one, r);
        match op {
            ExprOp::Div => self.b.ins().sdiv(l, divisor),
            _ => self.b.ins().srem(l, divisor),
        }
    }

    /// `Date::add_days`: off the calendar (or past i64) goes to the interpreter.
    fn add_days(&mut self, days: ir::Value, n: ir::Value) -> Typed {
        let sum = self.checked(ExprOp::Add, days, n);
        let before = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, sum, FIRST_DAY.days());
        let after = self.b.ins().icmp_imm_s(IntCC::SignedGreaterThan, sum, LAST_DAY.days());
        let off = self.b.ins().bor(before, after);
        self.interpret_if(off);
        Typed { kind: Kind::Date, value: sum }
    }

    /// Compiles a postfix expression, as `eval` runs it.
    fn expr(&mut self, code: &ExprCode) -> Result<Typed, JitError> {
        let mut stack: Vec<Typed> = Vec::with_capacity(4);
        // The `and`/`or`s whose right side is being compiled, innermost last.
        let mut joins: Vec<Join> = Vec::new();
        let pop = |stack: &mut Vec<Typed>| stack.pop().ok_or_else(|| unsupported("malformed code (stack)"));
        for at in 0..=code.ops.len() {
            // The right side of an `and`/`or` ends here: it and the left side make one bool.
            while let Some(&Join { end, depth, is_and, left, failed_before }) = joins.last()
                && end == at
            {
                let right = pop(&mut stack)?;
                if right.kind != Kind::Bool || stack.len() != depth {
                    return Err(unsupported("an and/or whose right side is not one condition"));
                }
                // `eval` runs the right side where the left side is true (`and`), false (`or`).
                let runs = if is_and { left } else { self.b.ins().bxor_imm_s(left, 1) };
                let right_failed = self.failed.take().map(|f| self.b.ins().band(runs, f));
                self.failed = self.either(failed_before, right_failed);
                let value =
                    if is_and { self.b.ins().band(left, right.value) } else { self.b.ins().bor(left, right.value) };
                stack.push(Typed { kind: Kind::Bool, value });
                joins.pop();
            }
            if joins.iter().any(|join| join.end <= at) {
                return Err(unsupported("malformed code (crossed jumps)"));
            }
            let Some(op) = code.ops.get(at) else { break };
            let pushed = match op {
                ExprOp::Const(v) => self.constant(v),
                ExprOp::Load(slot) => match self.slots.get(usize::from(*slot)) {
                    Some(SlotSource::Column(column)) => self.load(*column),
                    Some(SlotSource::Computed(value)) => *value,
                    None => return Err(unsupported("a value read before the session computes it")),
                },
                ExprOp::Attempt => self.int(Kind::Int, self.builtins.attempt),
                ExprOp::Hour => self.int(Kind::Int, self.builtins.hour),
                ExprOp::Today => self.int(Kind::Date, self.builtins.today.days()),
                ExprOp::Weekday => self.int(Kind::Int, i64::from(self.builtins.today.weekday())),
                ExprOp::Neg => {
                    let v = pop(&mut stack)?;
                    if !v.kind.is_number() {
                        return Err(unsupported("`-` of something not a number"));
                    }
                    let min = self.b.ins().icmp_imm_s(IntCC::Equal, v.value, i64::MIN);
                    self.interpret_if(min);
                    Typed { kind: v.kind, value: self.b.ins().ineg(v.value) }
                }
                ExprOp::Not => {
                    let v = pop(&mut stack)?;
                    if v.kind != Kind::Bool {
                        return Err(unsupported("`not` of something not a condition"));
                    }
                    Typed { kind: Kind::Bool, value: self.b.ins().bxor_imm_s(v.value, 1) }
                }
                ExprOp::And(skip) | ExprOp::Or(skip) => {
                    let left = pop(&mut stack)?;
                    if left.kind != Kind::Bool {
                        return Err(unsupported("and/or of something not a condition"));
                    }
                    let end = at + *skip as usize + 1;
                    if end > code.ops.len() {
                        return Err(unsupported("malformed code (jump past the end)"));
                    }
                    let is_and = matches!(op, ExprOp::And(_));
                    let failed_before = self.failed.take();
                    joins.push(Join { end, depth: stack.len(), is_and, left: left.value, failed_before });
                    continue;
                }
                _ => {
                    let r = pop(&mut stack)?;
                    let l = pop(&mut stack)?;
                    self.binary(op, l, r)?
                }
            };
            stack.push(pushed);
        }
        stack.pop().ok_or_else(|| unsupported("malformed code (empty)"))
    }

    /// `eval`'s `binary`, arm by arm; a pair of types it refuses is not compiled.
    fn binary(&mut self, op: &ExprOp, l: Typed, r: Typed) -> Result<Typed, JitError> {
        use Kind::*;
        let value = match (op, l.kind, r.kind) {
            (ExprOp::Add | ExprOp::Sub | ExprOp::Mul, Int, Int) => {
                Typed { kind: Int, value: self.checked(op.clone(), l.value, r.value) }
            }
            (ExprOp::Div | ExprOp::Rem, Int | Money, Int) => {
                Typed { kind: l.kind, value: self.divide(op, l.value, r.value) }
            }
            (ExprOp::Add, Date, Int) => self.add_days(l.value, r.value),
            (ExprOp::Add, Int, Date) => self.add_days(r.value, l.value),
            (ExprOp::Sub, Date, Int) => {
                let min = self.b.ins().icmp_imm_s(IntCC::Equal, r.value, i64::MIN);
                self.interpret_if(min);
                let back = self.b.ins().ineg(r.value);
                self.add_days(l.value, back)
            }
            (ExprOp::Sub, Date, Date) => Typed { kind: Int, value: self.b.ins().isub(l.value, r.value) },
            (ExprOp::Add | ExprOp::Sub, _, _) if l.kind.is_number() && r.kind.is_number() => {
                let (l, r) = (self.widen(l), self.widen(r));
                Typed { kind: Money, value: self.checked(op.clone(), l.value, r.value) }
            }
            (ExprOp::Mul, Money, Int) | (ExprOp::Mul, Int, Money) => {
                Typed { kind: Money, value: self.checked(ExprOp::Mul, l.value, r.value) }
            }
            (ExprOp::Eq | ExprOp::Ne, _, _) => {
                let equal = self.equal(l, r);
                match op {
                    ExprOp::Eq => equal,
                    _ => Typed { kind: Bool, value: self.b.ins().bxor_imm_s(equal.value, 1) },
                }
            }
            (ExprOp::Lt | ExprOp::Le | ExprOp::Gt | ExprOp::Ge, _, _) => {
                let (l, r) = match (l.kind, r.kind) {
                    (Int, Int) | (Date, Date) | (Time, Time) => (l, r),
                    (a, b) if a.is_number() && b.is_number() => (self.widen(l), self.widen(r)),
                    _ => return Err(unsupported("an ordering of values that are not numbers, dates or times")),
                };
                let cc = match op {
                    ExprOp::Lt => IntCC::SignedLessThan,
                    ExprOp::Le => IntCC::SignedLessThanOrEqual,
                    ExprOp::Gt => IntCC::SignedGreaterThan,
                    _ => IntCC::SignedGreaterThanOrEqual,
                };
                Typed { kind: Bool, value: self.b.ins().icmp(cc, l.value, r.value) }
            }
            _ => return Err(unsupported(format!("{op:?} of {:?} and {:?}", l.kind, r.kind))),
        };
        Ok(value)
    }

    /// `eval`'s equality: numbers as money (an int too large for money equals no amount),
    /// other values when of one type; values of different types are never equal.
    fn equal(&mut self, l: Typed, r: Typed) -> Typed {
        let value = match (l.kind, r.kind) {
            (a, b) if a == b => self.b.ins().icmp(IntCC::Equal, l.value, r.value),
            (Kind::Int, Kind::Money) | (Kind::Money, Kind::Int) => {
                let (int, money) = if l.kind == Kind::Int { (l.value, r.value) } else { (r.value, l.value) };
                let hundred = self.b.ins().iconst(types::I64, 100);
                let (cents, overflow) = self.b.ins().smul_overflow(int, hundred);
                let same = self.b.ins().icmp(IntCC::Equal, cents, money);
                let fits = self.b.ins().bxor_imm_s(overflow, 1);
                self.b.ins().band(same, fits)
            }
            _ => return self.bool(false),
        };
        Typed { kind: Kind::Bool, value }
    }
}
