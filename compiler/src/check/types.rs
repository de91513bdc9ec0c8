//! Names used by statements (values, intents, outcomes, emotions) and the types of every
//! expression and filter (§4, §9.5). Also checks `test` blocks against their script.

use std::collections::HashSet;

use crate::check::scope::{EMOTIONS, ScriptScope, ValueKind};
use crate::diagnostic::Diagnostic;
use crate::filters::FILTERS;
use crate::span::Span;
use crate::suggest::closest;
use crate::syntax::ast::*;

/// What a script uses, for the "never used" warnings.
#[derive(Default)]
pub struct Usage<'a> {
    pub values: HashSet<&'a str>,
    pub intents: HashSet<&'a str>,
    pub outcomes: HashSet<&'a str>,
}

/// The type of an expression; `None` where an error was already reported. `sensitive` is
/// true when the value is computed from a `sensitive` input (§9.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Typed {
    pub ty: Option<Type>,
    pub sensitive: bool,
}

/// Which types a filter takes (§9.5): the table lives with the filters themselves.
pub fn filter_accepts(filter: &str, ty: Type) -> bool {
    crate::filters::accepts(filter, ty.name())
}

fn filter_takes(filter: &str) -> &'static str {
    match filter {
        "money" => "`money` or `int`",
        "digits" => "`text` or `int`",
        "number" => "`int` or `money`",
        "date" => "`date`",
        _ => "`text`",
    }
}

/// Whether a value of type `from` may be stored where `to` is expected (int widens to money).
pub fn assignable(from: Type, to: Type) -> bool {
    from == to || (from == Type::Int && to == Type::Money)
}

pub struct TypeChecker<'s, 'a> {
    pub scope: &'s ScriptScope<'a>,
    pub usage: &'s mut Usage<'a>,
    pub diagnostics: &'s mut Vec<Diagnostic>,
}

impl<'s, 'a> TypeChecker<'s, 'a> {
    /// The starting values of the scope's lets (with their bounds) and its steps' statements:
    /// what a script, a flow and a handler set have in common.
    fn lets_and_steps(&mut self) {
        let scope = self.scope;
        for l in &scope.lets {
            if let Some(ty) = l.ty.ty {
                self.expect(&l.value, ty, &format!("the starting value of `{}`", l.name.name));
                bounds(self, &l.name, ty, &l.bounds);
            }
        }
        for step in &scope.steps {
            self.stmts(step.stmts);
        }
    }

    fn diag(&self, code: &'static str, span: Span, message: String) -> Diagnostic {
        Diagnostic::new(code, self.scope.file, span, message)
    }

    fn report(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    pub fn expr(&mut self, expr: &'a Expr) -> Typed {
        let plain = |ty| Typed { ty: Some(ty), sensitive: false };
        match &expr.kind {
            ExprKind::Int(_) => plain(Type::Int),
            ExprKind::Money(_) => plain(Type::Money),
            ExprKind::Str(_) => plain(Type::Text),
            ExprKind::Bool(_) => plain(Type::Bool),
            ExprKind::Date(_) => plain(Type::Date),
            ExprKind::Time(_) => plain(Type::Time),
            ExprKind::Error => Typed { ty: None, sensitive: false },
            ExprKind::Paren(inner) => self.expr(inner),
            ExprKind::Name(ident) => match self.scope.values.get(ident.name.as_str()) {
                Some(v) => {
                    self.usage.values.insert(&ident.name);
                    Typed { ty: Some(v.ty), sensitive: v.sensitive }
                }
                None => {
                    let names = self.scope.values.keys().copied();
                    let suggestion = closest(&ident.name, names);
                    let help = match suggestion {
                        _ if crate::segment::RFM_VALUES.iter().any(|(n, _)| *n == ident.name) => format!(
                            "`{}` is an RFM value of a campaign's `segment` (CAMPAIGN.md §8), not of a script",
                            ident.name
                        ),
                        Some(s) => format!("did you mean `{s}`?"),
                        None => "declare it in `input { … }` or with `let`".to_string(),
                    };
                    self.report(
                        self.diag("E103", ident.span, format!("there is no input or value `{}`", ident.name))
                            .label("unknown name")
                            .with_help(help),
                    );
                    Typed { ty: None, sensitive: false }
                }
            },
            ExprKind::Call(name, args) => {
                // A segment's calls are read before it is checked (`crate::segment`): a call
                // met here is in a script. Its arguments are still read (their names used).
                self.report(crate::segment::misplaced_call(self.scope.file, name));
                for arg in args {
                    self.expr(arg);
                }
                Typed { ty: None, sensitive: false }
            }
            ExprKind::Field(action, field) => {
                let Some(def) = self.action(action) else { return Typed { ty: None, sensitive: false } };
                match def.outputs().find(|f| f.name.name == field.name) {
                    Some(f) => {
                        Typed { ty: f.ty.ty, sensitive: self.scope.sensitive_actions.contains(action.name.as_str()) }
                    }
                    None => {
                        self.unknown_field(def, field, true);
                        Typed { ty: None, sensitive: false }
                    }
                }
            }
            ExprKind::Unary(op, inner) => {
                let t = self.expr(inner);
                let ty = match (op, t.ty) {
                    (_, None) => None,
                    (UnaryOp::Neg, Some(ty @ (Type::Int | Type::Money))) => Some(ty),
                    (UnaryOp::Not, Some(Type::Bool)) => Some(Type::Bool),
                    (op, Some(ty)) => {
                        let (sym, wants) = match op {
                            UnaryOp::Neg => ("-", "`int` or `money`"),
                            UnaryOp::Not => ("not", "`bool`"),
                        };
                        self.report(
                            self.diag("E203", expr.span, format!("`{sym}` cannot apply to {}", ty.a()))
                                .label(format!("this is {}", ty.a()))
                                .with_help(format!("`{sym}` takes {wants}")),
                        );
                        None
                    }
                };
                Typed { ty, sensitive: t.sensitive }
            }
            ExprKind::Binary(op, lhs, rhs) => {
                let l = self.expr(lhs);
                let r = self.expr(rhs);
                let sensitive = l.sensitive || r.sensitive;
                let (Some(lt), Some(rt)) = (l.ty, r.ty) else { return Typed { ty: None, sensitive } };
                Typed { ty: self.binary(*op, lt, rt, expr, lhs, rhs), sensitive }
            }
        }
    }

    fn binary(&mut self, op: BinaryOp, lt: Type, rt: Type, expr: &Expr, lhs: &Expr, rhs: &Expr) -> Option<Type> {
        use BinaryOp::*;
        use Type::*;
        let result = match op {
            Add | Sub => match (lt, rt) {
                (Int, Int) => Some(Int),
                (Money, Money) | (Money, Int) | (Int, Money) => Some(Money),
                (Text, Text) if op == Add => Some(Text),
                // §11: a date moves by days; two dates are days apart.
                (Date, Int) => Some(Date),
                (Int, Date) if op == Add => Some(Date),
                (Date, Date) if op == Sub => Some(Int),
                _ => None,
            },
            Mul => match (lt, rt) {
                (Int, Int) => Some(Int),
                (Money, Int) | (Int, Money) => Some(Money),
                _ => None,
            },
            Div | Rem => match (lt, rt) {
                (Int, Int) => Some(Int),
                (Money, Int) => Some(Money),
                _ => None,
            },
            Eq | Ne => {
                if lt == rt || matches!((lt, rt), (Int, Money) | (Money, Int)) {
                    Some(Bool)
                } else {
                    return self.compare_error(op, lt, rt, expr, lhs, rhs);
                }
            }
            Lt | Le | Gt | Ge => {
                let ordered = |t: Type| matches!(t, Int | Money | Date | Time);
                if (lt == rt || matches!((lt, rt), (Int, Money) | (Money, Int))) && ordered(lt) && ordered(rt) {
                    Some(Bool)
                } else if lt != rt && !matches!((lt, rt), (Int, Money) | (Money, Int)) {
                    return self.compare_error(op, lt, rt, expr, lhs, rhs);
                } else {
                    None
                }
            }
            And | Or => match (lt, rt) {
                (Bool, Bool) => Some(Bool),
                _ => None,
            },
        };
        if result.is_none() {
            let help = match (op, lt, rt) {
                (Mul, Money, Money) => "money × money has no meaning; multiply an amount by an `int`".to_string(),
                (Div, Money, Money) | (Rem, Money, Money) => {
                    "money ÷ money is not allowed; divide an amount by an `int`".to_string()
                }
                (And | Or, ..) => format!("`{}` joins two conditions (`bool`)", op.symbol()),
                (Lt | Le | Gt | Ge, ..) => "only numbers, amounts, dates and times can be ordered".to_string(),
                (Add | Sub, Date, _) | (Add | Sub, _, Date) => {
                    "a date moves by a number of days (`today + 7`), and two dates subtract to the days between them"
                        .to_string()
                }
                _ => format!("`{}` works on numbers and amounts", op.symbol()),
            };
            self.report(
                self.diag(
                    "E203",
                    expr.span,
                    format!("`{}` cannot apply to `{}` and `{}`", op.symbol(), lt.name(), rt.name()),
                )
                .label(format!("`{}` {} `{}`", lt.name(), op.symbol(), rt.name()))
                .with_help(help),
            );
        }
        result
    }

    fn compare_error(&mut self, op: BinaryOp, lt: Type, rt: Type, expr: &Expr, lhs: &Expr, rhs: &Expr) -> Option<Type> {
        let file = self.scope.file;
        self.diagnostics.push(
            Diagnostic::new("E202", file, expr.span, format!("{} cannot be compared with {}", lt.a(), rt.a()))
                .label(format!("`{}` compares different types", op.symbol()))
                .with_secondary(file, lhs.span, format!("this is {}", lt.a()))
                .with_secondary(file, rhs.span, format!("this is {}", rt.a()))
                .with_help(if lt == Type::Text || rt == Type::Text {
                    "compare text with text (`\"5\"`) or numbers with numbers (`5`)"
                } else {
                    "compare values of the same type"
                }),
        );
        Some(Type::Bool)
    }

    /// Checks an expression against an expected type.
    fn expect(&mut self, expr: &'a Expr, want: Type, what: &str) {
        let t = self.expr(expr);
        if let Some(ty) = t.ty
            && !assignable(ty, want)
        {
            self.report(
                self.diag("E200", expr.span, format!("{what} must be {}, but this is {}", want.a(), ty.a()))
                    .label(ty.a()),
            );
        }
    }

    pub fn prompt(&mut self, prompt: &'a Prompt) {
        for seg in &prompt.segments {
            let Segment::Interp { expr, filter, span } = seg else { continue };
            let t = self.expr(expr);
            let Some(filter) = filter else { continue };
            if !FILTERS.contains(&filter.name.as_str()) {
                let suggestion = closest(&filter.name, FILTERS.iter().copied());
                self.report(
                    self.diag("E109", filter.span, format!("there is no filter `{}`", filter.name))
                        .label("unknown filter")
                        .with_help(match suggestion {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => "the filters are `money`, `digits`, `number`, `date` and `mask`".to_string(),
                        }),
                );
                continue;
            }
            if let Some(ty) = t.ty
                && !filter_accepts(&filter.name, ty)
            {
                let file = self.scope.file;
                self.diagnostics.push(
                    Diagnostic::new(
                        "E201",
                        file,
                        filter.span,
                        format!("the filter `{}` does not take {}", filter.name, ty.a()),
                    )
                    .label(format!("takes {}", filter_takes(&filter.name)))
                    .with_secondary(file, expr.span, format!("this is {}", ty.a())),
                );
            }
            if filter.name == "money" && is_negative_literal(expr) {
                self.report(
                    self.diag("E204", *span, "a negative amount cannot be spoken as money".to_string())
                        .label("negative")
                        .with_help("customers hear amounts owed as positive numbers; remove the minus sign"),
                );
            }
        }
    }

    fn pattern(&mut self, pattern: &'a Pattern) {
        match &pattern.kind {
            PatternKind::Intent(ident) => {
                if self.scope.intents.contains_key(ident.name.as_str()) {
                    self.usage.intents.insert(&ident.name);
                } else {
                    let names = self.scope.intents.keys().copied();
                    let suggestion = closest(&ident.name, names);
                    self.report(
                        self.diag("E101", ident.span, format!("there is no intent `{}`", ident.name))
                            .label("unknown intent")
                            .with_help(match suggestion {
                                Some(s) => format!("did you mean `{s}`?"),
                                None => {
                                    "define it with `intent NAME { phrases \"…\" }` or import it (`use std.zh.common`)"
                                        .to_string()
                                }
                            }),
                    );
                }
            }
            PatternKind::Emotion(e) => self.emotion(e),
            PatternKind::Dtmf(keys) if !crate::check::intents::is_dtmf_keys(&keys.value) => {
                self.report(
                    self.diag("E403", keys.span, format!("`{}` is not a dtmf key sequence", keys.value))
                        .label("not keys of a phone keypad")
                        .with_help("dtmf keys are 0–9, `*`, `#` and A–D, e.g. `dtmf \"1\"`"),
                );
            }
            _ => {}
        }
    }

    fn emotion(&mut self, e: &Ident) {
        if !EMOTIONS.contains(&e.name.as_str()) {
            let suggestion = closest(&e.name, EMOTIONS.iter().copied());
            self.report(
                self.diag("E116", e.span, format!("`{}` is not an emotion", e.name))
                    .label("unknown emotion")
                    .with_help(match suggestion {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => "the emotions are `angry`, `upset`, `neutral` and `happy`".to_string(),
                    }),
            );
        }
    }

    /// The action named, or E120.
    fn action(&mut self, name: &Ident) -> Option<&'a Action> {
        if let Some(def) = self.scope.actions.get(name.name.as_str()) {
            return Some(def);
        }
        let suggestion = closest(&name.name, self.scope.actions.keys().copied());
        self.report(
            self.diag("E120", name.span, format!("there is no action `{}`", name.name))
                .label("unknown action")
                .with_help(match suggestion {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!(
                        "declare it at the top of the file: `action {} {{ input {{ … }} output {{ … }} }}`, or import it with `use`",
                        name.name
                    ),
                }),
        );
        None
    }

    fn unknown_field(&mut self, def: &Action, field: &Ident, output: bool) {
        let fields = if output { def.outputs().collect::<Vec<_>>() } else { def.inputs().collect() };
        let what = if output { "output" } else { "input" };
        let suggestion = closest(&field.name, fields.iter().map(|f| f.name.name.as_str()));
        let list = fields.iter().map(|f| format!("`{}`", f.name.name)).collect::<Vec<_>>().join(", ");
        self.report(
            self.diag("E120", field.span, format!("action `{}` has no {what} `{}`", def.name.name, field.name))
                .label(format!("unknown {what}"))
                .with_help(match suggestion {
                    Some(s) => format!("did you mean `{s}`?"),
                    None if list.is_empty() => format!("`{}` declares no {what}s", def.name.name),
                    None => format!("its {what}s are {list}"),
                }),
        );
    }

    /// `do NAME(ARG = EXPR, …) { on ok …; on failed … }` (§13). Not inlined: `stmt`'s frame is
    /// on the stack once per nesting level.
    #[inline(never)]
    fn do_stmt(&mut self, d: &'a Do, span: Span) {
        let def = self.action(&d.action);
        let mut given: Vec<&str> = Vec::new();
        for (name, value) in &d.args {
            let input = def.and_then(|def| def.inputs().find(|f| f.name.name == name.name));
            match (def, input) {
                (Some(def), None) => {
                    self.unknown_field(def, name, false);
                    self.expr(value);
                }
                (_, Some(Field { ty: TypeRef { ty: Some(ty), .. }, .. })) => {
                    self.expect(value, *ty, &format!("the input `{}`", name.name));
                }
                _ => {
                    self.expr(value);
                }
            }
            if given.contains(&name.name.as_str()) {
                self.report(
                    self.diag("E210", name.span, format!("the input `{}` is given twice", name.name))
                        .label("second value"),
                );
            }
            given.push(&name.name);
        }
        if let Some(def) = def {
            let missing: Vec<&str> =
                def.inputs().map(|f| f.name.name.as_str()).filter(|name| !given.contains(name)).collect();
            if !missing.is_empty() {
                let listed: Vec<String> = missing.iter().map(|m| format!("`{m}`")).collect();
                self.report(
                    self.diag("E210", d.head, format!("this `do` does not give {}", listed.join(", ")))
                        .label("missing inputs")
                        .with_secondary(self.scope.file, def.name.span, "the action's inputs are declared here")
                        .with_help(format!(
                            "send every input of `{}`: `{}(… {} = …)`",
                            def.name.name,
                            def.name.name,
                            missing.join(" = …, ")
                        )),
                );
            }
        }
        if let Some(t) = d.timeout
            && t.millis == 0
        {
            self.report(self.diag("E200", t.span, "a timeout must be longer than 0".to_string()).label("too short"));
        }
        let mut seen: Vec<&str> = Vec::new();
        for b in &d.branches {
            for p in &b.patterns {
                let name = match &p.kind {
                    PatternKind::Intent(i) if i.name == "ok" || i.name == "failed" => i.name.as_str(),
                    _ => {
                        self.report(
                            self.diag(
                                "E320",
                                p.span,
                                "a `do` has only the branches `on ok` and `on failed`".to_string(),
                            )
                            .label("not `ok` or `failed`")
                            .with_help("write `on ok => …` for an answer and `on failed => …` for anything else"),
                        );
                        continue;
                    }
                };
                if seen.contains(&name) {
                    self.report(
                        self.diag("E320", p.span, format!("`on {name}` is written twice in this `do`"))
                            .label("second branch"),
                    );
                }
                seen.push(name);
            }
            if let Some(g) = &b.guard {
                self.report(
                    self.diag("E320", g.span, "the branches of a `do` take no guard".to_string())
                        .label("not allowed here")
                        .with_help("branch on the outputs with `if` inside `on ok => { … }`"),
                );
            }
            self.stmts(&b.body.stmts);
        }
        for want in ["ok", "failed"] {
            if !seen.contains(&want) {
                self.report(
                    self.diag("E320", d.head, format!("this `do` has no `on {want}` branch"))
                        .label(format!("`on {want}` missing"))
                        .with_secondary(self.scope.file, span, "in this `do`")
                        .with_help(if want == "ok" {
                            "add `on ok => …`: what happens once the action answered"
                        } else {
                            "add `on failed => …`: the action may time out or fail, and the call must go on"
                        }),
                );
            }
        }
    }

    #[inline(never)]
    fn transfer(&mut self, outcome: Option<&'a Ident>, with: &'a [(Ident, Expr)]) {
        if let Some(o) = outcome {
            self.outcome(o);
        }
        for (i, (key, value)) in with.iter().enumerate() {
            self.expr(value);
            if let Some((first, _)) = with[..i].iter().find(|(k, _)| k.name == key.name) {
                self.report(duplicate_key(self.scope.file, key, first));
            }
        }
    }

    fn outcome(&mut self, o: &'a Ident) {
        if self.scope.outcomes.contains_key(o.name.as_str()) {
            self.usage.outcomes.insert(&o.name);
        } else {
            let names = self.scope.outcomes.keys().copied();
            let suggestion = closest(&o.name, names);
            self.report(
                self.diag("E102", o.span, format!("there is no outcome `{}`", o.name))
                    .label("unknown outcome")
                    .with_help(match suggestion {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("declare it in `outcomes {{ {} }}`", o.name),
                    }),
            );
        }
    }

    pub fn stmts(&mut self, stmts: &'a [Stmt]) {
        for s in stmts {
            self.stmt(s);
        }
    }

    fn stmt(&mut self, stmt: &'a Stmt) {
        match &stmt.kind {
            StmtKind::Say { prompt, .. } => self.prompt(prompt),
            StmtKind::Ask(ask) => {
                self.prompt(&ask.prompt);
                self.capture(ask);
                if let Some(r) = ask.retries
                    && r.value < 0
                {
                    self.report(self.diag("E200", r.span, "retries cannot be negative".to_string()).label("negative"));
                }
                self.branches(&ask.branches);
            }
            StmtKind::Retry(Some(p)) => self.prompt(p),
            StmtKind::If(i) => self.if_stmt(i),
            StmtKind::Transfer { outcome, with, .. } => self.transfer(outcome.as_ref(), with),
            StmtKind::Sms(prompt) => self.prompt(prompt),
            StmtKind::Do(d) => self.do_stmt(d, stmt.span),
            StmtKind::Hangup(Some(o)) => self.outcome(o),
            StmtKind::Set { name, value } => match self.scope.values.get(name.name.as_str()) {
                Some(v) if v.kind == ValueKind::Let => {
                    // A let that is set is a result of the call (stored with the attempt, §11).
                    self.usage.values.insert(&name.name);
                    let ty = v.ty;
                    self.expect(value, ty, &format!("the new value of `{}`", name.name));
                }
                Some(v) => {
                    let kind = match v.kind {
                        ValueKind::Input if self.scope.flow.is_some() => "a parameter",
                        ValueKind::Input => "an input",
                        _ => "built in",
                    };
                    self.report(
                        self.diag("E115", name.span, format!("`{}` is {kind} and cannot be changed", name.name))
                            .label("read-only")
                            .with_help("declare a script value with `let` and change that one"),
                    );
                    self.expr(value);
                }
                None => {
                    let names = self.scope.values.keys().copied();
                    let suggestion = closest(&name.name, names);
                    self.report(
                        self.diag("E103", name.span, format!("there is no value `{}` to set", name.name))
                            .label("unknown name")
                            .with_help(match suggestion {
                                Some(s) => format!("did you mean `{s}`?"),
                                None => format!("declare it first: `let {}: text = \"\"`", name.name),
                            }),
                    );
                    self.expr(value);
                }
            },
            StmtKind::Call { flow, args } => self.call(flow, args),
            StmtKind::CallbackAt { date, time } => {
                if let Some(d) = date {
                    self.expect(d, Type::Date, "the day of a callback");
                }
                if let Some(t) = time {
                    self.expect(t, Type::Time, "the time of a callback");
                }
            }
            _ => {}
        }
    }

    /// `call NAME(ARGS)` (§12, §16.4): a flow in scope, one argument per parameter, each of
    /// the parameter's type.
    fn call(&mut self, flow: &'a Ident, args: &'a [Expr]) {
        let Some(target) = self.scope.flows.get(flow.name.as_str()).copied() else {
            let names = self.scope.flows.keys().copied();
            let mut d = self.diag("E117", flow.span, format!("there is no flow `{}`", flow.name)).label("unknown flow");
            d = match closest(&flow.name, names) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(
                    "declare it with `flow NAME (PARAMS) { … }` in this file, or import its file with `use`",
                ),
            };
            self.report(d);
            for a in args {
                self.expr(a);
            }
            return;
        };
        let params = &target.def.params;
        if params.len() != args.len() {
            let list: Vec<String> =
                params.iter().map(|p| format!("{}: {}", p.name.name, p.ty.ty.map_or("?", Type::name))).collect();
            let d = self
                .diag(
                    "E207",
                    flow.span,
                    format!(
                        "flow `{}` takes {} argument{}, but this call gives {}",
                        flow.name,
                        params.len(),
                        if params.len() == 1 { "" } else { "s" },
                        args.len()
                    ),
                )
                .label("wrong number of arguments")
                .with_secondary(target.file, target.def.name.span, "the flow is declared here")
                .with_help(format!("call it as `{}({})`", flow.name, list.join(", ")));
            self.report(d);
        }
        for (i, a) in args.iter().enumerate() {
            match params.get(i).and_then(|p| Some((p, p.ty.ty?))) {
                Some((p, ty)) => self.expect(a, ty, &format!("the argument `{}` of `{}`", p.name.name, flow.name)),
                None => {
                    self.expr(a);
                }
            }
        }
    }

    /// `capture NAME [digits …]` and `captured` branches (§11, §16.2): the let exists and can
    /// take an extracted value, `digits` reads into text, and the two come together.
    fn capture(&mut self, ask: &'a Ask) {
        let captured: Vec<Span> = ask
            .branches
            .iter()
            .flat_map(|b| &b.patterns)
            .filter(|p| p.kind == PatternKind::Captured)
            .map(|p| p.span)
            .collect();
        let Some(capture) = &ask.capture else {
            for span in captured {
                self.report(
                    self.diag("E308", span, "`captured` needs `capture NAME` on its ask".to_string())
                        .label("nothing is captured in this ask")
                        .with_secondary(self.scope.file, ask.head, "this ask captures nothing")
                        .with_help("add `capture NAME` after the question, naming a `let` of the right type"),
                );
            }
            return;
        };
        if captured.is_empty() {
            self.report(
                self.diag("E308", capture.span, format!("`capture {}` has no `captured` branch", capture.name.name))
                    .label("the value is never taken")
                    .with_help("add `on captured => …` to say what happens once the value is read"),
            );
        }
        let name = &capture.name;
        let ty = match self.scope.values.get(name.name.as_str()) {
            Some(v) if v.kind == ValueKind::Let => {
                self.usage.values.insert(&name.name);
                v.ty
            }
            Some(v) => {
                let kind = if v.kind == ValueKind::Input { "an input" } else { "built in" };
                self.report(
                    self.diag("E205", name.span, format!("`{}` is {kind} and cannot be captured into", name.name))
                        .label("read-only")
                        .with_help(format!(
                            "declare a value to hold the answer, e.g. `let answered_{0}: {1} = …`, and capture into it",
                            name.name,
                            v.ty.name()
                        )),
                );
                return;
            }
            None => {
                let suggestion = closest(&name.name, self.scope.values.keys().copied());
                self.report(
                    self.diag("E103", name.span, format!("there is no value `{}` to capture into", name.name))
                        .label("unknown name")
                        .with_help(match suggestion {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => format!("declare it first: `let {}: date = today`", name.name),
                        }),
                );
                return;
            }
        };
        if ty == Type::Bool {
            self.report(
                self.diag("E205", name.span, format!("`{}` is a `bool`, which cannot be captured", name.name))
                    .label("no value to read")
                    .with_help("a yes or no is an intent: branch on `on yes => …` and `set` the value there"),
            );
        }
        let Some(digits) = capture.digits else { return };
        if ty != Type::Text {
            self.report(
                self.diag("E205", digits.span, format!("`digits` reads a digit string, but `{}` is {}", name.name, ty.a()))
                    .label("digits need a `text` value")
                    .with_secondary(self.scope.file, name.span, ty.a())
                    .with_help(if ty == Type::Int {
                        "capture into an `int` without `digits` to read a spoken number (a 1–5 score); keep `digits` for codes and ID tails held as `text`"
                    } else {
                        "declare the value as `text` to hold a digit string"
                    }),
            );
        }
        let (min, max) = digits.range();
        if min < 1 || max < min || max > MAX_DIGITS {
            self.report(
                self.diag("E205", digits.span, format!("`digits` takes 1 to {MAX_DIGITS} digits, the fewest first"))
                    .label("not a length of a digit string")
                    .with_help("write `digits 4` for exactly four, or `digits 4..6`"),
            );
        }
    }

    /// A value a test gives (an input, an expected value): of `ty` (E200, saying `subject` is
    /// `ty`) and a literal (E200 `not_literal`, with `help`).
    fn test_value(&mut self, value: &'a Expr, ty: Type, subject: &str, not_literal: &str, help: &str) {
        if let Some(vt) = self.expr(value).ty
            && !assignable(vt, ty)
        {
            self.report(
                self.diag("E200", value.span, format!("{subject} is {}, but this is {}", ty.a(), vt.a())).label(vt.a()),
            );
        }
        self.require_literal(value, not_literal, help);
    }

    /// A value of a test must be written as a literal (E200 `message`, with `help`).
    fn require_literal(&mut self, value: &Expr, message: &str, help: &str) {
        if !is_literal(value) {
            self.report(
                self.diag("E200", value.span, message.to_string()).label("not a literal").with_help(help.to_string()),
            );
        }
    }

    fn if_stmt(&mut self, i: &'a If) {
        self.expect(&i.cond, Type::Bool, "the condition of `if`");
        self.stmts(&i.then.stmts);
        match &i.otherwise {
            Some(Else::Block(b)) => self.stmts(&b.stmts),
            Some(Else::If(s)) => self.stmt(s),
            None => {}
        }
    }

    pub fn branches(&mut self, branches: &'a [Branch]) {
        for b in branches {
            for p in &b.patterns {
                self.pattern(p);
            }
            if let Some(g) = &b.guard {
                self.expect(g, Type::Bool, "the guard of a branch");
            }
            if let Some(l) = b.limit
                && l.value < 1
            {
                self.report(self.diag("E200", l.span, "a limit must be at least 1".to_string()).label("too small"));
            }
            self.stmts(&b.body.stmts);
        }
    }
}

/// The longest digit string `digits M..N` may read: longer than any card or account number,
/// short enough that a key entry ends.
pub const MAX_DIGITS: i64 = 32;

/// `min X` / `max Y` of a declaration (§11): bounds of a number, literal, in order.
fn bounds(tc: &mut TypeChecker, name: &Ident, ty: Type, bounds: &Bounds) {
    let mut read = Vec::new();
    for bound in [&bounds.min, &bounds.max].into_iter().flatten() {
        if !matches!(ty, Type::Int | Type::Money) {
            tc.report(
                tc.diag("E206", bound.span, format!("`{}` is {}, which has no `min` or `max`", name.name, ty.a()))
                    .label("bounds belong on numbers")
                    .with_help("bounds are for `int` and `money` values, e.g. `amount: money max 99999.99`"),
            );
            return;
        }
        let literal = match &bound.kind {
            ExprKind::Int(n) => crate::value::Money::from_int(*n),
            ExprKind::Money(m) if ty == Type::Money => Some(*m),
            _ => None,
        };
        match literal {
            Some(m) => read.push(m),
            None => tc.report(
                tc.diag("E206", bound.span, format!("a bound of `{}` must be {} literal", name.name, ty.a()))
                    .label("not a literal of the value's type")
                    .with_help(format!(
                        "write the number itself, e.g. `max {}`",
                        if ty == Type::Int { "5" } else { "99999.99" }
                    )),
            ),
        }
    }
    if let (Some(min), Some(max), [low, high]) = (&bounds.min, &bounds.max, read.as_slice())
        && low > high
    {
        tc.report(
            tc.diag("E206", min.span.to(max.span), format!("the `min` of `{}` is above its `max`", name.name))
                .label("no value fits")
                .with_help("write the smaller bound after `min`"),
        );
    }
}

fn is_negative_literal(expr: &Expr) -> bool {
    match &expr.kind {
        ExprKind::Int(n) => *n < 0,
        ExprKind::Money(m) => m.cents() < 0,
        ExprKind::Paren(inner) => is_negative_literal(inner),
        _ => false,
    }
}

/// Checks names and types of everything a script's statements use.
pub fn check_script<'a>(scope: &ScriptScope<'a>, usage: &mut Usage<'a>, diagnostics: &mut Vec<Diagnostic>) {
    let mut tc = TypeChecker { scope, usage, diagnostics };
    for input in &scope.inputs {
        if let Some(ty) = input.ty.ty {
            bounds(&mut tc, &input.name, ty, &input.bounds);
        }
        if let (Some(default), Some(ty)) = (&input.default, input.ty.ty) {
            tc.expect(default, ty, &format!("the default of `{}`", input.name.name));
            if ty == Type::Money && is_negative_literal(default) {
                tc.report(
                    tc.diag("E204", default.span, format!("the default of `{}` is a negative amount", input.name.name))
                        .label("negative"),
                );
            }
        }
    }
    tc.lets_and_steps();
    if let Some(objection) = scope.objection {
        tc.branches(&objection.handlers);
        tc.stmts(&objection.body);
        for include in &objection.includes {
            if !scope.sets.contains_key(include.name.name.as_str()) {
                let names = scope.sets.keys().copied();
                let mut d = tc
                    .diag("E117", include.name.span, format!("there is no handler set `{}`", include.name.name))
                    .label("unknown handler set");
                d = match closest(&include.name.name, names) {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None => d.with_help(
                        "declare it with `handlers NAME { on … }` in this file, or import its file with `use`",
                    ),
                };
                tc.report(d);
            }
        }
    }
}

/// Checks names and types of a flow (its lets and steps) or of a handler set (§12).
pub fn check_unit<'a>(scope: &ScriptScope<'a>, diagnostics: &mut Vec<Diagnostic>) {
    let mut usage = Usage::default();
    let mut tc = TypeChecker { scope, usage: &mut usage, diagnostics };
    tc.lets_and_steps();
    if let Some(set) = scope.set {
        tc.branches(&set.handlers);
    }
}

/// Checks a `test` block against its script: inputs exist with the right types, required
/// inputs are given, outcomes, steps and emotions exist.
pub fn check_test<'a>(scope: &ScriptScope<'a>, test: &'a Test, diagnostics: &mut Vec<Diagnostic>) {
    let mut usage = Usage::default();
    let mut tc = TypeChecker { scope, usage: &mut usage, diagnostics };
    let mut given: HashSet<&str> = HashSet::new();
    for stmt in &test.body {
        match &stmt.kind {
            TestStmtKind::Input(values) => {
                for (name, value) in values {
                    match scope.values.get(name.name.as_str()).filter(|v| v.kind == ValueKind::Input) {
                        Some(v) => {
                            if !given.insert(&name.name) {
                                tc.report(
                                    tc.diag("E104", name.span, format!("input `{}` is given twice", name.name))
                                        .label("second value"),
                                );
                            }
                            tc.test_value(
                                value,
                                v.ty,
                                &format!("input `{}`", name.name),
                                "a test input must be a literal value",
                                "write the value itself, e.g. `\"张三\"`, `5` or `1200.50`",
                            );
                        }
                        None => {
                            let names = scope.inputs.iter().map(|i| i.name.name.as_str());
                            let suggestion = closest(&name.name, names);
                            let mut d = tc
                                .diag(
                                    "E103",
                                    name.span,
                                    format!("script `{}` has no input `{}`", scope.script.name.name, name.name),
                                )
                                .label("unknown input");
                            if let Some(s) = suggestion {
                                d = d.with_help(format!("did you mean `{s}`?"));
                            }
                            tc.report(d);
                        }
                    }
                }
            }
            TestStmtKind::Reply(Reply::Emotion(e, _)) => tc.emotion(e),
            TestStmtKind::Reply(Reply::Dtmf(keys)) if !crate::check::intents::is_dtmf_keys(&keys.value) => {
                tc.report(
                    tc.diag("E403", keys.span, format!("`{}` is not a dtmf key sequence", keys.value))
                        .label("not keys of a phone keypad")
                        .with_help("dtmf keys are 0–9, `*`, `#` and A–D"),
                );
            }
            TestStmtKind::Expect(Expect::Hangup(o)) => tc.outcome(o),
            TestStmtKind::Expect(Expect::Transfer(_, Some((_, value)))) => tc.require_literal(
                value,
                "an expected value must be a literal",
                "write the value itself, e.g. `\"angry\"` or `2026-11-25`",
            ),
            TestStmtKind::Mock { action, ok } => {
                let Some(def) = tc.action(action) else { continue };
                for (field, value) in ok.iter().flatten() {
                    let Some(out) = def.outputs().find(|f| f.name.name == field.name) else {
                        tc.unknown_field(def, field, true);
                        continue;
                    };
                    if let Some(ty) = out.ty.ty {
                        tc.expect(value, ty, &format!("the output `{}`", field.name));
                    }
                    tc.require_literal(
                        value,
                        "a mocked output must be a literal",
                        "write the value itself, e.g. `1200.50` or `2026-12-01`",
                    );
                }
            }
            TestStmtKind::Expect(Expect::Value { name, value }) => {
                // Any input or value of the script (§16.3); built-ins change as the call goes.
                let declared = scope.values.get(name.name.as_str()).filter(|v| v.kind != ValueKind::Builtin);
                match declared {
                    Some(v) => tc.test_value(
                        value,
                        v.ty,
                        &format!("`{}`", name.name),
                        "an expected value must be a literal",
                        "write the value itself, e.g. `2026-11-25`, `3500.00` or `\"8831\"`",
                    ),
                    None => {
                        let names = scope
                            .inputs
                            .iter()
                            .map(|i| i.name.name.as_str())
                            .chain(scope.lets.iter().map(|l| l.name.name.as_str()));
                        let suggestion = closest(&name.name, names);
                        let mut d = tc
                            .diag(
                                "E103",
                                name.span,
                                format!("script `{}` has no value `{}`", scope.script.name.name, name.name),
                            )
                            .label("unknown value");
                        if let Some(s) = suggestion {
                            d = d.with_help(format!("did you mean `{s}`?"));
                        }
                        tc.report(d);
                    }
                }
            }
            TestStmtKind::Expect(Expect::Step(target)) => {
                if let Err(d) = scope.resolve_target(target)
                    && !names_flow_step(scope, target)
                {
                    tc.diagnostics.push(d);
                }
            }
            TestStmtKind::Hour(h) if !(0..=23).contains(&h.value) => {
                tc.report(tc.diag("E200", h.span, "an hour is between 0 and 23".to_string()).label("out of range"));
            }
            TestStmtKind::Attempt(a) if a.value < 1 => {
                tc.report(tc.diag("E200", a.span, "attempts count from 1".to_string()).label("out of range"));
            }
            _ => {}
        }
    }
    let missing: Vec<&str> = scope
        .inputs
        .iter()
        .filter(|i| i.default.is_none() && !given.contains(i.name.name.as_str()))
        .map(|i| i.name.name.as_str())
        .collect();
    if !missing.is_empty() {
        let list = missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ");
        let plural = if missing.len() > 1 { "s" } else { "" };
        tc.report(
            tc.diag("E112", test.name.span, format!("this test does not give the required input{plural} {list}"))
                .label("missing inputs")
                .with_help("add them to the test's `input { … }`, or give the inputs a default in the script"),
        );
    }
}

/// `expect step FLOW` or `expect step FLOW.STEP`: a flow the script can call, as transcripts
/// name its steps (§12).
fn names_flow_step(scope: &ScriptScope, target: &Target) -> bool {
    let Some(flow) = scope.flows.get(target.first.name.as_str()) else { return false };
    match &target.second {
        None => true,
        Some(step) => flow.def.steps.iter().any(|s| s.name.name == step.name),
    }
}

fn duplicate_key(file: crate::span::SourceId, key: &Ident, first: &Ident) -> Diagnostic {
    Diagnostic::new("E104", file, key.span, format!("`{}` is handed over twice", key.name))
        .label("second value")
        .with_secondary(file, first.span, "first given here")
        .with_help("keep one of them")
}

fn is_literal(expr: &Expr) -> bool {
    match &expr.kind {
        ExprKind::Int(_)
        | ExprKind::Money(_)
        | ExprKind::Str(_)
        | ExprKind::Bool(_)
        | ExprKind::Date(_)
        | ExprKind::Time(_) => true,
        ExprKind::Paren(inner) => is_literal(inner),
        _ => false,
    }
}
