//! Tokens of LANGUAGE.md §2. Words (keywords included) are all `Ident`: keywords are
//! contextual (§9.3), so the parser decides what a word means where it stands.

use logos::Logos;

#[derive(Logos, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[logos(skip r"[ \t\r\u{FEFF}]+")]
pub enum Token {
    #[token("\n")]
    Newline,
    #[regex(r"//[^\n]*", allow_greedy = true)]
    Comment,
    #[regex(r"[\p{XID_Start}_][\p{XID_Continue}]*")]
    Ident,
    #[regex(r"[0-9]+", priority = 3)]
    Int,
    #[regex(r"[0-9]+\.[0-9]+")]
    Decimal,
    #[regex(r"[0-9]+(ms|s|m|h|d)")]
    Duration,
    #[regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")]
    Date,
    /// A clock time, `15:30` (§11).
    #[regex(r"[0-9]{1,2}:[0-9]{2}")]
    Time,
    /// `"…"`: the characters but a quote, a backslash and a newline, or a backslash and any
    /// character but a newline. Read by [`string`], which also gives [`Token::UnterminatedStr`].
    #[token("\"", string)]
    Str,
    /// A string that reaches the end of its line without a closing quote (with a backslash
    /// just before the end, if one is there).
    UnterminatedStr,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token(",")]
    Comma,
    #[token(";")]
    Semi,
    #[token(":")]
    Colon,
    #[token(".")]
    Dot,
    #[token("=")]
    Eq,
    #[token("=>")]
    FatArrow,
    #[token("==")]
    EqEq,
    #[token("!=")]
    NotEq,
    #[token("<")]
    Lt,
    #[token("<=")]
    Le,
    #[token(">")]
    Gt,
    #[token(">=")]
    Ge,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("%")]
    Percent,
    #[token("|")]
    Pipe,
    #[token("@")]
    At,
    /// A character no token starts with.
    Error,
    /// The end of the input (never produced by logos; the lexer appends it).
    Eof,
}

/// Reads a string literal from just after its opening quote, jumping to each quote, backslash
/// or newline (`memchr3`): most of a script's bytes are its prompts' text, often Chinese,
/// which logos' state machine walked byte by byte (the lexer was a ninth of `check`).
/// Every position it stops at is an ASCII byte, so each is a character boundary, and the
/// character a backslash escapes is skipped by its first byte (the others are not ASCII).
fn string(lexer: &mut logos::Lexer<Token>) -> Token {
    let rest = lexer.remainder().as_bytes();
    let mut from = 0;
    while let Some(found) = memchr::memchr3(b'"', b'\\', b'\n', &rest[from..]) {
        let at = from + found;
        match rest[at] {
            b'"' => {
                lexer.bump(at + 1);
                return Token::Str;
            }
            b'\\' if !matches!(rest.get(at + 1), None | Some(b'\n')) => from = at + 2,
            // A backslash that escapes nothing ends the unterminated string it belongs to.
            b'\\' => {
                lexer.bump(at + 1);
                return Token::UnterminatedStr;
            }
            _ => {
                lexer.bump(at);
                return Token::UnterminatedStr;
            }
        }
    }
    lexer.bump(rest.len());
    Token::UnterminatedStr
}

impl Token {
    /// How the token is named in a message to a script author.
    pub fn describe(self) -> &'static str {
        match self {
            Token::Newline => "the end of the line",
            Token::Comment => "a comment",
            Token::Ident => "a name",
            Token::Int => "a number",
            Token::Decimal => "a decimal number",
            Token::Duration => "a duration",
            Token::Date => "a date",
            Token::Time => "a time",
            Token::Str | Token::UnterminatedStr => "a string",
            Token::LBrace => "`{`",
            Token::RBrace => "`}`",
            Token::LParen => "`(`",
            Token::RParen => "`)`",
            Token::LBracket => "`[`",
            Token::RBracket => "`]`",
            Token::Comma => "`,`",
            Token::Semi => "`;`",
            Token::Colon => "`:`",
            Token::Dot => "`.`",
            Token::Eq => "`=`",
            Token::FatArrow => "`=>`",
            Token::EqEq => "`==`",
            Token::NotEq => "`!=`",
            Token::Lt => "`<`",
            Token::Le => "`<=`",
            Token::Gt => "`>`",
            Token::Ge => "`>=`",
            Token::Plus => "`+`",
            Token::Minus => "`-`",
            Token::Star => "`*`",
            Token::Slash => "`/`",
            Token::Percent => "`%`",
            Token::Pipe => "`|`",
            Token::At => "`@`",
            Token::Error => "an unexpected character",
            Token::Eof => "the end of the file",
        }
    }
}
