//! Tokens and expressions: a small recursive-descent parser for the LaTeX and plain-text math that
//! reasoning models write in final answers.
//!
//! Bounded by construction: at most [`MAX_TOKENS`] tokens and [`MAX_DEPTH`] levels of nesting (the one
//! limit of [`crate::guard`], which every recursive step of the parser goes through), so parse time and
//! stack use are bounded whatever the input; an expression is never deeper than the limit either, so
//! the walks over it (evaluation, cloning, comparison) are bounded too.

use num_bigint::BigInt;
use num_rational::BigRational as Q;
use num_traits::{One, Zero};
use std::fmt;

/// Longest token stream the parser accepts.
pub const MAX_TOKENS: usize = 4096;
/// Deepest nesting (brackets, fractions, exponents) the parser accepts: the guard's one limit.
pub use crate::guard::MAX_DEPTH;
/// Longest digit string accepted in one numeric literal.
pub const MAX_LITERAL_DIGITS: usize = 6000;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Num(String),
    Id(String),
    Cmd(String),
    Op(u8),
    /// `(` `[` `{`, and `S` for `\{`.
    Open(u8),
    /// `)` `]` `}`, and `S` for `\}`.
    Close(u8),
    /// A plain word of three or more letters that is not a known function: text or a unit.
    Word(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    Empty,
    TooLong,
    TooDeep,
    Unexpected(String),
    Unsupported(String),
    BadLiteral,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => write!(f, "empty expression"),
            ParseError::TooLong => write!(f, "expression longer than {MAX_TOKENS} tokens"),
            ParseError::TooDeep => write!(f, "expression nested deeper than {MAX_DEPTH}"),
            ParseError::Unexpected(t) => write!(f, "unexpected {t}"),
            ParseError::Unsupported(c) => write!(f, "unsupported construct {c}"),
            ParseError::BadLiteral => write!(f, "bad numeric literal"),
        }
    }
}

pub type PResult<T> = Result<T, ParseError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Sin,
    Cos,
    Tan,
    Cot,
    Sec,
    Csc,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Tanh,
    Ln,
    Exp,
    Sqrt,
    Abs,
    Asinh,
    Acosh,
    Atanh,
    /// `\lfloor x \rfloor`.
    Floor,
    /// `\lceil x \rceil`.
    Ceil,
    /// `\log x` without a base: natural or decimal, depending on the convention (see
    /// `crate::equiv::decide`, which decides only what both readings agree on).
    Log,
}

/// Functions of several arguments: `\gcd(a, b)`, `\operatorname{lcm}(a, b)`, `\max(a, b)`, `\min(a, b)`, and
/// `a \bmod b` (two arguments, the remainder in `[0, |b|)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Multi {
    Gcd,
    Lcm,
    Max,
    Min,
    Mod,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// An exact literal: an integer, or a decimal whose fractional digits are all zero.
    Num(Q),
    /// A decimal literal with a nonzero fractional part (possibly a rounding).
    Dec(Q),
    Pi,
    E,
    I,
    Inf,
    Var(Box<str>),
    Neg(Box<Expr>),
    Add(Vec<Expr>),
    Mul(Vec<Expr>),
    Div(Box<Expr>, Box<Expr>),
    Pow(Box<Expr>, Box<Expr>),
    Func(Func, Box<Expr>),
    /// `log_base(arg)`; natural logarithm without a base.
    Log(Option<Box<Expr>>, Box<Expr>),
    /// `\sqrt[index]{radicand}`.
    Root(Box<Expr>, Box<Expr>),
    Fact(Box<Expr>),
    Binom(Box<Expr>, Box<Expr>),
    /// `a \pm b`: two values.
    Pm(Box<Expr>, Box<Expr>),
    /// `a%`.
    Percent(Box<Expr>),
    /// A function of several arguments.
    Call(Multi, Vec<Expr>),
}

impl Expr {
    pub fn int(n: i64) -> Expr {
        Expr::Num(Q::from_integer(BigInt::from(n)))
    }

    /// Whether any decimal literal with a fractional part occurs.
    pub fn has_decimal(&self) -> bool {
        let mut found = false;
        self.walk(&mut |e| {
            if matches!(e, Expr::Dec(_)) {
                found = true;
            }
        });
        found
    }

    pub fn has_pm(&self) -> bool {
        let mut found = false;
        self.walk(&mut |e| {
            if matches!(e, Expr::Pm(..)) {
                found = true;
            }
        });
        found
    }

    /// Variable names, sorted and deduplicated.
    pub fn vars(&self, out: &mut Vec<Box<str>>) {
        self.walk(&mut |e| {
            if let Expr::Var(v) = e {
                if !out.contains(v) {
                    out.push(v.clone());
                }
            }
        });
    }

    /// Visit every node, parent first. A walk that would pass the depth limit stops there (and the
    /// verdict of the pair is then `unparseable`, see [`crate::guard::watch`]).
    pub fn walk(&self, f: &mut impl FnMut(&Expr)) {
        let _ = crate::guard::recurse(|| self.walk_inner(f));
    }

    /// Whether the expression is at most `levels` deep (an iterative walk: no recursion).
    pub fn depth_at_most(&self, levels: usize) -> bool {
        let mut stack: Vec<(&Expr, usize)> = vec![(self, 1)];
        while let Some((e, d)) = stack.pop() {
            if d > levels {
                return false;
            }
            match e {
                Expr::Neg(a) | Expr::Func(_, a) | Expr::Fact(a) | Expr::Percent(a) => stack.push((a, d + 1)),
                Expr::Add(v) | Expr::Mul(v) | Expr::Call(_, v) => stack.extend(v.iter().map(|x| (x, d + 1))),
                Expr::Div(a, b) | Expr::Pow(a, b) | Expr::Root(a, b) | Expr::Binom(a, b) | Expr::Pm(a, b) => {
                    stack.push((a, d + 1));
                    stack.push((b, d + 1));
                }
                Expr::Log(b, a) => {
                    if let Some(b) = b {
                        stack.push((b, d + 1));
                    }
                    stack.push((a, d + 1));
                }
                _ => {}
            }
        }
        true
    }

    fn walk_inner(&self, f: &mut impl FnMut(&Expr)) {
        f(self);
        match self {
            Expr::Neg(a) | Expr::Func(_, a) | Expr::Fact(a) | Expr::Percent(a) => a.walk(f),
            Expr::Add(v) | Expr::Mul(v) | Expr::Call(_, v) => v.iter().for_each(|x| x.walk(f)),
            Expr::Div(a, b) | Expr::Pow(a, b) | Expr::Root(a, b) | Expr::Binom(a, b) | Expr::Pm(a, b) => {
                a.walk(f);
                b.walk(f);
            }
            Expr::Log(b, a) => {
                if let Some(b) = b {
                    b.walk(f);
                }
                a.walk(f);
            }
            _ => {}
        }
    }

    /// A copy with every subexpression for which `f` gives a replacement replaced (top down).
    pub fn rewrite(&self, f: &impl Fn(&Expr) -> Option<Expr>) -> Expr {
        crate::guard::recurse(|| self.rewrite_inner(f)).unwrap_or_else(|_| self.clone())
    }

    fn rewrite_inner(&self, f: &impl Fn(&Expr) -> Option<Expr>) -> Expr {
        if let Some(r) = f(self) {
            return r;
        }
        let b = |x: &Expr| Box::new(x.rewrite(f));
        match self {
            Expr::Neg(a) => Expr::Neg(b(a)),
            Expr::Func(g, a) => Expr::Func(*g, b(a)),
            Expr::Fact(a) => Expr::Fact(b(a)),
            Expr::Percent(a) => Expr::Percent(b(a)),
            Expr::Add(v) => Expr::Add(v.iter().map(|x| x.rewrite(f)).collect()),
            Expr::Mul(v) => Expr::Mul(v.iter().map(|x| x.rewrite(f)).collect()),
            Expr::Call(g, v) => Expr::Call(*g, v.iter().map(|x| x.rewrite(f)).collect()),
            Expr::Div(x, y) => Expr::Div(b(x), b(y)),
            Expr::Pow(x, y) => Expr::Pow(b(x), b(y)),
            Expr::Root(x, y) => Expr::Root(b(x), b(y)),
            Expr::Binom(x, y) => Expr::Binom(b(x), b(y)),
            Expr::Pm(x, y) => Expr::Pm(b(x), b(y)),
            Expr::Log(base, a) => Expr::Log(base.as_ref().map(|x| b(x)), b(a)),
            other => other.clone(),
        }
    }

    /// Expand every `±` into the values it denotes (at most 2^4 of them).
    pub fn expand_pm(&self) -> Vec<Expr> {
        if !self.has_pm() {
            return vec![self.clone()];
        }
        let mut out = vec![self.clone()];
        for _ in 0..4 {
            let mut next = Vec::new();
            let mut changed = false;
            for e in &out {
                match split_first_pm(e) {
                    Some((a, b)) => {
                        changed = true;
                        next.push(a);
                        next.push(b);
                    }
                    None => next.push(e.clone()),
                }
            }
            out = next;
            if !changed {
                break;
            }
        }
        out
    }
}

/// Replace the first `a ± b` by `a + b` and `a - b`.
fn split_first_pm(e: &Expr) -> Option<(Expr, Expr)> {
    fn go(e: &Expr, plus: bool, done: &mut bool) -> Expr {
        if *done {
            return e.clone();
        }
        // Past the depth limit the copy is left as it is (and the verdict is `unparseable`).
        crate::guard::recurse(|| go_inner(e, plus, done)).unwrap_or_else(|_| e.clone())
    }
    fn go_inner(e: &Expr, plus: bool, done: &mut bool) -> Expr {
        match e {
            Expr::Pm(a, b) => {
                *done = true;
                if plus {
                    Expr::Add(vec![(**a).clone(), (**b).clone()])
                } else {
                    Expr::Add(vec![(**a).clone(), Expr::Neg(b.clone())])
                }
            }
            Expr::Neg(a) => Expr::Neg(Box::new(go(a, plus, done))),
            Expr::Func(f, a) => Expr::Func(*f, Box::new(go(a, plus, done))),
            Expr::Fact(a) => Expr::Fact(Box::new(go(a, plus, done))),
            Expr::Percent(a) => Expr::Percent(Box::new(go(a, plus, done))),
            Expr::Add(v) => Expr::Add(v.iter().map(|x| go(x, plus, done)).collect()),
            Expr::Mul(v) => Expr::Mul(v.iter().map(|x| go(x, plus, done)).collect()),
            Expr::Call(f, v) => Expr::Call(*f, v.iter().map(|x| go(x, plus, done)).collect()),
            Expr::Div(a, b) => Expr::Div(Box::new(go(a, plus, done)), Box::new(go(b, plus, done))),
            Expr::Pow(a, b) => Expr::Pow(Box::new(go(a, plus, done)), Box::new(go(b, plus, done))),
            Expr::Root(a, b) => Expr::Root(Box::new(go(a, plus, done)), Box::new(go(b, plus, done))),
            Expr::Binom(a, b) => Expr::Binom(Box::new(go(a, plus, done)), Box::new(go(b, plus, done))),
            Expr::Log(b, a) => Expr::Log(b.as_ref().map(|b| Box::new(go(b, plus, done))), Box::new(go(a, plus, done))),
            other => other.clone(),
        }
    }
    if !e.has_pm() {
        return None;
    }
    let mut d1 = false;
    let plus = go(e, true, &mut d1);
    let mut d2 = false;
    let minus = go(e, false, &mut d2);
    Some((plus, minus))
}

const FUNC_WORDS: &[(&str, Func)] = &[
    ("sin", Func::Sin),
    ("cos", Func::Cos),
    ("tan", Func::Tan),
    ("cot", Func::Cot),
    ("sec", Func::Sec),
    ("csc", Func::Csc),
    ("arcsin", Func::Asin),
    ("arccos", Func::Acos),
    ("arctan", Func::Atan),
    ("asin", Func::Asin),
    ("acos", Func::Acos),
    ("atan", Func::Atan),
    ("sinh", Func::Sinh),
    ("cosh", Func::Cosh),
    ("tanh", Func::Tanh),
    ("ln", Func::Ln),
    ("exp", Func::Exp),
    ("sqrt", Func::Sqrt),
    ("abs", Func::Abs),
    ("arsinh", Func::Asinh),
    ("arcosh", Func::Acosh),
    ("artanh", Func::Atanh),
];

/// Functions of several arguments, by name (`\gcd`, `\lcm` from `\operatorname{lcm}`, `gcd(..)` typed).
fn multi_of(name: &str) -> Option<Multi> {
    Some(match name {
        "gcd" | "hcf" => Multi::Gcd,
        "lcm" => Multi::Lcm,
        "max" => Multi::Max,
        "min" => Multi::Min,
        _ => return None,
    })
}

fn func_of(name: &str) -> Option<Func> {
    FUNC_WORDS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

const GREEK: &[&str] = &[
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu", "nu",
    "xi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda",
    "Xi", "Sigma", "Phi", "Psi", "Omega",
];

const ACCENTS: &[&str] =
    &["dot", "ddot", "hat", "bar", "vec", "tilde", "overline", "widehat", "widetilde", "overrightarrow", "check"];

/// `\dot`, `\hat`, `\overline`, ...: a decoration that makes a name of its own.
pub fn is_accent(name: &str) -> bool {
    ACCENTS.contains(&name)
}

/// A function name the parser applies (`sin`, `log`, `sqrt`, `gcd`, `lfloor`, ...).
pub fn is_function(name: &str) -> bool {
    func_of(name).is_some()
        || multi_of(name).is_some()
        || matches!(name, "log" | "lg" | "ln" | "sqrt" | "lfloor" | "lceil" | "rfloor" | "rceil" | "floor" | "ceil")
}

pub fn is_greek(name: &str) -> bool {
    GREEK.contains(&name)
}

/// Words a plain-text answer may use that are math, not text.
pub fn is_math_word(w: &str) -> bool {
    func_of(w).is_some() || matches!(w, "log" | "lg" | "pi" | "inf" | "infty" | "infinity" | "or" | "and")
}

/// Tokenize a normalized answer.
pub fn tokenize(s: &str) -> PResult<Vec<Tok>> {
    let b = s.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if toks.len() > MAX_TOKENS {
            return Err(ParseError::TooLong);
        }
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'0'..=b'9' | b'.' => {
                let start = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                if i < b.len() && b[i] == b'.' && i + 1 < b.len() && b[i + 1].is_ascii_digit() {
                    i += 1;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                } else if i < b.len() && b[i] == b'.' && i == start {
                    // A lone '.' is punctuation.
                    i += 1;
                    continue;
                }
                // Scientific notation `2.4e8`, `1E-3` (not `2e` = 2·e, nor `2ex`).
                if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
                    let mut j = i + 1;
                    if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
                        j += 1;
                    }
                    let ds = j;
                    while j < b.len() && b[j].is_ascii_digit() {
                        j += 1;
                    }
                    if j > ds && (j >= b.len() || !b[j].is_ascii_alphabetic()) {
                        i = j;
                    }
                }
                if i - start > MAX_LITERAL_DIGITS {
                    return Err(ParseError::TooLong);
                }
                // Two numbers side by side (`4 5`, `1 234`, `1.2.3`) are no product: `4 5` is not 20, nor
                // 45. Only a command's unbraced arguments are (`\frac 3 4`, `\binom 5 2`, `x^2 3`).
                if let [.., before, Tok::Num(_)] = toks.as_slice() {
                    if !matches!(before, Tok::Cmd(_) | Tok::Op(b'^' | b'_')) {
                        return Err(ParseError::Unexpected("two numbers side by side".into()));
                    }
                }
                if toks.len() == 1 && matches!(toks[0], Tok::Num(_)) {
                    return Err(ParseError::Unexpected("two numbers side by side".into()));
                }
                toks.push(Tok::Num(s[start..i].to_string()));
            }
            b'a'..=b'z' | b'A'..=b'Z' => {
                let start = i;
                while i < b.len() && b[i].is_ascii_alphabetic() {
                    i += 1;
                }
                let w = &s[start..i];
                // `gcd(4, 6)`, also `\mathrm{lcm} (4, 6)` once unwrapped.
                let call = s[i..].trim_start().starts_with('(');
                if (call && (multi_of(w).is_some() || matches!(w, "floor" | "ceil")))
                    || matches!(w, "arcsinh" | "asinh" | "arccosh" | "acosh" | "arctanh" | "atanh")
                {
                    // `gcd(4, 6)`, `floor(x)` typed as words (`5 min` stays a unit); `asinh x`.
                    let name = match w {
                        "arcsinh" | "asinh" => "arsinh",
                        "arccosh" | "acosh" => "arcosh",
                        "arctanh" | "atanh" => "artanh",
                        w => w,
                    };
                    toks.push(Tok::Cmd(name.to_string()));
                } else if func_of(w).is_some() || matches!(w, "log" | "lg") {
                    toks.push(Tok::Cmd(w.to_string()));
                } else if w == "mod" {
                    // `17 mod 5`, `(mod 7)`.
                    toks.push(Tok::Cmd("bmod".into()));
                } else if w == "pi" {
                    toks.push(Tok::Cmd("pi".into()));
                } else if matches!(w, "inf" | "infty" | "infinity" | "oo") {
                    toks.push(Tok::Cmd("infty".into()));
                } else if w.len() >= 3 || w.eq_ignore_ascii_case("or") {
                    toks.push(Tok::Word(if w.eq_ignore_ascii_case("or") || w.eq_ignore_ascii_case("and") {
                        w.to_ascii_lowercase()
                    } else {
                        w.to_string()
                    }));
                } else {
                    for ch in w.chars() {
                        toks.push(Tok::Id(ch.to_string()));
                    }
                }
            }
            b'\\' => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && b[j].is_ascii_alphabetic() {
                    j += 1;
                }
                if j == start {
                    match b.get(start) {
                        Some(b'{') => toks.push(Tok::Open(b'S')),
                        Some(b'}') => toks.push(Tok::Close(b'S')),
                        Some(b'\\') => toks.push(Tok::Op(b'R')),
                        Some(b'|') => toks.push(Tok::Op(b'|')),
                        Some(b'%') => toks.push(Tok::Op(b'%')),
                        Some(b',') | Some(b';') | Some(b'!') | Some(b' ') => {}
                        _ => return Err(ParseError::Unexpected(format!("'\\' at {i}"))),
                    }
                    i = (start + 1).min(b.len());
                    continue;
                }
                let name = &s[start..j];
                i = j;
                match name {
                    "or" => toks.push(Tok::Word("or".into())),
                    "and" => toks.push(Tok::Word("and".into())),
                    _ => toks.push(Tok::Cmd(name.to_string())),
                }
            }
            b'(' | b'[' | b'{' => {
                toks.push(Tok::Open(c));
                i += 1;
            }
            b')' | b']' | b'}' => {
                toks.push(Tok::Close(c));
                i += 1;
            }
            // ASCII relations: `<=`, `>=`, and `!=` after a name (`x!=2`; `5!=120` is a factorial).
            b'<' | b'>' if b.get(i + 1) == Some(&b'=') => {
                toks.push(Tok::Cmd(if c == b'<' { "le" } else { "ge" }.into()));
                i += 2;
            }
            b'!' if b.get(i + 1) == Some(&b'=') && !matches!(toks.last(), Some(Tok::Num(_) | Tok::Close(_) | Tok::Op(b'!'))) => {
                toks.push(Tok::Cmd("ne".into()));
                i += 2;
            }
            // `x**2`: a power, as Python writes it.
            b'*' if b.get(i + 1) == Some(&b'*') => {
                toks.push(Tok::Op(b'^'));
                i += 2;
            }
            b'+' | b'-' | b'*' | b'/' | b'^' | b'_' | b'!' | b'=' | b'<' | b'>' | b',' | b';' | b'|' | b':' | b'%'
            | b'&' | b'\'' => {
                toks.push(Tok::Op(c));
                i += 1;
            }
            _ => {
                let ch = s[i..].chars().next().unwrap();
                if ch.is_alphabetic() && !ch.is_ascii() && ch.len_utf8() <= 2 {
                    // Greek and other single letters typed directly are variables.
                    toks.push(Tok::Id(ch.to_string()));
                    i += ch.len_utf8();
                } else {
                    return Err(ParseError::Unexpected(format!("{ch:?}")));
                }
            }
        }
    }
    if toks.is_empty() {
        return Err(ParseError::Empty);
    }
    Ok(toks)
}

/// Parse a number literal: `12`, `3.25`, `.5`, `2.4e8`.
pub fn parse_number(s: &str) -> PResult<Expr> {
    let (mant, exp) = match s.find(['e', 'E']) {
        Some(p) => (&s[..p], s[p + 1..].parse::<i64>().map_err(|_| ParseError::BadLiteral)?),
        None => (s, 0),
    };
    if exp.abs() > 4000 {
        return Err(ParseError::TooLong);
    }
    let (int_part, frac_part) = match mant.find('.') {
        Some(p) => (&mant[..p], &mant[p + 1..]),
        None => (mant, ""),
    };
    let digits = format!("{int_part}{frac_part}");
    let digits = if digits.is_empty() { "0".to_string() } else { digits };
    let n = BigInt::parse_bytes(digits.as_bytes(), 10).ok_or(ParseError::BadLiteral)?;
    let scale = exp - frac_part.len() as i64;
    let ten = BigInt::from(10);
    let q = if scale >= 0 {
        Q::from_integer(n * num_traits::pow(ten, scale as usize))
    } else {
        Q::new(n, num_traits::pow(ten, (-scale) as usize))
    };
    // A nonzero fractional digit marks a possibly rounded value, also in scientific notation (`1.1e8`,
    // like `1.1\times10^8`).
    let fractional = frac_part.bytes().any(|c| c != b'0');
    Ok(if fractional { Expr::Dec(q) } else { Expr::Num(q) })
}

pub struct Parser<'a> {
    toks: &'a [Tok],
    pos: usize,
    /// A digit left over after `\frac34` took its first digit.
    pending_digits: Option<String>,
}

impl<'a> Parser<'a> {
    pub fn new(toks: &'a [Tok]) -> Self {
        Parser { toks, pos: 0, pending_digits: None }
    }

    /// Parse the whole token slice as one expression.
    pub fn parse_all(toks: &'a [Tok]) -> PResult<Expr> {
        if toks.is_empty() {
            return Err(ParseError::Empty);
        }
        if toks.len() > MAX_TOKENS {
            return Err(ParseError::TooLong);
        }
        let mut p = Parser::new(toks);
        let e = p.sum()?;
        if p.pending_digits.is_some() || p.pos < toks.len() {
            return Err(ParseError::Unexpected(format!("{:?}", p.peek())));
        }
        // Chains built by loops (`a/b/c`, `3!!`) nest without recursing; no expression is deeper than
        // the limit, so every walk over it (and its clone, comparison and drop) stays bounded.
        // Every level of an expression takes a token of its own, so only a long stream needs the walk.
        let room = MAX_DEPTH.saturating_sub(crate::guard::depth());
        if toks.len() >= room && !e.depth_at_most(room) {
            return Err(ParseError::TooDeep);
        }
        Ok(e)
    }

    fn peek(&self) -> Option<&'a Tok> {
        if self.pending_digits.is_some() {
            return None; // callers check pending_digits first where it matters
        }
        self.toks.get(self.pos)
    }

    fn peek_op(&self, op: u8) -> bool {
        self.pending_digits.is_none() && matches!(self.toks.get(self.pos), Some(Tok::Op(o)) if *o == op)
    }

    fn bump(&mut self) -> Option<&'a Tok> {
        let t = self.toks.get(self.pos);
        self.pos += 1;
        t
    }

    /// Parse one level of nesting deeper, through the guard (see [`crate::guard`]).
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        crate::guard::recurse(|| f(self)).unwrap_or(Err(ParseError::TooDeep))
    }

    /// One more link of a chain that a loop builds (`a/b/c`, `3!!`): `links` links nest that deep.
    fn chain(&self, links: usize) -> PResult<()> {
        crate::guard::fits(links).map_err(|_| ParseError::TooDeep)
    }

    /// [`mul`] onto `acc` nests one level unless `acc` is already a product.
    fn link(&self, acc: &Expr, links: &mut usize) -> PResult<()> {
        if !matches!(acc, Expr::Mul(_)) {
            *links += 1;
            self.chain(*links)?;
        }
        Ok(())
    }

    /// sum := ['+'|'-'|'\pm'] term (('+'|'-'|'\pm'|'\mp') term)*
    fn sum(&mut self) -> PResult<Expr> {
        self.nested(|p| p.sum_inner())
    }

    fn sum_inner(&mut self) -> PResult<Expr> {
        let mut terms: Vec<Expr> = Vec::new();
        let mut sign = 1i8;
        let mut lead_pm = false;
        if self.peek_op(b'-') {
            self.bump();
            sign = -1;
        } else if self.peek_op(b'+') {
            self.bump();
        } else if matches!(self.peek(), Some(Tok::Cmd(c)) if c == "pm" || c == "mp") {
            self.bump();
            lead_pm = true;
        }
        loop {
            let t = self.term()?;
            terms.push(if sign < 0 { Expr::Neg(Box::new(t)) } else { t });
            if self.peek_op(b'+') {
                self.bump();
                sign = 1;
            } else if self.peek_op(b'-') {
                self.bump();
                sign = -1;
            } else if matches!(self.peek(), Some(Tok::Cmd(c)) if c == "pm" || c == "mp") {
                self.bump();
                let rest = self.sum()?;
                let left = if terms.len() == 1 { terms.pop().unwrap() } else { Expr::Add(terms) };
                return Ok(Expr::Pm(Box::new(left), Box::new(rest)));
            } else {
                break;
            }
        }
        let e = if terms.len() == 1 { terms.pop().unwrap() } else { Expr::Add(terms) };
        Ok(if lead_pm { Expr::Pm(Box::new(Expr::int(0)), Box::new(e)) } else { e })
    }

    /// term := factor (('*'|'/'|implicit) factor)*
    fn term(&mut self) -> PResult<Expr> {
        let first_is_int = matches!(self.peek(), Some(Tok::Num(n)) if n.bytes().all(|c| c.is_ascii_digit()))
            && !matches!(self.toks.get(self.pos + 1), Some(Tok::Op(b'^' | b'!' | b'_')));
        let mut acc = self.signed_factor()?;
        let mut n_factors = 1;
        // Levels the loop has wrapped around the first factor (`a/b/c` nests; `abc` stays flat).
        let mut links = 0;
        loop {
            if self.pending_digits.is_some() {
                let f = self.power()?;
                self.link(&acc, &mut links)?;
                acc = mul(acc, f);
                n_factors += 1;
                continue;
            }
            match self.peek() {
                Some(Tok::Op(b'*')) => {
                    self.bump();
                    let f = self.signed_factor()?;
                    self.link(&acc, &mut links)?;
                    acc = mul(acc, f);
                    n_factors += 1;
                }
                Some(Tok::Op(b'/')) => {
                    self.bump();
                    let f = self.signed_factor()?;
                    // `1/2x`, `1/2\pi`, `6/2(1+2)`: a divisor followed by a product is read as `(1/2)x` by
                    // some and as `1/(2x)` by others (`1/2\pi` is rarely `\pi/2`); neither is a guess.
                    if self.pending_digits.is_some() || self.peek().is_some_and(starts_atom) {
                        return Err(ParseError::Unsupported("ambiguous `a/bc`: (a/b)c or a/(bc)".into()));
                    }
                    links += 1;
                    self.chain(links)?;
                    acc = Expr::Div(Box::new(acc), Box::new(f));
                    n_factors += 1;
                }
                Some(Tok::Cmd(c)) if c == "bmod" => {
                    // `17 \bmod 5`: binds like a product.
                    self.bump();
                    let f = self.signed_factor()?;
                    links += 1;
                    self.chain(links)?;
                    acc = Expr::Call(Multi::Mod, vec![acc, f]);
                    n_factors += 1;
                }
                Some(t) if starts_atom(t) => {
                    // Mixed number: `2\frac{1}{3}` is 2 + 1/3, not 2 · 1/3.
                    let mixed_candidate = first_is_int && n_factors == 1 && matches!(t, Tok::Cmd(c) if c == "frac");
                    let f = self.power()?;
                    if mixed_candidate {
                        if let Some(frac) = proper_fraction(&f) {
                            acc = Expr::Add(vec![acc, frac]);
                            n_factors += 1;
                            continue;
                        }
                    }
                    self.link(&acc, &mut links)?;
                    acc = mul(acc, f);
                    n_factors += 1;
                }
                _ => break,
            }
        }
        Ok(acc)
    }

    fn signed_factor(&mut self) -> PResult<Expr> {
        if self.peek_op(b'-') {
            self.bump();
            let f = self.nested(|p| p.signed_factor())?;
            return Ok(Expr::Neg(Box::new(f)));
        }
        if self.peek_op(b'+') {
            // `++-+1`: unary plus changes nothing (a loop, not a recursion).
            while self.peek_op(b'+') {
                self.bump();
            }
            return self.signed_factor();
        }
        self.power()
    }

    /// power := postfix ['^' exponent]
    fn power(&mut self) -> PResult<Expr> {
        let base = self.postfix()?;
        if self.peek_op(b'^') {
            self.bump();
            let exp = self.nested(|p| p.exponent())?;
            let mut e = Expr::Pow(Box::new(base), Box::new(exp));
            // Factorial or percent after the power: `x^2!` is rare; `10^2%` handled by postfix ops.
            let mut links = 1;
            while self.peek_op(b'!') {
                self.bump();
                self.double_factorial()?;
                self.chain(links)?;
                links += 1;
                e = Expr::Fact(Box::new(e));
            }
            return Ok(e);
        }
        Ok(base)
    }

    fn exponent(&mut self) -> PResult<Expr> {
        if self.peek_op(b'-') {
            self.bump();
            let e = self.nested(|p| p.exponent())?;
            return Ok(Expr::Neg(Box::new(e)));
        }
        if self.peek_op(b'+') {
            self.bump();
        }
        // An unbraced exponent is one atom (with its own exponent: `2^3^2` = 2^(3^2)).
        self.power()
    }

    /// `n!!` is the double factorial, not `(n!)!`: not evaluated, so it is never read as the other
    /// (`4!!` is 8 in one reading and 24! in the other). `(4!)!` is written with brackets.
    fn double_factorial(&self) -> PResult<()> {
        if self.peek_op(b'!') {
            return Err(ParseError::Unsupported("double factorial `!!`".into()));
        }
        Ok(())
    }

    /// postfix := atom ('!' | '%' | "'")*
    fn postfix(&mut self) -> PResult<Expr> {
        let mut e = self.atom()?;
        let mut links = 1;
        loop {
            if self.peek_op(b'!') {
                self.bump();
                self.double_factorial()?;
                self.chain(links)?;
                e = Expr::Fact(Box::new(e));
            } else if self.peek_op(b'%') {
                self.bump();
                self.chain(links)?;
                e = Expr::Percent(Box::new(e));
            } else {
                return Ok(e);
            }
            links += 1;
        }
    }

    fn atom(&mut self) -> PResult<Expr> {
        if let Some(d) = self.pending_digits.take() {
            return parse_number(&d);
        }
        let tok = self.bump().ok_or_else(|| ParseError::Unexpected("end of input".into()))?;
        match tok {
            Tok::Num(s) => parse_number(s),
            Tok::Id(name) => self.variable(name.clone()),
            Tok::Open(o @ (b'(' | b'{' | b'[')) => {
                let e = self.nested(|p| p.sum())?;
                if *o == b'{' && matches!(self.peek(), Some(Tok::Cmd(c)) if c == "choose") {
                    // `{n \choose k}`.
                    self.bump();
                    let k = self.nested(|p| p.sum())?;
                    return match self.bump() {
                        Some(Tok::Close(b'}')) => Ok(Expr::Binom(Box::new(e), Box::new(k))),
                        other => Err(ParseError::Unexpected(format!("{other:?}, expected '}}'"))),
                    };
                }
                match self.bump() {
                    Some(Tok::Close(c)) if *o == b'{' && *c == b'}' => Ok(e),
                    Some(Tok::Close(c)) if *o != b'{' && (*c == b')' || *c == b']') => Ok(e),
                    other => Err(ParseError::Unexpected(format!("{other:?}, expected a closing bracket"))),
                }
            }
            Tok::Op(b'|') => {
                let e = self.nested(|p| p.sum())?;
                match self.bump() {
                    Some(Tok::Op(b'|')) => Ok(Expr::Func(Func::Abs, Box::new(e))),
                    other => Err(ParseError::Unexpected(format!("{other:?}, expected '|'"))),
                }
            }
            Tok::Cmd(c) => self.command(c),
            other => Err(ParseError::Unexpected(format!("{other:?}"))),
        }
    }

    fn variable(&mut self, mut name: String) -> PResult<Expr> {
        if self.peek_op(b'_') {
            self.bump();
            let sub = self.raw_group()?;
            name.push('_');
            name.push_str(&sub);
        }
        while self.peek_op(b'\'') {
            self.bump();
            name.push('\'');
        }
        Ok(match name.as_str() {
            "e" => Expr::E,
            "i" => Expr::I,
            _ => Expr::Var(name.into_boxed_str()),
        })
    }

    /// The tokens of a subscript as text: `_1`, `_{n+1}`, `_n`.
    fn raw_group(&mut self) -> PResult<String> {
        match self.bump() {
            Some(Tok::Open(b'{')) => {
                let mut s = String::new();
                let mut depth = 1;
                loop {
                    match self.bump() {
                        Some(Tok::Open(b'{')) => {
                            depth += 1;
                            s.push('{');
                        }
                        Some(Tok::Close(b'}')) => {
                            depth -= 1;
                            if depth == 0 {
                                return Ok(s);
                            }
                            s.push('}');
                        }
                        Some(t) => s.push_str(&tok_text(t)),
                        None => return Err(ParseError::Unexpected("unclosed subscript".into())),
                    }
                }
            }
            Some(Tok::Num(n)) => {
                // `a_12` in plain text; `x_1` is the common case.
                Ok(n.clone())
            }
            Some(t) => Ok(tok_text(t)),
            None => Err(ParseError::Unexpected("end of input after '_'".into())),
        }
    }

    /// A command argument: `{...}`, or one token (one digit of a number: `\frac34`).
    fn arg(&mut self) -> PResult<Expr> {
        if let Some(d) = self.pending_digits.take() {
            return self.single_digit_of(d);
        }
        match self.peek() {
            Some(Tok::Open(b'{')) => {
                self.bump();
                let e = self.nested(|p| p.sum())?;
                match self.bump() {
                    Some(Tok::Close(b'}')) => Ok(e),
                    other => Err(ParseError::Unexpected(format!("{other:?}, expected '}}'"))),
                }
            }
            Some(Tok::Num(n)) if n.len() > 1 && n.bytes().all(|c| c.is_ascii_digit()) => {
                let n = n.clone();
                self.bump();
                self.single_digit_of(n)
            }
            Some(_) => self.nested(|p| p.atom()),
            None => Err(ParseError::Unexpected("end of input, expected an argument".into())),
        }
    }

    fn single_digit_of(&mut self, digits: String) -> PResult<Expr> {
        let (first, rest) = digits.split_at(1);
        if !rest.is_empty() {
            self.pending_digits = Some(rest.to_string());
        }
        parse_number(first)
    }

    fn command(&mut self, c: &str) -> PResult<Expr> {
        match c {
            "frac" => {
                let a = self.arg()?;
                let b = self.arg()?;
                Ok(Expr::Div(Box::new(a), Box::new(b)))
            }
            "binom" | "C" => {
                let a = self.arg()?;
                let b = self.arg()?;
                Ok(Expr::Binom(Box::new(a), Box::new(b)))
            }
            "sqrt" => {
                if matches!(self.peek(), Some(Tok::Open(b'['))) {
                    self.bump();
                    let idx = self.nested(|p| p.sum())?;
                    match self.bump() {
                        Some(Tok::Close(b']')) => {}
                        other => return Err(ParseError::Unexpected(format!("{other:?}, expected ']'"))),
                    }
                    let x = self.arg()?;
                    return Ok(Expr::Root(Box::new(idx), Box::new(x)));
                }
                if matches!(self.peek(), Some(Tok::Open(b'('))) {
                    let x = self.atom()?;
                    return Ok(Expr::Func(Func::Sqrt, Box::new(x)));
                }
                let x = self.arg()?;
                Ok(Expr::Func(Func::Sqrt, Box::new(x)))
            }
            "lfloor" | "lceil" => {
                let e = self.nested(|p| p.sum())?;
                let (close, f) = if c == "lfloor" { ("rfloor", Func::Floor) } else { ("rceil", Func::Ceil) };
                match self.bump() {
                    Some(Tok::Cmd(r)) if r == close => {}
                    other => return Err(ParseError::Unexpected(format!("{other:?}, expected \\{close}"))),
                }
                Ok(Expr::Func(f, Box::new(e)))
            }
            "floor" | "ceil" => {
                let f = if c == "floor" { Func::Floor } else { Func::Ceil };
                let arg = self.func_arg()?;
                Ok(Expr::Func(f, Box::new(arg)))
            }
            name if multi_of(name).is_some() => {
                // `\gcd(12, 18)`, `\max\{a, b\}`: the arguments, separated by commas.
                let f = multi_of(name).unwrap_or(Multi::Max);
                let close = match self.bump() {
                    Some(Tok::Open(b'(')) => b')',
                    Some(Tok::Open(b'{')) => b'}',
                    Some(Tok::Open(b'S')) => b'S',
                    other => return Err(ParseError::Unexpected(format!("{other:?}, expected the arguments of \\{name}"))),
                };
                let mut args = vec![self.nested(|p| p.sum())?];
                while self.peek_op(b',') {
                    self.bump();
                    args.push(self.nested(|p| p.sum())?);
                    if args.len() > crate::answer::MAX_ITEMS {
                        return Err(ParseError::TooLong);
                    }
                }
                match self.bump() {
                    Some(Tok::Close(c)) if *c == close || (close == b')' && *c == b']') => {}
                    other => return Err(ParseError::Unexpected(format!("{other:?}, expected a closing bracket"))),
                }
                if args.len() < 2 && matches!(f, Multi::Gcd | Multi::Lcm | Multi::Mod) {
                    return Err(ParseError::Unsupported(format!("\\{name} of one argument")));
                }
                Ok(Expr::Call(f, args))
            }
            "pi" => Ok(Expr::Pi),
            "infty" | "infin" => Ok(Expr::Inf),
            "e" | "mathrm{e}" => Ok(Expr::E),
            "imath" => Ok(Expr::I),
            "log" | "lg" | "ln" => {
                let base = if c == "ln" {
                    None
                } else if self.peek_op(b'_') {
                    self.bump();
                    let b = self.nested(|p| p.arg())?;
                    Some(Box::new(b))
                } else if c == "lg" {
                    Some(Box::new(Expr::int(10)))
                } else {
                    let power = self.func_power()?;
                    let arg = self.func_arg()?;
                    return Ok(apply_power(Expr::Func(Func::Log, Box::new(arg)), power));
                };
                let power = self.func_power()?;
                let arg = self.func_arg()?;
                let e = Expr::Log(base, Box::new(arg));
                Ok(apply_power(e, power))
            }
            name => {
                if let Some(f) = func_of(name) {
                    let power = self.func_power()?;
                    // `\sin^{-1} x` is arcsin.
                    let (f, power) = match (&power, f) {
                        (Some(p), Func::Sin | Func::Cos | Func::Tan | Func::Sinh | Func::Cosh | Func::Tanh)
                            if is_minus_one(p) =>
                        {
                            let inv = match f {
                                Func::Sin => Func::Asin,
                                Func::Cos => Func::Acos,
                                Func::Tan => Func::Atan,
                                Func::Sinh => Func::Asinh,
                                Func::Cosh => Func::Acosh,
                                _ => Func::Atanh,
                            };
                            (inv, None)
                        }
                        _ => (f, power),
                    };
                    let arg = self.func_arg()?;
                    return Ok(apply_power(Expr::Func(f, Box::new(arg)), power));
                }
                if GREEK.contains(&name) {
                    return self.variable(name.to_string());
                }
                if ACCENTS.contains(&name) {
                    // `\dot{x}`, `\hat{v}`, `\overline{AB}`: a decorated name is a variable of its own.
                    let inner = self.raw_group()?;
                    return self.variable(format!("{name}{{{inner}}}"));
                }
                Err(ParseError::Unsupported(format!("\\{name}")))
            }
        }
    }

    fn func_power(&mut self) -> PResult<Option<Expr>> {
        if self.peek_op(b'^') {
            self.bump();
            let p = self.nested(|p| p.exponent())?;
            Ok(Some(p))
        } else {
            Ok(None)
        }
    }

    /// A function argument: `(x)`, `{x}`, or an implicit product of atoms (`\sin 2x`), stopping at
    /// another function (`\sin x \cos x`).
    fn func_arg(&mut self) -> PResult<Expr> {
        self.nested(|p| {
            if matches!(p.peek(), Some(Tok::Open(b'(' | b'{'))) {
                let a = p.atom()?;
                // `\sin(x)^2` — power binds to the application, handled by the caller's power loop.
                return Ok(a);
            }
            let mut acc = p.power()?;
            while let Some(t) = p.peek() {
                let is_func = matches!(t, Tok::Cmd(c) if func_of(c).is_some() || c == "log" || c == "ln");
                if !starts_atom(t) || is_func || matches!(t, Tok::Open(_)) {
                    break;
                }
                let f = p.power()?;
                acc = mul(acc, f);
            }
            Ok(acc)
        })
    }
}

fn is_minus_one(e: &Expr) -> bool {
    matches!(e, Expr::Neg(x) if matches!(&**x, Expr::Num(q) if q.is_one()))
}

fn apply_power(e: Expr, p: Option<Expr>) -> Expr {
    match p {
        Some(p) => Expr::Pow(Box::new(e), Box::new(p)),
        None => e,
    }
}

fn mul(a: Expr, b: Expr) -> Expr {
    match a {
        Expr::Mul(mut v) => {
            v.push(b);
            Expr::Mul(v)
        }
        a => Expr::Mul(vec![a, b]),
    }
}

/// `p/q` with integer literals and 0 < p < q: the fractional part of a mixed number.
fn proper_fraction(e: &Expr) -> Option<Expr> {
    if let Expr::Div(a, b) = e {
        if let (Expr::Num(p), Expr::Num(q)) = (&**a, &**b) {
            if p.is_integer() && q.is_integer() && !p.is_zero() && p < q && p > &Q::zero() {
                return Some(e.clone());
            }
        }
    }
    None
}

fn starts_atom(t: &Tok) -> bool {
    match t {
        Tok::Num(_) | Tok::Id(_) => true,
        Tok::Open(b'(' | b'{' | b'[') => true,
        Tok::Cmd(c) => {
            matches!(
                c.as_str(),
                "frac" | "sqrt" | "binom" | "pi" | "log" | "lg" | "ln" | "e" | "imath" | "infty" | "lfloor" | "lceil" | "floor" | "ceil"
            ) || multi_of(c).is_some()
                || func_of(c).is_some()
                || GREEK.contains(&c.as_str())
                || ACCENTS.contains(&c.as_str())
        }
        _ => false,
    }
}

pub fn tok_text(t: &Tok) -> String {
    match t {
        Tok::Num(s) | Tok::Id(s) | Tok::Word(s) => s.clone(),
        Tok::Cmd(c) => format!("\\{c}"),
        Tok::Op(b'R') => "\\\\".into(),
        Tok::Op(o) => (*o as char).to_string(),
        Tok::Open(b'S') => "\\{".into(),
        Tok::Close(b'S') => "\\}".into(),
        Tok::Open(o) | Tok::Close(o) => (*o as char).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Expr {
        let t = tokenize(s).unwrap();
        Parser::parse_all(&t).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn numbers() {
        assert_eq!(p("12"), Expr::int(12));
        assert!(matches!(p("2.5"), Expr::Dec(_)));
        assert!(matches!(p("2.0"), Expr::Num(_)));
        assert_eq!(p("2.4e8"), Expr::Dec(Q::from_integer(BigInt::from(240_000_000))));
        assert_eq!(p("24e7"), Expr::int(240_000_000));
    }

    #[test]
    fn frac_shorthand_and_mixed() {
        assert_eq!(p("\\frac34"), Expr::Div(Box::new(Expr::int(3)), Box::new(Expr::int(4))));
        assert!(matches!(p("2\\frac{1}{3}"), Expr::Add(_)));
        assert!(matches!(p("2\\frac{4}{3}"), Expr::Mul(_)));
        assert!(matches!(p("x\\frac{1}{3}"), Expr::Mul(_)));
    }

    #[test]
    fn functions() {
        assert!(matches!(p("\\sin^2 x"), Expr::Pow(..)));
        assert!(matches!(p("\\sin^{-1} x"), Expr::Func(Func::Asin, _)));
        assert!(matches!(p("\\sin x \\cos x"), Expr::Mul(_)));
        assert!(matches!(p("\\log_2 8"), Expr::Log(Some(_), _)));
        assert!(matches!(p("\\sqrt[3]{8}"), Expr::Root(..)));
        assert!(matches!(p("|x|"), Expr::Func(Func::Abs, _)));
    }

    #[test]
    fn pm() {
        let e = p("1\\pm\\sqrt2");
        assert!(matches!(e, Expr::Pm(..)));
        assert_eq!(e.expand_pm().len(), 2);
    }

    #[test]
    fn limits() {
        let deep = format!("{}2{}", "(".repeat(MAX_DEPTH + 10), ")".repeat(MAX_DEPTH + 10));
        let t = tokenize(&deep).unwrap();
        assert_eq!(Parser::parse_all(&t), Err(ParseError::TooDeep));
        let ok = format!("{}2{}", "(".repeat(200), ")".repeat(200));
        let t = tokenize(&ok).unwrap();
        assert_eq!(Parser::parse_all(&t), Ok(Expr::int(2)));
    }
}
