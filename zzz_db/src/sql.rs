//! SQL rendering per dialect. Values always become placeholders; identifiers are quoted.

use crate::value::Value;

/// The SQL dialect of a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite (placeholders `?`).
    Sqlite,
    /// PostgreSQL (placeholders `$n`).
    Postgres,
}

/// A SQL statement being rendered: text plus its bound parameters.
#[derive(Debug, Clone)]
pub struct Sql {
    /// Target dialect.
    pub dialect: Dialect,
    /// The SQL text (contains only placeholders, never values).
    pub text: String,
    /// The bound parameters in placeholder order.
    pub args: Vec<Value>,
}

impl Sql {
    /// Start an empty statement.
    pub fn new(dialect: Dialect) -> Self {
        Sql { dialect, text: String::with_capacity(128), args: Vec::new() }
    }
    /// Start an empty statement with room for `cap` bytes of SQL.
    pub fn with_capacity(dialect: Dialect, cap: usize) -> Self {
        Sql { dialect, text: String::with_capacity(cap), args: Vec::with_capacity(4) }
    }
    /// Append raw SQL text (only ever called with trusted, static fragments).
    pub(crate) fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }
    /// Append a quoted identifier.
    pub(crate) fn ident(&mut self, name: &str) -> &mut Self {
        quote_ident_into(&mut self.text, name);
        self
    }
    /// Append `"table"."column"`.
    pub(crate) fn qualified(&mut self, table: &str, col: &str) -> &mut Self {
        self.ident(table);
        self.text.push('.');
        self.ident(col)
    }
    /// Append a bound value (NULL is written as the keyword: it carries no type).
    pub(crate) fn value(&mut self, v: Value) -> &mut Self {
        if v.is_null() {
            self.text.push_str("NULL");
            return self;
        }
        self.args.push(v);
        match self.dialect {
            Dialect::Sqlite => self.text.push('?'),
            Dialect::Postgres => {
                use std::fmt::Write;
                let _ = write!(self.text, "${}", self.args.len());
            }
        }
        self
    }
}

/// Quote an identifier with double quotes, doubling embedded quotes.
pub fn quote_ident(name: &str) -> String {
    let mut s = String::with_capacity(name.len() + 2);
    quote_ident_into(&mut s, name);
    s
}

fn quote_ident_into(out: &mut String, name: &str) {
    out.push('"');
    for c in name.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
}
