//! The arithmetic step checker: find the `a op b = c` claims of a reasoning trace and the first false one.
//!
//! A claim is an arithmetic expression with at least one operator, an `=`, and a number:
//! `48/2 = 24`, `16 - 3 - 4 = 9 eggs`, `$9 * 2 = $18`, `3 \times 4 = 12`, `20% * 50 = 10`, GSM8K's
//! calculator annotations `<<48/2=24>>`. The left side is evaluated exactly; a stated decimal is accepted
//! when it is the exact value rounded to the digits shown (`10/3 = 3.33`).

use crate::eval::{Env, Exact};
use crate::expr::{parse_number, tokenize, Expr, Parser};
use num_bigint::BigInt;
use num_rational::BigRational as Q;
use num_traits::{Signed, Zero};

/// Longest left-hand side (bytes) considered for a claim.
const MAX_LHS: usize = 200;
/// Most claims examined in one text.
pub const MAX_CLAIMS: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Byte offsets of the claim (from the start of its left side to the end of the stated number).
    pub start: usize,
    pub end: usize,
    /// The left side as written (trimmed).
    pub lhs: String,
    /// The stated result as written.
    pub stated: String,
    /// The exact value of the left side, as a decimal or fraction string.
    pub actual: String,
    /// Whether the stated result is the value of the left side (or its rounding to the digits shown).
    pub ok: bool,
}

fn is_lhs_byte(c: u8) -> bool {
    c.is_ascii_digit() || matches!(c, b'.' | b',' | b'+' | b'-' | b'*' | b'/' | b'(' | b')' | b' ' | b'$' | b'^' | b'%')
}

/// All arithmetic claims in `text`, in order.
///
/// ```
/// use stagekit_core::steps::arithmetic_claims;
/// let c = arithmetic_claims("She has 16 - 3 = 13 eggs, sells 13 * 2 = $27.");
/// assert_eq!(c.len(), 2);
/// assert!(c[0].ok && !c[1].ok);
/// assert_eq!(c[1].actual, "26");
/// ```
pub fn arithmetic_claims(text: &str) -> Vec<Claim> {
    crate::guard::entry(|| claims(text))
}

fn claims(text: &str) -> Vec<Claim> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    for (i, _) in text.match_indices('=') {
        if out.len() >= MAX_CLAIMS {
            break;
        }
        // Skip `==`, `<=`, `>=`, `!=`, `=>`.
        if matches!(b.get(i + 1), Some(b'=' | b'>')) || (i > 0 && matches!(b[i - 1], b'=' | b'<' | b'>' | b'!')) {
            continue;
        }
        let Some((ls, lhs)) = left_side(text, i) else { continue };
        let Some((re, stated, percent)) = right_side(text, i + 1) else { continue };
        let Some(value) = eval_lhs(&lhs) else { continue };
        let Ok(Expr::Num(s) | Expr::Dec(s)) = parse_number(&stated.replace(',', "")) else { continue };
        let matches = |v: &Q, s: &Q, digits: &str| v == s || rounds_to(v, s, digits) || float_output(v, s, digits);
        // A result written in percent is a fraction of one (`100% - 40% = 60%`), or the number of percent
        // a fraction is converted to (`0.1 * 100 = 10%`): either reading is true.
        let ok = matches(&value, &s, &stated)
            || (percent && matches(&value, &(s.clone() / Q::from_integer(BigInt::from(100))), &(stated.clone() + "00")));
        let stated = if percent { format!("{stated}%") } else { stated };
        out.push(Claim { start: ls, end: re, lhs: lhs.trim().to_string(), stated, actual: show(&value), ok });
    }
    out
}

/// The first false claim of `text`, if any.
pub fn first_false_claim(text: &str) -> Option<Claim> {
    arithmetic_claims(text).into_iter().find(|c| !c.ok)
}

/// Walk left from the `=` at `eq` over arithmetic characters (and `\times`, `\cdot`, `\div`, `×`, `÷`).
fn left_side(text: &str, eq: usize) -> Option<(usize, String)> {
    let b = text.as_bytes();
    let mut i = eq;
    let floor = eq.saturating_sub(MAX_LHS);
    while i > floor {
        let c = b[i - 1];
        if c == b'>' && i >= 2 && b[i - 2] == b'>' {
            break; // end of a `<<..>>` annotation
        }
        if is_lhs_byte(c) {
            // `, ` is a list separator (not a thousands separator), `. ` the end of a sentence.
            if (c == b',' || c == b'.') && b.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
                break;
            }
            i -= 1;
            continue;
        }
        // `750 x 2/100`: a lone x between spaces is a times sign.
        if matches!(c, b'x' | b'X') && i >= 2 && b[i - 2] == b' ' && b.get(i) == Some(&b' ') {
            i -= 1;
            continue;
        }
        let mut matched = false;
        for w in ["\\times", "\\cdot", "\\div", "\u{00D7}", "\u{00F7}", "\u{00B7}", "<<"] {
            if text[..i].ends_with(w) && i - w.len() >= floor {
                if w == "<<" {
                    // Inside a calculator annotation `<<48/2=24>>`: the claim starts here.
                    return finish_lhs(text, i, eq);
                }
                i -= w.len();
                matched = true;
                break;
            }
        }
        if !matched {
            break;
        }
    }
    if i == floor && floor > 0 && is_lhs_byte(b[i - 1]) {
        return None; // the left side runs past the window: not a claim we can see whole
    }
    finish_lhs(text, i, eq)
}

fn finish_lhs(text: &str, mut start: usize, eq: usize) -> Option<(usize, String)> {
    let b = text.as_bytes();
    // Start at the first digit, `(`, a decimal point before a digit (`.20*30000`), or a minus directly
    // before a digit (`-87+320`, also right after `<<`).
    let skipped_from = start;
    while start < eq && !(b[start].is_ascii_digit() || b[start] == b'(') {
        let before_digit = b.get(start + 1).is_some_and(|c| c.is_ascii_digit());
        if b[start] == b'.' && before_digit {
            break;
        }
        if b[start] == b'-' && before_digit && (start == 0 || matches!(b[start - 1], b' ' | b'(' | b'<')) {
            break;
        }
        start += 1;
    }
    // An operator among the skipped characters means the left side began before where the walk stopped
    // (`250 cases * 1/2`): the claim cannot be read whole, so it is not checked.
    if text[skipped_from..start].contains(['*', '/', '+', '^', 'x', 'X']) {
        return None;
    }
    let lhs = text[start..eq].trim_end();
    if lhs.is_empty() {
        return None;
    }
    // Numbers side by side (`1 1/2*12`, `70 (70%) - 60`) are mixed numbers or asides: ambiguous, skipped.
    let lb = lhs.as_bytes();
    for k in 1..lb.len() {
        if lb[k] == b' ' && lb[k - 1].is_ascii_digit() {
            let next = lhs[k..].trim_start().as_bytes().first().copied();
            if next.is_some_and(|c| c.is_ascii_digit() || c == b'(') {
                return None;
            }
        }
    }
    // At least one operator between operands (not just a leading sign or a percent sign).
    let body = lhs.trim_start_matches('-');
    let has_op = body.contains(['+', '*', '/', '^'])
        || body.contains("\\times")
        || body.contains("\\cdot")
        || body.contains("\\div")
        || body.contains(['\u{00D7}', '\u{00F7}', '\u{00B7}'])
        || body.trim_start_matches(|c: char| !c.is_ascii_digit()).contains('-');
    if !has_op || !lhs.bytes().any(|c| c.is_ascii_digit()) {
        return None;
    }
    Some((start, lhs.to_string()))
}

/// The stated number after `=` (skipping spaces, `$`, and a `<<...>>` annotation), and whether a `%`
/// follows it.
fn right_side(text: &str, mut i: usize) -> Option<(usize, String, bool)> {
    let b = text.as_bytes();
    loop {
        while i < b.len() && (b[i] == b' ' || b[i] == b'$') {
            i += 1;
        }
        if text[i..].starts_with("<<") {
            let close = text[i..].find(">>")?;
            i += close + 2;
            continue;
        }
        break;
    }
    let start = i;
    if i < b.len() && b[i] == b'-' {
        i += 1;
    }
    let digits_start = i;
    while i < b.len() && (b[i].is_ascii_digit() || ((b[i] == b'.' || b[i] == b',') && b.get(i + 1).is_some_and(|c| c.is_ascii_digit()))) {
        i += 1;
    }
    if i == digits_start {
        return None;
    }
    // `= 3x`, `= 2^5`, `= 4/5`: not a plain number, so not a claim we check.
    if b.get(i).is_some_and(|&c| c.is_ascii_alphabetic() || c == b'^' || c == b'/') {
        return None;
    }
    let percent = b.get(i) == Some(&b'%');
    Some((i + percent as usize, text[start..i].to_string(), percent))
}

fn eval_lhs(lhs: &str) -> Option<Q> {
    let mut s = String::with_capacity(lhs.len());
    let b = lhs.as_bytes();
    for (i, c) in lhs.char_indices() {
        match c {
            '$' => {}
            // Thousands separators between digits.
            ',' if i > 0 && b[i - 1].is_ascii_digit() && b.get(i + 1).is_some_and(|d| d.is_ascii_digit()) => {}
            '\u{00D7}' | '\u{00B7}' => s.push('*'),
            '\u{00F7}' => s.push('/'),
            c => s.push(c),
        }
    }
    let s = s.replace("\\times", "*").replace("\\cdot", "*").replace("\\div", "/").replace(" x ", " * ").replace(" X ", " * ");
    let toks = tokenize(&s).ok()?;
    let e = Parser::parse_all(&toks).ok()?;
    Exact::default().eval(&e, &Env { names: &[], values: &[] }).ok()
}

/// A stated decimal of 10 or more significant digits (a program's floating-point output, as in GSM8K's
/// `<<16/3=5.333333333333333>>` annotations) equal to the value within 1e-9 relative.
fn float_output(value: &Q, stated_q: &Q, stated: &str) -> bool {
    let sig = stated.bytes().filter(|c| c.is_ascii_digit()).count();
    if sig < 10 {
        return false;
    }
    let tol = Q::new(BigInt::from(1), BigInt::from(1_000_000_000));
    let scale = if value.abs() > stated_q.abs() { value.abs() } else { stated_q.abs() };
    (value - stated_q).abs() <= tol * scale
}

/// `stated` (with `d` fractional digits) is `value` rounded to `d` digits.
fn rounds_to(value: &Q, stated_q: &Q, stated: &str) -> bool {
    let Some(dot) = stated.find('.') else { return false };
    let d = stated.len() - dot - 1;
    if d == 0 || d > 12 {
        return false;
    }
    let half_ulp = Q::new(BigInt::from(5), num_traits::pow(BigInt::from(10), d + 1));
    (value - stated_q).abs() <= half_ulp
}

fn show(q: &Q) -> String {
    if q.is_integer() {
        return q.to_integer().to_string();
    }
    // A terminating decimal when the denominator is 2^a 5^b, else a fraction.
    let mut d = q.denom().clone();
    let two = BigInt::from(2);
    let five = BigInt::from(5);
    let mut digits = 0usize;
    while (&d % &two).is_zero() || (&d % &five).is_zero() {
        if (&d % &two).is_zero() {
            d /= &two;
        } else {
            d /= &five;
        }
        digits += 1;
        if digits > 40 {
            break;
        }
    }
    if d == BigInt::from(1) {
        let scaled = q * Q::from_integer(num_traits::pow(BigInt::from(10), digits));
        let n = scaled.to_integer();
        let neg = n.is_negative();
        let s = n.abs().to_string();
        let s = format!("{}{}", "0".repeat((digits + 1).saturating_sub(s.len())), s);
        let (ip, fp) = s.split_at(s.len() - digits);
        let fp = fp.trim_end_matches('0');
        return format!("{}{}{}{}", if neg { "-" } else { "" }, ip, if fp.is_empty() { "" } else { "." }, fp);
    }
    format!("{}/{} (about {:.6})", q.numer(), q.denom(), crate::eval::q_to_f64(q))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm8k_style() {
        let t = "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\nShe makes 9 * 2 = $<<9*2=18>>18 every day.";
        let c = arithmetic_claims(t);
        assert!(c.iter().all(|c| c.ok), "{c:?}");
        assert_eq!(c.len(), 4);
        let bad = "She has 16 - 3 = 13 eggs.\nShe makes 13 * 2 = $<<13*2=26>>27.";
        let f = first_false_claim(bad).unwrap();
        assert_eq!((f.lhs.as_str(), f.stated.as_str(), f.actual.as_str()), ("13 * 2", "27", "26"));
    }

    #[test]
    fn forms() {
        assert!(arithmetic_claims("so 3 \\times 4 = 12 and 10 \u{00F7} 4 = 2.5").iter().all(|c| c.ok));
        assert!(arithmetic_claims("10/3 = 3.33").iter().all(|c| c.ok));
        assert!(!arithmetic_claims("10/3 = 3.34")[0].ok);
        assert!(arithmetic_claims("20% * 50 = 10").iter().all(|c| c.ok));
        assert!(arithmetic_claims("1,200 + 300 = 1,500").iter().all(|c| c.ok));
        assert_eq!(arithmetic_claims("x = 5, y = 7, a == b, 3 <= 4").len(), 0);
        assert_eq!(arithmetic_claims("We get 2x + 3 = 7").len(), 0);
        // Found on GSM8K attempts: none of these is a false claim.
        for ok in [
            "16/3 = 5.333333333333333",
            "599.9-398 = 201.89999999999998",
            "The interest is $750 x 2/100 = $15.",
            "The tax is .20*30000=$6000.",
            "100% - 40% = 60% of the class",
            "covers -87+320=<<-87+320=233.0>>233",
        ] {
            assert!(arithmetic_claims(ok).iter().all(|c| c.ok), "{ok}: {:?}", arithmetic_claims(ok));
        }
        for skipped in [
            "4 sodas / 12 sodas * 100% = 50%",
            "250 cases * 1/2 = 125 cases.",
            "1 1/2*12 = 18",
            "70 (70%) - 60 (60%) = 10",
            "Amy has 6 colors x 1/2 = 3 eyeshadow colors.",
        ] {
            assert!(arithmetic_claims(skipped).iter().all(|c| c.ok), "{skipped}: {:?}", arithmetic_claims(skipped));
        }
        assert!(!arithmetic_claims("100% - 40% = 70%")[0].ok);
        assert!(arithmetic_claims("so 0.1 * 100 = 10% of them").iter().all(|c| c.ok));
        assert_eq!(show(&Q::new(BigInt::from(1), BigInt::from(8))), "0.125");
        assert_eq!(show(&Q::new(BigInt::from(-1), BigInt::from(3))), "-1/3 (about -0.333333)");
    }

    #[test]
    fn hostile() {
        let long = "1+".repeat(50_000) + "1 = 3";
        let _ = arithmetic_claims(&long);
        let many = "1+1=2. ".repeat(10_000);
        assert_eq!(arithmetic_claims(&many).len(), MAX_CLAIMS);
    }
}
