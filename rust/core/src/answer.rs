//! Structured answers: scalars, equations, intervals and unions, tuples, sets, lists of roots, matrices,
//! base-n numbers, text and multiple-choice letters.

use crate::expr::{is_greek, is_math_word, tok_text, tokenize, Expr, PResult, ParseError, Parser, Tok};
use crate::normalize::{matching_brace, normalize};
use num_bigint::BigInt;

/// Most items in a tuple, set, list or matrix.
pub const MAX_ITEMS: usize = 1024;

#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Scalar(Expr),
    /// `lhs = rhs`; `named` when `lhs` is a name (`x`, `f(x)`, `AB`, `a_n`), so `x = 5` also means `5`.
    Equation { lhs: Expr, rhs: Expr, named: Option<String> },
    Intervals(Vec<Interval>),
    Tuple { open: u8, close: u8, items: Vec<Answer> },
    Set(Vec<Answer>),
    /// A bare list (`-2, 3`, `x = 3 or x = -2`): unordered.
    List(Vec<Answer>),
    Matrix(Vec<Vec<Expr>>),
    BaseN { digits: String, base: u32, value: BigInt },
    Text(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    pub lo: Expr,
    pub hi: Expr,
    pub lo_closed: bool,
    pub hi_closed: bool,
}

/// A multiple-choice letter (`(C)`, `C`, `Option C`, `(C) 24`), upper-cased.
pub fn choice_letter(normalized: &str, strict: bool) -> Option<char> {
    choice_label(normalized, strict).map(|(c, _)| c)
}

/// The one option a predicted answer commits to: its letter, unless the answer names another option
/// too (`C or D`, `C and D`, `C or not C`, `(C), (D)`, `C & D`, `C D`, `C) 24 or D) 30`), which commits
/// to none.
///
/// ```
/// use stagekit_core::answer::single_choice;
/// assert_eq!(single_choice("(C) 24"), Some('C'));
/// assert_eq!(single_choice("D) Both A and B"), Some('D'));
/// assert_eq!(single_choice("C or D"), None);
/// assert_eq!(single_choice("(C), (D)"), None);
/// ```
pub fn single_choice(normalized: &str) -> Option<char> {
    let (c, rest) = choice_label(normalized, false)?;
    let lower = normalized.trim().chars().any(|x| x == c.to_ascii_lowercase())
        && !normalized.trim().contains(c);
    (!names_another_option(rest, c, lower)).then_some(c)
}

/// Whether the text after an option's label names another option: another labelled option `(X)` / `X)`
/// anywhere (`A) A)59` repeats its own label), a letter after a connective (`or`, `and`, `not`, `,`, `/`,
/// `&`, ...) right after the label, or nothing but a letter.
fn names_another_option(rest: &str, label: char, lower: bool) -> bool {
    let is_opt = |c: char| {
        if lower {
            ('a'..='j').contains(&c)
        } else {
            ('A'..='J').contains(&c)
        }
    };
    let chars: Vec<char> = rest.chars().collect();
    // `(D)` or ` D)` anywhere.
    for i in 0..chars.len() {
        if is_opt(chars[i])
            && chars[i].to_ascii_uppercase() != label
            && chars.get(i + 1) == Some(&')')
            && (i == 0 || !chars[i - 1].is_alphanumeric())
        {
            return true;
        }
    }
    // Connectives, then a letter standing alone (`B.G. and H.` is an option's text: no separator).
    if !chars.first().is_some_and(|c| c.is_whitespace() || ",;/&+".contains(*c)) {
        return false;
    }
    let mut i = 0;
    let mut connective = false;
    loop {
        while i < chars.len() && (chars[i].is_whitespace() || ",;/&+(".contains(chars[i])) {
            connective |= ",;/&+".contains(chars[i]);
            i += 1;
        }
        let start = i;
        while i < chars.len() && chars[i].is_alphanumeric() {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        if word.is_empty() {
            return false;
        }
        let standalone = i >= chars.len() || !chars[i].is_alphanumeric();
        if word.chars().count() == 1 && is_opt(word.chars().next().unwrap()) && standalone {
            let alone = chars[i..].iter().all(|c| !c.is_alphanumeric());
            return connective || alone;
        }
        if matches!(word.to_ascii_lowercase().as_str(), "or" | "and" | "nor" | "not" | "vs" | "versus" | "plus") {
            connective = true;
            continue;
        }
        return false;
    }
}

/// A multiple-choice label and the text after it.
fn choice_label(normalized: &str, strict: bool) -> Option<(char, &str)> {
    let s = normalized.trim();
    let low = s.to_ascii_lowercase();
    let s = ["option", "choice", "answer"]
        .iter()
        .find_map(|p| low.strip_prefix(p).map(|_| s[p.len()..].trim_start_matches([' ', ':'])))
        .unwrap_or(s);
    let b = s.as_bytes();
    let letter = |c: u8| (c as char).is_ascii_alphabetic() && (c.to_ascii_uppercase() as char) <= 'J';
    let up = |c: u8| (c as char).to_ascii_uppercase();
    match b {
        [c] if letter(*c) => Some((up(*c), "")),
        [b'(', c, b')'] if letter(*c) => Some((up(*c), "")),
        [b'(', c, b')', ..] if !strict && letter(*c) => Some((up(*c), &s[3..])),
        // `C) 24`, `A)36`, `D)-16.2`, `C: ...`, `A.Civic Park ...`, `D.5, 6` (the gold is a letter, so a
        // letter followed by punctuation is the option's label).
        [c, b')' | b':' | b'.', ..] if !strict && letter(*c) => Some((up(*c), &s[2..])),
        [c, b' ', ..] if !strict && letter(*c) && c.is_ascii_uppercase() => Some((*c as char, &s[1..])),
        _ => None,
    }
}

/// Parse an extracted answer.
///
/// The answer is at most [`crate::guard::MAX_DEPTH`] deep, and so is the recursion that drops it: on a
/// small thread stack, parse and drop it within [`crate::guard::entry`].
pub fn parse_answer(raw: &str) -> PResult<Answer> {
    let s = normalize(raw);
    parse_normalized(&s)
}

pub fn parse_normalized(s: &str) -> PResult<Answer> {
    let s = s.trim();
    if s.is_empty() {
        return Err(ParseError::Empty);
    }
    if let Some(t) = as_text(s) {
        return Ok(Answer::Text(t));
    }
    let s = strip_prefixes(s);
    let s = words_to_symbols(&s);
    let s = strip_units(&s);
    let s = strip_thousands(&s);
    if let Some(b) = base_n(&s) {
        return Ok(b);
    }
    if s.starts_with("\\begin") {
        if let Some(m) = matrix(&s)? {
            return Ok(m);
        }
    }
    let s = mixed_number(&s).unwrap_or(s);
    let mut toks = tokenize(&s)?;
    if toks.iter().any(|t| matches!(t, Tok::Word(w) if w != "or" && w != "and")) {
        if !s.contains(|c: char| c.is_ascii_digit() || "+-*/^=_()[]\\".contains(c)) {
            // Words left after unit stripping and no math: a text answer.
            return Ok(Answer::Text(text_key(&s)));
        }
        // Letters inside math are products of variables (`2xyz`, `LCs^2 + RCs + 1`).
        toks = split_words(toks);
    }
    parse_tokens(&toks)
}

/// Case- and space-insensitive key of a text answer.
pub fn text_key(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for w in s.split(|c: char| !c.is_alphanumeric()) {
        if !w.is_empty() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&w.to_lowercase());
        }
    }
    out
}

/// Answers made only of words (`\text{Tuesday}`, `even`, `north east`): their text key.
fn as_text(s: &str) -> Option<String> {
    if s.contains('\\') || s.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    let words: Vec<&str> = s.split(|c: char| c.is_whitespace() || c == '-' || c == '\'').filter(|w| !w.is_empty()).collect();
    if words.is_empty() || !words.iter().all(|w| w.chars().all(|c| c.is_alphabetic() || c == '.' || c == ',')) {
        return None;
    }
    let long_word = words.iter().any(|w| {
        let w = w.trim_matches(['.', ',']);
        w.chars().count() >= 3 && !is_math_word(&w.to_ascii_lowercase())
    });
    let non_ascii = s.chars().any(|c| c.is_alphabetic() && !c.is_ascii());
    if long_word || (non_ascii && s.chars().count() > 2) {
        Some(text_key(s))
    } else {
        None
    }
}

fn strip_prefixes(s: &str) -> String {
    let mut s = s.trim();
    // `x \in [2, 5)`, `x\in`.
    if let Some(p) = s.find("\\in ").or_else(|| s.find("\\in(")).or_else(|| s.find("\\in[")) {
        let head = s[..p].trim();
        if !head.is_empty() && head.len() <= 8 && head.chars().all(|c| c.is_alphanumeric() || c == '_') {
            s = s[p + 3..].trim();
        }
    }
    s.to_string()
}

fn words_to_symbols(s: &str) -> String {
    let mut t = s.replace(" percent", "%").replace("percent", "%");
    if t.contains(" per cent") {
        t = t.replace(" per cent", "%");
    }
    t
}

/// Drop trailing unit words: `12 cm`, `5 apples`, `3 square units`, `100 cm^2`, `2\pi cm`.
fn strip_units(s: &str) -> String {
    let mut s = s.trim_end().to_string();
    for _ in 0..8 {
        let Some(sp) = s.rfind(' ') else { break };
        let (head, word) = (s[..sp].trim_end(), s[sp + 1..].trim());
        let w = word.trim_end_matches('.');
        let w = match w.find('^') {
            Some(p) if w[p + 1..].trim_matches(['{', '}']).chars().all(|c| c.is_ascii_digit()) => &w[..p],
            _ => w,
        };
        // `cm`, `apples`, `km/h`, `m/s`: words of two or more letters or known unit symbols, joined by `/`
        // (but not `x/y` or `y-x`, which are math).
        let is_word = w.chars().filter(|c| c.is_alphabetic()).count() >= 2 && w.split('/').all(is_unit_token);
        let head_ok = head.chars().any(|c| c.is_ascii_digit() || c == '\\')
            && !head.ends_with(['+', '-', '*', '/', '=', '^', '(', '[', ',']);
        let lw = w.to_ascii_lowercase();
        if is_word && head_ok && !is_math_word(&lw) && !["or", "and"].contains(&lw.as_str()) {
            s = head.to_string();
        } else {
            break;
        }
    }
    s
}

/// One part of a plain-text unit: a word of two or more letters, or a common one-letter unit symbol.
fn is_unit_token(t: &str) -> bool {
    let n = t.chars().count();
    (n >= 2 && t.chars().all(|c| c.is_alphabetic()))
        || matches!(t, "m" | "s" | "g" | "h" | "l" | "L" | "N" | "J" | "W" | "V" | "A" | "K" | "Pa" | "min")
}

/// `3,607,421` → `3607421` when the whole answer is one number with thousands separators.
fn strip_thousands(s: &str) -> String {
    let body = s.trim_end_matches('%');
    let body = body.strip_prefix('-').unwrap_or(body);
    let int_part = body.split('.').next().unwrap_or("");
    let groups: Vec<&str> = int_part.split(',').collect();
    let frac_ok = body.split('.').nth(1).is_none_or(|f| f.chars().all(|c| c.is_ascii_digit()));
    if groups.len() >= 2
        && frac_ok
        && body.matches('.').count() <= 1
        && (1..=3).contains(&groups[0].len())
        && groups.iter().all(|g| g.chars().all(|c| c.is_ascii_digit()))
        && groups[1..].iter().all(|g| g.len() == 3)
    {
        return s.replace(',', "");
    }
    s.to_string()
}

/// A plain-text mixed number `2 1/3` (a proper fraction after a whole number) as `(2+1/3)`.
fn mixed_number(s: &str) -> Option<String> {
    let (sign, body) = match s.strip_prefix('-') {
        Some(b) => ("-", b),
        None => ("", s),
    };
    let (whole, frac) = body.split_once(' ')?;
    let (n, d) = frac.split_once('/')?;
    let all_digits = |x: &str| !x.is_empty() && x.len() <= 18 && x.bytes().all(|c| c.is_ascii_digit());
    if !(all_digits(whole) && all_digits(n) && all_digits(d)) {
        return None;
    }
    let (n, d): (u64, u64) = (n.parse().ok()?, d.parse().ok()?);
    (n > 0 && n < d).then(|| format!("{sign}({whole}+{n}/{d})"))
}

fn split_words(toks: Vec<Tok>) -> Vec<Tok> {
    let mut out = Vec::with_capacity(toks.len());
    for t in toks {
        match t {
            Tok::Word(w) if w != "or" && w != "and" => out.extend(w.chars().map(|c| Tok::Id(c.to_string()))),
            t => out.push(t),
        }
    }
    out
}

/// `1011_2`, `1011_{2}`, `A3F_{16}`.
fn base_n(s: &str) -> Option<Answer> {
    let (digits, base) = s.split_once('_')?;
    let base = base.trim().trim_start_matches('{').trim_end_matches('}').trim();
    let base: u32 = base.parse().ok()?;
    let digits = digits.trim();
    if !(2..=36).contains(&base) || digits.is_empty() || digits.len() > 256 {
        return None;
    }
    let value = BigInt::parse_bytes(digits.as_bytes(), base)?;
    Some(Answer::BaseN { digits: digits.to_ascii_uppercase(), base, value })
}

fn matrix(s: &str) -> PResult<Option<Answer>> {
    let Some(rest) = s.strip_prefix("\\begin{") else { return Ok(None) };
    let Some(close) = rest.find('}') else { return Ok(None) };
    let env = &rest[..close];
    if !env.ends_with("matrix") && env != "array" {
        return Ok(None);
    }
    let mut body = &rest[close + 1..];
    let end_tag = format!("\\end{{{env}}}");
    let Some(end) = body.rfind(&end_tag) else { return Ok(None) };
    if !body[end + end_tag.len()..].trim().is_empty() {
        return Ok(None);
    }
    body = &body[..end];
    if env == "array" {
        // Skip the column spec `{cc}`.
        if let Some(inner) = body.trim_start().strip_prefix('{') {
            if let Some(e) = matching_brace(inner, 0) {
                body = &inner[e + 1..];
            }
        }
    }
    let mut rows = Vec::new();
    for row in body.split("\\\\") {
        if row.trim().is_empty() {
            continue;
        }
        let mut cells = Vec::new();
        for cell in row.split('&') {
            let toks = tokenize(cell.trim())?;
            cells.push(Parser::parse_all(&toks)?);
            if cells.len() > MAX_ITEMS {
                return Err(ParseError::TooLong);
            }
        }
        rows.push(cells);
        if rows.len() > MAX_ITEMS {
            return Err(ParseError::TooLong);
        }
    }
    if rows.is_empty() || rows.iter().any(|r| r.len() != rows[0].len()) {
        return Err(ParseError::Unsupported("ragged matrix".into()));
    }
    Ok(Some(Answer::Matrix(rows)))
}

fn is_sep(t: &Tok) -> bool {
    matches!(t, Tok::Op(b',' | b';')) || matches!(t, Tok::Word(w) if w == "or" || w == "and")
}

/// Split at top-level tokens matching `pred` (outside every bracket).
fn split_top<'t>(toks: &'t [Tok], pred: impl Fn(&Tok) -> bool) -> Vec<&'t [Tok]> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, t) in toks.iter().enumerate() {
        match t {
            Tok::Open(_) => depth += 1,
            Tok::Close(_) => depth -= 1,
            _ if depth == 0 && pred(t) => {
                parts.push(&toks[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&toks[start..]);
    parts
}

/// Index of the bracket closing the opener at 0, matching any bracket kind (intervals mix them).
fn closing_of_first(toks: &[Tok]) -> Option<usize> {
    let mut depth = 0i32;
    for (i, t) in toks.iter().enumerate() {
        match t {
            Tok::Open(_) => depth += 1,
            Tok::Close(_) => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Parse a token stream as an answer. Linear in the tokens however deep the tuples, sets and lists
/// nest: brackets are matched once, and each level skips the groups nested in it.
pub fn parse_tokens(toks: &[Tok]) -> PResult<Answer> {
    Brackets::new(toks).parse(toks)
}

/// The closing bracket of every opening one in a token stream (any kind closes any kind, as depth
/// counting does), so a level of the structure finds its top-level tokens without walking the groups
/// inside it. Every slice it is asked about is part of the stream it was built from.
struct Brackets<'a> {
    base: &'a [Tok],
    /// Built on the first question.
    close: std::cell::OnceCell<Vec<u32>>,
}

impl<'a> Brackets<'a> {
    fn new(toks: &'a [Tok]) -> Self {
        Brackets { base: toks, close: std::cell::OnceCell::new() }
    }

    fn index(toks: &[Tok]) -> Vec<u32> {
        let mut close = vec![u32::MAX; toks.len()];
        let mut open = Vec::new();
        for (i, t) in toks.iter().enumerate() {
            match t {
                Tok::Open(_) => open.push(i),
                Tok::Close(_) => {
                    if let Some(o) = open.pop() {
                        close[o] = i as u32;
                    }
                }
                _ => {}
            }
        }
        close
    }

    fn offset(&self, part: &[Tok]) -> usize {
        (part.as_ptr() as usize - self.base.as_ptr() as usize) / std::mem::size_of::<Tok>()
    }

    /// Within `part`, the index of the bracket closing the opener at `i`, if it is in `part`.
    fn closing(&self, part: &[Tok], i: usize) -> Option<usize> {
        let at = self.offset(part);
        match self.close.get_or_init(|| Self::index(self.base)).get(at + i) {
            Some(&c) if c != u32::MAX && (c as usize) < at + part.len() => Some(c as usize - at),
            _ => None,
        }
    }

    /// [`split_top`], skipping every group nested at the top level in one step.
    fn split_top<'t>(&self, toks: &'t [Tok], pred: impl Fn(&Tok) -> bool) -> Vec<&'t [Tok]> {
        let mut parts = Vec::new();
        let mut depth = 0i32;
        let mut start = 0;
        let mut i = 0;
        while i < toks.len() {
            match &toks[i] {
                Tok::Open(_) => {
                    if depth == 0 {
                        if let Some(c) = self.closing(toks, i) {
                            i = c + 1;
                            continue;
                        }
                    }
                    depth += 1;
                }
                Tok::Close(_) => depth -= 1,
                t if depth == 0 && pred(t) => {
                    parts.push(&toks[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
            i += 1;
        }
        parts.push(&toks[start..]);
        parts
    }

    fn parse(&self, toks: &[Tok]) -> PResult<Answer> {
        crate::guard::recurse(|| self.parse_level(toks)).unwrap_or(Err(ParseError::TooDeep))
    }

    fn parse_level(&self, toks: &[Tok]) -> PResult<Answer> {
        if toks.is_empty() {
            return Err(ParseError::Empty);
        }
        // Unions of intervals.
        let cup = self.split_top(toks, |t| matches!(t, Tok::Cmd(c) if c == "cup"));
        if cup.len() > 1 {
            let mut ivs = Vec::new();
            for part in cup {
                let a = self.parse(part)?;
                ivs.extend(to_intervals(&a).ok_or_else(|| ParseError::Unsupported("\\cup of non-intervals".into()))?);
            }
            return Ok(Answer::Intervals(ivs));
        }
        if matches!(toks, [Tok::Cmd(c)] if c == "emptyset") {
            return Ok(Answer::Set(Vec::new()));
        }
        // Bracketed tuples, intervals and sets.
        if let (Some(Tok::Open(o)), Some(Tok::Close(c))) = (toks.first(), toks.last()) {
            if self.closing(toks, 0) == Some(toks.len() - 1) && *o != b'{' {
                let inner = &toks[1..toks.len() - 1];
                let items = self.split_top(inner, |t| matches!(t, Tok::Op(b',' | b';')));
                if *o == b'S' {
                    if inner.is_empty() {
                        return Ok(Answer::Set(Vec::new()));
                    }
                    return Ok(Answer::Set(self.parse_items(&items)?));
                }
                if items.len() >= 2 {
                    return Ok(Answer::Tuple { open: *o, close: *c, items: self.parse_items(&items)? });
                }
            }
        }
        let parts = self.split_top(toks, is_sep);
        if parts.len() > 1 {
            let parts: Vec<&[Tok]> = parts.into_iter().filter(|p| !p.is_empty()).collect();
            if parts.len() == 1 {
                return self.parse(parts[0]);
            }
            return Ok(Answer::List(self.parse_items(&parts)?));
        }
        relation(toks)
    }

    fn parse_items(&self, parts: &[&[Tok]]) -> PResult<Vec<Answer>> {
        if parts.len() > MAX_ITEMS {
            return Err(ParseError::TooLong);
        }
        parts.iter().map(|p| self.parse(p)).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Rel {
    Lt,
    Le,
    Gt,
    Ge,
    Ne,
}

fn rel_of(t: &Tok) -> Option<Rel> {
    match t {
        Tok::Op(b'<') => Some(Rel::Lt),
        Tok::Op(b'>') => Some(Rel::Gt),
        Tok::Cmd(c) => match c.as_str() {
            "le" => Some(Rel::Le),
            "ge" => Some(Rel::Ge),
            "ne" => Some(Rel::Ne),
            _ => None,
        },
        _ => None,
    }
}

fn relation(toks: &[Tok]) -> PResult<Answer> {
    // Equations: `x = 5`, `y = 2x + 1`, `x = 2 \cdot 3 = 6` (the last side is the value).
    let eq = split_top(toks, |t| matches!(t, Tok::Op(b'=')));
    if eq.len() > 1 {
        let lhs_t = eq[0];
        let rhs_t = eq[eq.len() - 1];
        let lhs = Parser::parse_all(lhs_t)?;
        let rhs = Parser::parse_all(rhs_t)?;
        let named = name_of(lhs_t);
        return Ok(Answer::Equation { lhs, rhs, named });
    }
    // Inequalities in one variable: `x > 3`, `-2 \le x < 5`, `3 < x`, `x \ne 3`.
    let mut parts: Vec<&[Tok]> = Vec::new();
    let mut rels = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, t) in toks.iter().enumerate() {
        match t {
            Tok::Open(_) => depth += 1,
            Tok::Close(_) => depth -= 1,
            _ if depth == 0 => {
                if let Some(r) = rel_of(t) {
                    parts.push(&toks[start..i]);
                    rels.push(r);
                    start = i + 1;
                }
            }
            _ => {}
        }
    }
    if !rels.is_empty() {
        parts.push(&toks[start..]);
        return inequality(&parts, &rels);
    }
    Ok(Answer::Scalar(Parser::parse_all(toks)?))
}

/// A name on the left of `=`: letters, subscripts, primes, and an optional argument list.
fn name_of(toks: &[Tok]) -> Option<String> {
    match toks.first() {
        Some(Tok::Id(_)) => {}
        Some(Tok::Cmd(c)) if is_greek(c) => {}
        _ => return None,
    }
    let mut i = 0;
    let mut name = String::new();
    while i < toks.len() {
        match &toks[i] {
            Tok::Id(s) => name.push_str(s),
            Tok::Cmd(c) if i == 0 => name.push_str(c),
            Tok::Op(b'_') | Tok::Op(b'\'') => name.push_str(&tok_text(&toks[i])),
            Tok::Num(n) if i > 0 && matches!(toks[i - 1], Tok::Op(b'_')) => name.push_str(n),
            Tok::Open(b'{') if i > 0 && matches!(toks[i - 1], Tok::Op(b'_')) => {
                let close = closing_of_first(&toks[i..])?;
                for t in &toks[i..=i + close] {
                    name.push_str(&tok_text(t));
                }
                i += close;
            }
            Tok::Open(b'(') if i > 0 => {
                let close = closing_of_first(&toks[i..])?;
                if i + close != toks.len() - 1 {
                    return None;
                }
                for t in &toks[i..] {
                    name.push_str(&tok_text(t));
                }
                return Some(name);
            }
            _ => return None,
        }
        i += 1;
    }
    if name.chars().count() > 12 {
        return None;
    }
    Some(name)
}

fn inequality(parts: &[&[Tok]], rels: &[Rel]) -> PResult<Answer> {
    let exprs: Vec<Expr> = parts.iter().map(|p| Parser::parse_all(p)).collect::<PResult<_>>()?;
    let is_var = |e: &Expr| matches!(e, Expr::Var(_));
    let unsupported = || ParseError::Unsupported("inequality not in one variable".into());
    match (exprs.len(), rels) {
        (2, [r]) => {
            let (var_left, bound) = if is_var(&exprs[0]) {
                (true, exprs[1].clone())
            } else if is_var(&exprs[1]) {
                (false, exprs[0].clone())
            } else {
                return Err(unsupported());
            };
            let neg_inf = Expr::Neg(Box::new(Expr::Inf));
            // Orient as `x REL bound`.
            let r = if var_left { *r } else { flip(*r) };
            let iv = |lo: Expr, hi: Expr, lc, hc| Interval { lo, hi, lo_closed: lc, hi_closed: hc };
            Ok(Answer::Intervals(match r {
                Rel::Lt => vec![iv(neg_inf, bound, false, false)],
                Rel::Le => vec![iv(neg_inf, bound, false, true)],
                Rel::Gt => vec![iv(bound, Expr::Inf, false, false)],
                Rel::Ge => vec![iv(bound, Expr::Inf, true, false)],
                Rel::Ne => vec![iv(neg_inf, bound.clone(), false, false), iv(bound, Expr::Inf, false, false)],
            }))
        }
        (3, [r1, r2]) if is_var(&exprs[1]) && !matches!(r1, Rel::Ne) && !matches!(r2, Rel::Ne) => {
            let ascending = matches!(r1, Rel::Lt | Rel::Le) && matches!(r2, Rel::Lt | Rel::Le);
            let descending = matches!(r1, Rel::Gt | Rel::Ge) && matches!(r2, Rel::Gt | Rel::Ge);
            if ascending {
                Ok(Answer::Intervals(vec![Interval {
                    lo: exprs[0].clone(),
                    hi: exprs[2].clone(),
                    lo_closed: *r1 == Rel::Le,
                    hi_closed: *r2 == Rel::Le,
                }]))
            } else if descending {
                Ok(Answer::Intervals(vec![Interval {
                    lo: exprs[2].clone(),
                    hi: exprs[0].clone(),
                    lo_closed: *r2 == Rel::Ge,
                    hi_closed: *r1 == Rel::Ge,
                }]))
            } else {
                Err(unsupported())
            }
        }
        _ => Err(unsupported()),
    }
}

fn flip(r: Rel) -> Rel {
    match r {
        Rel::Lt => Rel::Gt,
        Rel::Le => Rel::Ge,
        Rel::Gt => Rel::Lt,
        Rel::Ge => Rel::Le,
        Rel::Ne => Rel::Ne,
    }
}

/// The intervals an answer denotes, where it denotes intervals: `(a, b]`, `[a, b]`, a union, an
/// inequality, or a list of those (`x < 1 or x > 2`).
pub fn to_intervals(a: &Answer) -> Option<Vec<Interval>> {
    crate::guard::recurse(|| to_intervals_inner(a)).ok().flatten()
}

fn to_intervals_inner(a: &Answer) -> Option<Vec<Interval>> {
    match a {
        Answer::Intervals(v) => Some(v.clone()),
        Answer::Tuple { open, close, items } if items.len() == 2 => {
            let (Answer::Scalar(lo), Answer::Scalar(hi)) = (&items[0], &items[1]) else { return None };
            if !matches!(open, b'(' | b'[') || !matches!(close, b')' | b']') {
                return None;
            }
            Some(vec![Interval { lo: lo.clone(), hi: hi.clone(), lo_closed: *open == b'[', hi_closed: *close == b']' }])
        }
        Answer::List(items) => {
            let mut out = Vec::new();
            for it in items {
                out.extend(to_intervals(it)?);
            }
            Some(out)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Answer {
        parse_answer(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn kinds() {
        assert!(matches!(a("(1, 2)"), Answer::Tuple { .. }));
        assert!(matches!(a("[-2, 5)"), Answer::Tuple { open: b'[', close: b')', .. }));
        assert!(matches!(a("(-\\infty, 1) \\cup (2, \\infty)"), Answer::Intervals(v) if v.len() == 2));
        assert!(matches!(a("\\{1, 2\\}"), Answer::Set(v) if v.len() == 2));
        assert!(matches!(a("x = 3 \\text{ or } x = -2"), Answer::List(v) if v.len() == 2));
        assert!(matches!(a("-2, 3"), Answer::List(_)));
        assert!(matches!(a("y = 2x + 1"), Answer::Equation { named: Some(_), .. }));
        assert!(matches!(a("2x - y + 1 = 0"), Answer::Equation { named: None, .. }));
        assert!(matches!(a("x \\ge 3"), Answer::Intervals(_)));
        assert!(matches!(a("-2 \\le x < 5"), Answer::Intervals(_)));
        assert!(matches!(a("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}"), Answer::Matrix(m) if m.len() == 2));
        assert!(matches!(a("1011_2"), Answer::BaseN { base: 2, .. }));
        assert_eq!(a("\\text{Tuesday}"), Answer::Text("tuesday".into()));
        assert!(matches!(a("12 \\text{ cm}"), Answer::Scalar(_)));
        assert!(matches!(a("3,607,421"), Answer::Scalar(Expr::Num(_))));
        assert!(matches!(a("x \\in [2, 5)"), Answer::Tuple { .. }));
        assert!(matches!(a("2xyz"), Answer::Scalar(_)));
        assert!(matches!(a("\\frac{600}{7} km/h"), Answer::Scalar(Expr::Div(..))));
        assert!(matches!(a("5 m/s"), Answer::Scalar(Expr::Num(_))));
        assert!(!matches!(a("3 x - y"), Answer::Scalar(Expr::Num(_))));
        assert!(!matches!(a("2 x/y"), Answer::Scalar(Expr::Num(_))));
        assert_eq!(mixed_number("2 1/3").as_deref(), Some("(2+1/3)"));
        assert_eq!(mixed_number("-2 1/3").as_deref(), Some("-(2+1/3)"));
        assert_eq!(mixed_number("2 4/3"), None);
    }

    #[test]
    fn choices() {
        assert_eq!(choice_letter("(C)", true), Some('C'));
        assert_eq!(choice_letter("C", true), Some('C'));
        assert_eq!(choice_letter("Option C", true), Some('C'));
        assert_eq!(choice_letter("(C) 24", false), Some('C'));
        assert_eq!(choice_letter("C) 24", false), Some('C'));
        assert_eq!(choice_letter("(C) 24", true), None);
        assert_eq!(choice_letter("24", false), None);
        assert_eq!(choice_letter("b", true), Some('B'));
        assert_eq!(choice_letter("A)36", false), Some('A'));
        assert_eq!(choice_letter("D)-16.2", false), Some('D'));
        assert_eq!(choice_letter("A.Civic Park is north", false), Some('A'));
        assert_eq!(choice_letter("D.5, 6", false), Some('D'));
    }

    #[test]
    fn one_committed_choice() {
        for one in ["C", "(C)", "C) 24", "(C) 24", "C. Civic Park is north", "D) Both A and B", "(B) A right triangle",
            "C) f(x) = 2", "Option C", "C: 30 or more", "A) A)59", "B.G", "B.G. and H. are right"]
        {
            assert!(single_choice(one).is_some(), "{one}");
        }
        for two in ["C or D", "C and D", "C or not C", "(C), (D)", "C, D", "C & D", "C D", "C) 24 or D) 30",
            "(C) and (D)", "C or (D)", "C / D", "c or d", "(b), (c)"]
        {
            assert_eq!(single_choice(two), None, "{two}");
        }
    }
}
