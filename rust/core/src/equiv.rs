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

use crate::answer::{to_intervals, Answer, Interval, Rel};
use crate::approx::{zero_test, Approx, Zero as Z};
use crate::eval::{numeric, Env, EvalError, Exact};
use crate::poly;
use crate::expr::{Expr, Func};
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

/// Is `pred` the same answer as `gold`, under the conventions a reader cannot settle from the answers alone:
///
/// - `\log x` without a base is natural in some texts and decimal in others: the answers are compared under
///   both readings, and a verdict stands only where both give it (`\log 8 / \log 2` = `3`, `\log(ab)` =
///   `\log a + \log b`; `\log 100` vs `2` and `\log 2` vs `\ln 2` are `Unknown`).
/// - One arbitrary constant named differently (`C e^{-2t}` vs `c\,e^{-2t}`, `C_1` vs `C`): where the two
///   answers differ and each has exactly one variable the other lacks, both names of arbitrary constants
///   ([`ARBITRARY_CONSTANTS`]), the one is renamed to the other and the answers compared again. A renaming
///   only ever makes two answers the same family; it never changes one into another (`C e^{-2t}` vs
///   `C e^{2t}` stays different).
pub fn decide(pred: &Answer, gold: &Answer, opts: &Options) -> Decision {
    decide_with(pred, gold, opts, true)
}

/// [`decide`], told whether a bare `\log` may occur at all (from the answers' text: most do not).
pub(crate) fn decide_with(pred: &Answer, gold: &Answer, opts: &Options, log_possible: bool) -> Decision {
    let bare_log = |e: &Expr| matches!(e, Expr::Func(Func::Log, _));
    if log_possible && (any_node(pred, &bare_log) || any_node(gold, &bare_log)) {
        let reading = |base: Option<i64>| {
            let f = move |e: &Expr| match e {
                Expr::Func(Func::Log, a) => Some(Expr::Log(base.map(|b| Box::new(Expr::int(b))), Box::new(log_reading(a, base)))),
                _ => None,
            };
            decide_named(&map_answer(pred, &f), &map_answer(gold, &f), opts)
        };
        let natural = reading(None);
        return if natural == reading(Some(10)) { natural } else { Unknown };
    }
    decide_named(pred, gold, opts)
}

/// `\log` nested inside a `\log`'s argument, read the same way.
fn log_reading(a: &Expr, base: Option<i64>) -> Expr {
    a.rewrite(&|e: &Expr| match e {
        Expr::Func(Func::Log, x) => Some(Expr::Log(base.map(|b| Box::new(Expr::int(b))), Box::new(log_reading(x, base)))),
        _ => None,
    })
}

/// Names an answer may give its one arbitrary constant of integration or of a general solution.
pub const ARBITRARY_CONSTANTS: &[&str] = &["C", "c", "K", "C_0", "C_1", "c_0", "c_1", "K_1", "C'", "A_0"];

fn decide_named(pred: &Answer, gold: &Answer, opts: &Options) -> Decision {
    let d = equivalent(pred, gold, opts);
    let constant = |e: &Expr| matches!(e, Expr::Var(v) if ARBITRARY_CONSTANTS.contains(&&**v));
    if d == Equal || !any_node(pred, &constant) || !any_node(gold, &constant) {
        return d;
    }
    let (pv, gv) = (answer_vars(pred), answer_vars(gold));
    let only = |a: &[Box<str>], b: &[Box<str>]| a.iter().filter(|v| !b.contains(v)).cloned().collect::<Vec<_>>();
    // Only a constant of a family: the answers share a variable it multiplies or shifts (`C = 5` against
    // `c = 5` names two quantities, say an angle and a side, not one constant twice).
    let shared = pv.iter().any(|v| gv.contains(v));
    if let ([p], [g]) = (only(&pv, &gv).as_slice(), only(&gv, &pv).as_slice()) {
        if shared
            && ARBITRARY_CONSTANTS.contains(&&**p)
            && ARBITRARY_CONSTANTS.contains(&&**g)
            && affine_answer(pred, p)
            && affine_answer(gold, g)
        {
            let (p, g) = (p.clone(), g.clone());
            let renamed = map_answer(pred, &|e: &Expr| match e {
                Expr::Var(v) if *v == p => Some(Expr::Var(g.clone())),
                _ => None,
            });
            if equivalent(&renamed, gold, opts) == Equal {
                return Equal;
            }
        }
    }
    d
}

/// Every expression of the answer is affine in the variable `c`, as an arbitrary constant of a general
/// solution is: a term of a sum (`f + C`), or a factor of a term (`C f`, `-\frac{C f}{2}`), never raised
/// to a power or inside a function (`C^2`, `e^{C}`: there it would name some other quantity).
fn affine_answer(a: &Answer, c: &str) -> bool {
    let mut exprs = Vec::new();
    answer_exprs(a, &mut exprs);
    exprs.iter().all(|e| affine(e, c))
}

fn affine(e: &Expr, c: &str) -> bool {
    crate::guard::recurse(|| affine_inner(e, c)).unwrap_or(false)
}

fn mentions(e: &Expr, c: &str) -> bool {
    let mut found = false;
    e.walk(&mut |x| found |= matches!(x, Expr::Var(n) if &**n == c));
    found
}

fn affine_inner(e: &Expr, c: &str) -> bool {
    if !mentions(e, c) {
        return true;
    }
    match e {
        Expr::Var(_) => true,
        Expr::Neg(a) => affine(a, c),
        Expr::Add(items) => items.iter().all(|x| affine(x, c)),
        Expr::Mul(items) => {
            let with: Vec<&Expr> = items.iter().filter(|x| mentions(x, c)).collect();
            matches!(with.as_slice(), [one] if affine(one, c))
        }
        Expr::Div(a, b) => !mentions(b, c) && affine(a, c),
        _ => false,
    }
}

/// Every expression of an answer.
fn answer_exprs<'a>(a: &'a Answer, out: &mut Vec<&'a Expr>) {
    let _ = crate::guard::recurse(|| match a {
        Answer::Scalar(e) | Answer::Relation { expr: e, .. } => out.push(e),
        Answer::Equation { lhs, rhs, .. } => out.extend([lhs, rhs]),
        Answer::Congruence { value, modulus } => out.extend([value, modulus]),
        Answer::Intervals(v) => v.iter().for_each(|iv| out.extend([&iv.lo, &iv.hi])),
        Answer::Tuple { items, .. } | Answer::Set(items) | Answer::List(items) => items.iter().for_each(|x| answer_exprs(x, out)),
        Answer::Matrix(rows) => rows.iter().flatten().for_each(|e| out.push(e)),
        Answer::BaseN { .. } | Answer::Text(_) => {}
    });
}

fn answer_vars(a: &Answer) -> Vec<Box<str>> {
    let mut exprs = Vec::new();
    answer_exprs(a, &mut exprs);
    let mut names = Vec::new();
    for e in exprs {
        e.vars(&mut names);
    }
    names
}

/// Whether any node of any expression of the answer satisfies `f` (no allocation: this runs on every pair).
fn any_node(a: &Answer, f: &impl Fn(&Expr) -> bool) -> bool {
    let in_expr = |e: &Expr| {
        let mut found = false;
        e.walk(&mut |x| found |= f(x));
        found
    };
    crate::guard::recurse(|| match a {
        Answer::Scalar(e) | Answer::Relation { expr: e, .. } => in_expr(e),
        Answer::Equation { lhs, rhs, .. } => in_expr(lhs) || in_expr(rhs),
        Answer::Congruence { value, modulus } => in_expr(value) || in_expr(modulus),
        Answer::Intervals(v) => v.iter().any(|iv| in_expr(&iv.lo) || in_expr(&iv.hi)),
        Answer::Tuple { items, .. } | Answer::Set(items) | Answer::List(items) => items.iter().any(|x| any_node(x, f)),
        Answer::Matrix(rows) => rows.iter().flatten().any(in_expr),
        Answer::BaseN { .. } | Answer::Text(_) => false,
    })
    .unwrap_or(false)
}

/// The answer with `f` applied to each of its expressions (see [`Expr::rewrite`]).
fn map_answer(a: &Answer, f: &impl Fn(&Expr) -> Option<Expr>) -> Answer {
    crate::guard::recurse(|| {
        let m = |e: &Expr| e.rewrite(f);
        match a {
            Answer::Scalar(e) => Answer::Scalar(m(e)),
            Answer::Relation { rel, expr } => Answer::Relation { rel: *rel, expr: m(expr) },
            Answer::Equation { lhs, rhs, named } => Answer::Equation { lhs: m(lhs), rhs: m(rhs), named: named.clone() },
            Answer::Congruence { value, modulus } => Answer::Congruence { value: m(value), modulus: m(modulus) },
            Answer::Intervals(v) => Answer::Intervals(
                v.iter().map(|iv| Interval { lo: m(&iv.lo), hi: m(&iv.hi), lo_closed: iv.lo_closed, hi_closed: iv.hi_closed }).collect(),
            ),
            Answer::Tuple { open, close, items } => {
                Answer::Tuple { open: *open, close: *close, items: items.iter().map(|x| map_answer(x, f)).collect() }
            }
            Answer::Set(items) => Answer::Set(items.iter().map(|x| map_answer(x, f)).collect()),
            Answer::List(items) => Answer::List(items.iter().map(|x| map_answer(x, f)).collect()),
            Answer::Matrix(rows) => Answer::Matrix(rows.iter().map(|r| r.iter().map(m).collect()).collect()),
            other => other.clone(),
        }
    })
    .unwrap_or_else(|_| a.clone())
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
        // A false computation (`2 \cdot 3 = 7`) states nothing, whatever its last side.
        (Equation { lhs, rhs, named: None }, Scalar(g)) if is_constant(lhs) && !g.has_pm() => {
            computed(lhs, rhs, opts, || scalar(rhs, g, opts))
        }
        (Scalar(p), Equation { lhs, rhs, named: None }) if is_constant(lhs) && !p.has_pm() => {
            computed(lhs, rhs, opts, || scalar(p, rhs, opts))
        }
        (Equation { lhs: pl, rhs: pr, named: pn }, Equation { lhs: gl, rhs: gr, named: gn }) => {
            if pn.is_some() && pn == gn {
                return scalar(pr, gr, opts);
            }
            proportional(&diff(pl, pr), &diff(gl, gr), opts)
        }
        (Scalar(p), List(_) | Set(_)) if p.has_pm() => equivalent(&List(pm_list(p)), gold, opts),
        (List(_) | Set(_), Scalar(g)) if g.has_pm() => equivalent(pred, &List(pm_list(g)), opts),
        (Set(_), Equation { rhs, named: Some(_), .. }) if rhs.has_pm() => equivalent(pred, &List(pm_list(rhs)), opts),
        (Equation { rhs, named: Some(_), .. }, List(_) | Set(_)) if rhs.has_pm() => equivalent(&List(pm_list(rhs)), gold, opts),
        (Relation { rel: r1, expr: e1 }, Relation { rel: r2, expr: e2 }) => {
            if r1 != r2 {
                return NotEqual;
            }
            same_relation(e1, e2, *r1 == Rel::Ne, opts)
        }
        // A relation in several variables, or not linear, may describe the same set as intervals do.
        (Relation { .. }, _) | (_, Relation { .. }) => {
            let other = if matches!(pred, Relation { .. }) { gold } else { pred };
            if to_intervals(other).is_some() {
                Unknown
            } else {
                NotEqual
            }
        }
        (Congruence { value: v1, modulus: m1 }, Congruence { value: v2, modulus: m2 }) => congruent(v1, v2, m1, m2, opts),
        // `2 \pmod 5` against `2`: the residue as written.
        (Congruence { value, .. }, Scalar(g)) | (Congruence { value, .. }, Equation { rhs: g, named: Some(_), .. }) => {
            scalar(value, g, opts)
        }
        (Scalar(p), Congruence { value, .. }) | (Equation { rhs: p, named: Some(_), .. }, Congruence { value, .. }) => {
            scalar(p, value, opts)
        }
        (Matrix(a), Matrix(b)) => {
            if a.len() != b.len() || a[0].len() != b[0].len() {
                return NotEqual;
            }
            all(a.iter().flatten().zip(b.iter().flatten()).map(|(x, y)| scalar(x, y, opts)))
        }
        (Matrix(m), Tuple { items, .. }) | (Matrix(m), List(items)) => vector_vs_items(m, items, opts),
        (Tuple { items, .. }, Matrix(m)) | (List(items), Matrix(m)) => vector_vs_items(m, items, opts),
        (Set(a), Set(b)) if has_repeats(a) || has_repeats(b) => equivalent(&Set(distinct(a)), &Set(distinct(b)), opts),
        (Set(a), Set(b)) | (List(a), Set(b)) | (Set(a), List(b)) | (List(a), List(b)) => {
            // `\{2 \pm 1\}`, `\pm 1, \pm 7`: each `±` item stands for both of its values.
            let (ea, eb) = (expand_pm_items(a), expand_pm_items(b));
            if ea.is_some() || eb.is_some() {
                return unordered(ea.as_deref().unwrap_or(a), eb.as_deref().unwrap_or(b), opts);
            }
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
        // Only a tuple in round brackets may be a point or a list of values: `[1, 2]`, `(1, 2]` and `[1, 2)`
        // are intervals, never the two numbers `1, 2` nor the set `\{1, 2\}`.
        (List(_) | Set(_), Tuple { open, close, .. }) | (Tuple { open, close, .. }, List(_) | Set(_))
            if (*open, *close) != (b'(', b')') =>
        {
            match (to_intervals(pred), to_intervals(gold)) {
                (Some(x), Some(y)) => intervals(&x, &y, opts),
                _ => NotEqual,
            }
        }
        // Values named by distinct names (`x = 1, y = 2`) are a point, its coordinates in the order of
        // their names (`y = 2, x = 1` is the point `(1, 2)`, never `(2, 1)`). The same name twice
        // (`x = 1 or x = 2`) is a list of roots: a gold point or interval `(1, 2)` is not one (a tuple
        // predicted against gold roots is read as the roots, below).
        (List(a), Tuple { items: b, .. }) | (Tuple { items: b, .. }, List(a)) if named_items(a).is_some() => {
            match named_point(a) {
                Some(p) => ordered(&p, b, opts),
                None if matches!(pred, Tuple { .. }) => unordered(b, a, opts),
                None => NotEqual,
            }
        }
        // A bare list against a tuple: in order (`3, -1` is the point `(3, -1)`).
        (List(a), Tuple { items: b, .. }) => ordered(a, b, opts),
        // A tuple against a bare list of roots: unordered.
        (Tuple { items: a, .. }, List(b)) => unordered(a, b, opts),
        (Tuple { items: a, .. }, Set(b)) => unordered(a, b, opts),
        _ => match (to_intervals(pred), to_intervals(gold)) {
            (Some(x), Some(y)) if matches!(gold, Intervals(_)) || matches!(pred, Intervals(_)) => intervals(&x, &y, opts),
            _ => NotEqual,
        },
    }
}

/// `then()` where the computation `lhs = rhs` (both sides constants) holds; `NotEqual` where it is false.
fn computed(lhs: &Expr, rhs: &Expr, opts: &Options, then: impl FnOnce() -> Decision) -> Decision {
    if !is_constant(rhs) {
        return then();
    }
    match scalar(lhs, rhs, opts) {
        Equal => then(),
        d => d,
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

/// A set written with an item twice (`\{1, 2, 2\}`) is the set without the repeat (only items written
/// identically are merged).
fn has_repeats(items: &[Answer]) -> bool {
    items.len() <= 64 && items.iter().enumerate().any(|(i, x)| items[..i].contains(x))
}

fn distinct(items: &[Answer]) -> Vec<Answer> {
    let mut out: Vec<Answer> = Vec::new();
    for it in items {
        if !out.contains(it) {
            out.push(it.clone());
        }
    }
    out
}

/// The names of a list's items when every item is a named value (`x = 1`, `y = 2`) and there are two or more.
fn named_items(items: &[Answer]) -> Option<Vec<&str>> {
    let names: Option<Vec<&str>> = items
        .iter()
        .map(|it| match it {
            Answer::Equation { named: Some(n), .. } => Some(n.as_str()),
            _ => None,
        })
        .collect();
    names.filter(|n| n.len() >= 2)
}

/// The coordinates of a point written as named values (`y = 2, x = 1`), in the order of their names
/// (`(x, y)`, `(a, b, c)`); `None` when a name repeats (`x = 1 or x = 2`: roots, not a point).
fn named_point(items: &[Answer]) -> Option<Vec<Answer>> {
    let names = named_items(items)?;
    let mut pairs: Vec<(&str, &Answer)> = names.into_iter().zip(items).collect();
    pairs.sort_by(|x, y| x.0.cmp(y.0));
    if pairs.windows(2).any(|w| w[0].0 == w[1].0) {
        return None;
    }
    Some(
        pairs
            .into_iter()
            .map(|(_, it)| match it {
                Answer::Equation { rhs, .. } => Answer::Scalar(rhs.clone()),
                other => other.clone(),
            })
            .collect(),
    )
}

fn ordered(a: &[Answer], b: &[Answer], opts: &Options) -> Decision {
    if a.len() != b.len() {
        return NotEqual;
    }
    all(a.iter().zip(b).map(|(x, y)| equivalent(x, y, opts)))
}

/// The items with each `±` item (a scalar or a named value) replaced by its values; `None` without one.
fn expand_pm_items(items: &[Answer]) -> Option<Vec<Answer>> {
    let pm = |a: &Answer| match a {
        Answer::Scalar(e) | Answer::Equation { rhs: e, named: Some(_), .. } => e.has_pm(),
        _ => false,
    };
    if !items.iter().any(pm) {
        return None;
    }
    let mut out = Vec::new();
    for it in items {
        match it {
            Answer::Scalar(e) | Answer::Equation { rhs: e, named: Some(_), .. } if e.has_pm() => out.extend(pm_list(e)),
            other => out.push(other.clone()),
        }
        if out.len() > crate::answer::MAX_ITEMS {
            return None;
        }
    }
    Some(out)
}

/// `e1 REL 0` and `e2 REL 0` are the same relation: `e1 = c·e2` for a constant `c`, positive for `<` and
/// `≤` (any nonzero `c` for `≠`).
fn same_relation(e1: &Expr, e2: &Expr, any_sign: bool, opts: &Options) -> Decision {
    let mut names: Vec<Box<str>> = Vec::new();
    e1.vars(&mut names);
    e2.vars(&mut names);
    names.sort();
    if names.is_empty() {
        return Unknown;
    }
    let d = identity(e1, e2, &names, e1.has_decimal() || e2.has_decimal(), opts, true);
    if d != Equal || any_sign {
        return d;
    }
    match ratio_sign(e1, e2, &names) {
        Some(true) => Equal,
        Some(false) => NotEqual,
        None => Unknown,
    }
}

/// The sign of `p / g` at the first evaluation point where both are certainly nonzero (`p / g` is known to
/// be a constant): `Some(true)` when positive.
fn ratio_sign(p: &Expr, g: &Expr, names: &[Box<str>]) -> Option<bool> {
    for trial in 0..MAX_TRIES {
        let values: Vec<Q> = names.iter().map(|n| point_q(n, trial)).collect();
        let env = Env { names, values: &values };
        let mut budget = Exact::default();
        if let (Ok(a), Ok(b)) = (budget.eval(p, &env), budget.eval(g, &env)) {
            if !a.is_zero() && !b.is_zero() {
                return Some(a.is_positive() == b.is_positive());
            }
            continue;
        }
        let cv: Vec<C> = values.iter().map(|q| C::new(crate::eval::q_to_f64(q), 0.0)).collect();
        let cenv = Env { names, values: &cv };
        let (a, b) = (Approx::eval(p, &cenv), Approx::eval(g, &cenv));
        let sure = |x: &Approx| !x.lost && !x.nonreal && x.v.im == 0.0 && x.v.re.abs() > x.err && x.v.re.is_finite();
        if sure(&a) && sure(&b) {
            return Some((a.v.re > 0.0) == (b.v.re > 0.0));
        }
    }
    None
}

/// `v1 ≡ v2` modulo equal moduli: exactly, for integers.
fn congruent(v1: &Expr, v2: &Expr, m1: &Expr, m2: &Expr, opts: &Options) -> Decision {
    match scalar(m1, m2, opts) {
        Equal => {}
        d => return d,
    }
    let empty = Env::<Q> { names: &[], values: &[] };
    let mut ex = Exact::default();
    match (ex.eval(v1, &empty), ex.eval(v2, &empty), ex.eval(m1, &empty)) {
        (Ok(a), Ok(b), Ok(m)) if a.is_integer() && b.is_integer() && m.is_integer() && !m.is_zero() => {
            bool_dec(((a - b) / m).is_integer())
        }
        _ => match scalar(v1, v2, opts) {
            Equal => Equal,
            _ => Unknown,
        },
    }
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

/// FNV-1a of a name: the seed of its sample points (here and in `poly`).
pub(crate) fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// SplitMix64's finaliser: a well-mixed 64-bit value from a seed.
pub(crate) fn splitmix(mut z: u64) -> u64 {
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
    let decimal = p.has_decimal() || g.has_decimal();
    let d = identity(p, g, &names, decimal, opts, true);
    if d == Equal {
        return d;
    }
    // Cleared of denominators, the same equation (`I\dot\omega + 2B\omega = T` vs `\dot\omega = T/I -
    // 2B\omega/I`): multiplying each side by its own denominators keeps its solutions wherever it is
    // defined, so equal cleared forms are the same relation on the common domain.
    let (dp, dg) = (denominators(p), denominators(g));
    if dp.is_empty() && dg.is_empty() {
        return d;
    }
    let clear = |e: &Expr, ds: Vec<Expr>| if ds.is_empty() { e.clone() } else { Expr::Mul(std::iter::once(e.clone()).chain(ds).collect()) };
    match identity(&clear(p, dp), &clear(g, dg), &names, decimal, opts, true) {
        Equal => Equal,
        _ => d,
    }
}

/// The distinct denominators of `e` that depend on a variable (at most four; none past that).
fn denominators(e: &Expr) -> Vec<Expr> {
    let mut out: Vec<Expr> = Vec::new();
    let seen_vars = |x: &Expr| {
        let mut n = Vec::new();
        x.vars(&mut n);
        !n.is_empty()
    };
    let mut found: Vec<Expr> = Vec::new();
    e.walk(&mut |x| match x {
        Expr::Div(_, b) => found.push((**b).clone()),
        Expr::Pow(b, n) => {
            if let Expr::Neg(m) = &**n {
                if matches!(&**m, Expr::Num(q) if q.is_integer()) {
                    found.push(Expr::Pow(b.clone(), m.clone()));
                }
            }
        }
        _ => {}
    });
    for f in found {
        if seen_vars(&f) && !out.contains(&f) {
            out.push(f);
        }
    }
    if out.len() > 4 {
        out.clear();
    }
    out
}
