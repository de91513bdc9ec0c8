//! Turns source text into tokens with spans. Never fails: characters that start no token
//! become [`Token::Error`] tokens, which the parser reports once.

use logos::Logos;

use crate::span::Span;
use crate::syntax::token::Token;

/// A token and where it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lexed {
    pub token: Token,
    pub span: Span,
}

/// Lexes `text` whose first byte sits at `offset` in its file (non-zero for the inside of an
/// interpolation), always ending with an `Eof` token.
pub fn lex(text: &str, offset: u32) -> Vec<Lexed> {
    let mut out = Vec::with_capacity(text.len() / 3 + 1);
    let mut lexer = Token::lexer(text);
    while let Some(result) = lexer.next() {
        let range = lexer.span();
        let span = Span::new(range.start, range.end).shift(offset);
        let token = result.unwrap_or(Token::Error);
        // Merge a run of bad characters into one token, so the parser reports it once.
        if token == Token::Error
            && let Some(last) = out.last_mut()
            && let Lexed { token: Token::Error, span: last_span } = last
            && last_span.end == span.start
        {
            last_span.end = span.end;
            continue;
        }
        out.push(Lexed { token, span });
    }
    let end = offset + text.len() as u32;
    out.push(Lexed { token: Token::Eof, span: Span { start: end, end } });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(Token, &str)> {
        lex(src, 0).iter().map(|l| (l.token, &src[l.span.range()])).collect()
    }

    #[test]
    fn lexes_literals_and_unicode_names() {
        assert_eq!(
            kinds("intent 利率太高 5s 300ms 1200.50 42 2026-11-24 \"a\\\"b\""),
            vec![
                (Token::Ident, "intent"),
                (Token::Ident, "利率太高"),
                (Token::Duration, "5s"),
                (Token::Duration, "300ms"),
                (Token::Decimal, "1200.50"),
                (Token::Int, "42"),
                (Token::Date, "2026-11-24"),
                (Token::Str, "\"a\\\"b\""),
                (Token::Eof, ""),
            ]
        );
    }

    #[test]
    fn keeps_comments_and_newlines() {
        assert_eq!(
            kinds("a // 注释\n=> =="),
            vec![
                (Token::Ident, "a"),
                (Token::Comment, "// 注释"),
                (Token::Newline, "\n"),
                (Token::FatArrow, "=>"),
                (Token::EqEq, "=="),
                (Token::Eof, ""),
            ]
        );
    }

    #[test]
    fn strings_end_at_their_quote_or_line() {
        assert_eq!(kinds(r#""a\\" x"#), vec![(Token::Str, r#""a\\""#), (Token::Ident, "x"), (Token::Eof, "")]);
        assert_eq!(
            kinds("\"尾号\\中\"\"\"c"),
            vec![(Token::Str, "\"尾号\\中\""), (Token::Str, "\"\""), (Token::Ident, "c"), (Token::Eof, "")]
        );
        assert_eq!(
            kinds("\"a\\\nb"),
            vec![(Token::UnterminatedStr, "\"a\\"), (Token::Newline, "\n"), (Token::Ident, "b"), (Token::Eof, "")]
        );
        assert_eq!(kinds("\"a\\"), vec![(Token::UnterminatedStr, "\"a\\"), (Token::Eof, "")]);
        assert_eq!(
            kinds("\"a\\\r\n"),
            vec![(Token::UnterminatedStr, "\"a\\\r"), (Token::Newline, "\n"), (Token::Eof, "")]
        );
        assert_eq!(kinds("\"\\\"\""), vec![(Token::Str, "\"\\\"\""), (Token::Eof, "")]);
        assert_eq!(kinds("\""), vec![(Token::UnterminatedStr, "\""), (Token::Eof, "")]);
    }

    #[test]
    fn unterminated_string_and_bad_characters() {
        assert_eq!(
            kinds("\"abc\n$$x"),
            vec![
                (Token::UnterminatedStr, "\"abc"),
                (Token::Newline, "\n"),
                (Token::Error, "$$"),
                (Token::Ident, "x"),
                (Token::Eof, ""),
            ]
        );
    }
}
