//! A hand-written recursive-descent parser (Pratt for expressions) that never gives up: it
//! recovers at statement and block boundaries and returns the tree with every diagnostic.

use crate::diagnostic::Diagnostic;
use crate::span::{SourceId, Span};
use crate::syntax::ast::*;
use crate::syntax::lexer::{Lexed, lex};
use crate::syntax::token::Token;
use crate::value::{Date, Money, Time};

/// Parses one file. The tree is always returned; it holds `Error` nodes where parsing failed.
pub fn parse(text: &str, file: SourceId) -> (File, Vec<Diagnostic>) {
    let mut parser = Parser::new(text, file, lex(text, 0));
    let items = parser.items();
    let file = File { items, comments: parser.comments };
    (file, parser.diags)
}

/// Parses an expression on its own (a campaign's `segment`, a test's input value).
pub fn parse_expr(text: &str, file: SourceId) -> (Expr, Vec<Diagnostic>) {
    let mut parser = Parser::new(text, file, lex(text, 0));
    parser.nl_insensitive = 1;
    let expr = parser.expr();
    if !parser.at(Token::Eof) {
        parser.unexpected("the end of the expression");
    }
    (expr, parser.diags)
}

/// How deeply blocks, `ask`s, `else if`s and expressions may nest (LANGUAGE.md §2, E008).
/// Every pass over the tree recurses along this depth, so it bounds their stacks.
pub const MAX_DEPTH: u32 = 256;

/// Words that open a section: met at or left of a section's own indentation, they mean its
/// `}` is missing.
const SECTION_WORDS: &[&str] = &["opening", "core", "closing", "objection"];
/// The same for a block or an ask: a section, a step or a branch cannot stand inside one.
const BLOCK_END_WORDS: &[&str] = &["opening", "core", "closing", "objection", "step", "on"];
/// In an ask, branches (`on`) belong; a section or a step does not.
const ASK_END_WORDS: &[&str] = &["opening", "core", "closing", "objection", "step"];

/// What E009 counts in one script.
#[derive(Default)]
struct TableSizes {
    steps: usize,
    asks: usize,
    values: usize,
    outcomes: usize,
    /// The most branches of one ask, or handlers of one section.
    widest: usize,
}

impl TableSizes {
    fn block(&mut self, block: &Block) {
        block.stmts.iter().for_each(|s| self.stmt(s));
    }

    /// Counts the asks under a statement; the tree is at most [`MAX_DEPTH`] deep.
    fn stmt(&mut self, stmt: &Stmt) {
        match &stmt.kind {
            StmtKind::Ask(ask) => {
                self.asks += 1;
                self.widest = self.widest.max(ask.branches.len());
                ask.branches.iter().for_each(|b| self.block(&b.body));
            }
            StmtKind::Do(d) => {
                self.widest = self.widest.max(d.branches.len());
                d.branches.iter().for_each(|b| self.block(&b.body));
            }
            StmtKind::If(i) => {
                self.block(&i.then);
                match &i.otherwise {
                    Some(Else::Block(b)) => self.block(b),
                    Some(Else::If(s)) => self.stmt(s),
                    None => {}
                }
            }
            _ => {}
        }
    }
}

const STATEMENT_WORDS: &str = "`say`, `ask`, `goto`, `if`, `set`, `verify`, `tag`, `callback`, `optout`, `call`, `transfer`, `hangup`, `do` or `sms`";

struct Parser<'a> {
    src: &'a str,
    file: SourceId,
    tokens: Vec<Lexed>,
    pos: usize,
    comments: Vec<Span>,
    diags: Vec<Diagnostic>,
    /// Above zero inside `( )` and `{{ }}`, where newlines do not end anything.
    nl_insensitive: u32,
    /// Position of the last reported unexpected token, so one bad token is reported once.
    last_error_at: Option<usize>,
    /// Current nesting depth (blocks, asks, `else if`s, expressions), at most [`MAX_DEPTH`].
    depth: u32,
    /// Whether E008 was reported, so a deep file gets one error, not one per level.
    too_deep_reported: bool,
    /// Set when a block ended without its `}` at a dedented line: that line starts the next
    /// statement, so the end of the current one is not required.
    ended_by_indent: bool,
    /// Byte offsets where lines start, made on first use (for indentation, in recovery).
    line_starts: std::cell::OnceCell<Vec<u32>>,
    /// Whether some `{` has no `}` after it to match (counting left to right). Only then does
    /// indentation end a block (see [`Parser::dedented`]), so recovery never changes the parse
    /// of a file whose braces balance, however it is laid out.
    brace_missing: bool,
    /// The statements of the blocks being parsed, innermost last (see [`Parser::block`]).
    stmts: Vec<Stmt>,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str, file: SourceId, lexed: Vec<Lexed>) -> Parser<'a> {
        let mut comments = Vec::new();
        let mut open_braces = 0usize;
        // Filtered in place: a second token vector would double the parse's largest buffer.
        let mut tokens = lexed;
        tokens.retain(|l| {
            match l.token {
                Token::Comment => comments.push(l.span),
                Token::LBrace => open_braces += 1,
                Token::RBrace => open_braces = open_braces.saturating_sub(1),
                _ => {}
            }
            l.token != Token::Comment
        });
        Parser {
            src,
            file,
            tokens,
            pos: 0,
            comments,
            diags: Vec::new(),
            nl_insensitive: 0,
            last_error_at: None,
            depth: 0,
            too_deep_reported: false,
            ended_by_indent: false,
            line_starts: std::cell::OnceCell::new(),
            brace_missing: open_braces > 0,
            stmts: Vec::new(),
        }
    }

    // ---- token access -------------------------------------------------------------------

    fn skip_insignificant(&mut self) {
        if self.nl_insensitive > 0 {
            while self.tokens[self.pos].token == Token::Newline {
                self.pos += 1;
            }
        }
    }

    fn peek(&mut self) -> Token {
        self.skip_insignificant();
        self.tokens[self.pos].token
    }

    fn peek_span(&mut self) -> Span {
        self.skip_insignificant();
        self.tokens[self.pos].span
    }

    fn text(&self, span: Span) -> &'a str {
        &self.src[span.range()]
    }

    fn peek_text(&mut self) -> &'a str {
        let span = self.peek_span();
        self.text(span)
    }

    fn at(&mut self, token: Token) -> bool {
        self.peek() == token
    }

    fn at_word(&mut self, word: &str) -> bool {
        self.peek() == Token::Ident && self.text(self.tokens[self.pos].span) == word
    }

    fn bump(&mut self) -> Lexed {
        self.skip_insignificant();
        let t = self.tokens[self.pos];
        if t.token != Token::Eof {
            self.pos += 1;
        }
        t
    }

    fn eat(&mut self, token: Token) -> Option<Span> {
        if self.at(token) { Some(self.bump().span) } else { None }
    }

    fn eat_word(&mut self, word: &str) -> Option<Span> {
        if self.at_word(word) { Some(self.bump().span) } else { None }
    }

    /// The span of the previous significant token.
    fn prev_span(&self) -> Span {
        let mut i = self.pos;
        while i > 0 {
            i -= 1;
            if self.tokens[i].token != Token::Newline {
                return self.tokens[i].span;
            }
        }
        Span::default()
    }

    fn skip_newlines(&mut self) {
        while self.tokens[self.pos].token == Token::Newline {
            self.pos += 1;
        }
    }

    /// Skips newlines and `;` between statements and list items.
    fn skip_separators(&mut self) {
        while matches!(self.tokens[self.pos].token, Token::Newline | Token::Semi) {
            self.pos += 1;
        }
    }

    fn skip_list_separators(&mut self) {
        while matches!(self.tokens[self.pos].token, Token::Newline | Token::Semi | Token::Comma) {
            self.pos += 1;
        }
    }

    // ---- errors and recovery ------------------------------------------------------------

    fn error(&mut self, diag: Diagnostic) {
        self.diags.push(diag);
    }

    /// Reports the current token as unexpected (once per position): "expected X, found Y".
    fn unexpected(&mut self, expected: &str) {
        let t = {
            self.skip_insignificant();
            self.tokens[self.pos]
        };
        if self.last_error_at == Some(self.pos) {
            return;
        }
        self.last_error_at = Some(self.pos);
        let diag = match t.token {
            Token::Error => Diagnostic::new(
                "E003",
                self.file,
                t.span,
                format!("the character `{}` is not allowed here", self.text(t.span)),
            )
            .label("not part of the language")
            .with_help(format!("expected {expected}")),
            Token::UnterminatedStr => Diagnostic::new("E002", self.file, t.span, "this string is never closed")
                .label("missing `\"` before the end of the line")
                .with_help("close the string with `\"` on the same line; write `\\\"` for a quote inside it"),
            _ => {
                let found = match t.token {
                    Token::Ident => format!("`{}`", self.text(t.span)),
                    Token::Newline | Token::Eof => t.token.describe().to_string(),
                    other => {
                        if matches!(other, Token::Int | Token::Decimal | Token::Duration | Token::Date | Token::Str) {
                            format!("{} `{}`", other.describe(), self.text(t.span))
                        } else {
                            other.describe().to_string()
                        }
                    }
                };
                Diagnostic::new("E001", self.file, t.span, format!("expected {expected}, found {found}"))
                    .label(format!("expected {expected} here"))
            }
        };
        self.error(diag);
    }

    /// Skips the rest of a broken statement: up to a newline, `;` or a `}` that closes the
    /// enclosing block, stepping over balanced `{ }` on the way.
    fn recover_statement(&mut self) {
        let saved = self.nl_insensitive;
        self.nl_insensitive = 0;
        loop {
            match self.tokens[self.pos].token {
                Token::Newline | Token::Semi | Token::RBrace | Token::Eof => break,
                Token::LBrace => self.skip_balanced(),
                _ => self.pos += 1,
            }
        }
        self.nl_insensitive = saved;
    }

    /// At `{`: skips to after its matching `}` (or the end of the file).
    fn skip_balanced(&mut self) {
        let mut depth = 0usize;
        loop {
            match self.tokens[self.pos].token {
                Token::LBrace => depth += 1,
                Token::RBrace => {
                    depth -= 1;
                    if depth == 0 {
                        self.pos += 1;
                        return;
                    }
                }
                Token::Eof => return,
                _ => {}
            }
            self.pos += 1;
        }
    }

    /// After a statement or item: the line must end here.
    fn end_of_statement(&mut self) {
        if std::mem::take(&mut self.ended_by_indent) {
            return;
        }
        if !matches!(self.tokens[self.pos].token, Token::Newline | Token::Semi | Token::RBrace | Token::Eof) {
            self.unexpected("the end of the statement (a new line or `;`)");
            self.recover_statement();
        }
    }

    /// Enters one level of nesting. At the limit it reports E008 (once per file) and returns
    /// false; the caller then skips what it would have parsed, without recursing.
    fn enter(&mut self) -> bool {
        if self.depth >= MAX_DEPTH {
            self.too_deep();
            return false;
        }
        self.depth += 1;
        true
    }

    /// Reports E008 at the current token, once per file.
    fn too_deep(&mut self) {
        if !self.too_deep_reported {
            self.too_deep_reported = true;
            let span = self.peek_span();
            self.error(
                Diagnostic::new("E008", self.file, span, format!("this is nested deeper than {MAX_DEPTH} levels"))
                    .label("too deeply nested")
                    .with_help(
                        "blocks, `ask`s, `else if`s and operators nest at most 256 deep; \
                             move the inner part into a step of its own and `goto` it",
                    ),
            );
        }
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Skips the rest of an expression that nests too deeply: up to the end of its line (or
    /// `;`, `,`, `=>`, `|`, a block) or a `)` that closes a parenthesis opened before it.
    fn skip_expr(&mut self) {
        let mut parens = 0usize;
        loop {
            match self.tokens[self.pos].token {
                Token::LParen => parens += 1,
                Token::RParen if parens == 0 => return,
                Token::RParen => parens -= 1,
                Token::Newline if parens == 0 && self.nl_insensitive == 0 => return,
                Token::Semi | Token::Comma | Token::FatArrow | Token::Pipe | Token::LBrace | Token::RBrace
                    if parens == 0 =>
                {
                    return;
                }
                Token::Eof => return,
                _ => {}
            }
            self.pos += 1;
        }
    }

    /// Skips an `if … { } else if … { } else { }` chain that nests too deeply, iteratively.
    fn skip_if_chain(&mut self) {
        loop {
            while !matches!(self.tokens[self.pos].token, Token::LBrace | Token::RBrace | Token::Eof) {
                self.pos += 1;
            }
            if !self.at(Token::LBrace) {
                return;
            }
            self.skip_balanced();
            let save = self.pos;
            self.skip_newlines();
            if !self.at_word("else") {
                self.pos = save;
                return;
            }
            self.bump();
            if self.at_word("if") {
                self.bump();
            } else if self.at(Token::LBrace) {
                self.skip_balanced();
                return;
            } else {
                return;
            }
        }
    }

    // ---- small pieces -------------------------------------------------------------------

    fn ident(&mut self, what: &str) -> Option<Ident> {
        if self.at(Token::Ident) {
            let span = self.bump().span;
            Some(Ident { name: self.text(span).to_string(), span })
        } else {
            self.unexpected(what);
            None
        }
    }

    fn missing_ident(&mut self) -> Ident {
        let span = self.peek_span();
        Ident { name: String::new(), span: Span { start: span.start, end: span.start } }
    }

    fn string(&mut self, what: &str) -> Option<StrLit> {
        let span = self.string_span(what)?;
        Some(self.unescape(span))
    }

    /// The span of a string token, or reports what was expected instead.
    fn string_span(&mut self, what: &str) -> Option<Span> {
        if self.at(Token::Str) {
            Some(self.bump().span)
        } else {
            self.unexpected(what);
            if self.at(Token::UnterminatedStr) {
                self.bump();
            }
            None
        }
    }

    /// Resolves escapes of a string token, keeping each character's file offset.
    fn unescape(&mut self, span: Span) -> StrLit {
        let inner = span.len().saturating_sub(2);
        let mut value = String::with_capacity(inner);
        let mut char_offsets = Vec::with_capacity(inner);
        self.escapes(span, |c, at| {
            value.push(c);
            char_offsets.push(at);
        });
        StrLit { value, span, char_offsets }
    }

    /// Reports the bad escapes of a string token and gives `each` every resolved character with
    /// its file offset.
    fn escapes(&mut self, span: Span, mut each: impl FnMut(char, u32)) {
        let raw = self.text(span);
        let inner = &raw[1..raw.len() - 1];
        let base = span.start + 1;
        let mut chars = inner.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            let at = base + i as u32;
            if c == '\\' {
                let Some((j, e)) = chars.next() else { break };
                let resolved = match e {
                    '"' => '"',
                    '\\' => '\\',
                    'n' => '\n',
                    't' => '\t',
                    '{' => '{',
                    // Phrase-pattern escapes (§9.6) pass through for the pattern parser.
                    '(' | ')' | '[' | ']' | '|' | '…' => {
                        each('\\', at);
                        e
                    }
                    other => {
                        let esc = Span::new(at as usize, base as usize + j + other.len_utf8());
                        self.error(
                            Diagnostic::new("E004", self.file, esc, format!("`\\{other}` is not an escape"))
                                .label("unknown escape")
                                .with_help("the escapes are `\\\"`, `\\\\`, `\\n`, `\\t` and `\\{`; write `\\\\` for a backslash"),
                        );
                        other
                    }
                };
                each(resolved, at);
            } else {
                each(c, at);
            }
        }
    }

    fn duration(&mut self, what: &str) -> Option<DurationLit> {
        if self.at(Token::Duration) {
            let span = self.bump().span;
            let text = self.text(span);
            let unit_at = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
            let (digits, unit) = text.split_at(unit_at);
            let factor = match unit {
                "ms" => 1,
                "s" => 1_000,
                "m" => 60_000,
                "h" => 3_600_000,
                _ => 86_400_000,
            };
            match digits.parse::<u64>().ok().and_then(|n| n.checked_mul(factor)) {
                Some(millis) => Some(DurationLit { millis, span }),
                None => {
                    self.error(Diagnostic::new("E006", self.file, span, "this duration is too long").label("too long"));
                    Some(DurationLit { millis: u64::MAX, span })
                }
            }
        } else {
            if self.at(Token::Int) {
                let span = self.peek_span();
                self.error(
                    Diagnostic::new("E006", self.file, span, "a duration needs a unit").label("no unit").with_help(
                        format!("write the unit right after the number: `{0}s`, `{0}m` or `{0}ms`", self.text(span)),
                    ),
                );
                self.bump();
                return None;
            }
            self.unexpected(what);
            None
        }
    }

    fn int(&mut self, what: &str) -> Option<IntLit> {
        if self.at(Token::Int) {
            let span = self.bump().span;
            match self.text(span).parse::<i64>() {
                Ok(value) => Some(IntLit { value, span }),
                Err(_) => {
                    self.error(Diagnostic::new("E006", self.file, span, "this number is too large").label("too large"));
                    None
                }
            }
        } else {
            self.unexpected(what);
            None
        }
    }

    /// Leading `@allow(CODE, "reason")` attributes, each on its own line or before the item.
    fn allows(&mut self) -> Vec<Allow> {
        let mut out = Vec::new();
        while self.at(Token::At) {
            let start = self.bump().span;
            if self.eat_word("allow").is_none() {
                self.unexpected("`allow` after `@`");
                self.recover_statement();
                self.skip_separators();
                continue;
            }
            let mut code = None;
            let mut reason = None;
            if self.eat(Token::LParen).is_some() {
                self.nl_insensitive += 1;
                code = self.ident("a diagnostic code such as `CS008`");
                if self.eat(Token::Comma).is_some() {
                    reason = self.string("a reason in quotes");
                }
                if self.eat(Token::RParen).is_none() {
                    self.unexpected("`)`");
                    while !matches!(self.peek(), Token::RParen | Token::Eof | Token::RBrace) {
                        self.bump();
                    }
                    self.eat(Token::RParen);
                }
                self.nl_insensitive -= 1;
            } else {
                self.unexpected("`(` after `@allow`");
            }
            out.push(Allow { code, reason, span: start.to(self.prev_span()) });
            self.skip_separators();
        }
        out
    }

    /// `@allow` stands before a statement, branch, step, section, intent or script (§9.7).
    fn misplaced_allows(&mut self, allows: &[Allow], what: &str) {
        for allow in allows {
            self.error(
                Diagnostic::new("E007", self.file, allow.span, format!("`@allow` cannot stand before {what}"))
                    .label("nothing here for it to cover")
                    .with_help("put it on the line before the statement, branch, step, section or script the finding points at"),
            );
        }
    }

    // ---- items --------------------------------------------------------------------------

    fn items(&mut self) -> Vec<Item> {
        let mut items = Vec::new();
        loop {
            self.skip_separators();
            let allows = self.allows();
            match self.peek() {
                Token::Eof => break,
                Token::Ident => {
                    let word = self.peek_text();
                    if !allows.is_empty() && !matches!(word, "script" | "intent" | "flow") {
                        self.misplaced_allows(&allows, "this item");
                    }
                    let item = match word {
                        "use" => self.use_item().map(Item::Use),
                        "script" => Some(Item::Script(self.script(allows))),
                        "intent" => Some(Item::Intent(self.intent(allows))),
                        "outcomes" => Some(Item::Outcomes(self.outcomes())),
                        "test" => Some(Item::Test(self.test())),
                        "flow" => Some(Item::Flow(self.flow(allows))),
                        "handlers" => Some(Item::Handlers(self.handler_set())),
                        "action" => self.action_item().map(Item::Action),
                        "examples" => {
                            let start = self.bump().span;
                            self.string("a CSV file's path in quotes")
                                .map(|path| Item::Examples(ExamplesFile { span: start.to(path.span), path }))
                        }
                        _ => {
                            self.unexpected(
                                "`script`, `flow`, `handlers`, `intent`, `outcomes`, `action`, `examples`, `use` or `test`",
                            );
                            self.recover_item();
                            None
                        }
                    };
                    if let Some(item) = item {
                        items.push(item);
                        self.end_of_statement();
                    }
                }
                Token::RBrace => {
                    let span = self.bump().span;
                    self.error(
                        Diagnostic::new("E001", self.file, span, "this `}` closes nothing")
                            .label("no `{` is open here")
                            .with_help("remove it, or check the braces above"),
                    );
                }
                _ => {
                    self.unexpected(
                        "`script`, `flow`, `handlers`, `intent`, `outcomes`, `action`, `examples`, `use` or `test`",
                    );
                    self.recover_item();
                }
            }
        }
        items
    }

    /// Skips a broken top-level line (and any block it opens).
    fn recover_item(&mut self) {
        loop {
            match self.tokens[self.pos].token {
                Token::Newline | Token::Eof => break,
                Token::LBrace => self.skip_balanced(),
                _ => self.pos += 1,
            }
        }
    }

    fn use_item(&mut self) -> Option<Use> {
        let start = self.bump().span;
        let target = if self.at(Token::Str) {
            UseTarget::File(self.string("a file path")?)
        } else {
            let mut parts = vec![self.ident("a module name such as `std.zh.common` or a file path in quotes")?];
            while self.eat(Token::Dot).is_some() {
                parts.push(self.ident("a module name after `.`")?);
            }
            UseTarget::Module(parts)
        };
        Some(Use { target, span: start.to(self.prev_span()) })
    }

    /// `action NAME ["title"] { input { … } output { … } }` (§13).
    fn action_item(&mut self) -> Option<Action> {
        let start = self.bump().span;
        let name = self.ident("the action's name")?;
        let title = if self.at(Token::Str) { self.string("the action's title") } else { None };
        let mut lists = Vec::new();
        let open = self.open_brace("the action")?;
        loop {
            self.skip_separators();
            if matches!(self.peek(), Token::RBrace | Token::Eof) {
                break;
            }
            let word = self.peek_span();
            let output = if self.eat_word("input").is_some() {
                false
            } else if self.eat_word("output").is_some() {
                true
            } else {
                self.unexpected("`input { … }` or `output { … }`");
                self.recover_statement();
                continue;
            };
            let fields = self.fields();
            lists.push(FieldList { output, fields, span: word.to(self.prev_span()) });
            self.end_of_statement();
        }
        self.close_brace(open);
        Some(Action { name, title, lists, span: start.to(self.prev_span()) })
    }

    /// `{ NAME: TYPE, … }` of an action.
    fn fields(&mut self) -> Vec<Field> {
        let mut out = Vec::new();
        let Some(open) = self.open_brace("the fields") else {
            self.recover_statement();
            return out;
        };
        loop {
            self.skip_list_separators();
            if matches!(self.peek(), Token::RBrace | Token::Eof) {
                break;
            }
            let Some(name) = self.ident("a field name") else {
                self.recover_statement();
                continue;
            };
            if self.eat(Token::Colon).is_none() {
                self.unexpected(&format!("`:` and a type after `{}`", name.name));
                self.recover_statement();
                continue;
            }
            let Some(ty) = self.type_ref() else {
                self.recover_statement();
                continue;
            };
            out.push(Field { span: name.span.to(ty.span), name, ty });
            if !matches!(self.tokens[self.pos].token, Token::Newline | Token::Semi | Token::Comma | Token::RBrace) {
                self.unexpected("`,` or a new line between fields");
                self.recover_statement();
            }
        }
        self.close_brace(open);
        out
    }

    /// Opens a `{` block; reports and returns None when it is missing.
    fn open_brace(&mut self, what: &str) -> Option<Span> {
        match self.eat(Token::LBrace) {
            Some(span) => Some(span),
            None => {
                self.unexpected(&format!("`{{` to open {what}"));
                None
            }
        }
    }

    /// At the `}` closing a block opened at `open`: consumes it, or reports the open brace,
    /// with the place where the `}` is probably missing. A `}` indented less than the line
    /// that opened the block closes an outer block: it is left for that one.
    fn close_brace(&mut self, open: Span) -> Span {
        if self.at(Token::RBrace) && !self.dedented(open, &[]) {
            return self.bump().span;
        }
        let last = self.prev_span();
        let mut diag = Diagnostic::new("E001", self.file, open, "this `{` is never closed")
            .label("opened here")
            .with_help("add the missing `}`");
        if last.start > open.start {
            diag = diag.with_secondary(self.file, last, "the `}` is probably missing after this line");
        }
        self.error(diag);
        self.ended_by_indent = !self.at(Token::Eof);
        last
    }

    /// The indentation (in bytes of spaces and tabs) of the line holding `offset`, and whether
    /// `offset` is the first thing on it.
    fn indentation(&self, offset: u32) -> (usize, bool) {
        let starts = self.line_starts.get_or_init(|| {
            let mut starts = vec![0];
            starts.extend(self.src.match_indices('\n').map(|(i, _)| i as u32 + 1));
            starts
        });
        let line = starts.partition_point(|&s| s <= offset) - 1;
        let start = starts[line] as usize;
        let rest = &self.src.as_bytes()[start..(offset as usize).min(self.src.len())];
        let indent = rest.iter().take_while(|b| matches!(b, b' ' | b'\t')).count();
        (indent, indent == rest.len())
    }

    /// Whether the current token ends the block opened at `open` by its indentation, so that
    /// the block's own `}` is missing: a `}` first on its line and indented less than the line
    /// of `open`, or one of `words` (which cannot stand in this block) first on its line and
    /// indented no more than that line. Never in a file whose braces balance.
    fn dedented(&mut self, open: Span, words: &[&str]) -> bool {
        if !self.brace_missing {
            return false;
        }
        let t = {
            self.skip_insignificant();
            self.tokens[self.pos]
        };
        let is_word = t.token == Token::Ident && words.contains(&self.text(t.span));
        if t.token != Token::RBrace && !is_word {
            return false;
        }
        let (indent, first) = self.indentation(t.span.start);
        if !first {
            return false;
        }
        let (open_indent, _) = self.indentation(open.start);
        if is_word { indent <= open_indent } else { indent < open_indent }
    }

    fn script(&mut self, allows: Vec<Allow>) -> Script {
        let start = self.bump().span;
        let name = self.ident("the script's name").unwrap_or_else(|| self.missing_ident());
        let title = if self.at(Token::Str) { self.string("a title") } else { None };
        let mut members = Vec::new();
        if let Some(open) = self.open_brace("the script") {
            loop {
                self.skip_separators();
                let member_allows = self.allows();
                if matches!(self.peek(), Token::RBrace | Token::Eof) || self.dedented(open, &["script", "test", "use"])
                {
                    break;
                }
                if let Some(member) = self.member(member_allows) {
                    members.push(member);
                }
                self.end_of_statement();
            }
            self.close_brace(open);
        } else {
            self.recover_item();
        }
        let script = Script { allows, name, title, members, span: start.to(self.prev_span()) };
        self.check_table_sizes(&script);
        script
    }

    /// The bytecode numbers a script's steps, asks, values, outcomes and each ask's branches
    /// with 16 bits (`bytecode.rs`): a script with more of one is E009, never lowered.
    fn check_table_sizes(&mut self, script: &Script) {
        let mut counts = TableSizes::default();
        for member in &script.members {
            match member {
                Member::Section(section) => {
                    counts.steps += 1 + section.steps.len();
                    counts.widest = counts.widest.max(section.handlers.len());
                    section.handlers.iter().for_each(|b| counts.block(&b.body));
                    section.body.iter().for_each(|s| counts.stmt(s));
                    section.steps.iter().for_each(|s| counts.block(&s.body));
                }
                Member::Inputs(inputs) => counts.values += inputs.items.len(),
                Member::Let(_) => counts.values += 1,
                Member::Outcomes(outcomes) => counts.outcomes += outcomes.items.len(),
                _ => {}
            }
        }
        let limit = usize::from(u16::MAX);
        let over = [
            ("steps", counts.steps),
            ("asks", counts.asks),
            ("inputs and values", counts.values),
            ("outcomes", counts.outcomes),
            ("branches in one ask or section", counts.widest),
        ]
        .into_iter()
        .find(|(_, n)| *n > limit);
        if let Some((what, n)) = over {
            self.error(
                Diagnostic::new(
                    "E009",
                    self.file,
                    script.name.span,
                    format!("this script has {n} {what}, more than {limit}"),
                )
                .label("too large to compile")
                .with_help("split it into several scripts"),
            );
        }
    }

    fn member(&mut self, allows: Vec<Allow>) -> Option<Member> {
        if !self.at(Token::Ident) {
            self.unexpected("a setting, `input`, `let`, `outcomes`, `intent` or a section");
            self.recover_statement();
            return None;
        }
        let span = self.peek_span();
        let word = self.text(span);
        if !allows.is_empty() && SectionKind::from_name(word).is_none() && word != "intent" {
            self.misplaced_allows(&allows, &format!("`{word}`"));
        }
        if let Some(kind) = SectionKind::from_name(word) {
            return Some(Member::Section(self.section(kind, allows)));
        }
        match word {
            "input" => Some(Member::Inputs(self.inputs())),
            "let" => self.let_item().map(Member::Let),
            "outcomes" => Some(Member::Outcomes(self.outcomes())),
            "intent" => Some(Member::Intent(self.intent(allows))),
            "step" | "say" | "ask" | "goto" | "hangup" | "on" => {
                let span = self.peek_span();
                self.error(
                    Diagnostic::new("E007", self.file, span, format!("`{word}` must stand inside a section"))
                        .label("outside any section")
                        .with_help("put it inside `opening { … }`, `core { … }`, `closing { … }` or `objection { … }`"),
                );
                self.bump();
                self.recover_statement();
                None
            }
            _ => {
                let name_span = self.bump().span;
                let name = Ident { name: word.to_string(), span: name_span };
                if self.at(Token::LBrace) {
                    let mut diag = Diagnostic::new("E001", self.file, name_span, format!("`{word}` is not a section"))
                        .label("unknown section");
                    if let Some(s) = crate::suggest::closest(word, ["opening", "core", "objection", "closing"]) {
                        diag = diag.with_help(format!("did you mean `{s}`?"));
                    } else {
                        diag = diag.with_help("the sections are `opening`, `core`, `objection` and `closing`");
                    }
                    self.error(diag);
                    self.skip_balanced();
                    return None;
                }
                let value = match self.peek() {
                    Token::Ident => {
                        let s = self.bump().span;
                        SettingValue::Word(Ident { name: self.text(s).to_string(), span: s })
                    }
                    Token::Str => SettingValue::Str(self.string("a value")?),
                    // `confidence` (§14) takes a number; every other number is a duration.
                    Token::Decimal | Token::Int if word == "confidence" || self.at(Token::Decimal) => {
                        let s = self.bump().span;
                        SettingValue::Number { value: self.text(s).parse().unwrap_or(f64::NAN), span: s }
                    }
                    Token::Duration | Token::Int => match self.duration("a duration") {
                        Some(d) => SettingValue::Duration(d),
                        None => SettingValue::Missing,
                    },
                    _ => {
                        self.unexpected(&format!("a value for `{word}`"));
                        SettingValue::Missing
                    }
                };
                Some(Member::Setting(Setting { name, value, span: name_span.to(self.prev_span()) }))
            }
        }
    }

    fn inputs(&mut self) -> Inputs {
        let start = self.bump().span;
        let mut items = Vec::new();
        if let Some(open) = self.open_brace("the inputs") {
            loop {
                self.skip_list_separators();
                if matches!(self.peek(), Token::RBrace | Token::Eof) {
                    break;
                }
                if let Some(input) = self.input() {
                    items.push(input);
                }
                if !matches!(self.tokens[self.pos].token, Token::Newline | Token::Semi | Token::Comma | Token::RBrace) {
                    self.unexpected("`,` or a new line between inputs");
                    self.recover_statement();
                }
            }
            self.close_brace(open);
        }
        Inputs { items, span: start.to(self.prev_span()) }
    }

    fn input(&mut self) -> Option<Input> {
        let name = match self.ident("an input name") {
            Some(n) => n,
            None => {
                self.recover_statement();
                return None;
            }
        };
        if self.eat(Token::Colon).is_none() {
            self.unexpected(&format!("`:` and a type after `{}`", name.name));
            self.recover_statement();
            return None;
        }
        let ty = self.type_ref()?;
        let (sensitive, bounds) = self.declaration_options();
        let default = if self.eat(Token::Eq).is_some() { Some(self.expr()) } else { None };
        Some(Input { span: name.span.to(self.prev_span()), name, ty, sensitive, bounds, default })
    }

    /// `sensitive`, `min X` and `max Y` after a declared type, in any order (§11).
    fn declaration_options(&mut self) -> (bool, Bounds) {
        let mut sensitive = false;
        let mut bounds = Bounds::default();
        loop {
            if self.eat_word("sensitive").is_some() {
                sensitive = true;
            } else if bounds.min.is_none() && self.eat_word("min").is_some() {
                // Below comparisons, so that a bound is a number and `=` still ends it.
                bounds.min = Some(self.expr_bp(4));
            } else if bounds.max.is_none() && self.eat_word("max").is_some() {
                bounds.max = Some(self.expr_bp(4));
            } else {
                return (sensitive, bounds);
            }
        }
    }

    fn type_ref(&mut self) -> Option<TypeRef> {
        let ident = self.ident("a type (`text`, `int`, `money`, `bool`, `date` or `time`)")?;
        let ty = Type::from_name(&ident.name);
        if ty.is_none() {
            let mut diag = Diagnostic::new("E001", self.file, ident.span, format!("`{}` is not a type", ident.name))
                .label("unknown type");
            diag = match crate::suggest::closest(&ident.name, ["text", "int", "money", "bool", "date", "time"]) {
                Some(s) => diag.with_help(format!("did you mean `{s}`?")),
                None => diag.with_help("the types are `text`, `int`, `money`, `bool`, `date` and `time`"),
            };
            self.error(diag);
        }
        Some(TypeRef { ty, span: ident.span })
    }

    fn let_item(&mut self) -> Option<Let> {
        let start = self.bump().span;
        let name = self.ident("a name after `let`")?;
        if self.eat(Token::Colon).is_none() {
            self.unexpected("`:` and a type (`let name: text = \"\"`)");
            self.recover_statement();
            return None;
        }
        let ty = self.type_ref()?;
        let (sensitive, bounds) = self.declaration_options();
        if self.eat(Token::Eq).is_none() {
            self.unexpected("`=` and a starting value");
            self.recover_statement();
            return None;
        }
        let value = self.expr();
        Some(Let { name, ty, sensitive, bounds, value, span: start.to(self.prev_span()) })
    }

    fn outcomes(&mut self) -> Outcomes {
        let start = self.bump().span;
        let mut items = Vec::new();
        if let Some(open) = self.open_brace("the outcomes") {
            loop {
                self.skip_list_separators();
                if matches!(self.peek(), Token::RBrace | Token::Eof) {
                    break;
                }
                let Some(name) = self.ident("an outcome name") else {
                    self.recover_statement();
                    continue;
                };
                let mut title = if self.at(Token::Str) { self.string("a title") } else { None };
                let goal = self.eat_word("goal").is_some();
                if goal && title.is_none() && self.at(Token::Str) {
                    // `done goal "已办结"`: the title is taken, and the author told where it goes.
                    let late = self.string("a title");
                    if let Some(late) = &late {
                        self.error(
                            Diagnostic::new("E001", self.file, late.span, "an outcome's title comes before `goal`")
                                .label("the title")
                                .with_help(format!("write `{} {} goal`", name.name, self.text(late.span))),
                        );
                    }
                    title = late;
                }
                items.push(OutcomeDef { span: name.span.to(self.prev_span()), name, title, goal });
                if !matches!(self.tokens[self.pos].token, Token::Newline | Token::Semi | Token::Comma | Token::RBrace) {
                    self.unexpected("a title, `goal`, `,` or a new line after an outcome");
                    self.recover_statement();
                }
            }
            self.close_brace(open);
        }
        Outcomes { items, span: start.to(self.prev_span()) }
    }

    fn intent(&mut self, allows: Vec<Allow>) -> Intent {
        let start = self.bump().span;
        let name = self.ident("the intent's name").unwrap_or_else(|| self.missing_ident());
        let label = if self.at(Token::Str) { self.string("a label") } else { None };
        let mut clauses = Vec::new();
        if let Some(open) = self.open_brace("the intent") {
            loop {
                self.skip_separators();
                if matches!(self.peek(), Token::RBrace | Token::Eof) {
                    break;
                }
                let kind = if self.at_word("phrases") {
                    ClauseKind::Phrases
                } else if self.at_word("dtmf") {
                    ClauseKind::Dtmf
                } else if self.at_word("regex") {
                    ClauseKind::Regex
                } else if self.at_word("examples") {
                    ClauseKind::Examples
                } else {
                    self.unexpected("`phrases`, `examples`, `dtmf` or `regex`");
                    self.recover_statement();
                    continue;
                };
                let kw = self.bump().span;
                let mut values = Vec::new();
                loop {
                    match self.string("a string in quotes") {
                        Some(s) => values.push(s),
                        None => {
                            self.recover_statement();
                            break;
                        }
                    }
                    // Items are separated by `,`, `;` or new lines (§9.6): the list goes on
                    // while another string follows.
                    let save = self.pos;
                    self.skip_list_separators();
                    if !self.at(Token::Str) {
                        self.pos = save;
                        break;
                    }
                }
                clauses.push(IntentClause { kind, values, span: kw.to(self.prev_span()) });
                self.end_of_statement();
            }
            self.close_brace(open);
        }
        Intent { allows, name, label, clauses, span: start.to(self.prev_span()) }
    }

    /// `flow NAME ["title"] (PARAMS) { lets; statements or steps }` (§12).
    fn flow(&mut self, allows: Vec<Allow>) -> Flow {
        let start = self.bump().span;
        let name = self.ident("the flow's name").unwrap_or_else(|| self.missing_ident());
        let title = if self.at(Token::Str) { self.string("a title") } else { None };
        let mut flow = Flow {
            allows,
            name,
            title,
            params: Vec::new(),
            lets: Vec::new(),
            body: Vec::new(),
            steps: Vec::new(),
            span: start,
        };
        if self.eat(Token::LParen).is_some() {
            self.nl_insensitive += 1;
            loop {
                if self.eat(Token::RParen).is_some() {
                    break;
                }
                let Some(name) = self.ident("a parameter's name, or `)`") else {
                    self.skip_to_paren();
                    break;
                };
                if self.eat(Token::Colon).is_none() {
                    self.unexpected("`:` and the parameter's type (`reason: text`)");
                    self.skip_to_paren();
                    break;
                }
                let Some(ty) = self.type_ref() else {
                    self.skip_to_paren();
                    break;
                };
                let sensitive = self.eat_word("sensitive").is_some();
                flow.params.push(Param { span: name.span.to(self.prev_span()), name, ty, sensitive });
                if self.eat(Token::Comma).is_none() && !self.at(Token::RParen) {
                    self.unexpected("`,` or `)` after a parameter");
                    self.skip_to_paren();
                    break;
                }
            }
            self.nl_insensitive -= 1;
        } else {
            self.unexpected("`(` and the flow's parameters (`()` when it has none)");
        }
        if let Some(open) = self.open_brace("the flow") {
            loop {
                self.skip_separators();
                let allows = self.allows();
                if matches!(self.peek(), Token::RBrace | Token::Eof) || self.dedented(open, &["script", "flow", "test"])
                {
                    break;
                }
                if self.at_word("step") {
                    flow.steps.push(self.step(allows));
                } else if self.at_word("let") {
                    self.misplaced_allows(&allows, "`let`");
                    if let Some(l) = self.let_item() {
                        flow.lets.push(l);
                    }
                } else {
                    flow.body.push(self.stmt(allows));
                }
                self.end_of_statement();
            }
            self.close_brace(open);
        } else {
            self.recover_item();
        }
        flow.span = start.to(self.prev_span());
        flow
    }

    /// Skips to after the `)` closing a parameter or argument list (or to the end of the line).
    fn skip_to_paren(&mut self) {
        loop {
            match self.tokens[self.pos].token {
                Token::RParen => {
                    self.pos += 1;
                    return;
                }
                Token::LBrace | Token::RBrace | Token::Eof => return,
                _ => self.pos += 1,
            }
        }
    }

    /// `handlers NAME { on … }` (§12).
    fn handler_set(&mut self) -> HandlerSet {
        let start = self.bump().span;
        let name = self.ident("the handler set's name").unwrap_or_else(|| self.missing_ident());
        let mut handlers = Vec::new();
        if let Some(open) = self.open_brace("the handler set") {
            loop {
                self.skip_separators();
                let allows = self.allows();
                if matches!(self.peek(), Token::RBrace | Token::Eof) || self.dedented(open, &["script", "flow", "test"])
                {
                    break;
                }
                if self.at_word("on") {
                    handlers.push(self.branch(allows));
                } else {
                    self.unexpected("a handler `on PATTERN => …`");
                    self.recover_statement();
                    continue;
                }
                self.end_of_statement();
            }
            self.close_brace(open);
        } else {
            self.recover_item();
        }
        HandlerSet { name, handlers, span: start.to(self.prev_span()) }
    }

    fn section(&mut self, kind: SectionKind, allows: Vec<Allow>) -> Section {
        let name_span = self.bump().span;
        let mut section = Section {
            allows,
            kind,
            name_span,
            body: Vec::new(),
            steps: Vec::new(),
            handlers: Vec::new(),
            includes: Vec::new(),
            span: name_span,
        };
        if let Some(open) = self.open_brace(&format!("`{}`", kind.name())) {
            loop {
                self.skip_separators();
                let allows = self.allows();
                if matches!(self.peek(), Token::RBrace | Token::Eof) || self.dedented(open, SECTION_WORDS) {
                    break;
                }
                if self.at_word("step") {
                    section.steps.push(self.step(allows));
                } else if self.at_word("on") {
                    section.handlers.push(self.branch(allows));
                } else if kind == SectionKind::Objection && self.at_word("include") {
                    let start = self.bump().span;
                    if let Some(name) = self.ident("the name of a handler set (`include common_faq`)") {
                        let at = section.handlers.len();
                        section.includes.push(Include { name, at, span: start.to(self.prev_span()) });
                    } else {
                        self.recover_statement();
                    }
                } else {
                    section.body.push(self.stmt(allows));
                }
                self.end_of_statement();
            }
            self.close_brace(open);
        } else {
            self.recover_statement();
        }
        section.span = name_span.to(self.prev_span());
        section
    }

    fn step(&mut self, allows: Vec<Allow>) -> Step {
        let start = self.bump().span;
        let name = self.ident("the step's name").unwrap_or_else(|| self.missing_ident());
        let body = self.block("the step");
        Step { allows, name, body, span: start.to(self.prev_span()) }
    }

    /// `{ statements }`; when the brace is missing, an empty block (the error is reported).
    fn block(&mut self, what: &str) -> Block {
        let Some(open) = self.open_brace(what) else {
            self.recover_statement();
            let at = self.prev_span();
            return Block { stmts: Vec::new(), braced: true, span: at };
        };
        if !self.enter() {
            self.pos -= 1;
            self.skip_balanced();
            return Block { stmts: Vec::new(), braced: true, span: open.to(self.prev_span()) };
        }
        let saved = self.nl_insensitive;
        self.nl_insensitive = 0;
        // The statements gather on the parser's stack (a nested block takes its own off before
        // this one goes on), then move into a list of their number: the tree of a large script
        // is most of the check's memory, and a list grown for each block had to be shrunk to
        // fit again (a reallocation and a copy per block).
        let base = self.stmts.len();
        loop {
            self.skip_separators();
            let allows = self.allows();
            if matches!(self.peek(), Token::RBrace | Token::Eof) || self.dedented(open, BLOCK_END_WORDS) {
                break;
            }
            let stmt = self.stmt(allows);
            self.stmts.push(stmt);
            self.end_of_statement();
        }
        let close = self.close_brace(open);
        self.nl_insensitive = saved;
        self.leave();
        let stmts = self.stmts.drain(base..).collect();
        Block { stmts, braced: true, span: open.to(close) }
    }

    // ---- statements ---------------------------------------------------------------------

    fn stmt(&mut self, allows: Vec<Allow>) -> Stmt {
        let start = self.peek_span();
        let kind = self.stmt_kind();
        let span = if matches!(kind, StmtKind::Error) { start } else { start.to(self.prev_span()) };
        Stmt { allows, kind, span }
    }

    fn stmt_kind(&mut self) -> StmtKind {
        if !self.at(Token::Ident) {
            self.unexpected(&format!("a statement ({STATEMENT_WORDS})"));
            self.recover_statement();
            return StmtKind::Error;
        }
        // The statements that nest are parsed from this small frame, not from the large one of
        // `other_stmt_kind`: nesting puts a frame of each on the stack per level, and a debug
        // build must take MAX_DEPTH levels on a 2 MiB thread.
        let nested = match self.peek_text() {
            "ask" => Some(self.ask().map(StmtKind::Ask)),
            "if" => Some(self.if_stmt().map(|i| StmtKind::If(Box::new(i)))),
            "do" => Some(self.do_stmt().map(StmtKind::Do)),
            _ => None,
        };
        match nested {
            Some(Some(kind)) => kind,
            Some(None) => {
                self.recover_statement();
                StmtKind::Error
            }
            None => self.other_stmt_kind(),
        }
    }

    /// Every statement but `ask` and `if`, at a word.
    fn other_stmt_kind(&mut self) -> StmtKind {
        let word = self.peek_text();
        let result = match word {
            "say" => {
                self.bump();
                self.prompt("the prompt in quotes").map(|prompt| {
                    let bargein_off = self.bargein_off();
                    StmtKind::Say { prompt, bargein_off }
                })
            }
            "retry" => {
                self.bump();
                if self.at(Token::Str) || self.at(Token::UnterminatedStr) {
                    self.prompt("a reprompt").map(|p| StmtKind::Retry(Some(p)))
                } else {
                    Some(StmtKind::Retry(None))
                }
            }
            "resume" => {
                self.bump();
                Some(StmtKind::Resume)
            }
            "verify" => {
                self.bump();
                Some(StmtKind::Verify)
            }
            "optout" => {
                self.bump();
                Some(StmtKind::Optout)
            }
            "goto" => {
                self.bump();
                self.target().map(StmtKind::Goto)
            }
            "tag" => {
                self.bump();
                self.string("a tag label in quotes").map(StmtKind::Tag)
            }
            "callback" => {
                self.bump();
                if self.eat_word("in").is_some() {
                    self.duration("a duration such as `2h`").map(StmtKind::Callback)
                } else if self.eat_word("at").is_some() {
                    Some(StmtKind::CallbackAt { date: None, time: Some(Box::new(self.expr())) })
                } else if self.eat_word("on").is_some() {
                    let date = Box::new(self.expr_bp(4));
                    let time = if self.eat_word("at").is_some() { Some(Box::new(self.expr())) } else { None };
                    Some(StmtKind::CallbackAt { date: Some(date), time })
                } else {
                    self.unexpected(
                        "`in`, `at` or `on` (`callback in 2h`, `callback at 15:30`, `callback on 2026-12-01`)",
                    );
                    None
                }
            }
            "call" => {
                self.bump();
                self.ident("the name of the flow to call").and_then(|flow| {
                    if self.eat(Token::LParen).is_none() {
                        self.unexpected("`(` and the flow's arguments (`call book()`)");
                        return None;
                    }
                    self.nl_insensitive += 1;
                    let mut args = Vec::new();
                    let mut ok = true;
                    loop {
                        if self.eat(Token::RParen).is_some() {
                            break;
                        }
                        args.push(self.expr());
                        if self.eat(Token::Comma).is_none() && !self.at(Token::RParen) {
                            self.unexpected("`,` or `)` after an argument");
                            self.skip_to_paren();
                            ok = false;
                            break;
                        }
                    }
                    self.nl_insensitive -= 1;
                    ok.then_some(StmtKind::Call { flow, args })
                })
            }
            "return" => {
                self.bump();
                Some(StmtKind::Return)
            }
            "listen" => {
                self.bump();
                Some(StmtKind::Listen)
            }
            "transfer" => {
                self.bump();
                self.string("the queue name in quotes").and_then(|queue| {
                    let outcome = if self.eat_word("outcome").is_some() {
                        self.ident("an outcome name after `outcome`")
                    } else {
                        None
                    };
                    let with = if self.eat_word("with").is_some() { self.test_inputs()? } else { Vec::new() };
                    Some(StmtKind::Transfer { queue: Box::new(queue), outcome, with })
                })
            }
            "sms" => {
                self.bump();
                self.prompt("the message in quotes").map(StmtKind::Sms)
            }
            "hangup" => {
                self.bump();
                self.ident("the outcome the call ends with (`hangup refused`)").map(|o| StmtKind::Hangup(Some(o)))
            }
            "set" => {
                self.bump();
                self.ident("the name of a value to set").and_then(|name| {
                    if self.eat(Token::Eq).is_none() {
                        self.unexpected("`=` and the new value");
                        return None;
                    }
                    let value = Box::new(self.expr());
                    Some(StmtKind::Set { name, value })
                })
            }
            "let" | "input" | "outcomes" | "intent" | "step" | "opening" | "core" | "closing" | "objection" => {
                let span = self.bump().span;
                let help = match word {
                    "step" => "steps stand directly inside a section, not inside another step",
                    "opening" | "core" | "closing" | "objection" => "sections stand directly inside `script { … }`",
                    _ => "write it at the top of the script, outside the sections; change a value with `set`",
                };
                self.error(
                    Diagnostic::new("E007", self.file, span, format!("`{word}` cannot stand here"))
                        .label("not allowed inside a step")
                        .with_help(help),
                );
                if self.at(Token::Ident) {
                    self.bump();
                }
                if self.at(Token::LBrace) {
                    self.skip_balanced();
                }
                self.recover_statement();
                return StmtKind::Error;
            }
            "on" => {
                let span = self.peek_span();
                self.error(
                    Diagnostic::new(
                        "E007",
                        self.file,
                        span,
                        "a branch `on …` must stand inside an `ask { … }` or `objection`",
                    )
                    .label("not inside an ask")
                    .with_help("put the branch inside the braces after `ask \"…\"`"),
                );
                self.bump();
                self.recover_statement();
                return StmtKind::Error;
            }
            _ => {
                let span = self.peek_span();
                let mut diag = Diagnostic::new("E001", self.file, span, format!("`{word}` is not a statement"))
                    .label("expected a statement");
                let words = [
                    "say", "ask", "goto", "if", "set", "verify", "tag", "callback", "optout", "transfer", "hangup",
                    "retry", "resume", "call", "return", "listen", "do", "sms",
                ];
                diag = match crate::suggest::closest(word, words) {
                    Some(s) => diag.with_help(format!("did you mean `{s}`?")),
                    None => diag.with_help(format!("a statement starts with {STATEMENT_WORDS}")),
                };
                self.last_error_at = Some(self.pos);
                self.error(diag);
                None
            }
        };
        match result {
            Some(kind) => kind,
            None => {
                self.recover_statement();
                StmtKind::Error
            }
        }
    }

    fn bargein_off(&mut self) -> bool {
        if self.at_word("bargein") {
            self.bump();
            if self.eat_word("off").is_none() {
                self.unexpected("`off` after `bargein`");
            }
            true
        } else {
            false
        }
    }

    fn target(&mut self) -> Option<Target> {
        let first = self.ident("a section or step to go to")?;
        let second = if self.eat(Token::Dot).is_some() { Some(self.ident("a step name after `.`")?) } else { None };
        Some(Target { span: first.span.to(self.prev_span()), first, second })
    }

    /// On the heap from the start: this frame is on the stack once per nesting level.
    fn ask(&mut self) -> Option<Box<Ask>> {
        let start = self.bump().span;
        let prompt = self.prompt("the question in quotes")?;
        let mut ask = Box::new(Ask {
            prompt,
            capture: None,
            timeout: None,
            retries: None,
            bargein_off: false,
            branches: Vec::new(),
            head: start,
        });
        loop {
            if ask.capture.is_none() && self.at_word("capture") {
                ask.capture = Some(self.capture()?);
            } else if self.at_word("timeout") {
                self.bump();
                ask.timeout = Some(self.duration("a duration such as `8s`")?);
            } else if self.at_word("retries") {
                self.bump();
                ask.retries = Some(self.int("the number of retries")?);
            } else if self.at_word("bargein") {
                ask.bargein_off = self.bargein_off();
            } else {
                break;
            }
        }
        ask.head = start.to(self.prev_span());
        let Some(open) = self.eat(Token::LBrace) else {
            self.unexpected("`{` and the ask's branches (`on yes => …`)");
            return None;
        };
        ask.branches = self.branch_block(open, "a branch `on PATTERN => …`");
        Some(ask)
    }

    /// After the `{` at `open` of an ask or a `do`: its branches `on … => …` up to the `}`
    /// (`expected` names what else was found). Nested too deep, the block is skipped (E008).
    fn branch_block(&mut self, open: Span, expected: &str) -> Vec<Branch> {
        let mut branches = Vec::new();
        if !self.enter() {
            self.pos -= 1;
            self.skip_balanced();
            return branches;
        }
        let saved = self.nl_insensitive;
        self.nl_insensitive = 0;
        loop {
            self.skip_separators();
            let allows = self.allows();
            if matches!(self.peek(), Token::RBrace | Token::Eof) || self.dedented(open, ASK_END_WORDS) {
                break;
            }
            if self.at_word("on") {
                branches.push(self.branch(allows));
            } else {
                self.unexpected(expected);
                self.recover_statement();
                continue;
            }
            self.end_of_statement();
        }
        self.close_brace(open);
        self.nl_insensitive = saved;
        self.leave();
        branches.shrink_to_fit();
        branches
    }

    /// `do NAME(ARG = EXPR, …) [timeout D] { on ok => …; on failed => … }` (§13). On the heap
    /// from the start, like an ask; never inlined into `stmt_kind`, whose frame is on the stack
    /// once per nesting level.
    #[inline(never)]
    fn do_stmt(&mut self) -> Option<Box<Do>> {
        let start = self.bump().span;
        let action = self.ident("the name of an action")?;
        let mut args = Vec::new();
        if self.eat(Token::LParen).is_none() {
            self.unexpected("`(` and the action's inputs (`do lookup(account = tail)`)");
            return None;
        }
        self.nl_insensitive += 1;
        loop {
            if self.eat(Token::RParen).is_some() {
                break;
            }
            let Some(name) = self.ident("an input of the action") else {
                self.nl_insensitive -= 1;
                return None;
            };
            if self.eat(Token::Eq).is_none() {
                self.unexpected("`=` and the value sent");
                self.nl_insensitive -= 1;
                return None;
            }
            args.push((name, self.expr()));
            if self.eat(Token::Comma).is_none() && !self.at(Token::RParen) {
                self.unexpected("`,` or `)`");
                self.nl_insensitive -= 1;
                return None;
            }
        }
        self.nl_insensitive -= 1;
        let timeout =
            if self.eat_word("timeout").is_some() { Some(self.duration("a duration such as `2s`")?) } else { None };
        let mut d = Box::new(Do { action, args, timeout, branches: Vec::new(), head: start.to(self.prev_span()) });
        let Some(open) = self.eat(Token::LBrace) else {
            self.unexpected("`{` and the branches `on ok => …` and `on failed => …`");
            return None;
        };
        d.branches = self.branch_block(open, "a branch `on ok => …` or `on failed => …`");
        Some(d)
    }

    /// `capture NAME [digits N | digits M..N]`.
    fn capture(&mut self) -> Option<Capture> {
        let start = self.bump().span;
        let name = self.ident("the name of a `let` to capture into")?;
        let digits = if self.at_word("digits") {
            let word = self.bump().span;
            let min = self.int("how many digits (`digits 4` or `digits 4..6`)")?;
            let max = if self.at(Token::Dot) {
                self.bump();
                if self.eat(Token::Dot).is_none() {
                    self.unexpected("`..` and the most digits (`digits 4..6`)");
                    return None;
                }
                Some(self.int("the most digits after `..`")?)
            } else {
                None
            };
            Some(DigitsLength { min, max, span: word.to(self.prev_span()) })
        } else {
            None
        };
        Some(Capture { name, digits, span: start.to(self.prev_span()) })
    }

    fn branch(&mut self, allows: Vec<Allow>) -> Branch {
        let start = self.bump().span;
        // Most branches name one pattern: room for it, so the list need not be shrunk after.
        let mut patterns = Vec::with_capacity(1);
        while let Some(p) = self.pattern() {
            patterns.push(p);
            if self.eat(Token::Comma).is_none() {
                break;
            }
            self.skip_newlines();
        }
        patterns.shrink_to_fit();
        let mut limit = None;
        let mut guard = None;
        loop {
            if self.at_word("limit") && limit.is_none() {
                self.bump();
                limit = self.int("the handler's limit (a number)");
            } else if self.at_word("if") && guard.is_none() {
                self.bump();
                guard = Some(Box::new(self.expr()));
            } else {
                break;
            }
        }
        let head_end = self.peek_span();
        let head;
        let body = if self.eat(Token::FatArrow).is_some() {
            head = start.to(head_end);
            self.skip_newlines();
            if self.at(Token::LBrace) {
                self.block("the branch")
            } else {
                let allows = self.allows();
                let stmt = self.stmt(allows);
                Block { span: stmt.span, stmts: vec![stmt], braced: false }
            }
        } else {
            head = start.to(self.prev_span());
            if !patterns.is_empty() {
                self.unexpected("`=>` and what to do");
            }
            self.recover_statement();
            Block { stmts: Vec::new(), braced: false, span: self.prev_span() }
        };
        Branch { allows, patterns, limit, guard, span: start.to(self.prev_span()), body, head }
    }

    fn pattern(&mut self) -> Option<Pattern> {
        let span = self.peek_span();
        if self.at(Token::Ident) {
            let word = self.text(span);
            let kind = match word {
                "silence" => PatternKind::Silence,
                "unknown" => PatternKind::Unknown,
                "_" => PatternKind::Any,
                "exhausted" => PatternKind::Exhausted,
                "captured" => PatternKind::Captured,
                "emotion" => {
                    self.bump();
                    let e = self.ident("an emotion (`angry`, `upset`, `neutral` or `happy`)")?;
                    return Some(Pattern { span: span.to(e.span), kind: PatternKind::Emotion(e) });
                }
                "dtmf" => {
                    self.bump();
                    let s = self.string("the key in quotes, e.g. `dtmf \"1\"`")?;
                    return Some(Pattern { span: span.to(s.span), kind: PatternKind::Dtmf(s) });
                }
                _ => PatternKind::Intent(Ident { name: word.to_string(), span }),
            };
            self.bump();
            Some(Pattern { kind, span })
        } else {
            self.unexpected(
                "a pattern (an intent, `dtmf \"1\"`, `emotion angry`, `captured`, `silence`, `unknown`, `_` or `exhausted`)",
            );
            None
        }
    }

    fn if_stmt(&mut self) -> Option<If> {
        if !self.enter() {
            self.skip_if_chain();
            return None;
        }
        let result = self.if_chain();
        self.leave();
        result
    }

    fn if_chain(&mut self) -> Option<If> {
        self.bump();
        let cond = self.expr();
        let then = self.block("the `if` body");
        let save = self.pos;
        self.skip_newlines();
        let otherwise = if self.at_word("else") {
            self.bump();
            if self.at_word("if") {
                let start = self.peek_span();
                let inner = self.if_stmt()?;
                Some(Else::If(Box::new(Stmt {
                    allows: Vec::new(),
                    kind: StmtKind::If(Box::new(inner)),
                    span: start.to(self.prev_span()),
                })))
            } else {
                Some(Else::Block(self.block("the `else` body")))
            }
        } else {
            self.pos = save;
            None
        };
        Some(If { cond, then, otherwise })
    }

    // ---- prompts ------------------------------------------------------------------------

    fn prompt(&mut self, what: &str) -> Option<Prompt> {
        let span = self.string_span(what)?;
        // Only the escapes' errors: the segments are read from the raw text. Most prompts have
        // no `\` at all, and then no escape to report: one byte scan instead of decoding them.
        if self.text(span).contains('\\') {
            self.escapes(span, |_, _| {});
        }
        Some(self.split_prompt(span))
    }

    /// Splits a string literal into text and `{{ expr | filter }}` segments. Works on the
    /// raw source so that `\{` stays literal and spans of expressions point into the file.
    fn split_prompt(&mut self, span: Span) -> Prompt {
        let raw = self.text(span);
        let inner_start = span.start as usize + 1;
        let inner = &raw[1..raw.len() - 1];
        // At most a text before each interpolation and one after the last: sized once, so
        // that neither growing nor `shrink_to_fit` below copies the list.
        let mut segments = Vec::with_capacity(2 * count_pairs(inner.as_bytes(), b'{') + 1);
        let mut text = String::new();
        let mut text_start = inner_start;
        let mut i = 0;
        let bytes = inner.as_bytes();
        while i < inner.len() {
            if bytes[i] == b'\\' {
                let c = inner[i + 1..].chars().next().unwrap_or('\\');
                text.push(match c {
                    'n' => '\n',
                    't' => '\t',
                    other => other,
                });
                i += 1 + c.len_utf8();
                continue;
            }
            if bytes[i..].starts_with(b"{{") {
                let open = inner_start + i;
                let Some(close_rel) = find_pair(&bytes[i + 2..], b'}') else {
                    self.error(
                        Diagnostic::new("E005", self.file, Span::new(open, open + 2), "this `{{` is never closed")
                            .label("interpolation starts here")
                            .with_help("close it with `}}`, or write `\\{{` for literal braces"),
                    );
                    text.push_str(&inner[i..]);
                    break;
                };
                if !text.is_empty() {
                    segments.push(Segment::Text { text: std::mem::take(&mut text), span: Span::new(text_start, open) });
                }
                let expr_start = i + 2;
                let expr_end = i + 2 + close_rel;
                let close = inner_start + expr_end + 2;
                let (expr, filter) = self.interpolation(
                    &inner[expr_start..expr_end],
                    (inner_start + expr_start) as u32,
                    Span::new(open, close),
                );
                segments.push(Segment::Interp { expr: Box::new(expr), filter, span: Span::new(open, close) });
                i = expr_end + 2;
                text_start = inner_start + i;
                continue;
            }
            // The plain text up to the next escape or `{`, copied at once: both are ASCII, so
            // the run ends on a character boundary.
            let run = memchr::memchr2(b'\\', b'{', &bytes[i + 1..]).map_or(inner.len(), |n| i + 1 + n);
            text.push_str(&inner[i..run]);
            i = run;
        }
        if !text.is_empty() {
            segments.push(Segment::Text { text, span: Span::new(text_start, inner_start + inner.len()) });
        }
        segments.shrink_to_fit();
        Prompt { segments, span }
    }

    fn interpolation(&mut self, text: &str, offset: u32, whole: Span) -> (Expr, Option<Ident>) {
        let mut sub = Parser::new(self.src, self.file, lex(text, offset));
        sub.nl_insensitive = 1;
        sub.depth = self.depth;
        sub.too_deep_reported = self.too_deep_reported;
        let expr = if sub.at(Token::Eof) || sub.at(Token::Pipe) {
            sub.error(
                Diagnostic::new("E005", self.file, whole, "this interpolation is empty")
                    .label("nothing between `{{` and `}}`")
                    .with_help("write a value, e.g. `{{customer_name}}`; for literal braces write `\\{{`"),
            );
            Expr { kind: ExprKind::Error, span: whole }
        } else if sub.at(Token::Str) || sub.at(Token::UnterminatedStr) {
            let span = sub.peek_span();
            sub.error(
                Diagnostic::new("E005", self.file, span, "a string cannot stand inside `{{ }}`")
                    .label("string inside an interpolation")
                    .with_help("write the text outside the braces; `{{ }}` holds a value such as an input's name"),
            );
            Expr { kind: ExprKind::Error, span }
        } else {
            sub.expr()
        };
        let mut filter = None;
        if sub.eat(Token::Pipe).is_some() {
            filter = sub.ident("a filter name (`money`, `digits`, `number`, `date` or `mask`)");
        }
        if !sub.at(Token::Eof) && sub.diags.is_empty() {
            sub.unexpected("`|` and a filter, or `}}`");
        }
        self.diags.append(&mut sub.diags);
        self.too_deep_reported |= sub.too_deep_reported;
        (expr, filter)
    }

    // ---- expressions (Pratt) ------------------------------------------------------------

    fn expr(&mut self) -> Expr {
        self.expr_bp(0)
    }

    fn binary_op(&mut self) -> Option<(BinaryOp, u8)> {
        Some(match self.peek() {
            Token::Ident => match self.peek_text() {
                "or" => (BinaryOp::Or, 1),
                "and" => (BinaryOp::And, 2),
                _ => return None,
            },
            Token::EqEq => (BinaryOp::Eq, 4),
            Token::NotEq => (BinaryOp::Ne, 4),
            Token::Lt => (BinaryOp::Lt, 4),
            Token::Le => (BinaryOp::Le, 4),
            Token::Gt => (BinaryOp::Gt, 4),
            Token::Ge => (BinaryOp::Ge, 4),
            Token::Plus => (BinaryOp::Add, 5),
            Token::Minus => (BinaryOp::Sub, 5),
            Token::Star => (BinaryOp::Mul, 6),
            Token::Slash => (BinaryOp::Div, 6),
            Token::Percent => (BinaryOp::Rem, 6),
            _ => return None,
        })
    }

    fn expr_bp(&mut self, min_bp: u8) -> Expr {
        if !self.enter() {
            let span = self.peek_span();
            self.skip_expr();
            return Expr { kind: ExprKind::Error, span: span.to(self.prev_span()) };
        }
        let expr = self.operators(min_bp);
        self.leave();
        expr
    }

    /// An operand and the operators after it that bind tighter than `min_bp`. Each operator
    /// makes the tree one level deeper, so a long chain counts against [`MAX_DEPTH`] too.
    fn operators(&mut self, min_bp: u8) -> Expr {
        let mut lhs = self.prefix();
        let mut chain = 0u32;
        while let Some((op, bp)) = self.binary_op() {
            if bp <= min_bp {
                break;
            }
            chain += 1;
            if self.depth + chain > MAX_DEPTH {
                let start = lhs.span;
                self.too_deep();
                self.skip_expr();
                return Expr { kind: ExprKind::Error, span: start.to(self.prev_span()) };
            }
            let op_span = self.bump().span;
            let rhs = self.expr_bp(bp);
            if op.is_comparison()
                && let ExprKind::Binary(prev, ..) = &lhs.kind
                && prev.is_comparison()
            {
                self.error(
                    Diagnostic::new("E001", self.file, op_span, "comparisons cannot be chained")
                        .label("second comparison")
                        .with_help("join two comparisons with `and`: `a < b and b < c`"),
                );
            }
            let span = lhs.span.to(rhs.span);
            lhs = Expr { kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)), span };
        }
        lhs
    }

    /// A name, or `NAME.FIELD` (an action's output, §13). Not inlined: `prefix` is on the stack
    /// once per nesting level of an expression.
    #[inline(never)]
    fn name_or_field(&mut self, word: &str, span: Span) -> Expr {
        self.bump();
        let name = Ident { name: word.to_string(), span };
        if self.at(Token::Dot) && self.tokens.get(self.pos + 1).is_some_and(|t| t.token == Token::Ident) {
            self.bump();
            if let Some(field) = self.ident("a field name") {
                return Expr { span: span.to(field.span), kind: ExprKind::Field(name, Box::new(field)) };
            }
        }
        // `quantile(x, 4)`: only with the `(` right after the name, so a name that ends one
        // expression never swallows a parenthesis that starts the next.
        if self.at(Token::LParen) && self.peek_span().start == span.end {
            return self.call(name);
        }
        Expr { kind: ExprKind::Name(name), span }
    }

    /// The arguments of `NAME(…)`, the name read.
    fn call(&mut self, name: Ident) -> Expr {
        self.bump();
        self.nl_insensitive += 1;
        let mut args = Vec::new();
        while !self.at(Token::RParen) && !self.at(Token::Eof) {
            args.push(self.expr());
            if self.eat(Token::Comma).is_none() {
                break;
            }
        }
        if self.eat(Token::RParen).is_none() {
            self.unexpected("`,` or `)`");
        }
        self.nl_insensitive -= 1;
        Expr { span: name.span.to(self.prev_span()), kind: ExprKind::Call(name, args) }
    }

    fn prefix(&mut self) -> Expr {
        let span = self.peek_span();
        match self.peek() {
            Token::Minus => {
                self.bump();
                let inner = self.expr_bp(7);
                let whole = span.to(inner.span);
                // Fold negative literals so that `-5` is a literal (checks refuse negative money).
                let kind = match inner.kind {
                    ExprKind::Int(n) => ExprKind::Int(n.wrapping_neg()),
                    ExprKind::Money(m) => ExprKind::Money(Money::from_cents(m.cents().wrapping_neg())),
                    other => ExprKind::Unary(UnaryOp::Neg, Box::new(Expr { kind: other, span: inner.span })),
                };
                Expr { kind, span: whole }
            }
            Token::LParen => {
                self.bump();
                self.nl_insensitive += 1;
                let inner = self.expr();
                if self.eat(Token::RParen).is_none() {
                    self.unexpected("`)`");
                }
                self.nl_insensitive -= 1;
                Expr { kind: ExprKind::Paren(Box::new(inner)), span: span.to(self.prev_span()) }
            }
            Token::Int => {
                self.bump();
                match self.text(span).parse::<i64>() {
                    Ok(n) => Expr { kind: ExprKind::Int(n), span },
                    Err(_) => {
                        self.error(
                            Diagnostic::new("E006", self.file, span, "this number is too large").label("too large"),
                        );
                        Expr { kind: ExprKind::Error, span }
                    }
                }
            }
            Token::Decimal => {
                self.bump();
                match Money::parse(self.text(span)) {
                    Some(m) => Expr { kind: ExprKind::Money(m), span },
                    None => {
                        self.error(
                            Diagnostic::new("E006", self.file, span, "an amount has at most two decimals")
                                .label("not an amount of money")
                                .with_help("money is exact to 0.01, e.g. `1200.50`"),
                        );
                        Expr { kind: ExprKind::Error, span }
                    }
                }
            }
            Token::Date => {
                self.bump();
                match Date::parse(self.text(span)) {
                    Some(d) => Expr { kind: ExprKind::Date(d), span },
                    None => {
                        self.error(
                            Diagnostic::new("E006", self.file, span, format!("`{}` is not a date", self.text(span)))
                                .label("no such day")
                                .with_help("dates are written year-month-day, e.g. `2026-11-24`"),
                        );
                        Expr { kind: ExprKind::Error, span }
                    }
                }
            }
            Token::Time => {
                self.bump();
                match Time::parse(self.text(span)) {
                    Some(t) => Expr { kind: ExprKind::Time(t), span },
                    None => {
                        self.error(
                            Diagnostic::new("E006", self.file, span, format!("`{}` is not a time", self.text(span)))
                                .label("no such time of day")
                                .with_help(
                                    "times are written hour:minute on the 24-hour clock, from `00:00` to `23:59`",
                                ),
                        );
                        Expr { kind: ExprKind::Error, span }
                    }
                }
            }
            Token::Str => {
                let lit = self.string("a value").expect("at a string");
                Expr { kind: ExprKind::Str(lit.value), span }
            }
            Token::Ident => {
                let word = self.text(span);
                match word {
                    "true" | "false" => {
                        self.bump();
                        Expr { kind: ExprKind::Bool(word == "true"), span }
                    }
                    "not" => {
                        self.bump();
                        let inner = self.expr_bp(3);
                        Expr { span: span.to(inner.span), kind: ExprKind::Unary(UnaryOp::Not, Box::new(inner)) }
                    }
                    _ => self.name_or_field(word, span),
                }
            }
            _ => {
                self.unexpected("a value (a name, number, amount, string, date, time, `true` or `false`)");
                Expr { kind: ExprKind::Error, span: Span { start: span.start, end: span.start } }
            }
        }
    }

    // ---- tests --------------------------------------------------------------------------

    fn test(&mut self) -> Test {
        let start = self.bump().span;
        let name = self.string("the test's name in quotes").unwrap_or(StrLit {
            value: String::new(),
            span: self.prev_span(),
            char_offsets: Vec::new(),
        });
        let script = if self.eat_word("for").is_some() {
            self.ident("the name of the script under test").unwrap_or_else(|| self.missing_ident())
        } else {
            self.unexpected("`for` and the script's name (`test \"…\" for loan_reminder`)");
            self.missing_ident()
        };
        let mut body = Vec::new();
        if let Some(open) = self.open_brace("the test") {
            loop {
                self.skip_separators();
                if matches!(self.peek(), Token::RBrace | Token::Eof) {
                    break;
                }
                let start = self.peek_span();
                let kind = self.test_stmt();
                if matches!(kind, TestStmtKind::Error) {
                    self.recover_statement();
                }
                body.push(TestStmt { kind, span: start.to(self.prev_span()) });
                self.end_of_statement();
            }
            self.close_brace(open);
        } else {
            self.recover_item();
        }
        Test { name, script, body, span: start.to(self.prev_span()) }
    }

    fn test_stmt(&mut self) -> TestStmtKind {
        const WORDS: &str = "`input`, `reply`, `expect`, `mock`, `hangup`, `attempt`, `hour` or `today`";
        if !self.at(Token::Ident) {
            self.unexpected(WORDS);
            return TestStmtKind::Error;
        }
        let word = self.peek_text();
        let result = match word {
            "input" => {
                self.bump();
                self.test_inputs().map(TestStmtKind::Input)
            }
            "reply" => {
                self.bump();
                if self.eat_word("dtmf").is_some() {
                    self.string("the keys in quotes").map(|s| TestStmtKind::Reply(Reply::Dtmf(s)))
                } else if self.eat_word("silence").is_some() {
                    Some(TestStmtKind::Reply(Reply::Silence))
                } else if self.eat_word("emotion").is_some() {
                    self.ident("an emotion (`angry`, `upset`, `neutral` or `happy`)").and_then(|e| {
                        self.string("what the customer says, in quotes")
                            .map(|s| TestStmtKind::Reply(Reply::Emotion(e, s)))
                    })
                } else {
                    self.string("what the customer says, in quotes, or `dtmf`, `silence`, `emotion`")
                        .map(|s| TestStmtKind::Reply(Reply::Text(s)))
                }
            }
            "hangup" => {
                self.bump();
                Some(TestStmtKind::Hangup)
            }
            "mock" => {
                self.bump();
                self.ident("the name of an action").and_then(|action| {
                    if self.eat_word("failed").is_some() {
                        Some(TestStmtKind::Mock { action, ok: None })
                    } else if self.eat_word("ok").is_some() {
                        self.test_inputs().map(|outputs| TestStmtKind::Mock { action, ok: Some(outputs) })
                    } else {
                        self.unexpected("`ok { … }` or `failed`");
                        None
                    }
                })
            }
            "attempt" => {
                self.bump();
                self.int("the attempt number").map(TestStmtKind::Attempt)
            }
            "hour" => {
                self.bump();
                self.int("the hour of day (0–23)").map(TestStmtKind::Hour)
            }
            "today" => {
                self.bump();
                let span = self.peek_span();
                if self.at(Token::Date) {
                    self.bump();
                    match Date::parse(self.text(span)) {
                        Some(d) => Some(TestStmtKind::Today(d, span)),
                        None => {
                            self.error(
                                Diagnostic::new(
                                    "E006",
                                    self.file,
                                    span,
                                    format!("`{}` is not a date", self.text(span)),
                                )
                                .label("no such day"),
                            );
                            None
                        }
                    }
                } else {
                    self.unexpected("the customer's date (`today 2026-11-24`)");
                    None
                }
            }
            "expect" => {
                self.bump();
                let what = if self.at(Token::Ident) { self.peek_text() } else { "" };
                match what {
                    "say" => {
                        self.bump();
                        self.string("the text expected in a prompt").map(Expect::Say)
                    }
                    "no" => {
                        self.bump();
                        if self.eat_word("say").is_none() {
                            self.unexpected("`say` after `expect no`");
                            None
                        } else {
                            self.string("the text no prompt may hold").map(Expect::NoSay)
                        }
                    }
                    "step" => {
                        self.bump();
                        self.target().map(Expect::Step)
                    }
                    "tag" => {
                        self.bump();
                        self.string("the tag in quotes").map(Expect::Tag)
                    }
                    "transfer" => {
                        self.bump();
                        self.string("the queue in quotes").and_then(|queue| {
                            if self.eat_word("with").is_none() {
                                return Some(Expect::Transfer(queue, None));
                            }
                            let key = self.ident("the key handed over (`with reason = \"angry\"`)")?;
                            if self.eat(Token::Eq).is_none() {
                                self.unexpected("`=` and the value expected");
                                return None;
                            }
                            Some(Expect::Transfer(queue, Some((key, self.expr()))))
                        })
                    }
                    "sms" => {
                        self.bump();
                        self.string("the text expected in a message").map(Expect::Sms)
                    }
                    "hangup" => {
                        self.bump();
                        self.ident("the outcome").map(Expect::Hangup)
                    }
                    "value" => {
                        self.bump();
                        self.ident("the name of a value of the script").and_then(|name| {
                            if self.eat(Token::Eq).is_none() {
                                self.unexpected("`=` and the value expected (`expect value pay_date = 2026-11-25`)");
                                return None;
                            }
                            Some(Expect::Value { name, value: self.expr() })
                        })
                    }
                    "optout" => {
                        self.bump();
                        Some(Expect::Optout)
                    }
                    "verify" => {
                        self.bump();
                        Some(Expect::Verify)
                    }
                    _ => {
                        self.unexpected(
                            "`say`, `no say`, `step`, `tag`, `transfer`, `sms`, `hangup`, `value`, `optout` or `verify` after `expect`",
                        );
                        None
                    }
                }
                .map(TestStmtKind::Expect)
            }
            _ => {
                self.unexpected(WORDS);
                None
            }
        };
        result.unwrap_or(TestStmtKind::Error)
    }

    fn test_inputs(&mut self) -> Option<Vec<(Ident, Expr)>> {
        let open = self.open_brace("the test's inputs")?;
        let mut out = Vec::new();
        loop {
            self.skip_list_separators();
            if matches!(self.peek(), Token::RBrace | Token::Eof) {
                break;
            }
            let Some(name) = self.ident("an input name") else {
                self.recover_statement();
                continue;
            };
            if self.eat(Token::Colon).is_none() {
                self.unexpected("`:` and a value");
                self.recover_statement();
                continue;
            }
            out.push((name, self.expr()));
            if !matches!(self.tokens[self.pos].token, Token::Newline | Token::Semi | Token::Comma | Token::RBrace) {
                self.unexpected("`,` or a new line between inputs");
                self.recover_statement();
            }
        }
        self.close_brace(open);
        Some(out)
    }
}

/// Where `pair` doubled (`{{`, `}}`) first stands in `bytes`, as `str::find` would say: that
/// sets up a Two-Way searcher for each call, which cost more than the scan of a short prompt.
fn find_pair(bytes: &[u8], pair: u8) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = memchr::memchr(pair, &bytes[from..]) {
        let at = from + found;
        if bytes.get(at + 1) == Some(&pair) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// How many times `pair` doubled stands in `bytes` without overlapping (`str::matches`' count).
fn count_pairs(bytes: &[u8], pair: u8) -> usize {
    let mut count = 0;
    let mut from = 0;
    while let Some(at) = find_pair(&bytes[from..], pair) {
        count += 1;
        from += at + 2;
    }
    count
}

#[cfg(test)]
mod tests {
    use super::{count_pairs, find_pair};

    #[test]
    fn pairs_are_found_and_counted_as_str_does() {
        for text in ["", "{", "{{", "{{{", "{{{{", "a{b{{c}}d{{", "中{{文}}{", "}}}", "{ {"] {
            for pair in [b'{', b'}'] {
                let doubled = String::from_utf8(vec![pair, pair]).expect("ASCII");
                assert_eq!(find_pair(text.as_bytes(), pair), text.find(&doubled), "{text:?}");
                assert_eq!(count_pairs(text.as_bytes(), pair), text.matches(&doubled).count(), "{text:?}");
            }
        }
    }
}
