//! Equivalence of two parsed answers.
//!
//! Numbers compare exactly as rationals. A relative tolerance (`Options::rel_tol`) applies only where a
//! side holds a decimal literal with a fractional part (a possibly rounded value) or is irrational (π, √2,
//! evaluated in floating point, where `IRRATIONAL_TOL` absorbs rounding error). Expressions in variables
//! are compared by an identity test: exact rational evaluation at fixed pseudo-random rational points when
//! both sides are rational functions (a Schwartz–Zippel test), complex floating point at fixed points
//! otherwise. Equations compare up to a nonzero constant factor.

use crate::answer::{to_intervals, Answer, Interval};
use crate::eval::{numeric, Env, EvalError, Exact};
use crate::expr::Expr;
use num_bigint::BigInt;
use num_complex::Complex64 as C;
use num_rational::BigRational as Q;
use num_traits::{Signed, Zero};

/// Tolerance for values computed in floating point that hold no decimal literal (√8 vs 2√2).
pub const IRRATIONAL_TOL: f64 = 1e-10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Equal,
    NotEqual,
    /// Could not be decided within the caps (overflow, undefined everywhere).
    Unknown,
}

use Decision::*;

#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Relative tolerance where a side is a decimal with a fractional part. Default 1e-8.
    pub rel_tol: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options { rel_tol: 1e-8 }
    }
}

/// Is `pred` the same answer as `gold`?
pub fn equivalent(pred: &Answer, gold: &Answer, opts: &Options) -> Decision {
    crate::guard::recurse(|| equivalent_inner(pred, gold, opts)).unwrap_or(Unknown)
}

/// Most `±` signs expanded in one expression (2^4 = 16 values); more is undecided, not exponential work.
const MAX_PM: usize = 4;
/// Most items matched pairwise in an unordered comparison after identical items are paired.
const MAX_UNORDERED: usize = 64;

fn equivalent_inner(pred: &Answer, gold: &Answer, opts: &Options) -> Decision {
    use Answer::*;
    if pm_count_answer(pred) > MAX_PM || pm_count_answer(gold) > MAX_PM {
        return Unknown;
    }
    match (pred, gold) {
        (Text(a), Text(b)) => bool_dec(a == b),
        (_, Text(_)) | (Text(_), _) => NotEqual,
        (BaseN { value: a, .. }, BaseN { value: b, .. }) => bool_dec(a == b),
        (Scalar(p), BaseN { digits, value, .. }) => {
            // `1011` against `1011_2`: the digits as written, or the value in base ten.
            if let Expr::Num(q) = p {
                if q.is_integer() && (q.to_integer().to_string() == *digits || q.to_integer() == *value) {
                    return Equal;
                }
            }
            scalar(p, &Expr::Num(Q::from_integer(value.clone())), opts)
        }
        (BaseN { value, .. }, Scalar(g)) => scalar(&Expr::Num(Q::from_integer(value.clone())), g, opts),
        (Scalar(p), Scalar(g)) => {
            if p.has_pm() || g.has_pm() {
                return unordered(&pm_list(p), &pm_list(g), opts);
            }
            scalar(p, g, opts)
        }
        (Equation { rhs, named: Some(_), .. }, Scalar(g)) => {
            if g.has_pm() {
                return unordered(&pm_list(rhs), &pm_list(g), opts);
            }
            scalar(rhs, g, opts)
        }
        (Scalar(p), Equation { rhs, named: Some(_), .. }) => {
            if p.has_pm() || rhs.has_pm() {
                return unordered(&pm_list(p), &pm_list(rhs), opts);
            }
            scalar(p, rhs, opts)
        }
        (List(_), Equation { rhs, named: Some(_), .. }) if rhs.has_pm() => equivalent(pred, &List(pm_list(rhs)), opts),
        // `11 + 2 = 13` against `13`: an equation whose left side has no variable states a computation, and
        // its value is the last side (`2 \cdot 3 = 6`, `\frac{6}{4} = 1.5`); a wrong sum stays wrong.
        (Equation { lhs, rhs, named: None }, Scalar(g)) if is_constant(lhs) && !g.has_pm() => scalar(rhs, g, opts),
        (Scalar(p), Equation { lhs, rhs, named: None }) if is_constant(lhs) && !p.has_pm() => scalar(p, rhs, opts),
        (Equation { lhs: pl, rhs: pr, named: pn }, Equation { lhs: gl, rhs: gr, named: gn }) => {
            if pn.is_some() && pn == gn {
                return scalar(pr, gr, opts);
            }
            proportional(&diff(pl, pr), &diff(gl, gr), opts)
        }
        (Scalar(p), List(_)) if p.has_pm() => equivalent(&List(pm_list(p)), gold, opts),
        (Equation { rhs, named: Some(_), .. }, List(_)) if rhs.has_pm() => equivalent(&List(pm_list(rhs)), gold, opts),
        (List(_), Scalar(g)) if g.has_pm() => equivalent(pred, &List(pm_list(g)), opts),
        (Matrix(a), Matrix(b)) => {
            if a.len() != b.len() || a[0].len() != b[0].len() {
                return NotEqual;
            }
            all(a.iter().flatten().zip(b.iter().flatten()).map(|(x, y)| scalar(x, y, opts)))
        }
        (Matrix(m), Tuple { items, .. }) | (Matrix(m), List(items)) => vector_vs_items(m, items, opts),
        (Tuple { items, .. }, Matrix(m)) | (List(items), Matrix(m)) => vector_vs_items(m, items, opts),
        (Set(a), Set(b)) | (List(a), Set(b)) | (Set(a), List(b)) | (List(a), List(b)) => {
            let d = unordered(a, b, opts);
            if d != Equal {
                // `x < 1 or x > 2` against `x > 2 or x < 1` written as intervals.
                if let (Some(x), Some(y)) = (to_intervals(pred), to_intervals(gold)) {
                    return intervals(&x, &y, opts);
                }
            }
            d
        }
        (Tuple { open: po, close: pc, items: a }, Tuple { open: go, close: gc, items: b }) => {
            if po == go && pc == gc {
                return ordered(a, b, opts);
            }
            match (to_intervals(pred), to_intervals(gold)) {
                (Some(x), Some(y)) => intervals(&x, &y, opts),
                _ => NotEqual,
            }
        }
        // A bare list against a tuple: in order (`3, -1` is the point `(3, -1)`).
        (List(a), Tuple { items: b, .. }) => ordered(a, b, opts),
        // A tuple against a bare list of roots: unordered.
        (Tuple { items: a, open: b'(', .. }, List(b)) => unordered(a, b, opts),
        (Tuple { .. }, Set(b)) => match pred {
            Tuple { items: a, .. } => unordered(a, b, opts),
            _ => NotEqual,
        },
        _ => match (to_intervals(pred), to_intervals(gold)) {
            (Some(x), Some(y)) if matches!(gold, Intervals(_)) || matches!(pred, Intervals(_)) => intervals(&x, &y, opts),
            _ => NotEqual,
        },
    }
}

/// No variable in `e` (numbers, constants such as pi, functions of them).
fn is_constant(e: &Expr) -> bool {
    let mut names = Vec::new();
    e.vars(&mut names);
    names.is_empty()
}

fn bool_dec(b: bool) -> Decision {
    if b {
        Equal
    } else {
        NotEqual
    }
}

fn all(it: impl Iterator<Item = Decision>) -> Decision {
    let mut unknown = false;
    for d in it {
        match d {
            NotEqual => return NotEqual,
            Unknown => unknown = true,
            Equal => {}
        }
    }
    if unknown {
        Unknown
    } else {
        Equal
    }
}

fn pm_count_answer(a: &Answer) -> usize {
    let count = |e: &Expr| {
        let mut n = 0;
        e.walk(&mut |x| n += matches!(x, Expr::Pm(..)) as usize);
        n
    };
    match a {
        Answer::Scalar(e) => count(e),
        Answer::Equation { lhs, rhs, .. } => count(lhs) + count(rhs),
        // A tuple's, set's or list's items are counted when `equivalent` reaches each of them (counting
        // them again at every level of nested tuples made the comparison quadratic in the depth).
        _ => 0,
    }
}

fn pm_list(e: &Expr) -> Vec<Answer> {
    e.expand_pm().into_iter().map(Answer::Scalar).collect()
}

fn diff(a: &Expr, b: &Expr) -> Expr {
    Expr::Add(vec![a.clone(), Expr::Neg(Box::new(b.clone()))])
}

fn vector_vs_items(m: &[Vec<Expr>], items: &[Answer], opts: &Options) -> Decision {
    let flat: Vec<&Expr> = if m.len() == 1 || m[0].len() == 1 { m.iter().flatten().collect() } else { return NotEqual };
    if flat.len() != items.len() {
        return NotEqual;
    }
    all(flat.iter().zip(items).map(|(x, it)| match it {
        Answer::Scalar(y) => scalar(x, y, opts),
        _ => NotEqual,
    }))
}

fn ordered(a: &[Answer], b: &[Answer], opts: &Options) -> Decision {
    if a.len() != b.len() {
        return NotEqual;
    }
    all(a.iter().zip(b).map(|(x, y)| equivalent(x, y, opts)))
}

/// Multiset equality under `equivalent` (greedy matching is exact for an equivalence relation).
fn unordered(a: &[Answer], b: &[Answer], opts: &Options) -> Decision {
    if a.len() != b.len() {
        return NotEqual;
    }
    let mut used = vec![false; a.len()];
    let mut pending: Vec<&Answer> = Vec::new();
    // Pair structurally identical items first (cheap), then match the rest pairwise.
    for y in b {
        match a.iter().enumerate().position(|(i, x)| !used[i] && x == y) {
            Some(i) => used[i] = true,
            None => pending.push(y),
        }
    }
    if pending.len() > MAX_UNORDERED {
        return Unknown;
    }
    let mut unknown = false;
    for y in pending {
        let mut found = false;
        for (i, x) in a.iter().enumerate() {
            if used[i] {
                continue;
            }
            match equivalent(x, y, opts) {
                Equal => {
                    used[i] = true;
                    found = true;
                    break;
                }
                Unknown => unknown = true,
                NotEqual => {}
            }
        }
        if !found {
            return if unknown { Unknown } else { NotEqual };
        }
    }
    Equal
}

fn intervals(a: &[Interval], b: &[Interval], opts: &Options) -> Decision {
    if a.len() != b.len() {
        return NotEqual;
    }
    let key = |iv: &Interval| {
        let x = numeric(&iv.lo, &Env { names: &[], values: &[] }).re;
        if x.is_nan() {
            f64::INFINITY
        } else {
            x
        }
    };
    let mut a: Vec<&Interval> = a.iter().collect();
    let mut b: Vec<&Interval> = b.iter().collect();
    a.sort_by(|x, y| key(x).total_cmp(&key(y)));
    b.sort_by(|x, y| key(x).total_cmp(&key(y)));
    all(a.iter().zip(&b).map(|(x, y)| {
        if x.lo_closed != y.lo_closed || x.hi_closed != y.hi_closed {
            return NotEqual;
        }
        all([scalar(&x.lo, &y.lo, opts), scalar(&x.hi, &y.hi, opts)].into_iter())
    }))
}

/// Percentages: `p%` equals `p` and `p/100`.
fn strip_percent(e: &Expr) -> Option<&Expr> {
    match e {
        Expr::Percent(x) => Some(x),
        _ => None,
    }
}

/// Are two scalar expressions equal?
pub fn scalar(p: &Expr, g: &Expr, opts: &Options) -> Decision {
    match (strip_percent(p), strip_percent(g)) {
        (None, None) => scalar_plain(p, g, opts),
        (pp, gp) => {
            let (pv, gv) = (pp.unwrap_or(p), gp.unwrap_or(g));
            let d = scalar_plain(pv, gv, opts);
            if d == Equal {
                return Equal;
            }
            // One side has the sign: also try it as a fraction of one (50% vs 0.5).
            let hundred = Expr::int(100);
            let alt = match (pp, gp) {
                (Some(x), None) => scalar_plain(&Expr::Div(Box::new(x.clone()), Box::new(hundred)), g, opts),
                (None, Some(y)) => scalar_plain(p, &Expr::Div(Box::new(y.clone()), Box::new(hundred)), opts),
                _ => d,
            };
            if alt == Equal {
                Equal
            } else {
                d
            }
        }
    }
}

fn scalar_plain(p: &Expr, g: &Expr, opts: &Options) -> Decision {
    let mut names: Vec<Box<str>> = Vec::new();
    p.vars(&mut names);
    g.vars(&mut names);
    names.sort();
    let decimal = p.has_decimal() || g.has_decimal();
    if names.is_empty() {
        return constant(p, g, decimal, opts);
    }
    identity(p, g, &names, decimal, opts, false)
}

fn constant(p: &Expr, g: &Expr, decimal: bool, opts: &Options) -> Decision {
    let empty = Env::<Q> { names: &[], values: &[] };
    let x = Exact::default().eval(p, &empty);
    let y = Exact::default().eval(g, &empty);
    match (&x, &y) {
        (Ok(a), Ok(b)) => {
            if a == b {
                return Equal;
            }
            bool_dec(decimal && close_q(a, b, opts.rel_tol))
        }
        (Err(EvalError::Undefined), _) | (_, Err(EvalError::Undefined)) => Unknown,
        _ => {
            let cenv = Env::<C> { names: &[], values: &[] };
            let a = numeric(p, &cenv);
            let b = numeric(g, &cenv);
            let tol = if decimal { opts.rel_tol.max(IRRATIONAL_TOL) } else { IRRATIONAL_TOL };
            let (inf_p, inf_g) = (has_infinity(p), has_infinity(g));
            if inf_p != inf_g {
                return NotEqual; // a number is not infinity, however large
            }
            if inf_p {
                return complex_close(a, b, tol); // -∞ = -∞; ∞ ≠ -∞
            }
            if (a.norm() == 0.0 || b.norm() == 0.0) && (inexact_ops(p) || inexact_ops(g)) && (a - b).norm() <= 1e-15 {
                // A value that is exactly zero computed through transcendental functions (\sin\pi,
                // e^{i\pi}+1, (\sqrt2)^2-2) leaves ~1e-16 of rounding noise.
                return Equal;
            }
            let trusted = |z: C, overflowed: bool| {
                let fin = z.re.is_finite() && z.im.is_finite();
                fin && if z.norm() == 0.0 { !overflowed } else { (1e-280..1e280).contains(&z.norm()) }
            };
            let (op, og) = (matches!(x, Err(EvalError::Overflow)), matches!(y, Err(EvalError::Overflow)));
            if !(trusted(a, op) && trusted(b, og)) {
                // Past what floats represent (10^5000 + 1 vs 10^5000, 6^{-6339} vs 0, e^{1000} vs e^{1001}):
                // a saturated value differs from a finite one, and is undecided against another.
                let fin = |z: C| z.re.is_finite() && z.im.is_finite();
                if a.re.is_nan() || b.re.is_nan() || fin(a) == fin(b) {
                    return Unknown;
                }
                return NotEqual;
            }
            complex_close(a, b, tol)
        }
    }
}

fn has_infinity(e: &Expr) -> bool {
    let mut found = false;
    e.walk(&mut |x| found |= matches!(x, Expr::Inf));
    found
}

/// Whether evaluating `e` in floating point rounds (functions, logarithms, roots, non-integer powers).
fn inexact_ops(e: &Expr) -> bool {
    let mut found = false;
    e.walk(&mut |x| {
        found |= matches!(x, Expr::Func(..) | Expr::Log(..) | Expr::Root(..))
            || matches!(x, Expr::Pow(b, p) if matches!(**b, Expr::E) || !matches!(**p, Expr::Num(_) | Expr::Neg(_)));
    });
    found
}

/// `|a - b| <= tol * max(|a|, |b|)` in exact arithmetic (no overflow, no underflow).
fn close_q(a: &Q, b: &Q, tol: f64) -> bool {
    let Some(t) = Q::from_float(tol) else { return false };
    let scale = if a.abs() > b.abs() { a.abs() } else { b.abs() };
    (a - b).abs() <= t * scale
}

fn complex_close(a: C, b: C, tol: f64) -> Decision {
    let fin = |z: C| z.re.is_finite() && z.im.is_finite();
    if a.re.is_nan() || a.im.is_nan() || b.re.is_nan() || b.im.is_nan() {
        return Unknown;
    }
    if !fin(a) || !fin(b) {
        if !fin(a) && !fin(b) {
            // Both infinite: equal only as the same signed real infinity; else undecided (overflow).
            if a.im == 0.0 && b.im == 0.0 && a.re == b.re {
                return Equal;
            }
            return Unknown;
        }
        return NotEqual;
    }
    let scale = a.norm().max(b.norm());
    bool_dec((a - b).norm() <= tol * scale)
}

/// Fixed pseudo-random evaluation points: a variable's value depends on its name and the trial only, so
/// both sides see the same assignment.
///
/// Exact mode uses integers in ±[3, 1000] (Schwartz–Zippel: two different rational functions of degree
/// d agree at a random point of a set of size S with probability at most d/S, per trial); integers keep
/// polynomial evaluation free of gcds.
fn point_q(name: &str, trial: u64) -> Q {
    let h = fnv(name) ^ trial.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let h = splitmix(h);
    let v = 3 + (h % 998) as i64;
    let sign = if (h >> 40) & 1 == 1 { -1 } else { 1 };
    Q::from_integer(BigInt::from(sign * v))
}

fn point_f(name: &str, trial: u64) -> f64 {
    let h = splitmix(fnv(name) ^ trial.wrapping_mul(0xD1B5_4A32_D192_ED03));
    0.35 + (h % 1_000_003) as f64 / 1_000_003.0 * 2.4
}

fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const EXACT_TRIALS: usize = 3;
const FLOAT_TRIALS: usize = 5;
const MAX_TRIES: u64 = 8;

/// Identity test of `p` and `g` (or, with `ratio`, that `p / g` is a nonzero constant).
fn identity(p: &Expr, g: &Expr, names: &[Box<str>], decimal: bool, opts: &Options, ratio: bool) -> Decision {
    // Exact mode: rational functions at rational points.
    let mut agree = 0;
    let mut first_ratio: Option<Q> = None;
    let mut exact_ok = true;
    let mut budget = Exact::default();
    for trial in 0..MAX_TRIES {
        let values: Vec<Q> = names.iter().map(|n| point_q(n, trial)).collect();
        let env = Env { names, values: &values };
        let x = budget.eval(p, &env);
        let y = budget.eval(g, &env);
        match (x, y) {
            (Ok(a), Ok(b)) => {
                if ratio {
                    if b.is_zero() || a.is_zero() {
                        if a.is_zero() != b.is_zero() {
                            return NotEqual;
                        }
                        continue;
                    }
                    let r = a / b;
                    match &first_ratio {
                        None => first_ratio = Some(r),
                        Some(f) if *f != r => return NotEqual,
                        _ => {}
                    }
                } else if a != b {
                    if !decimal {
                        return NotEqual;
                    }
                    if !close_q(&a, &b, opts.rel_tol) {
                        return NotEqual;
                    }
                }
                agree += 1;
                if agree >= EXACT_TRIALS {
                    return Equal;
                }
            }
            (Err(EvalError::Undefined), _) | (_, Err(EvalError::Undefined)) => continue,
            _ => {
                exact_ok = false;
                break;
            }
        }
    }
    if exact_ok && agree > 0 {
        return Equal;
    }
    // Floating-point mode.
    let tol = if decimal { opts.rel_tol.max(1e-8) } else { 1e-8 };
    let mut agree = 0;
    let mut first: Option<C> = None;
    for trial in 0..(FLOAT_TRIALS as u64 + 3) {
        let values: Vec<C> = names.iter().map(|n| C::new(point_f(n, trial), 0.0)).collect();
        let env = Env { names, values: &values };
        let a = numeric(p, &env);
        let b = numeric(g, &env);
        let fin = |z: C| z.re.is_finite() && z.im.is_finite();
        if !fin(a) && !fin(b) {
            continue;
        }
        if fin(a) != fin(b) {
            return NotEqual;
        }
        if ratio {
            if b.norm() < 1e-12 || a.norm() < 1e-12 {
                if (b.norm() < 1e-12) != (a.norm() < 1e-12) {
                    return NotEqual;
                }
                continue;
            }
            let r = a / b;
            match first {
                None => first = Some(r),
                Some(f) => {
                    if complex_close(r, f, tol) != Equal {
                        return NotEqual;
                    }
                }
            }
        } else if complex_close(a, b, tol) != Equal {
            return NotEqual;
        }
        agree += 1;
        if agree >= FLOAT_TRIALS {
            break;
        }
    }
    if agree >= 2 {
        Equal
    } else {
        Unknown
    }
}

/// Equations `p = 0` and `g = 0` describe the same relation: `p = c · g` for a constant `c ≠ 0`.
fn proportional(p: &Expr, g: &Expr, opts: &Options) -> Decision {
    let mut names: Vec<Box<str>> = Vec::new();
    p.vars(&mut names);
    g.vars(&mut names);
    names.sort();
    if names.is_empty() {
        return Unknown;
    }
    identity(p, g, &names, p.has_decimal() || g.has_decimal(), opts, true)
}
