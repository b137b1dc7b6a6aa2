//! The tokenizer and the recursive-descent parser of the selection syntax.
//!
//! Grammar (Dagster's `AssetSelection.g4`, plus its legacy clauses and comma lists):
//!
//! ```text
//! selection := or ("," or)*                    comma: a union, below `or` (legacy lists)
//! or        := and (("or" | "OR") and)*
//! and       := not (("and" | "AND") not)*
//! not       := ("not" | "NOT") not | "*" | traversal
//! traversal := up? atom down?
//! up        := DIGITS "+" | "+"+               `+`s before a bare key: one level each (legacy)
//! down      := "+" DIGITS? | "+"+
//! atom      := ATTRIBUTE ":" value ("=" value)?  (only `tag:` takes `=`)
//!            | ("roots" | "sinks") "(" selection ")"
//!            | "(" selection ")"
//!            | WORD                             a bare key, `*key*` (legacy)
//! value     := WORD | DIGITS | "\"...\"" | "<null>"
//! ```

use super::{Selection, SelectionError};

/// A token: its kind, where it starts (a byte offset) and its text.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Token {
    pub kind: Kind,
    pub start: usize,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A name: letters, digits, `_ / * - . @`.
    Word,
    /// Digits only.
    Digits,
    /// `"..."` (the text keeps the quotes).
    Quoted,
    /// `<null>`.
    Null,
    Star,
    Plus,
    LParen,
    RParen,
    Colon,
    Equal,
    Comma,
    End,
}

fn word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '/' | '*' | '-' | '.' | '@')
}

/// Splits a selection into tokens; an unknown character or an unterminated quote is an error
/// at its position.
pub(super) fn tokenize(input: &str) -> Result<Vec<Token>, SelectionError> {
    let mut tokens = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let single = match c {
            '+' => Some(Kind::Plus),
            '(' => Some(Kind::LParen),
            ')' => Some(Kind::RParen),
            ':' => Some(Kind::Colon),
            '=' => Some(Kind::Equal),
            ',' => Some(Kind::Comma),
            _ => None,
        };
        if let Some(kind) = single {
            chars.next();
            tokens.push(Token { kind, start, text: c.to_string() });
        } else if c == '"' {
            chars.next();
            let mut end = None;
            for (i, ch) in chars.by_ref() {
                if ch == '"' {
                    end = Some(i);
                    break;
                }
                if ch == '\n' || ch == '\r' || ch == '\\' {
                    return Err(SelectionError::syntax(input, i, &ch.to_string(), "quoted values take no backslashes or line breaks"));
                }
            }
            let Some(end) = end else {
                return Err(SelectionError::syntax(input, start, &input[start..], "unterminated quote"));
            };
            tokens.push(Token { kind: Kind::Quoted, start, text: input[start..=end].to_owned() });
        } else if input[start..].starts_with("<null>") {
            for _ in 0.."<null>".len() {
                chars.next();
            }
            tokens.push(Token { kind: Kind::Null, start, text: "<null>".into() });
        } else if word_char(c) {
            let mut end = start;
            while let Some(&(i, ch)) = chars.peek() {
                if !word_char(ch) {
                    break;
                }
                end = i + ch.len_utf8();
                chars.next();
            }
            let text = &input[start..end];
            let kind = if text == "*" {
                Kind::Star
            } else if text.bytes().all(|b| b.is_ascii_digit()) {
                Kind::Digits
            } else {
                Kind::Word
            };
            tokens.push(Token { kind, start, text: text.to_owned() });
        } else {
            return Err(SelectionError::syntax(input, start, &c.to_string(), "unexpected character"));
        }
    }
    tokens.push(Token { kind: Kind::End, start: input.len(), text: String::new() });
    Ok(tokens)
}

/// Dagster's attributes that etl does not have (run status, code locations, columns, ...).
const UNSUPPORTED_ATTRIBUTES: &[&str] = &[
    "code_location",
    "status",
    "column",
    "table_name",
    "column_tag",
    "changed_in_branch",
    "partitions",
    "automation_type",
    "sensor",
    "schedule",
    "job",
    "is",
    "not_materialized_in_hours",
    "key_substring",
];

/// Parses a whole selection.
pub(super) fn parse(input: &str) -> Result<Selection, SelectionError> {
    let tokens = tokenize(input)?;
    let mut parser = Parser { input, tokens, at: 0 };
    let selection = parser.union()?;
    if parser.peek().kind != Kind::End {
        return Err(parser.unexpected("expected `and`, `or`, `,` or the end of the selection"));
    }
    Ok(selection)
}

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token>,
    at: usize,
}

/// How far a traversal goes: `None` is unlimited.
type Depth = Option<u32>;

/// The `+`s before an atom.
struct Up {
    pluses: u32,
    digits: Option<u32>,
    /// The second `+`, for an error where only one is allowed.
    second: Option<Token>,
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        &self.tokens[self.at]
    }

    fn peek_at(&self, ahead: usize) -> &Token {
        &self.tokens[(self.at + ahead).min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let token = self.tokens[self.at].clone();
        if token.kind != Kind::End {
            self.at += 1;
        }
        token
    }

    fn error_at(&self, token: &Token, message: &str) -> SelectionError {
        SelectionError::syntax(self.input, token.start, &token.text, message)
    }

    fn unexpected(&self, message: &str) -> SelectionError {
        self.error_at(self.peek(), message)
    }

    fn keyword(&self, upper: &str) -> bool {
        let t = self.peek();
        t.kind == Kind::Word && (t.text == upper || t.text == upper.to_ascii_lowercase())
    }

    fn expect(&mut self, kind: Kind, what: &str) -> Result<Token, SelectionError> {
        if self.peek().kind == kind {
            Ok(self.next())
        } else {
            Err(self.unexpected(&format!("expected {what}")))
        }
    }

    fn union(&mut self) -> Result<Selection, SelectionError> {
        let mut left = self.or()?;
        while self.peek().kind == Kind::Comma {
            self.next();
            let right = self.or()?;
            left = Selection::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn or(&mut self) -> Result<Selection, SelectionError> {
        let mut left = self.and()?;
        while self.keyword("OR") {
            self.next();
            let right = self.and()?;
            left = Selection::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Selection, SelectionError> {
        let mut left = self.not()?;
        while self.keyword("AND") {
            self.next();
            let right = self.not()?;
            left = Selection::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Selection, SelectionError> {
        if self.keyword("NOT") {
            self.next();
            return Ok(Selection::Not(Box::new(self.not()?)));
        }
        if self.peek().kind == Kind::Star {
            self.next();
            return Ok(Selection::All);
        }
        self.traversal()
    }

    /// `up? atom down?`. Before and after a bare key (Dagster's legacy clauses) each `+` is one
    /// level and a `*` stuck to the key is every level; around any other atom one `+` is every
    /// level and `N+` / `+N` limit it to `N`.
    fn traversal(&mut self) -> Result<Selection, SelectionError> {
        let up = self.up()?;
        let (atom, legacy) = self.atom()?;
        let down = self.down(legacy)?;
        let up = match up {
            None => None,
            Some(Up { digits: Some(n), .. }) => Some(Some(n)),
            Some(Up { pluses, .. }) if legacy => Some(Some(pluses)),
            Some(Up { second: Some(second), .. }) => {
                return Err(self.error_at(&second, "one `+` per side around this; write `2+` for two levels"));
            }
            Some(_) => Some(None),
        };
        Ok(with_traversals(atom, up, down))
    }

    /// `DIGITS "+"` or `"+"+`.
    fn up(&mut self) -> Result<Option<Up>, SelectionError> {
        if self.peek().kind == Kind::Digits && self.peek_at(1).kind == Kind::Plus {
            let digits = self.next();
            self.next();
            if self.peek().kind == Kind::Plus {
                return Err(self.unexpected("after `N+` no further `+`"));
            }
            return Ok(Some(Up { pluses: 1, digits: Some(self.depth(&digits)?), second: None }));
        }
        let mut up = Up { pluses: 0, digits: None, second: None };
        while self.peek().kind == Kind::Plus {
            let plus = self.next();
            up.pluses += 1;
            if up.pluses == 2 {
                up.second = Some(plus);
            }
        }
        Ok((up.pluses > 0).then_some(up))
    }

    /// `"+" DIGITS?` or `"+"+` after an atom.
    fn down(&mut self, legacy: bool) -> Result<Option<Depth>, SelectionError> {
        if self.peek().kind != Kind::Plus {
            return Ok(None);
        }
        self.next();
        if self.peek().kind == Kind::Digits {
            let digits = self.next();
            return Ok(Some(Some(self.depth(&digits)?)));
        }
        let mut pluses = 1;
        while self.peek().kind == Kind::Plus {
            if !legacy {
                return Err(self.unexpected("one `+` per side around this; write `+2` for two levels"));
            }
            self.next();
            pluses += 1;
        }
        Ok(Some(if legacy { Some(pluses) } else { None }))
    }

    fn depth(&self, digits: &Token) -> Result<u32, SelectionError> {
        digits.text.parse().map_err(|_| self.error_at(digits, "a depth too large"))
    }

    /// An atom, and whether it is a legacy bare key (whose `+`s count levels).
    fn atom(&mut self) -> Result<(Selection, bool), SelectionError> {
        let token = self.peek().clone();
        match token.kind {
            Kind::LParen => {
                self.next();
                let inner = self.union()?;
                self.expect(Kind::RParen, "`)`")?;
                Ok((inner, false))
            }
            Kind::Word if matches!(token.text.as_str(), "roots" | "sinks") && self.peek_at(1).kind == Kind::LParen => {
                self.next();
                self.next();
                let inner = Box::new(self.union()?);
                self.expect(Kind::RParen, "`)`")?;
                Ok((if token.text == "roots" { Selection::Roots(inner) } else { Selection::Sinks(inner) }, false))
            }
            Kind::Word if self.peek_at(1).kind == Kind::Colon => Ok((self.attribute()?, false)),
            Kind::Word if matches!(token.text.as_str(), "and" | "AND" | "or" | "OR") => {
                Err(self.unexpected("expected an asset selection (`key:..`, `group:..`, `(`, `*`, a key, ...)"))
            }
            Kind::Word | Kind::Digits => {
                self.next();
                Ok((self.legacy_key(&token)?, true))
            }
            Kind::End => Err(self.unexpected("the selection ends where an asset selection is expected")),
            _ => Err(self.unexpected("expected an asset selection (`key:..`, `group:..`, `(`, `*`, a key, ...)")),
        }
    }

    /// A bare key (`a/b`), with `*` at either end for all of its upstream or downstream.
    fn legacy_key(&self, token: &Token) -> Result<Selection, SelectionError> {
        let text = token.text.as_str();
        let up = text.starts_with('*');
        let down = text.len() > 1 && text.ends_with('*');
        let key = text.trim_start_matches('*').trim_end_matches('*');
        if key.is_empty() || key.contains('*') {
            return Err(self.error_at(token, "a `*` inside a bare key; write `key:\"a*b\"` to match keys by a wildcard"));
        }
        let atom = Selection::Key { pattern: key.to_owned(), must_exist: true, column: super::column(self.input, token.start) };
        Ok(with_traversals(atom, up.then_some(None), down.then_some(None)))
    }

    fn attribute(&mut self) -> Result<Selection, SelectionError> {
        let name = self.next();
        self.next(); // the colon
        match name.text.as_str() {
            "key" => {
                let value = self.value(true)?;
                Ok(Selection::Key { pattern: value, must_exist: false, column: super::column(self.input, name.start) })
            }
            "group" => Ok(Selection::Group(self.value(false)?)),
            "kind" => Ok(Selection::Kind(self.nullable_value()?)),
            "owner" => Ok(Selection::Owner(self.nullable_value()?)),
            "tag" => {
                let key = self.value(false)?;
                let value = if self.peek().kind == Kind::Equal {
                    self.next();
                    self.value(false)?
                } else {
                    String::new()
                };
                Ok(Selection::Tag { key, value })
            }
            other if UNSUPPORTED_ATTRIBUTES.contains(&other) => {
                Err(self.error_at(&name, "this Dagster attribute is not supported by etl (it has `key`, `group`, `kind`, `tag`, `owner`)"))
            }
            _ => Err(self.error_at(&name, "unknown attribute (etl has `key`, `group`, `kind`, `tag`, `owner`)")),
        }
    }

    fn nullable_value(&mut self) -> Result<Option<String>, SelectionError> {
        if self.peek().kind == Kind::Null {
            self.next();
            return Ok(None);
        }
        self.value(false).map(Some)
    }

    /// A quoted or bare value; `*` only where `wildcard` (in `key:`).
    fn value(&mut self, wildcard: bool) -> Result<String, SelectionError> {
        let token = self.peek().clone();
        let text = match token.kind {
            Kind::Quoted => token.text[1..token.text.len() - 1].to_owned(),
            Kind::Word | Kind::Digits | Kind::Star => token.text.clone(),
            Kind::Null => return Err(self.unexpected("`<null>` is a value of `kind:` and `owner:` only")),
            _ => return Err(self.unexpected("expected a value (a name or a quoted string)")),
        };
        if !wildcard && text.contains('*') {
            return Err(self.error_at(&token, "wildcards `*` are supported in `key:` values only"));
        }
        self.next();
        Ok(text)
    }
}

/// `atom` with its upstream and downstream (Dagster: `upstream(atom) | downstream(atom)`).
fn with_traversals(atom: Selection, up: Option<Depth>, down: Option<Depth>) -> Selection {
    let upstream = |a: Selection, depth| Selection::Upstream { of: Box::new(a), depth };
    let downstream = |a: Selection, depth| Selection::Downstream { of: Box::new(a), depth };
    match (up, down) {
        (None, None) => atom,
        (Some(u), None) => upstream(atom, u),
        (None, Some(d)) => downstream(atom, d),
        (Some(u), Some(d)) => Selection::Or(Box::new(upstream(atom.clone(), u)), Box::new(downstream(atom, d))),
    }
}
