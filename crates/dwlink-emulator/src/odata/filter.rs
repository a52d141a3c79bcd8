//! `$filter`: a tokenizer and a recursive-descent parser for the subset clients use (comparisons,
//! `and`/`or`/`not`, parentheses; strings, GUIDs, numbers, booleans, null), and its evaluation
//! against a row. Every malformed input is an `Err` with a message, never a panic.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp(Op, Operand, Operand),
    /// A lone operand: true when it is the boolean `true` (e.g. `IsDualWrite`).
    Truthy(Operand),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    Prop(String),
    Lit(Value),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Ident(String),
    Str(String),
    Num(f64, String),
    Guid(String),
}

/// Deep nesting costs stack; a filter needs nowhere near this.
const MAX_DEPTH: usize = 64;

fn is_guid(s: &[u8]) -> bool {
    s.len() == 36
        && s.iter().enumerate().all(|(i, &b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

fn ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'/' || b == b'.'
}

fn tokenize(input: &str) -> Result<Vec<Tok>, String> {
    let b = input.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'(' {
            out.push(Tok::LParen);
            i += 1;
        } else if c == b')' {
            out.push(Tok::RParen);
            i += 1;
        } else if c == b'\'' {
            let mut s = String::new();
            let mut j = i + 1;
            loop {
                let Some(rest) = input.get(j..) else {
                    return Err("unterminated string literal".into());
                };
                let Some(q) = rest.find('\'') else {
                    return Err(format!("unterminated string literal at position {i}"));
                };
                s.push_str(&rest[..q]);
                j += q + 1;
                if b.get(j) == Some(&b'\'') {
                    s.push('\'');
                    j += 1;
                } else {
                    break;
                }
            }
            out.push(Tok::Str(s));
            i = j;
        } else if i + 36 <= b.len()
            && is_guid(&b[i..i + 36])
            && !b.get(i + 36).copied().is_some_and(ident_char)
        {
            out.push(Tok::Guid(input[i..i + 36].to_ascii_lowercase()));
            i += 36;
        } else if c.is_ascii_digit() || (c == b'-' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            let start = i;
            i += 1;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            if b.get(i).copied().is_some_and(ident_char) {
                return Err(format!("malformed number at position {start}"));
            }
            let text = &input[start..i];
            let n = text
                .parse::<f64>()
                .map_err(|_| format!("malformed number `{text}`"))?;
            out.push(Tok::Num(n, text.to_string()));
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && ident_char(b[i]) {
                i += 1;
            }
            out.push(Tok::Ident(input[start..i].to_string()));
        } else {
            let ch = input[i..].chars().next().unwrap_or('?');
            return Err(format!("unexpected character `{ch}` at position {i}"));
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

pub(crate) fn parse(input: &str) -> Result<Expr, String> {
    let toks = tokenize(input)?;
    if toks.is_empty() {
        return Err("empty $filter".into());
    }
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let e = p.or()?;
    match p.toks.get(p.pos) {
        None => Ok(e),
        Some(t) => Err(format!("unexpected {} after the expression", show(t))),
    }
}

fn show(t: &Tok) -> String {
    match t {
        Tok::LParen => "`(`".into(),
        Tok::RParen => "`)`".into(),
        Tok::Ident(s) => format!("`{s}`"),
        Tok::Str(s) => format!("'{s}'"),
        Tok::Num(_, s) => format!("`{s}`"),
        Tok::Guid(g) => format!("`{g}`"),
    }
}

impl Parser {
    fn keyword(&mut self, kw: &str) -> bool {
        if let Some(Tok::Ident(s)) = self.toks.get(self.pos) {
            if s == kw {
                self.pos += 1;
                return true;
            }
        }
        false
    }

    fn or(&mut self) -> Result<Expr, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("$filter is nested too deeply".into());
        }
        let mut e = self.and()?;
        while self.keyword("or") {
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        self.depth -= 1;
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut e = self.not()?;
        while self.keyword("and") {
            e = Expr::And(Box::new(e), Box::new(self.not()?));
        }
        Ok(e)
    }

    fn not(&mut self) -> Result<Expr, String> {
        if self.keyword("not") {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err("$filter is nested too deeply".into());
            }
            let e = Expr::Not(Box::new(self.not()?));
            self.depth -= 1;
            return Ok(e);
        }
        self.cmp()
    }

    fn cmp(&mut self) -> Result<Expr, String> {
        if self.toks.get(self.pos) == Some(&Tok::LParen) {
            self.pos += 1;
            let e = self.or()?;
            if self.toks.get(self.pos) != Some(&Tok::RParen) {
                return Err("missing `)`".into());
            }
            self.pos += 1;
            return Ok(e);
        }
        let left = self.operand()?;
        let op = match self.toks.get(self.pos) {
            Some(Tok::Ident(s)) => match s.as_str() {
                "eq" => Some(Op::Eq),
                "ne" => Some(Op::Ne),
                "gt" => Some(Op::Gt),
                "ge" => Some(Op::Ge),
                "lt" => Some(Op::Lt),
                "le" => Some(Op::Le),
                "and" | "or" => None,
                other => return Err(format!("unsupported operator `{other}`")),
            },
            _ => None,
        };
        match op {
            Some(op) => {
                self.pos += 1;
                let right = self.operand()?;
                Ok(Expr::Cmp(op, left, right))
            }
            None => Ok(Expr::Truthy(left)),
        }
    }

    fn operand(&mut self) -> Result<Operand, String> {
        let t = self
            .toks
            .get(self.pos)
            .cloned()
            .ok_or("the expression ends too early")?;
        self.pos += 1;
        Ok(match t {
            Tok::Str(s) => Operand::Lit(Value::String(s)),
            Tok::Guid(g) => Operand::Lit(Value::String(g)),
            Tok::Num(n, text) => Operand::Lit(
                text.parse::<i64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| Value::from(n)),
            ),
            Tok::Ident(s) => match s.as_str() {
                "true" => Operand::Lit(Value::Bool(true)),
                "false" => Operand::Lit(Value::Bool(false)),
                "null" => Operand::Lit(Value::Null),
                "eq" | "ne" | "gt" | "ge" | "lt" | "le" | "and" | "or" | "not" => {
                    return Err(format!("expected a value, found `{s}`"))
                }
                _ => Operand::Prop(s),
            },
            other => return Err(format!("expected a value, found {}", show(&other))),
        })
    }
}

impl Expr {
    /// Every property the expression reads, to reject unknown ones as the services do.
    pub(crate) fn properties(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.walk(&mut out);
        out
    }

    fn walk<'a>(&'a self, out: &mut Vec<&'a str>) {
        let mut op = |o: &'a Operand| {
            if let Operand::Prop(p) = o {
                out.push(p.as_str());
            }
        };
        match self {
            Expr::Or(a, b) | Expr::And(a, b) => {
                a.walk(out);
                b.walk(out);
            }
            Expr::Not(a) => a.walk(out),
            Expr::Cmp(_, l, r) => {
                op(l);
                op(r);
            }
            Expr::Truthy(o) => op(o),
        }
    }

    pub(crate) fn eval(&self, row: &Map<String, Value>) -> bool {
        match self {
            Expr::Or(a, b) => a.eval(row) || b.eval(row),
            Expr::And(a, b) => a.eval(row) && b.eval(row),
            Expr::Not(a) => !a.eval(row),
            Expr::Truthy(o) => value(o, row) == &Value::Bool(true),
            Expr::Cmp(op, l, r) => compare(*op, value(l, row), value(r, row)),
        }
    }
}

fn value<'a>(o: &'a Operand, row: &'a Map<String, Value>) -> &'a Value {
    match o {
        Operand::Lit(v) => v,
        Operand::Prop(p) => row.get(p).unwrap_or(&Value::Null),
    }
}

/// Strings compare case-insensitively, as Dataverse and F&O (SQL collation) do.
fn compare(op: Op, a: &Value, b: &Value) -> bool {
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match (a, b) {
        (Value::String(x), Value::String(y)) => Some(x.to_lowercase().cmp(&y.to_lowercase())),
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .zip(y.as_f64())
            .and_then(|(x, y)| x.partial_cmp(&y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        _ => None,
    };
    match op {
        Op::Eq => ord == Some(Ordering::Equal),
        Op::Ne => ord != Some(Ordering::Equal),
        Op::Gt => ord == Some(Ordering::Greater),
        Op::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
        Op::Lt => ord == Some(Ordering::Less),
        Op::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row() -> Map<String, Value> {
        match json!({"Name": "O'Brien", "N": 5, "B": true, "Id": "4F2A4C1E-8A7E-4A43-9A60-5A3C2C1D9B10", "Z": null})
        {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn evaluates_the_supported_forms() {
        let r = row();
        for (f, want) in [
            ("Name eq 'O''Brien'", true),
            ("Name eq 'o''brien'", true),
            ("N eq 5 and B eq true", true),
            ("N ne 5 or (B eq false)", false),
            ("(N eq 4 or N eq 5) and not (B eq false)", true),
            ("Id eq 4f2a4c1e-8a7e-4a43-9a60-5a3c2c1d9b10", true),
            ("Z eq null and Missing eq null", true),
            ("N gt 4.5 and N le 5", true),
            ("B", true),
            ("N eq -1", false),
        ] {
            let e = parse(f).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert_eq!(e.eval(&r), want, "{f}");
        }
    }

    #[test]
    fn rejects_malformed_input_without_panicking() {
        for f in [
            "",
            "Name eq",
            "Name eq 'x",
            "(Name eq 'x'",
            "Name eq 'x')",
            "Name like 'x'",
            "eq eq eq",
            "Name eq 'x' and",
            "12abc eq 1",
            "Name ¤ 'x'",
            "'é",
            "((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((a eq 1))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))",
        ] {
            assert!(parse(f).is_err(), "{f:?} should not parse");
        }
    }

    #[test]
    fn lists_properties() {
        let e = parse("A eq 1 or (B eq 'x' and not C)")
            .unwrap_or(Expr::Truthy(Operand::Lit(Value::Null)));
        assert_eq!(e.properties(), vec!["A", "B", "C"]);
    }
}
