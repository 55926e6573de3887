//! Structured answers: scalars, equations, intervals and unions, tuples, sets, lists of roots, matrices,
//! base-n numbers, text and multiple-choice letters.

use crate::eval::{Env, Exact};
use crate::expr::{is_accent, is_function, is_greek, is_math_word, tok_text, tokenize, Expr, PResult, ParseError, Parser, Tok};
use num_rational::BigRational as Q;
use num_traits::{One, Signed, Zero};
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
    /// `expr REL 0` (`Lt`, `Le` or `Ne`): an inequality that is not one in a single variable solved to
    /// intervals (`a < b` is `a - b < 0`, `b > a` too; `x^2 < 4`).
    Relation { rel: Rel, expr: Expr },
    /// `value (mod modulus)`: `2 \pmod 5`, `x \equiv 3 \pmod 7`.
    Congruence { value: Expr, modulus: Expr },
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
    // Another option's letter glued to a bracketed label (`(C)D`, `C)D0`; not a word: `(C)Dog`; after
    // `B.` or `A:` a letter may begin the option's own text: `B.G`, `A:I and II only`).
    let label = &normalized[..normalized.len() - rest.len()];
    let mut after = rest.chars();
    let glued = label.ends_with(')')
        && after.next().is_some_and(|x| x.is_ascii_uppercase() && x != c && x <= 'J')
        && after.next().is_none_or(|x| !x.is_alphabetic());
    (!glued && !names_another_option(rest, c, lower)).then_some(c)
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
    let s = ordinal(&s).unwrap_or(s);
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
    let toks = leibniz(toks);
    parse_tokens(&toks)
}

/// `12^{th}`, `12^th`, `1st`, `2^{nd}`, `3rd` (the whole answer an ordinal): its number.
fn ordinal(s: &str) -> Option<String> {
    let t = s.trim();
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).filter(|&p| p > 0)?;
    let (num, rest) = t.split_at(digits_end);
    let rest: String = rest.chars().filter(|c| !matches!(c, '^' | '{' | '}')).collect();
    let rest = rest.trim();
    matches!(rest.to_ascii_lowercase().as_str(), "st" | "nd" | "rd" | "th").then(|| num.to_string())
}

/// Leibniz notation as one name: `\frac{d\omega}{dt}` is `\dot\omega` (a time derivative), `\frac{dy}{dx}`
/// and `dy/dx` are `y'`, `\frac{d^2x}{dt^2}` is `\ddot x` (else `d` would cancel: `\frac{dy}{dx}` = `y/x`).
fn leibniz(toks: Vec<Tok>) -> Vec<Tok> {
    let is_d = |t: Option<&Tok>| matches!(t, Some(Tok::Id(d)) if d == "d");
    if !toks.iter().any(|t| matches!(t, Tok::Id(d) if d == "d")) {
        return toks;
    }
    let name = |t: Option<&Tok>| -> Option<String> {
        match t {
            Some(Tok::Id(x)) if x != "d" => Some(x.clone()),
            Some(Tok::Cmd(c)) if is_greek(c) => Some(format!("\\{c}")),
            _ => None,
        }
    };
    let var = |t: Option<&Tok>| matches!(t, Some(Tok::Id(x)) if x != "d");
    let derivative = |x: &str, t: &Tok, order: usize| -> Tok {
        if matches!(t, Tok::Id(v) if v == "t") {
            Tok::Id(format!("{}{{{x}}}", if order == 1 { "dot" } else { "ddot" }))
        } else {
            Tok::Id(format!("{}{}", x.trim_start_matches('\\'), "'".repeat(order)))
        }
    };
    let two = |t: Option<&Tok>| matches!(t, Some(Tok::Num(n)) if n == "2");
    let op = |t: Option<&Tok>, o: u8| matches!(t, Some(Tok::Op(c)) if *c == o);
    let open = |t: Option<&Tok>| matches!(t, Some(Tok::Open(b'{')));
    let close = |t: Option<&Tok>| matches!(t, Some(Tok::Close(b'}')));
    let mut out = Vec::with_capacity(toks.len());
    let mut i = 0;
    while i < toks.len() {
        let at = |k: usize| toks.get(i + k);
        if matches!(at(0), Some(Tok::Cmd(c)) if c == "frac") && open(at(1)) && is_d(at(2)) {
            // \frac{dX}{dT}
            if let (Some(x), true, true, true, true, true) = (name(at(3)), close(at(4)), open(at(5)), is_d(at(6)), var(at(7)), close(at(8))) {
                out.push(derivative(&x, at(7).unwrap_or(&toks[i]), 1));
                i += 9;
                continue;
            }
            // \frac{d^2X}{dT^2}
            if op(at(3), b'^') && two(at(4)) {
                if let (Some(x), true, true, true, true, true, true, true) =
                    (name(at(5)), close(at(6)), open(at(7)), is_d(at(8)), var(at(9)), op(at(10), b'^'), two(at(11)), close(at(12)))
                {
                    out.push(derivative(&x, at(9).unwrap_or(&toks[i]), 2));
                    i += 13;
                    continue;
                }
            }
        }
        // dX/dT, not after a factor it could multiply.
        let after_factor = matches!(out.last(), Some(Tok::Id(_) | Tok::Num(_) | Tok::Close(_)));
        if !after_factor && is_d(at(0)) && op(at(2), b'/') && is_d(at(3)) && var(at(4)) && !op(at(5), b'^') {
            if let Some(x) = name(at(1)) {
                out.push(derivative(&x, at(4).unwrap_or(&toks[i]), 1));
                i += 5;
                continue;
            }
        }
        out.push(toks[i].clone());
        i += 1;
    }
    out
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

/// Drop trailing unit words: `12 cm`, `5 apples`, `3 square units`, `100 cm^2`, `2\pi cm`,
/// `15,000 kcal m^{-2} yr^{-1}`, `600/7 km/h`. A unit is a known unit symbol (`cm`, `km/h`, `yr`, `Å`) or a
/// word of four or more letters (`apples`); other short letter groups after a number are products of
/// variables (`2 xy`, `\ln ab`, `2\pi rh`), never dropped. A one-letter symbol (`m`, `s`) is dropped only
/// inside a unit phrase already being dropped (`kcal m^{-2} yr^{-1}`), or in a compound (`m/s`).
fn strip_units(s: &str) -> String {
    let mut s = s.trim_end().to_string();
    let mut in_phrase = false;
    let mut pending_power: Option<String> = None;
    for _ in 0..8 {
        let Some(sp) = s.rfind(' ') else { break };
        let (head, word) = (s[..sp].trim_end(), s[sp + 1..].trim());
        let w = word.trim_end_matches('.');
        let w = match w.find('^') {
            Some(p) if is_unit_exponent(&w[p + 1..]) => &w[..p],
            _ => w,
        };
        // `cm`, `apples`, `km/h`, `m/s`: unit words and symbols, joined by `/` (not `x/y`, which is math).
        let letters = w.chars().filter(|c| c.is_alphabetic()).count();
        // A one-letter symbol alone only where it cannot be a variable (`Å`, `Ω`).
        let lone_ok = in_phrase || !w.is_ascii();
        let is_word = (letters >= 2 || lone_ok) && w.split('/').all(is_unit_token) && (letters >= 2 || is_unit_symbol(w));
        let head_ok = head.chars().any(|c| c.is_ascii_digit() || c == '\\')
            && !head.ends_with(['+', '-', '*', '/', '=', '^', '(', '[', ',']);
        let lw = w.to_ascii_lowercase();
        // `4 thousand`, `4 squared`, `4 is wrong`: words that change or judge the value are never units
        // (`squared`/`cubed` only after a unit word: `5 cm squared`).
        let power = matches!(lw.as_str(), "squared" | "cubed");
        if is_word && head_ok && !is_math_word(&lw) && (power || !crate::normalize::never_unit_word(&lw)) {
            if power {
                pending_power = Some(s.clone());
            } else {
                pending_power = None;
            }
            s = head.to_string();
            in_phrase = true;
        } else {
            break;
        }
    }
    // The phrase may not start with `squared`/`cubed` (`4 squared` is 16).
    pending_power.unwrap_or(s)
}

/// The exponent of a unit: `2`, `{2}`, `-1`, `{-2}`.
fn is_unit_exponent(e: &str) -> bool {
    let e = e.trim_matches(['{', '}']);
    let e = e.strip_prefix('-').unwrap_or(e);
    !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
}

/// One part of a plain-text unit: a known unit symbol, a word of four or more letters (`apples`), or a
/// word of three with a vowel (`men`, `cds`) that is not a product of variables (`abc`, `xyz`).
fn is_unit_token(t: &str) -> bool {
    let n = t.chars().count();
    let word = t.chars().all(|c| c.is_alphabetic());
    is_unit_symbol(t)
        || (word && n >= 4)
        || (word
            && n == 3
            && t.chars().any(|c| "aeiouAEIOU".contains(c))
            && !matches!(t, "abc" | "xyz" | "pqr" | "uvw" | "rst" | "ijk" | "abd" | "acd" | "bcd" | "ace" | "xyt" | "uvt"))
}

/// Unit symbols and short unit words a number may be followed by.
fn is_unit_symbol(t: &str) -> bool {
    const UNITS: &[&str] = &[
        // Length, time, mass, volume (one-letter symbols count only inside a unit phrase or a compound).
        "m", "cm", "mm", "km", "nm", "μm", "µm", "s", "ms", "μs", "ns", "sec", "secs", "min", "mins", "h", "hr", "hrs",
        "day", "days", "wk", "yr", "yrs", "g", "kg", "mg", "t", "l", "L", "ml", "mL", "cc",
        // Mechanics, electricity, energy.
        "N", "kN", "J", "kJ", "MJ", "W", "kW", "MW", "V", "kV", "mV", "A", "mA", "K", "Pa", "kPa", "MPa", "atm", "bar", "Hz",
        "kHz", "MHz", "GHz", "eV", "keV", "MeV", "GeV", "mol", "cal", "kcal", "kWh", "psi", "dB", "rpm", "ppm",
        // Customary units and currencies.
        "ft", "yd", "mi", "mph", "kph", "kmh", "lb", "lbs", "oz", "gal", "sq", "acre", "mpg", "USD", "EUR",
        // Angles, astronomy, symbols no variable is named by.
        "deg", "rad", "Ω", "\u{2126}", "ohm", "ohms", "Å", "\u{212B}", "kpc", "Mpc", "AU", "km²", "m²", "cm²", "m³", "cm³",
    ];
    UNITS.contains(&t)
}

/// `3,607,421` → `3607421` when the whole answer is one number with thousands separators.
fn strip_thousands(s: &str) -> String {
    let body = s.trim_end_matches('%');
    let body = body.strip_prefix('-').unwrap_or(body);
    let int_part = body.split('.').next().unwrap_or("");
    let groups: Vec<&str> = int_part.split(',').collect();
    let frac_ok = body.split('.').nth(1).is_none_or(|f| f.chars().all(|c| c.is_ascii_digit()));
    // `0,500` is no thousands-separated number (a decimal comma, which is never read as one).
    if groups.len() >= 2
        && !groups[0].starts_with('0')
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
            if self.closing(toks, 0) == Some(toks.len() - 1) {
                let inner = &toks[1..toks.len() - 1];
                let items = self.split_top(inner, |t| matches!(t, Tok::Op(b',' | b';')));
                // `{1, 2, 3}` typed without backslashes is the set (a group of one is just a group).
                if *o == b'S' || (*o == b'{' && items.len() >= 2) {
                    if inner.is_empty() {
                        return Ok(Answer::Set(Vec::new()));
                    }
                    return Ok(Answer::Set(self.parse_items(&items)?));
                }
                if items.len() >= 2 && *o != b'{' {
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
        self.relation(toks)
    }

    fn parse_items(&self, parts: &[&[Tok]]) -> PResult<Vec<Answer>> {
        if parts.len() > MAX_ITEMS {
            return Err(ParseError::TooLong);
        }
        parts.iter().map(|p| self.parse(p)).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rel {
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

/// The side-separating relations of an answer line: `=`, `\equiv` (an identity, also the `=` of a
/// congruence) and `\approx`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Eq,
    Approx,
}

fn side_of(t: &Tok) -> Option<Side> {
    match t {
        Tok::Op(b'=') => Some(Side::Eq),
        Tok::Cmd(c) if c == "equiv" => Some(Side::Eq),
        Tok::Cmd(c) if c == "approx" => Some(Side::Approx),
        _ => None,
    }
}

/// A chain whose constant sides clearly differ (`x = 2 + 2 = 5`, `2 + 2 = 4 = 5`) states nothing: an error
/// (`unparseable`), not its last side. Sides joined by `≈` may differ; sides within 1% are left to the
/// tolerance (`\frac13 = 0.333`).
fn false_chain(sides: &[&[Tok]], kinds: &[Side]) -> PResult<()> {
    if kinds.iter().any(|k| *k != Side::Eq) || sides.len() > 16 {
        return Ok(());
    }
    let env = Env { names: &[], values: &[] };
    let values: Vec<(Q, bool)> = sides
        .iter()
        .filter_map(|t| Parser::parse_all(t).ok())
        .filter_map(|e| {
            let mut dec = false;
            e.walk(&mut |x| dec |= matches!(x, Expr::Dec(_)));
            Exact::default().eval(&e, &env).ok().map(|q| (q, dec))
        })
        .collect();
    for w in values.windows(2) {
        let ((a, da), (b, db)) = (&w[0], &w[1]);
        let scale = if a.abs() > b.abs() { a.abs() } else { b.abs() };
        // Exact sides differ when they differ at all (`19 \times 38 = 723`); a decimal by more than 1%.
        if a != b && (!(*da || *db) || (a - b).abs() * Q::from_integer(100.into()) >= scale) {
            return Err(ParseError::Unsupported("a chain whose sides differ".into()));
        }
    }
    Ok(())
}

impl Brackets<'_> {
    /// An answer line without top-level commas: a congruence, an equation or chain (`x = 2 \cdot 3 = 6`),
    /// a named value (`\tan A = 2`, `(p, q) = (3, 2)`, `x \approx 600`), a ratio (`7:32`), an inequality,
    /// or an expression.
    fn relation(&self, toks: &[Tok]) -> PResult<Answer> {
        if let Some(a) = self.congruence(toks)? {
            return Ok(a);
        }
        // Most answers hold no `=`, `≈`, `:` or relation: no split (and no allocation) for them.
        if !toks.iter().any(|t| side_of(t).is_some()) {
            return self.value_of(toks);
        }
        let (sides, kinds) = split_kinds(toks, side_of);
        if sides.len() > 1 {
            let name = name_of(sides[0]);
            // The value is the last side, or where the line says `≈`, the side before it (`x = 2\sqrt2 \approx
            // 2.83` commits to `2\sqrt2`; `x \approx 600` to 600: the `≈` right after a name is its `=`).
            let skip = usize::from(name.is_some());
            let last = kinds.iter().enumerate().skip(skip).find(|(_, k)| **k == Side::Approx).map_or(sides.len() - 1, |(i, _)| i);
            if last == 0 {
                return self.value_of(sides[0]);
            }
            // Two value sides at least (`x = 2 + 2 = 5`; `11 + 2 = 22` alone is a computation, see `equiv`).
            if last > skip + usize::from(skip == 0) {
                false_chain(&sides[skip..=last], &kinds[skip..last])?;
            }
            let rhs_t = sides[last];
            // A right side in variables is a curve or a function (`y^2 = 4x`): only a plain name (`y`,
            // `f(x)`, `v(r)`, `a_n`) then names it; `BC^2`, `\tan A`, `|AB|` name values only.
            let name = name.filter(|_| plain_name(sides[0]) || !has_variable(rhs_t));
            if let Some(name) = name {
                return match (Parser::parse_all(sides[0]), Parser::parse_all(rhs_t)) {
                    (Ok(lhs), Ok(rhs)) => Ok(Answer::Equation { lhs, rhs, named: Some(name) }),
                    // `(p, q) = (3, 2)`, `S = \{1, 2\}`, `S_{ABC}:S = 7:32`: a name labels the value.
                    _ => self.parse(rhs_t),
                };
            }
            let lhs = Parser::parse_all(sides[0])?;
            let rhs = Parser::parse_all(rhs_t)?;
            return Ok(Answer::Equation { lhs, rhs, named: None });
        }
        self.value_of(toks)
    }

    /// One side: a ratio (`7:32`), an inequality, or an expression.
    fn value_of(&self, toks: &[Tok]) -> PResult<Answer> {
        if !toks.iter().any(|t| matches!(t, Tok::Op(b':')) || rel_of(t).is_some()) {
            return Ok(Answer::Scalar(Parser::parse_all(toks)?));
        }
        let ratio = self.split_top(toks, |t| matches!(t, Tok::Op(b':')));
        if ratio.len() > 1 {
            if ratio.iter().any(|p| p.is_empty()) || ratio.len() > MAX_ITEMS {
                return Err(ParseError::Unsupported("ratio".into()));
            }
            let items = ratio.iter().map(|p| Parser::parse_all(p).map(Answer::Scalar)).collect::<PResult<Vec<_>>>()?;
            return Ok(Answer::Tuple { open: b':', close: b':', items });
        }
        let (parts, rels) = split_kinds(toks, rel_of);
        if !rels.is_empty() {
            return inequality(&parts, &rels);
        }
        Ok(Answer::Scalar(Parser::parse_all(toks)?))
    }

    /// `a \pmod n`, `a \pmod{n}`, `a (\bmod n)`, `a (mod n)`, with `x \equiv a` or `x = a` before it.
    fn congruence(&self, toks: &[Tok]) -> PResult<Option<Answer>> {
        let n = toks.len();
        if !matches!(toks.last(), Some(Tok::Close(b')' | b'}') | Tok::Num(_) | Tok::Id(_))) {
            return Ok(None);
        }
        let (head, modulus) = if let Some(p) = toks.iter().rposition(|t| matches!(t, Tok::Cmd(c) if c == "pmod")) {
            let arg = &toks[p + 1..];
            let arg = match arg {
                [Tok::Open(b'{'), inner @ .., Tok::Close(b'}')] if self.closing(arg, 0) == Some(arg.len() - 1) => inner,
                [one] => std::slice::from_ref(one),
                _ => return Ok(None),
            };
            (&toks[..p], arg)
        } else if n >= 4 && matches!(toks[n - 1], Tok::Close(b')')) {
            let Some(open) = (0..n).rev().find(|&i| matches!(toks[i], Tok::Open(b'(')) && self.closing(toks, i) == Some(n - 1)) else {
                return Ok(None);
            };
            if open == 0 || !matches!(&toks[open + 1], Tok::Cmd(c) if c == "bmod") {
                return Ok(None);
            }
            (&toks[..open], &toks[open + 2..n - 1])
        } else {
            return Ok(None);
        };
        if head.is_empty() || modulus.is_empty() {
            return Err(ParseError::Unsupported("congruence".into()));
        }
        let modulus = Parser::parse_all(modulus)?;
        let (sides, _) = split_kinds(head, side_of);
        let value = match sides.as_slice() {
            [v] => Parser::parse_all(v)?,
            [name, v] if name_of(name).is_some() => Parser::parse_all(v)?,
            _ => return Err(ParseError::Unsupported("congruence".into())),
        };
        Ok(Some(Answer::Congruence { value, modulus }))
    }
}

/// Split at top-level tokens that `kind` classifies, keeping the kinds in order.
fn split_kinds<'t, K>(toks: &'t [Tok], kind: impl Fn(&Tok) -> Option<K>) -> (Vec<&'t [Tok]>, Vec<K>) {
    let mut parts = Vec::new();
    let mut kinds = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, t) in toks.iter().enumerate() {
        match t {
            Tok::Open(_) => depth += 1,
            Tok::Close(_) => depth -= 1,
            _ if depth == 0 => {
                if let Some(k) = kind(t) {
                    parts.push(&toks[start..i]);
                    kinds.push(k);
                    start = i + 1;
                }
            }
            _ => {}
        }
    }
    parts.push(&toks[start..]);
    (parts, kinds)
}

/// A left side that *names* a quantity, so `name = value` commits to the value: letters with subscripts,
/// primes, accents and exponents (`x`, `a_n`, `BC^2`, `\overline{AB}`, `x'`), products and quotients of
/// them (`AB`, `\frac{a}{b}`), functions applied to them or to any argument (`\tan A`, `f(2)`, `v(r)`,
/// `|AB|`, `m\angle ABC`), ratios (`S_{MBCN}:S`) and tuples (`(p, q)`) of names. Not a name: a side with
/// a number outside exponents, subscripts and arguments, or a sum (`2x + 1`, `2^x`, `-x`): that is a
/// relation to solve, so `2x + 1 = 5` is not the value 5.
pub(crate) fn name_of(toks: &[Tok]) -> Option<String> {
    crate::guard::recurse(|| name_inner(toks)).ok().flatten()
}

fn name_inner(toks: &[Tok]) -> Option<String> {
    if toks.is_empty() || toks.len() > 48 {
        return None;
    }
    let text = || -> Option<String> {
        let t: String = toks.iter().map(tok_text).collect();
        (t.chars().count() <= 32).then_some(t)
    };
    // `(p, q)`: a tuple of names.
    if matches!(toks.first(), Some(Tok::Open(b'('))) && closing_of_first(toks) == Some(toks.len() - 1) {
        let items = split_top(&toks[1..toks.len() - 1], |t| matches!(t, Tok::Op(b',')));
        if items.len() >= 2 {
            return items.iter().all(|p| name_of(p).is_some()).then(text).flatten();
        }
    }
    // `S_{MBCN}:S`: a ratio of names.
    let ratio = split_top(toks, |t| matches!(t, Tok::Op(b':')));
    if ratio.len() >= 2 {
        return ratio.iter().all(|p| name_of(p).is_some()).then(text).flatten();
    }
    let group_end = |i: usize| -> Option<usize> {
        // The token at `i` is one argument: a braced group or a single token.
        match toks.get(i)? {
            Tok::Open(_) => closing_of_first(&toks[i..]).map(|c| i + c),
            _ => Some(i),
        }
    };
    let mut has_name = false;
    let mut bars = 0;
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            // `e` and `i` beside anything but a subscript or prime are the constants (`e^2 x`, `ix`), as
            // `\pi x` is: a product with a constant is no name (`e^2x = e^2` is `x = 1`, not `e^2`).
            Tok::Id(c) if (c == "e" || c == "i") && toks.len() > 1 && !matches!(toks.get(i + 1), Some(Tok::Op(b'_' | b'\''))) => {
                return None;
            }
            Tok::Id(_) => has_name = true,
            Tok::Cmd(c) if is_greek(c) => has_name = true,
            Tok::Cmd(c) if is_accent(c) => {
                has_name = true;
                i = group_end(i + 1)?;
            }
            Tok::Cmd(c) if is_function(c) || matches!(c.as_str(), "angle" | "measuredangle" | "triangle" | "frac") => {}
            Tok::Op(b'_' | b'^') => i = group_end(i + 1)?,
            Tok::Op(b'\'' | b'/' | b'|') => bars += usize::from(toks[i] == Tok::Op(b'|')),
            Tok::Open(o) => {
                let close = i + closing_of_first(&toks[i..])?;
                let applied = i > 0
                    && matches!(&toks[i - 1], Tok::Id(_) | Tok::Op(b'\'') | Tok::Cmd(_) | Tok::Close(_))
                    && *o != b'{';
                if !applied {
                    // A group of its own (`\frac{a}{b}`, `\sqrt{x}`, `(AB)^2`) must be a name itself.
                    name_of(&toks[i + 1..close])?;
                    has_name = true;
                }
                i = close;
            }
            _ => return None,
        }
        i += 1;
    }
    (has_name && bars % 2 == 0).then(text).flatten()
}

/// A name of letters with subscripts, primes and accents, optionally applied to arguments (`y`, `a_n`,
/// `AB`, `\dot x`, `f(x)`, `v(r)`), as opposed to a power, function or quotient of names.
fn plain_name(toks: &[Tok]) -> bool {
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Tok::Id(_) => {}
            Tok::Cmd(c) if is_greek(c) => {}
            Tok::Cmd(c) if is_accent(c) => match toks.get(i + 1) {
                Some(Tok::Open(_)) => match closing_of_first(&toks[i + 1..]) {
                    Some(c) => i += 1 + c,
                    None => return false,
                },
                Some(_) => i += 1,
                None => return false,
            },
            Tok::Op(b'\'') => {}
            Tok::Op(b'_') => match toks.get(i + 1) {
                Some(Tok::Open(_)) => match closing_of_first(&toks[i + 1..]) {
                    Some(c) => i += 1 + c,
                    None => return false,
                },
                Some(_) => i += 1,
                None => return false,
            },
            // An argument list ends the name (`f(x)`, `v(r)`).
            Tok::Open(b'(') if i > 0 => return closing_of_first(&toks[i..]) == Some(toks.len() - 1 - i),
            _ => return false,
        }
        i += 1;
    }
    true
}

/// The tokens hold a variable (a letter that is not `e`, `i` or a function name).
fn has_variable(toks: &[Tok]) -> bool {
    toks.iter().any(|t| matches!(t, Tok::Id(x) if x != "e" && x != "i") || matches!(t, Tok::Cmd(c) if is_greek(c) || is_accent(c)))
}

/// `e = a·v + rest` with `a` an exact rational and `rest` free of `v` (`None`: zero), where `e` is linear in
/// `v` with exact rational coefficients.
fn linear(e: &Expr, v: &str) -> Option<(Q, Option<Expr>)> {
    match lin(e, v)? {
        Lin::Const => Some((Q::zero(), Some(e.clone()))),
        Lin::Affine(a, r) => Some((a, r)),
    }
}

fn mentions(e: &Expr, v: &str) -> bool {
    let mut found = false;
    e.walk(&mut |x| found |= matches!(x, Expr::Var(n) if &**n == v));
    found
}

fn exact_const(e: &Expr) -> Option<Q> {
    if e.has_decimal() {
        return None;
    }
    Exact::default().eval(e, &Env { names: &[], values: &[] }).ok()
}

/// A subexpression as seen by [`linear`]: free of `v` (cloned only by the first ancestor that is not, so
/// every node is visited and copied at most once), or `a·v + rest`.
enum Lin {
    Const,
    Affine(Q, Option<Expr>),
}

fn lin(e: &Expr, v: &str) -> Option<Lin> {
    crate::guard::recurse(|| lin_inner(e, v)).ok().flatten()
}

fn lin_inner(e: &Expr, v: &str) -> Option<Lin> {
    let affine = |x: &Expr, l: Lin| match l {
        Lin::Const => (Q::zero(), Some(x.clone())),
        Lin::Affine(a, r) => (a, r),
    };
    Some(match e {
        Expr::Var(n) if &**n == v => Lin::Affine(Q::one(), None),
        Expr::Num(_) | Expr::Dec(_) | Expr::Pi | Expr::E | Expr::I | Expr::Var(_) => Lin::Const,
        Expr::Neg(a) => match lin(a, v)? {
            Lin::Const => Lin::Const,
            Lin::Affine(c, r) => Lin::Affine(-c, r.map(|r| Expr::Neg(Box::new(r)))),
        },
        Expr::Add(items) => {
            let parts: Vec<Lin> = items.iter().map(|x| lin(x, v)).collect::<Option<_>>()?;
            if parts.iter().all(|p| matches!(p, Lin::Const)) {
                return Some(Lin::Const);
            }
            let mut c = Q::zero();
            let mut rest = Vec::new();
            for (x, p) in items.iter().zip(parts) {
                let (a, r) = affine(x, p);
                c += a;
                rest.extend(r);
            }
            Lin::Affine(c, (!rest.is_empty()).then(|| Expr::Add(rest)))
        }
        Expr::Mul(items) => {
            let parts: Vec<Lin> = items.iter().map(|x| lin(x, v)).collect::<Option<_>>()?;
            let with: Vec<usize> = (0..items.len()).filter(|&i| matches!(parts[i], Lin::Affine(..))).collect();
            match with.as_slice() {
                [] => Lin::Const,
                [k] => {
                    let mut factor = Q::one();
                    for (i, x) in items.iter().enumerate() {
                        if i != *k {
                            factor *= exact_const(x)?;
                        }
                    }
                    let (c, r) = affine(&items[*k], parts.into_iter().nth(*k)?);
                    let others: Vec<Expr> = items.iter().enumerate().filter(|(i, _)| i != k).map(|(_, x)| x.clone()).collect();
                    Lin::Affine(c * &factor, r.map(|r| Expr::Mul(others.into_iter().chain(std::iter::once(r)).collect())))
                }
                _ => return None,
            }
        }
        Expr::Div(a, b) => match (lin(a, v)?, lin(b, v)?) {
            (Lin::Const, Lin::Const) => Lin::Const,
            (p, Lin::Const) => {
                let k = exact_const(b)?;
                if k.is_zero() {
                    return None;
                }
                let (c, r) = affine(a, p);
                Lin::Affine(c / k, r.map(|r| Expr::Div(Box::new(r), b.clone())))
            }
            _ => return None,
        },
        // Anything else is linear only when free of `v`.
        _ => {
            if mentions(e, v) {
                return None;
            }
            Lin::Const
        }
    })
}

/// The single variable of the expressions, if there is exactly one.
fn single_var(exprs: &[&Expr]) -> Option<Box<str>> {
    let mut names: Vec<Box<str>> = Vec::new();
    for e in exprs {
        e.vars(&mut names);
    }
    match names.as_slice() {
        [v] => Some(v.clone()),
        _ => None,
    }
}

/// `v REL bound` for `lhs REL rhs` linear in `v` (`2 < 2x` is `x > 1`, `-x > -1` is `x < 1`).
fn solve(lhs: &Expr, rel: Rel, rhs: &Expr, v: &str) -> Option<(Rel, Expr)> {
    let (a1, r1) = linear(lhs, v)?;
    let (a2, r2) = linear(rhs, v)?;
    let a = a1 - a2;
    if a.is_zero() {
        return None;
    }
    // a·v REL r2 - r1
    let num = match (r2, r1) {
        (None, None) => Expr::int(0),
        (Some(x), None) => x,
        (None, Some(y)) => Expr::Neg(Box::new(y)),
        (Some(x), Some(y)) => Expr::Add(vec![x, Expr::Neg(Box::new(y))]),
    };
    let bound = if a.is_one() { num } else { Expr::Div(Box::new(num), Box::new(Expr::Num(a.clone()))) };
    Some((if a.is_negative() { flip(rel) } else { rel }, bound))
}

fn half_line(v_rel: Rel, bound: Expr) -> Vec<Interval> {
    let neg_inf = Expr::Neg(Box::new(Expr::Inf));
    let iv = |lo: Expr, hi: Expr, lc, hc| Interval { lo, hi, lo_closed: lc, hi_closed: hc };
    match v_rel {
        Rel::Lt => vec![iv(neg_inf, bound, false, false)],
        Rel::Le => vec![iv(neg_inf, bound, false, true)],
        Rel::Gt => vec![iv(bound, Expr::Inf, false, false)],
        Rel::Ge => vec![iv(bound, Expr::Inf, true, false)],
        Rel::Ne => vec![iv(neg_inf, bound.clone(), false, false), iv(bound, Expr::Inf, false, false)],
    }
}

/// `lo REL1 mid REL2 hi` with `mid` linear in `v`: one interval, or `None`.
fn chain(lo: &Expr, r1: Rel, mid: &Expr, r2: Rel, hi: &Expr, v: &str) -> Option<Interval> {
    if matches!(r1, Rel::Ne) || matches!(r2, Rel::Ne) {
        return None;
    }
    let (a, b) = (solve(lo, r1, mid, v)?, solve(mid, r2, hi, v)?);
    let (mut lower, mut upper) = (None, None);
    for (r, bound) in [a, b] {
        match r {
            Rel::Gt | Rel::Ge => lower = lower.xor(Some((bound, r == Rel::Ge))).or(None),
            Rel::Lt | Rel::Le => upper = upper.xor(Some((bound, r == Rel::Le))).or(None),
            Rel::Ne => return None,
        }
        // Solving `lo < v` gives `v > lo`: one bound of each kind is needed.
    }
    let ((lo_e, lc), (hi_e, hc)) = (lower?, upper?);
    Some(Interval { lo: lo_e, hi: hi_e, lo_closed: lc, hi_closed: hc })
}

/// A constant that is certainly positive.
fn positive_const(e: &Expr) -> bool {
    let mut names = Vec::new();
    e.vars(&mut names);
    if !names.is_empty() {
        return false;
    }
    if let Some(q) = exact_const(e) {
        return q.is_positive();
    }
    let a = crate::approx::Approx::eval(e, &Env { names: &[], values: &[] });
    !a.lost && !a.nonreal && a.v.im == 0.0 && a.v.re > a.err && a.v.re.is_finite()
}

fn inequality(parts: &[&[Tok]], rels: &[Rel]) -> PResult<Answer> {
    let exprs: Vec<Expr> = parts.iter().map(|p| Parser::parse_all(p)).collect::<PResult<_>>()?;
    let unsupported = || ParseError::Unsupported("inequality not in one variable".into());
    let refs: Vec<&Expr> = exprs.iter().collect();
    let var = single_var(&refs);
    match (exprs.as_slice(), rels) {
        ([l, r], [rel]) => {
            if let Some(v) = &var {
                if let Some((vr, bound)) = solve(l, *rel, r, v) {
                    return Ok(Answer::Intervals(half_line(vr, bound)));
                }
                // `|x - 1| < 2`, `3 \le |2x|`: an absolute value of a linear expression against a positive
                // constant.
                let (abs, rel, k) = match (l, r) {
                    (Expr::Func(crate::expr::Func::Abs, a), k) if !mentions(k, v) => (&**a, *rel, k),
                    (k, Expr::Func(crate::expr::Func::Abs, a)) if !mentions(k, v) => (&**a, flip(*rel), k),
                    _ => return relation_answer(l, *rel, r),
                };
                if !positive_const(k) || linear(abs, v).is_none_or(|(c, _)| c.is_zero()) {
                    return relation_answer(l, rel, r);
                }
                let neg_k = Expr::Neg(Box::new(k.clone()));
                return match rel {
                    Rel::Lt | Rel::Le => {
                        let iv = chain(&neg_k, rel, abs, rel, k, v).ok_or_else(unsupported)?;
                        Ok(Answer::Intervals(vec![iv]))
                    }
                    Rel::Gt | Rel::Ge => {
                        let strict = if rel == Rel::Gt { Rel::Lt } else { Rel::Le };
                        let (r1, b1) = solve(abs, strict, &neg_k, v).ok_or_else(unsupported)?;
                        let (r2, b2) = solve(abs, flip(strict), k, v).ok_or_else(unsupported)?;
                        let mut ivs = half_line(r1, b1);
                        ivs.extend(half_line(r2, b2));
                        Ok(Answer::Intervals(ivs))
                    }
                    Rel::Ne => relation_answer(l, rel, r),
                };
            }
            relation_answer(l, *rel, r)
        }
        ([lo, mid, hi], [r1, r2]) => {
            let v = var.ok_or_else(unsupported)?;
            if mentions(lo, &v) || mentions(hi, &v) {
                return Err(unsupported());
            }
            let iv = chain(lo, *r1, mid, *r2, hi, &v).ok_or_else(unsupported)?;
            Ok(Answer::Intervals(vec![iv]))
        }
        _ => Err(unsupported()),
    }
}

/// `lhs REL rhs` as `expr REL' 0` with `REL'` one of `<`, `≤`, `≠` (`a < b` and `b > a` are both `a - b < 0`).
fn relation_answer(lhs: &Expr, rel: Rel, rhs: &Expr) -> PResult<Answer> {
    let mut names = Vec::new();
    lhs.vars(&mut names);
    rhs.vars(&mut names);
    if names.is_empty() {
        return Err(ParseError::Unsupported("inequality between constants".into()));
    }
    let diff = |a: &Expr, b: &Expr| Expr::Add(vec![a.clone(), Expr::Neg(Box::new(b.clone()))]);
    Ok(match rel {
        Rel::Lt | Rel::Le | Rel::Ne => Answer::Relation { rel, expr: diff(lhs, rhs) },
        Rel::Gt => Answer::Relation { rel: Rel::Lt, expr: diff(rhs, lhs) },
        Rel::Ge => Answer::Relation { rel: Rel::Le, expr: diff(rhs, lhs) },
    })
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
