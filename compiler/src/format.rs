//! The canonical layout of a `.call` file (`callscript fmt`, the LSP's formatting), printed
//! from the syntax tree. The rules are in `docs/language.md` §10 (Formatting); in short:
//!
//! - two spaces per level, one statement, branch, item or clause per line;
//! - one space between words, none inside `( )` and around `.`, one space before a trailing
//!   `//` comment (nothing is aligned, so an edit never forces realigning other lines);
//! - a `{ … }` written on one line stays on one line (`{ a; b }`, `{ a, b }` for inputs and
//!   outcomes) when it holds no comment and fits in [`MAX_WIDTH`] columns; otherwise one entry
//!   per line, and an empty block is `{}`;
//! - a branch body written without braces stays without braces, after `=>` on the same line;
//! - a list after `phrases`/`dtmf`/`regex`, and the patterns of `on`, break where the author
//!   broke them (continuation lines one level deeper);
//! - at most one blank line where the author left one or more between two entries, none after
//!   `{` or before `}`;
//! - strings, prompts and literals are copied as written (escapes are not re-encoded);
//! - every comment is kept: a comment at the end of a line stays there, a comment on its own
//!   line stays on its own line before the next entry, and a comment inside a block stays inside.
//!
//! Formatting never changes meaning: the tree of the output equals the input's, spans aside
//! ([`tree_shape`] is how the tests compare them). A file with syntax errors is not formatted:
//! [`format`] returns the parser's diagnostics instead.

use crate::diagnostic::Diagnostic;
use crate::span::{SourceId, Span};
use crate::syntax::ast::*;
use crate::syntax::lexer::{Lexed, lex};
use crate::syntax::token::Token;

/// The widest line (in display columns: a Chinese character counts two) that a block written
/// on one line may take and still stay on one line.
pub const MAX_WIDTH: usize = 100;

/// Formats a whole file. Err holds the syntax errors when the file does not parse cleanly.
pub fn format(text: &str) -> Result<String, Vec<Diagnostic>> {
    let (file, diags) = crate::syntax::parse(text, SourceId(0));
    if !diags.is_empty() {
        return Err(diags);
    }
    let mut printer = Printer::new(text, &file);
    printer.file(&file);
    Ok(printer.out)
}

/// The tree of a file with every span and character offset left out: two files with the same
/// shape mean the same thing. Comments are counted, not compared.
pub fn tree_shape(file: &File) -> String {
    let debug = format!("{:?}", file.items);
    let mut out = String::with_capacity(debug.len());
    let mut rest = debug.as_str();
    loop {
        let span = rest.find("Span { start: ");
        let offsets = rest.find("char_offsets: [");
        match (span, offsets) {
            (None, None) => break,
            (Some(s), o) if o.is_none_or(|o| s < o) => {
                out.push_str(&rest[..s]);
                out.push_str("Span");
                let end = rest[s..].find('}').map_or(rest.len(), |e| s + e + 1);
                rest = &rest[end..];
            }
            (_, Some(o)) => {
                out.push_str(&rest[..o]);
                out.push_str("char_offsets");
                let end = rest[o..].find(']').map_or(rest.len(), |e| o + e + 1);
                rest = &rest[end..];
            }
            _ => unreachable!(),
        }
    }
    out.push_str(rest);
    out.push_str(&format!(" comments: {}", file.comments.len()));
    out
}

/// Display columns of a text: East Asian wide characters take two.
pub fn display_width(text: &str) -> usize {
    text.chars()
        .map(|c| {
            let c = c as u32;
            let wide = matches!(c,
                0x1100..=0x115F | 0x2E80..=0x303E | 0x3041..=0x33FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF
                | 0xA000..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFF60
                | 0xFFE0..=0xFFE6 | 0x20000..=0x3FFFD);
            if wide { 2 } else { 1 }
        })
        .sum()
}

/// Text kept outside the tree: comments, and `@allow`s that stand before a `}` or the end of the
/// file (the parser keeps no node for them, but the formatter must not drop them).
#[derive(Clone, Copy, Debug)]
struct Trivia {
    span: Span,
    comment: bool,
}

/// A position in the output to go back to when a block does not fit on one line.
#[derive(Clone, Copy)]
struct Mark {
    out: usize,
    last_end: u32,
    space: bool,
    broken: bool,
    after_open: bool,
    next_trivia: usize,
    indented: bool,
}

struct Printer<'a> {
    src: &'a str,
    /// Significant tokens (no comments, newlines or end of file), sorted by position.
    tokens: Vec<Lexed>,
    trivia: Vec<Trivia>,
    next_trivia: usize,
    out: String,
    indent: usize,
    /// The end of the last source text printed (token, comment or allow).
    last_end: u32,
    /// A space is due before the next token on this line.
    space: bool,
    /// The current line ended with a comment: the next token starts a new line.
    broken: bool,
    /// The last line opened a block: no blank line may follow it.
    after_open: bool,
    /// Above zero while a block is printed on one line.
    flat: u32,
    /// The current line's indentation is written.
    indented: bool,
}

impl<'a> Printer<'a> {
    fn new(src: &'a str, file: &File) -> Printer<'a> {
        let tokens: Vec<Lexed> = lex(src, 0)
            .into_iter()
            .filter(|t| !matches!(t.token, Token::Comment | Token::Newline | Token::Eof))
            .collect();
        let mut trivia: Vec<Trivia> = Vec::new();
        // `@allow`s the tree does not hold: printed as written, each on its own line.
        let mut kept = Vec::new();
        collect_allows(file, &mut kept);
        for (i, t) in tokens.iter().enumerate() {
            if t.token == Token::At && !kept.contains(&t.span.start) {
                let end = tokens[i..].iter().find(|t| t.token == Token::RParen).map_or(t.span.end, |t| t.span.end);
                trivia.push(Trivia { span: Span { start: t.span.start, end }, comment: false });
            }
        }
        for &span in &file.comments {
            if !trivia.iter().any(|t| !t.comment && t.span.contains(span)) {
                trivia.push(Trivia { span, comment: true });
            }
        }
        trivia.sort_by_key(|t| t.span.start);
        Printer {
            src,
            tokens,
            trivia,
            next_trivia: 0,
            out: String::with_capacity(src.len() + src.len() / 8),
            indent: 0,
            last_end: 0,
            space: false,
            broken: false,
            after_open: false,
            flat: 0,
            indented: false,
        }
    }

    // ---- output primitives --------------------------------------------------------------

    /// Whether the current line holds more than indentation.
    fn line_has_text(&self) -> bool {
        let start = self.out.rfind('\n').map_or(0, |i| i + 1);
        self.out[start..].bytes().any(|b| b != b' ')
    }

    fn newline(&mut self) {
        while self.out.ends_with(' ') {
            self.out.pop();
        }
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
        self.space = false;
        self.broken = false;
        self.indented = false;
    }

    fn write_indent(&mut self, continuation: bool) {
        for _ in 0..self.indent + usize::from(continuation) {
            self.out.push_str("  ");
        }
        self.indented = true;
    }

    /// Whether the author left a blank line between `from` and `to`.
    fn blank_between(&self, from: u32, to: u32) -> bool {
        from < to && self.src.get(from as usize..to as usize).is_some_and(|gap| gap.matches('\n').count() >= 2)
    }

    fn maybe_blank(&mut self, pos: u32) {
        if !self.out.is_empty()
            && !self.after_open
            && !self.out.ends_with("\n\n")
            && self.blank_between(self.last_end, pos)
        {
            self.out.push('\n');
        }
    }

    /// Prints the comments (and kept allows) that stand before `pos`: on the current line when
    /// the author wrote them after code on that line, otherwise each on its own line.
    fn flush(&mut self, pos: u32, continuation: bool) {
        while let Some(t) = self.trivia.get(self.next_trivia).copied() {
            if t.span.start >= pos {
                break;
            }
            self.next_trivia += 1;
            let text = self.src[t.span.range()].trim_end();
            let gap = self.src.get(self.last_end as usize..t.span.start as usize).unwrap_or("\n");
            if t.comment && !gap.contains('\n') && self.line_has_text() {
                // A comment after `{` keeps the block's start: still no blank line after it.
                while self.out.ends_with(' ') {
                    self.out.pop();
                }
                self.out.push(' ');
            } else {
                self.newline();
                self.maybe_blank(t.span.start);
                self.write_indent(continuation);
                self.after_open = false;
            }
            self.out.push_str(text);
            self.last_end = t.span.end;
            self.broken = true;
            self.space = false;
        }
    }

    fn has_trivia(&self, from: u32, to: u32) -> bool {
        let i = self.trivia.partition_point(|t| t.span.start < from);
        self.trivia.get(i).is_some_and(|t| t.span.start < to)
    }

    /// Writes `text` for the source `span`, after the comments that stand before it.
    fn tok(&mut self, span: Span, text: &str) {
        self.flush(span.start, true);
        self.put(text, true);
        self.last_end = self.last_end.max(span.end);
    }

    /// Writes text that stands where no comment can (between words of one line).
    fn put(&mut self, text: &str, continuation: bool) {
        if self.broken {
            self.newline();
        }
        if !self.indented {
            self.write_indent(continuation);
        } else if self.space && self.line_has_text() {
            self.out.push(' ');
        }
        self.space = false;
        self.after_open = false;
        self.out.push_str(text);
    }

    fn raw(&mut self, text: &str) {
        self.put(text, true);
    }

    fn sp(&mut self) {
        self.space = true;
    }

    /// The source text of `span`, as written.
    fn src(&mut self, span: Span) {
        let src = self.src;
        self.tok(span, &src[span.range()]);
    }

    /// The first significant token at or after `pos`.
    fn token_at(&self, pos: u32) -> Option<Lexed> {
        let i = self.tokens.partition_point(|t| t.span.start < pos);
        self.tokens.get(i).copied()
    }

    /// The word at `pos` (a keyword), as written.
    fn word(&mut self, pos: u32) {
        if let Some(t) = self.token_at(pos) {
            self.src(t.span);
        }
    }

    /// Starts a new line for an entry at `pos`, after the comments before it.
    fn line(&mut self, pos: u32, blank_ok: bool) {
        self.flush(pos, false);
        self.newline();
        if blank_ok {
            self.maybe_blank(pos);
        }
        self.write_indent(false);
        self.after_open = false;
    }

    fn line_width(&self) -> usize {
        let start = self.out.rfind('\n').map_or(0, |i| i + 1);
        display_width(&self.out[start..])
    }

    fn mark(&self) -> Mark {
        Mark {
            out: self.out.len(),
            last_end: self.last_end,
            space: self.space,
            broken: self.broken,
            after_open: self.after_open,
            next_trivia: self.next_trivia,
            indented: self.indented,
        }
    }

    fn reset(&mut self, m: Mark) {
        self.out.truncate(m.out);
        self.last_end = m.last_end;
        self.space = m.space;
        self.broken = m.broken;
        self.after_open = m.after_open;
        self.next_trivia = m.next_trivia;
        self.indented = m.indented;
    }

    /// A `{ … }` holding `starts.len()` entries, the `{` at or after `from` and the `}` at
    /// `close`. One line when written on one line without comments and it fits; otherwise one
    /// entry per line. `list` separates entries with `,` instead of `;` on one line.
    fn braced(&mut self, from: u32, close: u32, starts: &[u32], list: bool, entry: &mut dyn FnMut(&mut Self, usize)) {
        let Some(open) = self.token_at(from).filter(|t| t.token == Token::LBrace) else {
            return;
        };
        let close_span = Span { start: close, end: close + 1 };
        self.sp();
        let written_flat = !self.src[open.span.start as usize..close as usize].contains('\n');
        let empty = starts.is_empty() && !self.has_trivia(open.span.start, close);
        if empty {
            self.tok(open.span, "{}");
            self.last_end = close + 1;
            return;
        }
        if self.flat > 0 || (written_flat && !self.has_trivia(open.span.start, close)) {
            let mark = self.mark();
            self.flat += 1;
            self.tok(open.span, "{");
            for i in 0..starts.len() {
                if i > 0 {
                    self.raw(if list { "," } else { ";" });
                }
                self.sp();
                entry(self, i);
            }
            self.sp();
            self.tok(close_span, "}");
            self.flat -= 1;
            if self.flat > 0 || self.line_width() <= MAX_WIDTH {
                return;
            }
            self.reset(mark);
        }
        self.tok(open.span, "{");
        self.indent += 1;
        self.after_open = true;
        for (i, &start) in starts.iter().enumerate() {
            self.line(start, true);
            entry(self, i);
        }
        self.flush(close, false);
        self.newline();
        self.indent -= 1;
        self.write_indent(false);
        self.out.push('}');
        self.last_end = close + 1;
        self.after_open = false;
    }

    /// `@allow(…)` lines before an entry; `inline` keeps them on the entry's line.
    fn allows(&mut self, allows: &[Allow], node: u32, inline: bool) {
        for (i, a) in allows.iter().enumerate() {
            if i > 0 {
                self.next_line(a.span.start, inline);
            }
            self.allow(a);
        }
        if !allows.is_empty() {
            self.next_line(node, inline);
        }
    }

    fn next_line(&mut self, pos: u32, inline: bool) {
        if inline || self.flat > 0 {
            self.sp();
        } else {
            self.line(pos, false);
        }
    }

    fn allow(&mut self, a: &Allow) {
        self.word(a.span.start);
        if let Some(t) = self.token_at(a.span.start + 1) {
            self.src(t.span);
        }
        if let Some(t) = self.token_at(a.span.start + 1).and_then(|t| self.token_at(t.span.end)) {
            self.tok(t.span, "(");
        }
        if let Some(code) = &a.code {
            self.src(code.span);
            if let Some(reason) = &a.reason {
                if let Some(comma) = self.token_at(code.span.end) {
                    self.tok(comma.span, ",");
                }
                self.sp();
                self.src(reason.span);
            }
        }
        self.tok(Span { start: a.span.end - 1, end: a.span.end }, ")");
    }

    // ---- items --------------------------------------------------------------------------

    fn file(&mut self, file: &File) {
        for item in &file.items {
            self.line(item_start(item), true);
            self.item(item);
        }
        self.flush(u32::MAX, false);
        self.newline();
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Use(u) => {
                self.word(u.span.start);
                self.sp();
                match &u.target {
                    UseTarget::Module(parts) => {
                        for (i, p) in parts.iter().enumerate() {
                            if i > 0 {
                                self.raw(".");
                            }
                            self.src(p.span);
                        }
                    }
                    UseTarget::File(s) => self.src(s.span),
                }
            }
            Item::Script(s) => self.script(s),
            Item::Intent(i) => self.intent(i),
            Item::Outcomes(o) => self.outcomes(o),
            Item::Test(t) => self.test(t),
            Item::Flow(f) => self.flow(f),
            Item::Handlers(h) => {
                self.word(h.span.start);
                self.sp();
                self.src(h.name.span);
                let starts: Vec<u32> = h.handlers.iter().map(|x| first_allow(&x.allows, x.span.start)).collect();
                self.braced(h.name.span.end, h.span.end - 1, &starts, false, &mut |p, i| p.branch(&h.handlers[i]));
            }
            Item::Action(a) => self.action(a),
            Item::Examples(e) => {
                self.word(e.span.start);
                self.sp();
                self.src(e.path.span);
            }
        }
    }

    /// `KEYWORD NAME ["title"]` of an item at `start`; returns where it ends (its `{` follows).
    fn item_head(&mut self, start: u32, name: &Ident, title: Option<&StrLit>) -> u32 {
        self.word(start);
        self.sp();
        self.src(name.span);
        if let Some(title) = title {
            self.sp();
            self.src(title.span);
        }
        title.map_or(name.span.end, |t| t.span.end)
    }

    fn action(&mut self, a: &Action) {
        let from = self.item_head(a.span.start, &a.name, a.title.as_ref());
        let starts: Vec<u32> = a.lists.iter().map(|l| l.span.start).collect();
        self.braced(from, a.span.end - 1, &starts, false, &mut |p, i| {
            let list = &a.lists[i];
            p.word(list.span.start);
            let starts: Vec<u32> = list.fields.iter().map(|f| f.span.start).collect();
            p.braced(list.span.start + 1, list.span.end - 1, &starts, true, &mut |p, i| {
                let field = &list.fields[i];
                p.src(field.name.span);
                p.raw(":");
                p.sp();
                p.src(field.ty.span);
            });
        });
    }

    /// `{ KEY: EXPR, … }` from `from` to the `}` at `close`.
    fn keyed(&mut self, from: u32, close: u32, values: &[(Ident, Expr)]) {
        let starts: Vec<u32> = values.iter().map(|(name, _)| name.span.start).collect();
        self.braced(from, close, &starts, true, &mut |p, i| {
            let (name, value) = &values[i];
            p.src(name.span);
            p.raw(":");
            p.sp();
            p.expr(value);
        });
    }

    /// `flow NAME ["title"] (a: text, b: int sensitive) { … }`: lets, statements and steps in
    /// source order.
    fn flow(&mut self, f: &Flow) {
        self.allows(&f.allows, f.span.start, false);
        let mut from = self.item_head(f.span.start, &f.name, f.title.as_ref());
        self.sp();
        self.raw("(");
        for (i, p) in f.params.iter().enumerate() {
            if i > 0 {
                self.raw(",");
                self.sp();
            }
            self.src(p.name.span);
            self.raw(":");
            self.sp();
            self.src(p.ty.span);
            if p.sensitive {
                self.sp();
                self.raw("sensitive");
            }
        }
        self.raw(")");
        // The `{` comes after the `)` closing the parameters.
        let i = self.tokens.partition_point(|t| t.span.start < from);
        if let Some(close) = self.tokens[i..].iter().find(|t| t.token == Token::RParen) {
            from = close.span.end;
        }
        self.last_end = self.last_end.max(from);
        enum Child<'b> {
            Let(&'b Let),
            Stmt(&'b Stmt),
            Step(&'b Step),
        }
        let mut children: Vec<(u32, Child)> = Vec::new();
        children.extend(f.lets.iter().map(|x| (x.span.start, Child::Let(x))));
        children.extend(f.body.iter().map(|x| (stmt_start(x), Child::Stmt(x))));
        children.extend(f.steps.iter().map(|x| (first_allow(&x.allows, x.span.start), Child::Step(x))));
        children.sort_by_key(|(start, _)| *start);
        let starts: Vec<u32> = children.iter().map(|(s, _)| *s).collect();
        self.braced(from, f.span.end - 1, &starts, false, &mut |p, i| match children[i].1 {
            Child::Let(x) => p.member(&Member::Let(x.clone())),
            Child::Stmt(x) => p.stmt(x, false),
            Child::Step(x) => p.step(x),
        });
    }

    fn script(&mut self, s: &Script) {
        self.allows(&s.allows, s.span.start, false);
        let from = self.item_head(s.span.start, &s.name, s.title.as_ref());
        let starts: Vec<u32> = s.members.iter().map(member_start).collect();
        self.braced(from, s.span.end - 1, &starts, false, &mut |p, i| p.member(&s.members[i]));
    }

    fn member(&mut self, m: &Member) {
        match m {
            Member::Setting(s) => {
                self.src(s.name.span);
                self.sp();
                match &s.value {
                    SettingValue::Word(w) => self.src(w.span),
                    SettingValue::Str(v) => self.src(v.span),
                    SettingValue::Duration(d) => self.src(d.span),
                    SettingValue::Number { span, .. } => self.src(*span),
                    SettingValue::Missing => {}
                }
            }
            Member::Inputs(inputs) => {
                self.word(inputs.span.start);
                let starts: Vec<u32> = inputs.items.iter().map(|i| i.span.start).collect();
                self.braced(inputs.span.start + 1, inputs.span.end - 1, &starts, true, &mut |p, i| {
                    p.input(&inputs.items[i])
                });
            }
            Member::Let(l) => {
                self.word(l.span.start);
                self.sp();
                self.src(l.name.span);
                self.raw(":");
                self.sp();
                self.src(l.ty.span);
                self.declaration_options(l.sensitive, &l.bounds);
                self.sp();
                self.raw("=");
                self.sp();
                self.expr(&l.value);
            }
            Member::Outcomes(o) => self.outcomes(o),
            Member::Intent(i) => self.intent(i),
            Member::Section(s) => self.section(s),
        }
    }

    fn input(&mut self, input: &Input) {
        self.src(input.name.span);
        self.raw(":");
        self.sp();
        self.src(input.ty.span);
        self.declaration_options(input.sensitive, &input.bounds);
        if let Some(default) = &input.default {
            self.sp();
            self.raw("=");
            self.sp();
            self.expr(default);
        }
    }

    /// ` sensitive min X max Y`, in that order whatever the source's.
    fn declaration_options(&mut self, sensitive: bool, bounds: &Bounds) {
        if sensitive {
            self.sp();
            self.raw("sensitive");
        }
        for (word, bound) in [("min", &bounds.min), ("max", &bounds.max)] {
            if let Some(bound) = bound {
                self.sp();
                self.raw(word);
                self.sp();
                self.expr(bound);
            }
        }
    }

    fn outcomes(&mut self, o: &Outcomes) {
        self.word(o.span.start);
        let starts: Vec<u32> = o.items.iter().map(|i| i.span.start).collect();
        self.braced(o.span.start + 1, o.span.end - 1, &starts, true, &mut |p, i| {
            let def = &o.items[i];
            p.src(def.name.span);
            if let Some(title) = &def.title {
                p.sp();
                p.src(title.span);
            }
            if def.goal {
                p.sp();
                p.raw("goal");
            }
        });
    }

    fn intent(&mut self, intent: &Intent) {
        self.allows(&intent.allows, intent.span.start, false);
        let from = self.item_head(intent.span.start, &intent.name, intent.label.as_ref());
        let starts: Vec<u32> = intent.clauses.iter().map(|c| c.span.start).collect();
        self.braced(from, intent.span.end - 1, &starts, false, &mut |p, i| {
            let clause = &intent.clauses[i];
            p.word(clause.span.start);
            let spans: Vec<Span> = clause.values.iter().map(|v| v.span).collect();
            p.list(&spans, &mut |p, i| p.src(spans[i]));
        });
    }

    /// A comma-separated list on one line, broken where the author broke it.
    fn list(&mut self, spans: &[Span], entry: &mut dyn FnMut(&mut Self, usize)) {
        for (i, span) in spans.iter().enumerate() {
            if i > 0 {
                self.raw(",");
                if self.flat == 0 && self.src[spans[i - 1].end as usize..span.start as usize].contains('\n') {
                    self.flush(span.start, true);
                    self.broken = true;
                }
            }
            self.sp();
            entry(self, i);
        }
    }

    fn section(&mut self, s: &Section) {
        self.allows(&s.allows, s.span.start, false);
        self.src(s.name_span);
        enum Child<'b> {
            Stmt(&'b Stmt),
            Step(&'b Step),
            Handler(&'b Branch),
            Include(&'b Include),
        }
        let mut children: Vec<(u32, Child)> = Vec::new();
        children.extend(s.body.iter().map(|x| (stmt_start(x), Child::Stmt(x))));
        children.extend(s.steps.iter().map(|x| (first_allow(&x.allows, x.span.start), Child::Step(x))));
        children.extend(s.handlers.iter().map(|x| (first_allow(&x.allows, x.span.start), Child::Handler(x))));
        children.extend(s.includes.iter().map(|x| (x.span.start, Child::Include(x))));
        children.sort_by_key(|(start, _)| *start);
        let starts: Vec<u32> = children.iter().map(|(s, _)| *s).collect();
        self.braced(s.name_span.end, s.span.end - 1, &starts, false, &mut |p, i| match children[i].1 {
            Child::Stmt(x) => p.stmt(x, false),
            Child::Step(x) => p.step(x),
            Child::Handler(x) => p.branch(x),
            Child::Include(x) => {
                p.word(x.span.start);
                p.sp();
                p.src(x.name.span);
            }
        });
    }

    fn step(&mut self, step: &Step) {
        self.allows(&step.allows, step.span.start, false);
        self.word(step.span.start);
        self.sp();
        self.src(step.name.span);
        self.block(&step.body);
    }

    fn block(&mut self, b: &Block) {
        let starts: Vec<u32> = b.stmts.iter().map(stmt_start).collect();
        self.braced(b.span.start, b.span.end - 1, &starts, false, &mut |p, i| p.stmt(&b.stmts[i], false));
    }

    // ---- statements ---------------------------------------------------------------------

    fn stmt(&mut self, s: &Stmt, inline_allows: bool) {
        self.allows(&s.allows, s.span.start, inline_allows);
        let at = s.span.start;
        match &s.kind {
            StmtKind::Say { prompt, bargein_off } => {
                self.word(at);
                self.sp();
                self.src(prompt.span);
                if *bargein_off {
                    self.sp();
                    self.raw("bargein off");
                }
            }
            StmtKind::Ask(ask) => {
                self.word(at);
                self.sp();
                self.src(ask.prompt.span);
                if let Some(capture) = &ask.capture {
                    self.sp();
                    self.raw("capture");
                    self.sp();
                    self.src(capture.name.span);
                    if let Some(digits) = capture.digits {
                        self.sp();
                        self.raw("digits");
                        self.sp();
                        self.src(digits.min.span);
                        if let Some(max) = digits.max {
                            self.raw("..");
                            self.src(max.span);
                        }
                    }
                }
                if let Some(t) = ask.timeout {
                    self.sp();
                    self.raw("timeout");
                    self.sp();
                    self.src(t.span);
                }
                if let Some(r) = ask.retries {
                    self.sp();
                    self.raw("retries");
                    self.sp();
                    self.src(r.span);
                }
                if ask.bargein_off {
                    self.sp();
                    self.raw("bargein off");
                }
                let starts: Vec<u32> = ask.branches.iter().map(|b| first_allow(&b.allows, b.span.start)).collect();
                self.braced(ask.head.end, s.span.end - 1, &starts, false, &mut |p, i| p.branch(&ask.branches[i]));
            }
            StmtKind::Retry(prompt) => {
                self.word(at);
                if let Some(prompt) = prompt {
                    self.sp();
                    self.src(prompt.span);
                }
            }
            StmtKind::Resume | StmtKind::Verify | StmtKind::Optout | StmtKind::Return | StmtKind::Listen => {
                self.word(at)
            }
            StmtKind::Call { flow, args } => {
                self.word(at);
                self.sp();
                self.src(flow.span);
                self.raw("(");
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        self.raw(",");
                        self.sp();
                    }
                    self.expr(a);
                }
                self.raw(")");
                self.last_end = self.last_end.max(s.span.end);
            }
            StmtKind::CallbackAt { date, time } => {
                self.word(at);
                if let Some(d) = date {
                    self.sp();
                    self.raw("on");
                    self.sp();
                    self.expr(d);
                }
                if let Some(t) = time {
                    self.sp();
                    self.raw("at");
                    self.sp();
                    self.expr(t);
                }
            }
            StmtKind::Goto(target) => {
                self.word(at);
                self.sp();
                self.target(target);
            }
            StmtKind::If(i) => self.if_stmt(at, i),
            StmtKind::Tag(label) => {
                self.word(at);
                self.sp();
                self.src(label.span);
            }
            StmtKind::Callback(d) => {
                self.word(at);
                self.sp();
                self.raw("in");
                self.sp();
                self.src(d.span);
            }
            StmtKind::Transfer { queue, outcome, with } => {
                self.word(at);
                self.sp();
                self.src(queue.span);
                let mut from = queue.span.end;
                if let Some(o) = outcome {
                    self.sp();
                    self.raw("outcome");
                    self.sp();
                    self.src(o.span);
                    from = o.span.end;
                }
                if let Some(word) = self.token_at(from).filter(|t| self.src[t.span.range()] == *"with") {
                    self.sp();
                    self.raw("with");
                    self.keyed(word.span.end, s.span.end - 1, with);
                }
            }
            StmtKind::Sms(prompt) => {
                self.word(at);
                self.sp();
                self.src(prompt.span);
            }
            StmtKind::Do(d) => self.do_stmt(at, d, s.span.end),
            StmtKind::Hangup(outcome) => {
                self.word(at);
                if let Some(o) = outcome {
                    self.sp();
                    self.src(o.span);
                }
            }
            StmtKind::Set { name, value } => {
                self.word(at);
                self.sp();
                self.assignment(name.span, value);
            }
            StmtKind::Error => self.src(s.span),
        }
    }

    fn if_stmt(&mut self, at: u32, i: &If) {
        self.word(at);
        self.sp();
        self.expr(&i.cond);
        self.block(&i.then);
        let Some(otherwise) = &i.otherwise else { return };
        if let Some(t) = self.token_at(i.then.span.end) {
            // `else` may start its own line after a comment: at the statement's indent.
            self.flush(t.span.start, false);
            self.sp();
            self.put("else", false);
            self.last_end = t.span.end;
        }
        match otherwise {
            Else::Block(b) => self.block(b),
            Else::If(stmt) => {
                self.sp();
                if let StmtKind::If(inner) = &stmt.kind {
                    self.if_stmt(stmt.span.start, inner);
                }
            }
        }
    }

    fn target(&mut self, t: &Target) {
        self.src(t.first.span);
        if let Some(second) = &t.second {
            self.raw(".");
            self.src(second.span);
        }
    }

    /// `NAME = EXPR` (a `set`, an argument of a `do`).
    fn assignment(&mut self, name: Span, value: &Expr) {
        self.src(name);
        self.sp();
        self.raw("=");
        self.sp();
        self.expr(value);
    }

    /// `do NAME(…) [timeout D] { … }`; not inlined into `stmt`, whose frame is on the stack once
    /// per nesting level.
    #[inline(never)]
    fn do_stmt(&mut self, at: u32, d: &Do, end: u32) {
        self.word(at);
        self.sp();
        self.src(d.action.span);
        self.raw("(");
        for (i, (name, value)) in d.args.iter().enumerate() {
            if i > 0 {
                self.raw(",");
                self.sp();
            }
            self.assignment(name.span, value);
        }
        let close = self.token_at(d.args.last().map_or(d.action.span.end, |(_, v)| v.span.end));
        match close.filter(|t| t.token == Token::RParen) {
            Some(t) => self.tok(t.span, ")"),
            None => self.raw(")"),
        }
        if let Some(t) = d.timeout {
            self.sp();
            self.raw("timeout");
            self.sp();
            self.src(t.span);
        }
        let starts: Vec<u32> = d.branches.iter().map(|b| first_allow(&b.allows, b.span.start)).collect();
        self.braced(d.head.end, end - 1, &starts, false, &mut |p, i| p.branch(&d.branches[i]));
    }

    fn branch(&mut self, b: &Branch) {
        self.allows(&b.allows, b.span.start, false);
        self.word(b.span.start);
        let spans: Vec<Span> = b.patterns.iter().map(|p| p.span).collect();
        self.list(&spans, &mut |p, i| p.pattern(&b.patterns[i]));
        let mut head_end = spans.last().map_or(b.span.start + 2, |s| s.end);
        if let Some(limit) = b.limit {
            self.sp();
            self.raw("limit");
            self.sp();
            self.src(limit.span);
            head_end = head_end.max(limit.span.end);
        }
        if let Some(guard) = &b.guard {
            self.sp();
            self.raw("if");
            self.sp();
            self.expr(guard);
            head_end = head_end.max(guard.span.end);
        }
        if let Some(arrow) = self.token_at(head_end).filter(|t| t.token == Token::FatArrow) {
            self.sp();
            self.tok(arrow.span, "=>");
        }
        if b.body.braced {
            self.block(&b.body);
        } else if let Some(stmt) = b.body.stmts.first() {
            self.sp();
            self.stmt(stmt, true);
        }
    }

    fn pattern(&mut self, p: &Pattern) {
        match &p.kind {
            PatternKind::Dtmf(s) => {
                self.word(p.span.start);
                self.sp();
                self.src(s.span);
            }
            PatternKind::Emotion(e) => {
                self.word(p.span.start);
                self.sp();
                self.src(e.span);
            }
            _ => self.src(p.span),
        }
    }

    // ---- expressions --------------------------------------------------------------------

    fn expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Int(_) | ExprKind::Money(_) => {
                // A negative literal is folded from `-` and a number: print its tokens closed up.
                let start = self.tokens.partition_point(|t| t.span.start < e.span.start);
                let end = self.tokens.partition_point(|t| t.span.start < e.span.end);
                for i in start..end {
                    let span = self.tokens[i].span;
                    self.src(span);
                }
            }
            ExprKind::Str(_)
            | ExprKind::Bool(_)
            | ExprKind::Date(_)
            | ExprKind::Time(_)
            | ExprKind::Name(_)
            | ExprKind::Field(..)
            // A call stands only in a campaign's segment, never in a file this formats.
            | ExprKind::Call(..)
            | ExprKind::Error => self.src(e.span),
            ExprKind::Unary(UnaryOp::Neg, inner) => {
                self.word(e.span.start);
                self.expr(inner);
            }
            ExprKind::Unary(UnaryOp::Not, inner) => {
                self.word(e.span.start);
                self.sp();
                self.expr(inner);
            }
            ExprKind::Binary(_, lhs, rhs) => {
                self.expr(lhs);
                if let Some(op) = self.token_at(lhs.span.end) {
                    self.sp();
                    self.src(op.span);
                }
                self.sp();
                self.expr(rhs);
            }
            ExprKind::Paren(inner) => {
                self.word(e.span.start);
                self.expr(inner);
                self.tok(Span { start: e.span.end - 1, end: e.span.end }, ")");
            }
        }
    }

    // ---- tests --------------------------------------------------------------------------

    fn test(&mut self, t: &Test) {
        self.word(t.span.start);
        self.sp();
        self.src(t.name.span);
        self.sp();
        self.raw("for");
        self.sp();
        self.src(t.script.span);
        let starts: Vec<u32> = t.body.iter().map(|s| s.span.start).collect();
        self.braced(t.script.span.end, t.span.end - 1, &starts, false, &mut |p, i| p.test_stmt(&t.body[i]));
    }

    fn test_stmt(&mut self, s: &TestStmt) {
        let at = s.span.start;
        match &s.kind {
            TestStmtKind::Input(values) => {
                self.word(at);
                let starts: Vec<u32> = values.iter().map(|(name, _)| name.span.start).collect();
                self.braced(at + 1, s.span.end - 1, &starts, true, &mut |p, i| {
                    let (name, value) = &values[i];
                    p.src(name.span);
                    p.raw(":");
                    p.sp();
                    p.expr(value);
                });
            }
            TestStmtKind::Reply(reply) => {
                self.word(at);
                self.sp();
                match reply {
                    Reply::Text(text) => self.src(text.span),
                    Reply::Dtmf(keys) => {
                        self.raw("dtmf");
                        self.sp();
                        self.src(keys.span);
                    }
                    Reply::Silence => self.raw("silence"),
                    Reply::Emotion(emotion, text) => {
                        self.raw("emotion");
                        self.sp();
                        self.src(emotion.span);
                        self.sp();
                        self.src(text.span);
                    }
                }
            }
            TestStmtKind::Hangup => self.word(at),
            TestStmtKind::Expect(expect) => {
                self.word(at);
                self.sp();
                let (word, then): (&str, Option<Span>) = match expect {
                    Expect::Say(s) => ("say", Some(s.span)),
                    Expect::NoSay(s) => ("no say", Some(s.span)),
                    Expect::Step(_) => ("step", None),
                    Expect::Tag(s) => ("tag", Some(s.span)),
                    Expect::Transfer(s, _) => ("transfer", Some(s.span)),
                    Expect::Sms(s) => ("sms", Some(s.span)),
                    Expect::Hangup(o) => ("hangup", Some(o.span)),
                    Expect::Value { name, .. } => ("value", Some(name.span)),
                    Expect::Optout => ("optout", None),
                    Expect::Verify => ("verify", None),
                };
                self.raw(word);
                match (expect, then) {
                    (Expect::Step(target), _) => {
                        self.sp();
                        self.target(target)
                    }
                    (Expect::Value { value, .. }, Some(span)) => {
                        self.sp();
                        self.src(span);
                        self.sp();
                        self.raw("=");
                        self.sp();
                        self.expr(value);
                    }
                    (Expect::Transfer(_, Some((key, value))), Some(span)) => {
                        self.sp();
                        self.src(span);
                        self.sp();
                        self.raw("with");
                        self.sp();
                        self.src(key.span);
                        self.sp();
                        self.raw("=");
                        self.sp();
                        self.expr(value);
                    }
                    (_, Some(span)) => {
                        self.sp();
                        self.src(span)
                    }
                    _ => {}
                }
            }
            TestStmtKind::Mock { action, ok } => {
                self.word(at);
                self.sp();
                self.src(action.span);
                self.sp();
                match ok {
                    None => self.raw("failed"),
                    Some(values) => {
                        self.raw("ok");
                        let ok = self.token_at(action.span.end).map_or(action.span.end, |t| t.span.end);
                        self.keyed(ok, s.span.end - 1, values);
                    }
                }
            }
            TestStmtKind::Attempt(n) | TestStmtKind::Hour(n) => {
                self.word(at);
                self.sp();
                self.src(n.span);
            }
            TestStmtKind::Today(_, span) => {
                self.word(at);
                self.sp();
                self.src(*span);
            }
            TestStmtKind::Error => self.src(s.span),
        }
    }
}

fn first_allow(allows: &[Allow], node: u32) -> u32 {
    allows.first().map_or(node, |a| a.span.start)
}

fn stmt_start(s: &Stmt) -> u32 {
    first_allow(&s.allows, s.span.start)
}

fn item_start(item: &Item) -> u32 {
    match item {
        Item::Use(u) => u.span.start,
        Item::Script(s) => first_allow(&s.allows, s.span.start),
        Item::Intent(i) => first_allow(&i.allows, i.span.start),
        Item::Outcomes(o) => o.span.start,
        Item::Test(t) => t.span.start,
        Item::Flow(f) => first_allow(&f.allows, f.span.start),
        Item::Handlers(h) => h.span.start,
        Item::Action(a) => a.span.start,
        Item::Examples(e) => e.span.start,
    }
}

fn member_start(m: &Member) -> u32 {
    match m {
        Member::Setting(s) => s.span.start,
        Member::Inputs(i) => i.span.start,
        Member::Let(l) => l.span.start,
        Member::Outcomes(o) => o.span.start,
        Member::Intent(i) => first_allow(&i.allows, i.span.start),
        Member::Section(s) => first_allow(&s.allows, s.span.start),
    }
}

/// The start of every `@allow` the tree holds.
fn collect_allows(file: &File, out: &mut Vec<u32>) {
    fn allows(list: &[Allow], out: &mut Vec<u32>) {
        out.extend(list.iter().map(|a| a.span.start));
    }
    fn stmts(list: &[Stmt], out: &mut Vec<u32>) {
        for s in list {
            stmt(s, out);
        }
    }
    fn stmt(s: &Stmt, out: &mut Vec<u32>) {
        allows(&s.allows, out);
        match &s.kind {
            StmtKind::Ask(ask) => branches(&ask.branches, out),
            StmtKind::Do(d) => branches(&d.branches, out),
            StmtKind::If(i) => if_stmt(i, out),
            _ => {}
        }
    }
    fn if_stmt(i: &If, out: &mut Vec<u32>) {
        stmts(&i.then.stmts, out);
        match &i.otherwise {
            Some(Else::Block(b)) => stmts(&b.stmts, out),
            Some(Else::If(s)) => stmt(s, out),
            None => {}
        }
    }
    fn branches(list: &[Branch], out: &mut Vec<u32>) {
        for b in list {
            allows(&b.allows, out);
            stmts(&b.body.stmts, out);
        }
    }
    for item in &file.items {
        match item {
            Item::Script(s) => {
                allows(&s.allows, out);
                for m in &s.members {
                    match m {
                        Member::Intent(i) => allows(&i.allows, out),
                        Member::Section(sec) => {
                            allows(&sec.allows, out);
                            stmts(&sec.body, out);
                            branches(&sec.handlers, out);
                            for step in &sec.steps {
                                allows(&step.allows, out);
                                stmts(&step.body.stmts, out);
                            }
                        }
                        _ => {}
                    }
                }
            }
            Item::Intent(i) => allows(&i.allows, out),
            Item::Flow(f) => {
                allows(&f.allows, out);
                stmts(&f.body, out);
                for step in &f.steps {
                    allows(&step.allows, out);
                    stmts(&step.body.stmts, out);
                }
            }
            Item::Handlers(h) => branches(&h.handlers, out),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(src: &str) -> String {
        let out = format(src).unwrap_or_else(|d| panic!("{d:?}"));
        assert_eq!(format(&out).unwrap(), out, "not idempotent:\n{out}");
        let (a, _) = crate::syntax::parse(src, SourceId(0));
        let (b, _) = crate::syntax::parse(&out, SourceId(0));
        assert_eq!(tree_shape(&a), tree_shape(&b), "tree changed:\n{out}");
        out
    }

    #[test]
    fn statements_one_per_line_and_two_spaces() {
        assert_eq!(
            fmt("script s{purpose service\nopening{say \"a\"\n  hangup x}}"),
            "script s {\n  purpose service\n  opening {\n    say \"a\"\n    hangup x\n  }\n}\n"
        );
    }

    #[test]
    fn one_line_blocks_stay_when_they_fit() {
        let src = "script s {\n  closing {\n    step a  {say \"x\" ;  hangup y}\n  }\n}\n";
        assert_eq!(fmt(src), "script s {\n  closing {\n    step a { say \"x\"; hangup y }\n  }\n}\n");
        let long =
            format!("script s {{\n  closing {{\n    step a {{ say \"{}\"; hangup y }}\n  }}\n}}\n", "长".repeat(60));
        assert!(fmt(&long).contains("step a {\n      say"), "{}", fmt(&long));
    }

    #[test]
    fn no_blank_line_after_an_opening_brace_with_a_comment() {
        assert_eq!(fmt("script s { // c\n\n  purpose service\n}\n"), "script s { // c\n  purpose service\n}\n");
    }

    #[test]
    fn comments_stay_where_they_were() {
        let src = "// head\nscript s { // after brace\n  purpose service   // trailing\n\n\n  // own line\n  opening {\n    say \"a\"\n    // last in block\n  }\n}\n// tail\n";
        assert_eq!(
            fmt(src),
            "// head\nscript s { // after brace\n  purpose service // trailing\n\n  // own line\n  opening {\n    say \"a\"\n    // last in block\n  }\n}\n// tail\n"
        );
    }

    #[test]
    fn expressions_and_negative_literals() {
        let src = "script s {\n  let x: int = - 5+( 3 *2 )\n  let y: bool = not(x>1)and true\n}\n";
        assert_eq!(fmt(src), "script s {\n  let x: int = -5 + (3 * 2)\n  let y: bool = not (x > 1) and true\n}\n");
    }

    #[test]
    fn comments_inside_parentheses_and_lists() {
        let src = "script s {\n  let x: int = (1 + // one\n 2)\n  intent i {\n    phrases \"a\", // first\n      \"b\"\n  }\n}\n";
        assert_eq!(
            fmt(src),
            "script s {\n  let x: int = (1 + // one\n    2)\n  intent i {\n    phrases \"a\", // first\n      \"b\"\n  }\n}\n"
        );
    }

    #[test]
    fn allows_before_a_closing_brace_are_kept() {
        let src = "script s {\n  opening {\n    hangup x\n    @allow(W001, \"r\")\n  }\n}\n";
        assert_eq!(fmt(src), src);
    }

    #[test]
    fn else_after_a_comment_and_else_if() {
        let src = "script s {\n  opening {\n    if a { goto b }\n    // otherwise\n    else if c {\n      goto d\n    } else { goto e }\n  }\n}\n";
        assert_eq!(
            fmt(src),
            "script s {\n  opening {\n    if a { goto b }\n    // otherwise\n    else if c {\n      goto d\n    } else { goto e }\n  }\n}\n"
        );
    }

    #[test]
    fn syntax_errors_refuse() {
        let err = format("script s {\n  opening { say \"x }\n").unwrap_err();
        assert!(err.iter().any(|d| d.code == "E002"), "{err:?}");
    }

    #[test]
    fn width_counts_chinese_as_two() {
        assert_eq!(display_width("ab您好"), 6);
    }
}
