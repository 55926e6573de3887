//! Equivalence of two parsed answers.
//!
//! # When a tolerance applies
//!
//! Exact first: integers, fractions and decimal literals are exact rationals (`0.1` is 1/10), and two
//! exact values are equal only when they are identical. A tolerance exists for *rounded* values only:
//! each decimal literal with a fractional part `d` (`0.333`, `1.1\times10^8`, `3.14`) stands for any value
//! `v` with `|d − v| ≤ rel_tol·|v|` (`Options::rel_tol`, default 1e-8), and two answers are equal when
//! such a choice of values makes them identical, to first order. The tolerance is applied where no term
//! can hide another:
//!
//! - numbers: the difference must be within `rel_tol/(1 − rel_tol)` times the first-order sensitivity of
//!   the two values to their decimal literals (`10^{20} + 1.5` vs `10^{20}`: within a fraction of 1.5,
//!   not of 10^{20});
//! - polynomials and rational functions: both sides are expanded exactly (`crate::poly`) and each
//!   coefficient of the difference must vanish within the tolerance of the literals that built *that
//!   coefficient* (`3.5x^4 + 1` vs `3.5x^4`: the constant coefficient is 1, exact, so never);
//! - expressions with irrational atoms (`π`, `\sqrt2`, `\sin x`): equal atoms cancel exactly first; what
//!   remains is grouped by its variable part and every group evaluated with a running error bound
//!   (`crate::approx`), the tolerance scaled by the magnitude of the decimal-bearing terms of that group
//!   only. Atoms that depend on variables and may be related by identities (`\cos^2x - \sin^2x - \cos 2x`)
//!   are evaluated at real points near magnitude 1 first (so monomials of different degrees stay
//!   comparable), inside both sides' real domain.
//!
//! # What is never accepted
//!
//! - Two exact values that differ, however close (`1234567` vs `1234568`, `2^{-99}` vs `2^{-98}`).
//! - A term present on one side only, or a coefficient off by more than its own tolerance, whatever the
//!   other terms' size (`61.87x^5 + 12.13x` vs `61.87x^5`, `x^3 − 25.001` vs `x^3 − 25`).
//! - A value that underflowed, overflowed or lost the precision to see a relative change of 2^-20 in any
//!   of its parts (`e^{-1000}` vs `0` is decided exactly, `\sin(10^{20})` vs `\sin(10^{20}+1)` is
//!   `Unknown`): floating point says *different* when the difference clearly exceeds the error bound,
//!   *equal* only when it is within it and nothing was lost, and *undecided* otherwise.
//! - An identity decided from values where nothing can be expanded, unless the values agree exactly
//!   (rational functions at integer points, Schwartz–Zippel) or within error bounds at several points.
//!
//! Equations compare up to a nonzero constant factor.

use crate::answer::{to_intervals, Answer, Interval};
use crate::approx::{zero_test, Approx, Zero as Z};
use crate::eval::{numeric, Env, EvalError, Exact};
use crate::poly;
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
    /// Relative tolerance of a decimal literal with a fractional part (a possibly rounded value): see the
    /// module docs for where it applies. Default 1e-8.
    pub rel_tol: f64,
    /// Reward only answers given with a marker (a box, "the answer is", `Answer:`, `####`, an `A:`
    /// line); without one a completion has `no_answer`. Default false: the last math span or number of
    /// a finished completion also counts.
    pub require_marker: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { rel_tol: 1e-8, require_marker: false }
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

/// Two constants: exactly when both are rational, then by expansion over atoms (`crate::poly`).
fn constant(p: &Expr, g: &Expr, decimal: bool, opts: &Options) -> Decision {
    let empty = Env::<Q> { names: &[], values: &[] };
    let x = Exact::default().eval(p, &empty);
    let y = Exact::default().eval(g, &empty);
    match (&x, &y) {
        (Ok(a), Ok(b)) => {
            if a == b {
                return Equal;
            }
            bool_dec(decimal && decimal_close(a, b, p, g, opts.rel_tol))
        }
        (Err(EvalError::Undefined), _) | (_, Err(EvalError::Undefined)) => Unknown,
        _ => {
            if !has_infinity(p) && !has_infinity(g) {
                // Cheapest first: the two values with error bounds. A clear difference is certain; without
                // decimals, agreement within the bound with nothing lost is equality (a constant is its
                // value). Anything else goes to the expansion over atoms.
                let env = Env { names: &[], values: &[] };
                let z = Approx::sum(&[Approx::eval(p, &env), -Approx::eval(g, &env)]);
                match zero_test(&z, poly::decimal_tolerance(opts.rel_tol)) {
                    Z::NonZero => return NotEqual,
                    Z::Zero if !decimal => return Equal,
                    _ => {}
                }
                if let Some(d) = poly::identity(p, g, &[], opts.rel_tol) {
                    return d;
                }
            }
            beyond_caps(p, g, &x, &y, decimal, opts)
        }
    }
}

/// `|a − b|` within what the decimal literals of `p` and `g` can explain: each literal `d` stands for a
/// value `v` with `|d − v| ≤ rel_tol · |v|`, so the values may differ by `rel_tol / (1 − rel_tol)` times
/// the first-order sensitivity of each side to its literals (`10^{20} + 1.5` vs `10^{20}`: 1.5, not
/// 10^{20}). Exact arithmetic.
fn decimal_close(a: &Q, b: &Q, p: &Expr, g: &Expr, rel_tol: f64) -> bool {
    // A float screen first: the float sensitivity agrees with the exact one to far better than 2x.
    let env = Env { names: &[], values: &[] };
    let fs = Approx::eval(p, &env).dec + Approx::eval(g, &env).dec;
    let diff = crate::eval::q_to_f64(&(a - b)).abs();
    let t = poly::decimal_tolerance(rel_tol);
    if fs.is_finite() && diff.is_finite() && diff > 0.0 {
        if diff > 2.0 * t * fs {
            return false;
        }
        if diff < 0.5 * t * fs {
            return true;
        }
    }
    let sens = |e: &Expr| -> Option<Q> {
        match Exact::default().sensitivity(e) {
            Ok((_, s)) => Some(s),
            Err(_) => {
                let d = Approx::eval(e, &Env { names: &[], values: &[] }).dec;
                if d.is_finite() {
                    Q::from_float(d)
                } else {
                    None
                }
            }
        }
    };
    let (Some(sp), Some(sg)) = (sens(p), sens(g)) else { return false };
    let Some(t) = Q::from_float(poly::decimal_tolerance(rel_tol)) else { return false };
    (a - b).abs() <= t * (sp + sg)
}

/// Constants past the expansion caps (`10^{5000}`, `3^{20000}`) or with `∞`: a saturated float differs
/// from a finite one and is undecided against another; finite values are never called equal from their
/// values alone (a lower-order term could hide in them), only clearly different.
fn beyond_caps(p: &Expr, g: &Expr, x: &Result<Q, EvalError>, y: &Result<Q, EvalError>, decimal: bool, opts: &Options) -> Decision {
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
    match complex_close(a, b, tol) {
        Equal => Unknown,
        d => d,
    }
}

fn has_infinity(e: &Expr) -> bool {
    let mut found = false;
    e.walk(&mut |x| found |= matches!(x, Expr::Inf));
    found
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

/// Fixed pseudo-random evaluation points of the exact fallback: a variable's value depends on its name
/// and the trial only, so both sides see the same assignment. Integers in ±[3, 1000] (Schwartz–Zippel:
/// two different rational functions of degree d agree at a random point of a set of size S with
/// probability at most d/S, per trial); integers keep polynomial evaluation free of gcds.
fn point_q(name: &str, trial: u64) -> Q {
    let h = fnv(name) ^ trial.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let h = splitmix(h);
    let v = 3 + (h % 998) as i64;
    let sign = if (h >> 40) & 1 == 1 { -1 } else { 1 };
    Q::from_integer(BigInt::from(sign * v))
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
const MAX_TRIES: u64 = 8;

/// Identity test of `p` and `g` (or, with `ratio`, that `p / g` is a nonzero constant): by expansion
/// over atoms first (`crate::poly`); where that cannot decide, by exact values at integer points (only
/// an exact agreement or disagreement counts: values cannot weigh a tolerance, a lower-order term could
/// hide in them); where nothing expands, by values with error bounds at real points.
fn identity(p: &Expr, g: &Expr, names: &[Box<str>], decimal: bool, opts: &Options, ratio: bool) -> Decision {
    if !decimal {
        // Cheapest first: exact values at integer points. A difference is certain; an agreement decides
        // only between rational functions (Schwartz–Zippel).
        match exact_points(p, g, names, false, ratio) {
            NotEqual => return NotEqual,
            Equal if rational_function(p) && rational_function(g) => return Equal,
            _ => {}
        }
    }
    let formal = if ratio {
        poly::proportional(p, g, names, opts.rel_tol)
    } else {
        poly::identity(p, g, names, opts.rel_tol)
    };
    if let Some(d @ (Equal | NotEqual)) = formal {
        return d;
    }
    let d = exact_points(p, g, names, decimal, ratio);
    if d != Unknown || formal.is_some() {
        return d;
    }
    poly::float_points(p, g, names, opts.rel_tol, ratio)
}

/// Built from numbers and variables by `+ - × ÷` and integer powers only.
fn rational_function(e: &Expr) -> bool {
    let mut ok = true;
    e.walk(&mut |x| {
        ok &= match x {
            Expr::Num(_) | Expr::Dec(_) | Expr::Var(_) | Expr::Neg(_) | Expr::Add(_) | Expr::Mul(_) | Expr::Div(..) => true,
            Expr::Percent(_) => true,
            Expr::Pow(_, n) => matches!(&**n, Expr::Num(q) if q.is_integer())
                || matches!(&**n, Expr::Neg(m) if matches!(&**m, Expr::Num(q) if q.is_integer())),
            _ => false,
        }
    });
    ok
}

/// Exact evaluation at integer points: equal when the values agree exactly at [`EXACT_TRIALS`] points,
/// different when they differ exactly and no decimal is involved; undecided otherwise.
fn exact_points(p: &Expr, g: &Expr, names: &[Box<str>], decimal: bool, ratio: bool) -> Decision {
    let mut agree = 0;
    let mut first_ratio: Option<Q> = None;
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
                            return if decimal { Unknown } else { NotEqual };
                        }
                        continue;
                    }
                    let r = a / b;
                    match &first_ratio {
                        None => first_ratio = Some(r),
                        Some(f) if *f != r => return if decimal { Unknown } else { NotEqual },
                        _ => {}
                    }
                } else if a != b {
                    return if decimal { Unknown } else { NotEqual };
                }
                agree += 1;
                if agree >= EXACT_TRIALS {
                    return Equal;
                }
            }
            (Err(EvalError::Undefined), _) | (_, Err(EvalError::Undefined)) => continue,
            _ => return Unknown,
        }
    }
    if agree > 0 {
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
