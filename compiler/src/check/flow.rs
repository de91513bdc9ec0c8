//! Flow rules of §4 and §9.4: bodies end the turn, retry/resume placement, every ask handles
//! silence and unknown speech, goto targets, no running off the end, no loop without an ask,
//! and unreachable steps.

use std::borrow::Cow;

use crate::check::scope::ScriptScope;
use crate::diagnostic::Diagnostic;
use crate::span::Span;
use crate::syntax::ast::*;

/// An edge of the step graph: `from` can continue at `to`.
#[derive(Clone, Copy, Debug)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    /// True when the path from the start of `from` to this edge passes no `ask`, so a cycle of
    /// such edges would spin without ever listening.
    pub ask_free: bool,
    /// The goto, or the step's name for falling through.
    pub span: Span,
    pub is_goto: bool,
}

#[derive(Clone, Copy)]
struct Ctx<'a> {
    ask_free: bool,
    ask: Option<&'a Ask>,
    handler: bool,
}

impl Ctx<'_> {
    const STEP: Ctx<'static> = Ctx { ask_free: true, ask: None, handler: false };
    const HANDLER: Ctx<'static> = Ctx { ask_free: false, ask: None, handler: true };
}

struct Flow<'s, 'a> {
    scope: &'s ScriptScope<'a>,
    diagnostics: &'s mut Vec<Diagnostic>,
    edges: Vec<Edge>,
    /// Index of the step being walked (`steps.len()` for objection handlers).
    step: usize,
    /// Steps that hold an ask (objection handlers can run from there).
    step_has_ask: Vec<bool>,
    asks: Vec<&'a Ask>,
    handler_retries: Vec<Span>,
}

/// Whether a pattern list handles silence / unknown speech.
fn handles(patterns: &[Pattern], silence: bool) -> bool {
    patterns.iter().any(|p| match p.kind {
        PatternKind::Any => true,
        PatternKind::Silence => silence,
        PatternKind::Unknown => !silence,
        _ => false,
    })
}

fn has_exhausted<'b>(branches: impl IntoIterator<Item = &'b Branch>) -> bool {
    branches.into_iter().any(|b| b.patterns.iter().any(|p| p.kind == PatternKind::Exhausted))
}

impl<'s, 'a> Flow<'s, 'a> {
    fn push(&mut self, d: Diagnostic) {
        self.diagnostics.push(d);
    }

    /// The script's objection handlers, with those of the handler sets it includes (§12).
    fn objection_handlers(&self) -> Vec<&'a Branch> {
        let own = self.scope.objection.map(|o| o.handlers.as_slice()).unwrap_or(&[]);
        let included = self.scope.includes().into_iter().flat_map(|(_, set)| &set.def.handlers);
        own.iter().chain(included).collect()
    }

    /// Walks a block; returns true when every path through it ends the turn.
    fn block(&mut self, stmts: &'a [Stmt], ctx: Ctx<'a>) -> bool {
        let mut ended = false;
        // A statement that failed to parse may have been anything: count the block as ended
        // (no cascade of "does not end" errors) but do not call what follows unreachable.
        let mut broken = false;
        let mut warned = false;
        for stmt in stmts {
            if matches!(stmt.kind, StmtKind::Error) {
                broken = true;
                continue;
            }
            if ended && !warned {
                warned = true;
                self.push(
                    Diagnostic::new("W006", self.scope.file, stmt.span, "this statement is never run")
                        .label("unreachable")
                        .with_help("the statement before it already ends the turn (goto, retry, resume, hangup, transfer or ask)"),
                );
            }
            ended |= self.stmt(stmt, ctx);
        }
        ended || broken
    }

    fn stmt(&mut self, stmt: &'a Stmt, ctx: Ctx<'a>) -> bool {
        let file = self.scope.file;
        match &stmt.kind {
            StmtKind::Error => true,
            StmtKind::Goto(_) if self.scope.set.is_some() => {
                self.push(
                    Diagnostic::new("E310", file, stmt.span, "a shared handler cannot `goto`")
                        .label("goto in a `handlers` set")
                        .with_help("a set is included by scripts whose steps it cannot know: end with `resume`, `listen`, `retry`, `hangup`, `transfer`, or `call` a flow"),
                );
                true
            }
            StmtKind::Return => {
                if self.scope.flow.is_none() {
                    self.push(
                        Diagnostic::new("E310", file, stmt.span, "`return` can only stand in a flow")
                            .label("not in a flow")
                            .with_help("a script ends the call with `hangup` or `transfer`; `return` ends a `flow` and goes back after its `call`"),
                    );
                }
                true
            }
            StmtKind::Listen => {
                if ctx.ask.is_none() && !ctx.handler {
                    self.push(
                        Diagnostic::new(
                            "E310",
                            file,
                            stmt.span,
                            "`listen` can only stand in an objection handler or a branch of an ask",
                        )
                        .label("no question is listening here")
                        .with_help("`listen` answers and keeps listening to the same ask; elsewhere, `ask` a question"),
                    );
                }
                true
            }
            StmtKind::Call { flow, .. } => {
                self.scope.flows.get(flow.name.as_str()).is_some_and(|f| self.scope.flow_ends_call(*f))
            }
            StmtKind::Goto(target) => {
                match self.scope.resolve_target(target) {
                    Ok(to) => self.edges.push(Edge {
                        from: self.step,
                        to,
                        ask_free: ctx.ask_free && !ctx.handler,
                        span: stmt.span,
                        is_goto: true,
                    }),
                    Err(d) => self.push(d),
                }
                true
            }
            StmtKind::Retry(_) => {
                match ctx.ask {
                    Some(ask) => {
                        if !has_exhausted(&ask.branches) && !has_exhausted(self.objection_handlers()) {
                            self.push(
                                Diagnostic::new(
                                    "E303",
                                    file,
                                    stmt.span,
                                    "`retry` needs an `on exhausted` branch in its ask",
                                )
                                .label("retry without an exhausted branch")
                                .with_secondary(file, ask.head, "this ask has no `on exhausted`")
                                .with_help("add `on exhausted => …` to say what happens when the retries run out"),
                            );
                        }
                    }
                    None if ctx.handler => self.handler_retries.push(stmt.span),
                    None => self.push(
                        Diagnostic::new(
                            "E305",
                            file,
                            stmt.span,
                            "`retry` can only stand in a branch of an `ask` or an objection handler",
                        )
                        .label("no question to ask again")
                        .with_help("put it inside `ask \"…\" { on … => retry }`, or use `goto` to go back to a step"),
                    ),
                }
                true
            }
            StmtKind::Resume => {
                if !ctx.handler {
                    self.push(
                        Diagnostic::new("E304", file, stmt.span, "`resume` can only stand in an `objection` handler")
                            .label("not in objection")
                            .with_help("inside an ask, use `retry` to ask again; `resume` returns from an objection handler to the interrupted question"),
                    );
                }
                true
            }
            StmtKind::Hangup(_) | StmtKind::Transfer { .. } => true,
            // §13: both branches are required (E320) and end like an ask's.
            StmtKind::Do(d) => {
                for branch in &d.branches {
                    if !self.block(&branch.body.stmts, ctx) {
                        self.push(body_does_not_end(file, branch));
                    }
                }
                true
            }
            StmtKind::Ask(ask) => {
                self.asks.push(ask);
                if self.step < self.step_has_ask.len() {
                    self.step_has_ask[self.step] = true;
                }
                let inner = Ctx { ask_free: false, ask: Some(ask), handler: ctx.handler };
                for branch in &ask.branches {
                    if !self.block(&branch.body.stmts, inner) {
                        self.push(body_does_not_end(file, branch));
                    }
                    if let Some(limit) = branch.limit {
                        self.push(
                            Diagnostic::new("E007", file, limit.span, "`limit` belongs on objection handlers")
                                .label("not allowed on an ask's branch")
                                .with_help("use `retries N` on the ask to bound how often it is asked again"),
                        );
                    }
                }
                self.silence_and_unknown(ask);
                self.repeated_patterns(&ask.branches);
                true
            }
            StmtKind::If(i) => {
                let then = self.block(&i.then.stmts, ctx);
                let otherwise = match &i.otherwise {
                    Some(Else::Block(b)) => self.block(&b.stmts, ctx),
                    Some(Else::If(s)) => self.stmt(s, ctx),
                    None => false,
                };
                then && otherwise
            }
            _ => false,
        }
    }

    /// A pattern already taken by an earlier unguarded branch of the same ask (or handler list)
    /// can never fire again.
    fn repeated_patterns(&mut self, branches: &[Branch]) {
        let mut taken: Vec<(Cow<str>, Span)> = Vec::new();
        for b in branches {
            for p in &b.patterns {
                let k = pattern_key(p);
                if let Some((_, first)) = taken.iter().find(|(t, _)| *t == k) {
                    self.push(
                        Diagnostic::new(
                            "W009",
                            self.scope.file,
                            p.span,
                            format!("`{k}` is already handled above, so this never fires"),
                        )
                        .label("never taken")
                        .with_secondary(self.scope.file, *first, "handled here first")
                        .with_help("remove the repeated pattern, or add an `if` guard to the earlier branch"),
                    );
                }
            }
            // A guarded branch may not fire, and a limited handler drops out after its limit.
            if b.guard.is_none() && b.limit.is_none() {
                taken.extend(b.patterns.iter().map(|p| (pattern_key(p), p.span)));
            }
        }
    }

    /// §4: an ask that cannot handle silence or unknown speech (by its own unguarded branches
    /// or by unlimited, unguarded objection handlers) is an error.
    fn silence_and_unknown(&mut self, ask: &Ask) {
        let counts = |b: &Branch, silence: bool| b.guard.is_none() && handles(&b.patterns, silence);
        let handlers = self.objection_handlers();
        let can = |silence: bool| {
            ask.branches.iter().any(|b| counts(b, silence))
                || handlers.iter().any(|h| h.limit.is_none() && counts(h, silence))
        };
        let missing: Vec<&str> =
            [("silence", true), ("unknown", false)].into_iter().filter(|(_, s)| !can(*s)).map(|(n, _)| n).collect();
        if missing.is_empty() {
            return;
        }
        let what = if missing.len() == 2 {
            "silence or unknown speech".to_string()
        } else if missing[0] == "silence" {
            "silence".to_string()
        } else {
            "unknown speech".to_string()
        };
        let pats = missing.join(", ");
        self.push(
            Diagnostic::new("E302", self.scope.file, ask.head, format!("this ask cannot handle {what}"))
                .label(format!(
                    "no branch for {}",
                    missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(" or ")
                ))
                .with_help(format!(
                    "add `on {pats} => retry` (with `on exhausted => …`), or an unlimited handler in `objection`"
                )),
        );
    }
}

fn body_does_not_end(file: crate::span::SourceId, branch: &Branch) -> Diagnostic {
    Diagnostic::new("E300", file, branch.head, "this branch does not say where the call goes next")
        .label("its body can finish without ending the turn")
        .with_help("end it with `goto`, `retry`, `resume`, `hangup` or `transfer`")
}

/// Runs the flow checks of one script.
pub fn check_script(scope: &ScriptScope, diagnostics: &mut Vec<Diagnostic>) {
    let n = scope.steps.len();
    let mut flow = Flow {
        scope,
        diagnostics,
        edges: Vec::new(),
        step: 0,
        step_has_ask: vec![false; n],
        asks: Vec::new(),
        handler_retries: Vec::new(),
    };
    let mut falls = vec![false; n];
    for (i, step) in scope.steps.iter().enumerate() {
        flow.step = i;
        let ends = flow.block(step.stmts, Ctx::STEP);
        falls[i] = !ends;
        if !ends && i + 1 < n {
            flow.edges.push(Edge { from: i, to: i + 1, ask_free: true, span: step.name_span, is_goto: false });
        }
    }
    if let Some(objection) = scope.objection {
        flow.step = n;
        flow.repeated_patterns(&objection.handlers);
        for handler in &objection.handlers {
            let ends = flow.block(&handler.body.stmts, Ctx::HANDLER);
            if !ends {
                flow.push(body_does_not_end(scope.file, handler));
            }
            if handler.patterns.iter().any(|p| p.kind == PatternKind::Exhausted) && handler.limit.is_some() {
                // Allowed: an exhausted handler with a limit simply stops applying.
            }
        }
    }
    // A `retry` in a handler counts against the interrupted ask: every ask needs `exhausted`.
    let handler_retries = std::mem::take(&mut flow.handler_retries);
    if !handler_retries.is_empty() && !has_exhausted(flow.objection_handlers()) {
        let lacking = flow.asks.iter().find(|a| !has_exhausted(&a.branches)).map(|a| a.head);
        if let Some(ask) = lacking {
            for retry in handler_retries {
                flow.push(
                    Diagnostic::new(
                        "E303",
                        scope.file,
                        retry,
                        "this `retry` can run past an ask that has no `on exhausted` branch",
                    )
                    .label("counts a retry of the interrupted ask")
                    .with_secondary(scope.file, ask, "this ask has no `on exhausted`")
                    .with_help("add `on exhausted => …` to every ask, or an `on exhausted` handler in `objection`"),
                );
            }
        }
    }
    let Flow { edges, step_has_ask, diagnostics, .. } = flow;

    if n == 0 {
        return;
    }
    // Falling off the end of a flow is an implicit `return` (§16.4).
    if falls[n - 1] && scope.flow.is_none() {
        let last = &scope.steps[n - 1];
        let at = last.stmts.last().map(|s| s.span).unwrap_or(last.name_span);
        let place =
            if last.implicit { format!("`{}`", last.name) } else { format!("`{}.{}`", last.section.name(), last.name) };
        diagnostics.push(
            Diagnostic::new("E301", scope.file, at, format!("the call can run off the end of {place}"))
                .label("the script ends here without `hangup` or `transfer`")
                .with_secondary(scope.file, last.name_span, "last step of the script")
                .with_help("end every path with `hangup OUTCOME` or `transfer \"queue\"`"),
        );
    }

    // Reachability from the first step; objection handlers run wherever an ask listens.
    let mut successors = vec![Vec::new(); n + 1];
    for e in &edges {
        successors[e.from].push(e.to);
    }
    let mut reached = vec![false; n + 1];
    let mut stack = vec![0usize];
    while let Some(s) = stack.pop() {
        if reached[s] {
            continue;
        }
        reached[s] = true;
        if s < n && step_has_ask[s] && !reached[n] {
            stack.push(n);
        }
        stack.extend(successors[s].iter().filter(|&&t| !reached[t]));
    }
    for (i, step) in scope.steps.iter().enumerate() {
        if !reached[i] {
            let (what, help) = if step.implicit {
                (
                    format!("section `{}` is never reached", step.name),
                    format!("add `goto {}` where the call should go there", step.name),
                )
            } else {
                (
                    format!("step `{}` is never reached", step.name),
                    format!("add `goto {}` where the call should go there, or remove the step", step.name),
                )
            };
            diagnostics
                .push(Diagnostic::new("W001", scope.file, step.name_span, what).label("unreachable").with_help(help));
        }
    }

    // Cycles that pass no ask (§9.4): strongly connected components of the ask-free edges.
    let free: Vec<&Edge> = edges.iter().filter(|e| e.ask_free).collect();
    let components = tarjan(n, &free);
    let mut component_of = vec![usize::MAX; n];
    for (c, members) in components.iter().enumerate() {
        for &m in members {
            component_of[m] = c;
        }
    }
    // The goto (preferred) or fall-through edge to point at, per cyclic component.
    let mut point_at: Vec<Option<(bool, Span)>> = vec![None; components.len()];
    for e in &free {
        let c = component_of[e.from];
        if c != usize::MAX && component_of[e.to] == c {
            let candidate = (e.is_goto, e.span);
            let better = match point_at[c] {
                None => true,
                Some((goto, span)) => (candidate.0 && !goto) || (candidate.0 == goto && candidate.1 < span),
            };
            if better {
                point_at[c] = Some(candidate);
            }
        }
    }
    for (members, at) in components.iter().zip(point_at) {
        let Some((_, at)) = at else { continue };
        let names: Vec<String> = members.iter().map(|&s| format!("`{}`", scope.steps[s].name)).collect();
        diagnostics.push(
            Diagnostic::new("E306", scope.file, at, "this loop never stops to listen")
                .label(format!("loops through {} without an `ask`", names.join(", ")))
                .with_help("a loop must pass an `ask` (so the customer can answer) or end with `hangup`"),
        );
    }
}

/// Strongly connected components with a cycle (size > 1, or a self-loop).
fn tarjan(n: usize, edges: &[&Edge]) -> Vec<Vec<usize>> {
    let mut adjacency = vec![Vec::new(); n];
    for e in edges {
        if e.from < n && e.to < n {
            adjacency[e.from].push(e.to);
        }
    }
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut next = 0;
    let mut out = Vec::new();
    // Iterative Tarjan so that deep graphs cannot overflow the stack.
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        let mut work: Vec<(usize, usize)> = vec![(root, 0)];
        while let Some((v, i)) = work.pop() {
            if i == 0 {
                index[v] = next;
                low[v] = next;
                next += 1;
                stack.push(v);
                on_stack[v] = true;
            }
            if let Some(&w) = adjacency[v].get(i) {
                work.push((v, i + 1));
                if index[w] == usize::MAX {
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            if low[v] == index[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                let self_loop = component.len() == 1 && adjacency[v].contains(&v);
                if component.len() > 1 || self_loop {
                    component.sort_unstable();
                    out.push(component);
                }
            }
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
        }
    }
    out
}

/// Runs the flow checks of a flow or a handler set (§12): bodies end (`return` too, in a
/// flow; falling off a flow's end returns), gotos name the flow's own steps, a set's bodies
/// do not `goto`, and its asks handle silence and unknown speech by themselves.
pub fn check_unit(scope: &ScriptScope, diagnostics: &mut Vec<Diagnostic>) {
    if let Some(set) = scope.set {
        let mut flow = Flow {
            scope,
            diagnostics,
            edges: Vec::new(),
            step: 0,
            step_has_ask: Vec::new(),
            asks: Vec::new(),
            handler_retries: Vec::new(),
        };
        flow.repeated_patterns(&set.handlers);
        for handler in &set.handlers {
            if !flow.block(&handler.body.stmts, Ctx::HANDLER) {
                flow.push(body_does_not_end(scope.file, handler));
            }
        }
        return;
    }
    check_script(scope, diagnostics);
}

/// How W009 names a pattern; borrowed where the pattern is one word, as every branch of every
/// ask passes here.
fn pattern_key(p: &Pattern) -> Cow<'_, str> {
    match &p.kind {
        PatternKind::Intent(i) => Cow::Borrowed(&i.name),
        PatternKind::Dtmf(d) => Cow::Owned(format!("dtmf \"{}\"", d.value)),
        PatternKind::Emotion(e) => Cow::Owned(format!("emotion {}", e.name)),
        PatternKind::Silence => Cow::Borrowed("silence"),
        PatternKind::Unknown => Cow::Borrowed("unknown"),
        PatternKind::Any => Cow::Borrowed("_"),
        PatternKind::Exhausted => Cow::Borrowed("exhausted"),
        PatternKind::Captured => Cow::Borrowed("captured"),
    }
}
