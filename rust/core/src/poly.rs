//! Exact expansion of expressions into Laurent polynomials over *atoms*, and the decision whether the
//! difference of two expressions is zero.
//!
//! An atom is a variable, `i` (reduced by `i² = -1`), `π`, `e`, a canonical radical `t^{1/q}` of an
//! integer (reduced by `(t^{1/q})^q = t`: `\sqrt8 = 2\sqrt2`, `\frac{1}{\sqrt2} = \frac{\sqrt2}{2}`), a
//! root of a variable (`\sqrt x`, with `(\sqrt x)^2 = x`), or any other subexpression (`\sin 2x`,
//! `\ln 3`, `e^{x}`), kept whole and evaluated numerically. Coefficients are exact rationals (a decimal
//! literal is the rational it spells) carrying `e`, how much the decimal literals that built them can
//! move them per unit of relative error. A quotient is kept as numerator and denominator; denominators
//! that are equal up to a constant share one, and a one-term denominator becomes negative exponents.
//!
//! Two expressions `p`, `g` are compared through `d = p − g` (cross-multiplied where the denominators
//! differ), in which equal terms cancel exactly. Then, with the monomials of `d` grouped by their
//! variable part (variables and atoms that depend on variables, taken as independent symbols), every
//! group is a constant that must be zero:
//!
//! - a rational group (atoms `i` at most) is zero exactly, or within the decimal tolerance
//!   `rel_tol/(1-rel_tol) · e` *of that coefficient alone*, so no term can hide another;
//! - a group of one monomial of atoms that are never zero (`π`, `e`, radicals, `e^{x}`) is nonzero
//!   (`e^{-1000}` vs `0`), and a polynomial in `π` alone or in `e` alone is nonzero (both are
//!   transcendental: `e^{-1000}` vs `e^{-1001}`);
//! - any other group is evaluated in floating point with a running error bound (`crate::approx`): zero
//!   when its value is within the error bound plus the decimal tolerance and nothing was lost, nonzero
//!   when it is clearly outside, undecided otherwise.
//!
//! When every group is zero the expressions are equal. When atoms depending on variables are left
//! (`\cos^2x - \sin^2x - \cos 2x`), they may be related by identities, so `d` is evaluated at fixed real
//! points instead, near magnitude 1 first so that monomials of different degrees stay comparable (points
//! outside either side's real domain are skipped). There `d` must be zero exactly (decimals as the
//! rationals they spell) or, where decimals are involved, one perturbation of the decimal-bearing
//! coefficients, each within its own tolerance, must explain `d` at every point at once (a least-squares
//! fit): a tolerance granted at each point separately would let the largest terms hide a small one.
//!
//! Sums of fractions use the least common denominator where both denominators are polynomials in one
//! variable (exact gcd), and such fractions without decimals are kept in lowest terms, so partial
//! fractions and their combined form are compared coefficient by coefficient.
//!
//! Work is bounded: at most [`MAX_TERMS`] terms per polynomial, [`MAX_ATOMS`] atoms, exponents up to
//! [`MAX_EXP`], coefficients within the exact evaluator's bit cap and a work budget; past them the
//! caller falls back (and says `unparseable` rather than guess).

use crate::approx::{q_within, zero_test, Approx, Zero};
use crate::equiv::{fnv, splitmix, Decision};
use crate::eval::{q_to_f64, Env, EvalError, Exact, MAX_BITS};
use crate::expr::{Expr, Func};
use num_bigint::BigInt;
use num_complex::Complex64 as C;
use num_integer::Integer;
use num_rational::BigRational as Q;
use num_traits::{One, Signed, ToPrimitive, Zero as _};
use std::collections::BTreeMap;

/// Most terms of one polynomial.
pub const MAX_TERMS: usize = 256;
/// Most distinct atoms in one comparison.
pub const MAX_ATOMS: usize = 64;
/// Largest exponent of an atom.
pub const MAX_EXP: i64 = 1 << 20;
/// Work budget of one comparison (coefficient operations, weighted by size).
const WORK: u64 = 400_000;
/// Points tried for an identity in atoms that depend on variables.
const POINTS: u64 = 16;

#[derive(Debug, Clone, PartialEq)]
pub enum Atom {
    Var(Box<str>),
    I,
    Pi,
    E,
    /// `t^{1/q}`, `t > 1` an integer without small `q`-th power factors.
    Radical { q: u32, t: BigInt },
    /// `x^{1/q}` for the variable atom `var`.
    VarRoot { q: u32, var: u16 },
    /// Any other subexpression, evaluated numerically.
    Opaque { e: Expr, vars: bool, nonzero: bool, dec: bool },
}

impl Atom {
    /// Depends on a variable (and is not one).
    fn var_dependent(&self) -> bool {
        matches!(self, Atom::VarRoot { .. } | Atom::Opaque { vars: true, .. })
    }

    /// Never zero (as a constant, or as a function not identically zero).
    fn nonzero(&self) -> bool {
        match self {
            Atom::Opaque { nonzero, dec, .. } => *nonzero && !dec,
            _ => true,
        }
    }
}

pub type Mono = Vec<(u16, i32)>;

#[derive(Debug, Clone)]
pub struct Coef {
    pub q: Q,
    /// Change of `q` per unit of relative error of the decimal literals it came from (first order).
    pub e: f64,
}

#[derive(Debug, Clone, Default)]
pub struct Poly(pub BTreeMap<Mono, Coef>);

#[derive(Debug, Clone)]
pub struct Rf {
    pub num: Poly,
    pub den: Poly,
}

fn bits(q: &Q) -> u64 {
    q.numer().bits().max(q.denom().bits())
}

fn qabs(q: &Q) -> f64 {
    q_to_f64(q).abs()
}

impl Poly {
    fn constant(q: Q, e: f64) -> Poly {
        let mut p = Poly::default();
        if !q.is_zero() {
            p.0.insert(Vec::new(), Coef { q, e });
        }
        p
    }

    fn one() -> Poly {
        Poly::constant(Q::one(), 0.0)
    }

    fn is_one(&self) -> bool {
        self.0.len() == 1 && self.0.get(&Vec::new()).is_some_and(|c| c.q.is_one() && c.e == 0.0)
    }

    pub fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    fn add_term(&mut self, m: Mono, c: Coef) {
        use std::collections::btree_map::Entry;
        match self.0.entry(m) {
            Entry::Vacant(v) => {
                if !c.q.is_zero() {
                    v.insert(c);
                }
            }
            Entry::Occupied(mut o) => {
                let x = o.get_mut();
                x.q = if x.q.is_integer() && c.q.is_integer() {
                    Q::from_integer(x.q.numer() + c.q.numer())
                } else {
                    &x.q + c.q
                };
                x.e += c.e;
                if x.q.is_zero() {
                    // Equal terms cancel exactly: whatever their decimals, they are the same term.
                    o.remove();
                }
            }
        }
    }

    fn atoms(&self, out: &mut Vec<u16>) {
        for m in self.0.keys() {
            for (a, _) in m {
                if !out.contains(a) {
                    out.push(*a);
                }
            }
        }
    }

    fn has_dec(&self) -> bool {
        self.0.values().any(|c| c.e != 0.0)
    }
}

/// The conversion context: the atoms both sides share, and the work budget.
pub struct Ctx {
    pub atoms: Vec<Atom>,
    work: u64,
    exact: Exact,
}

impl Default for Ctx {
    fn default() -> Self {
        Ctx { atoms: Vec::new(), work: WORK, exact: Exact::default() }
    }
}

fn has_vars(e: &Expr) -> bool {
    let mut found = false;
    e.walk(&mut |x| found |= matches!(x, Expr::Var(_)));
    found
}

impl Ctx {
    fn charge(&mut self, units: u64) -> Option<()> {
        if units > self.work {
            self.work = 0;
            return None;
        }
        self.work -= units;
        Some(())
    }

    fn atom(&mut self, a: Atom) -> Option<u16> {
        if let Some(i) = self.atoms.iter().position(|x| *x == a) {
            return Some(i as u16);
        }
        if self.atoms.len() >= MAX_ATOMS {
            return None;
        }
        self.atoms.push(a);
        Some((self.atoms.len() - 1) as u16)
    }

    fn qmul(&mut self, a: &Q, b: &Q) -> Option<Q> {
        if bits(a) + bits(b) > MAX_BITS + 64 {
            return None;
        }
        let w = 1 + (bits(a) + bits(b)) / 64;
        self.charge(w * w)?;
        let r = if a.is_integer() && b.is_integer() { Q::from_integer(a.numer() * b.numer()) } else { a * b };
        (bits(&r) <= MAX_BITS).then_some(r)
    }

    fn qpow(&mut self, q: &Q, n: i64) -> Option<Q> {
        if n == 0 {
            return Some(Q::one());
        }
        if q.is_zero() {
            return if n > 0 { Some(Q::zero()) } else { None };
        }
        let b = bits(q).max(1);
        if q.abs().is_one() {
            return Some(if n.is_even() { Q::one() } else { q.clone() });
        }
        if n.unsigned_abs().saturating_mul(b.saturating_sub(1).max(1)) > MAX_BITS {
            return None;
        }
        self.charge(1 + n.unsigned_abs() * b / 64)?;
        let r = num_traits::pow(q.clone(), n.unsigned_abs() as usize);
        Some(if n < 0 { r.recip() } else { r })
    }

    /// Reduce a monomial (`i² = -1`, `(t^{1/q})^q = t`, `(x^{1/q})^q = x`): the rational factor it sheds
    /// and the reduced monomial.
    fn reduce(&mut self, m: Vec<(u16, i64)>) -> Option<(Q, Mono)> {
        let mut factor = Q::one();
        let mut out: Vec<(u16, i64)> = Vec::with_capacity(m.len());
        let mut extra: Vec<(u16, i64)> = Vec::new();
        for (id, k) in m {
            if k == 0 {
                continue;
            }
            match &self.atoms[id as usize] {
                Atom::I => {
                    let r = k.rem_euclid(4);
                    if r >= 2 {
                        factor = -factor;
                    }
                    if r % 2 == 1 {
                        out.push((id, 1));
                    }
                }
                Atom::Radical { q, t } => {
                    let (q, t) = (*q as i64, t.clone());
                    let (d, r) = (k.div_euclid(q), k.rem_euclid(q));
                    if d != 0 {
                        let f = self.qpow(&Q::from_integer(t), d)?;
                        factor = self.qmul(&factor, &f)?;
                    }
                    if r != 0 {
                        out.push((id, r));
                    }
                }
                Atom::VarRoot { q, var } => {
                    let (q, var) = (*q as i64, *var);
                    let (d, r) = (k.div_euclid(q), k.rem_euclid(q));
                    if d != 0 {
                        extra.push((var, d));
                    }
                    if r != 0 {
                        out.push((id, r));
                    }
                }
                _ => out.push((id, k)),
            }
        }
        for (id, k) in extra {
            match out.iter_mut().find(|(a, _)| *a == id) {
                Some(x) => x.1 += k,
                None => out.push((id, k)),
            }
        }
        out.retain(|(_, k)| *k != 0);
        out.sort_unstable_by_key(|(a, _)| *a);
        if out.iter().any(|(_, k)| k.abs() > MAX_EXP) {
            return None;
        }
        Some((factor, out.into_iter().map(|(a, k)| (a, k as i32)).collect()))
    }

    fn mono_mul(&mut self, a: &Mono, b: &Mono) -> Option<(Option<Q>, Mono)> {
        let mut m: Vec<(u16, i64)> = Vec::with_capacity(a.len() + b.len());
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            if j >= b.len() || (i < a.len() && a[i].0 < b[j].0) {
                m.push((a[i].0, a[i].1 as i64));
                i += 1;
            } else if i >= a.len() || b[j].0 < a[i].0 {
                m.push((b[j].0, b[j].1 as i64));
                j += 1;
            } else {
                m.push((a[i].0, a[i].1 as i64 + b[j].1 as i64));
                i += 1;
                j += 1;
            }
        }
        let special = m.iter().any(|(id, _)| {
            matches!(self.atoms[*id as usize], Atom::I | Atom::Radical { .. } | Atom::VarRoot { .. })
        });
        if !special {
            m.retain(|(_, k)| *k != 0);
            if m.iter().any(|(_, k)| k.abs() > MAX_EXP) {
                return None;
            }
            return Some((None, m.into_iter().map(|(a, k)| (a, k as i32)).collect()));
        }
        let (f, m) = self.reduce(m)?;
        Some(((!f.is_one()).then_some(f), m))
    }

    fn padd(&mut self, a: &Poly, b: &Poly) -> Option<Poly> {
        self.charge((a.0.len() + b.0.len()) as u64)?;
        let mut out = a.clone();
        for (m, c) in &b.0 {
            out.add_term(m.clone(), c.clone());
        }
        (out.0.len() <= MAX_TERMS).then_some(out)
    }

    fn pneg(&mut self, a: &Poly) -> Poly {
        Poly(a.0.iter().map(|(m, c)| (m.clone(), Coef { q: -c.q.clone(), e: c.e })).collect())
    }

    /// `k · a`, where `k` carries its own decimal sensitivity `ek`.
    fn pscale(&mut self, a: &Poly, k: &Q, ek: f64) -> Option<Poly> {
        let mut out = Poly::default();
        let ka = qabs(k);
        for (m, c) in &a.0 {
            let q = self.qmul(&c.q, k)?;
            out.add_term(m.clone(), Coef { q, e: ka * c.e + ek * qabs(&c.q) });
        }
        Some(out)
    }

    fn pmul(&mut self, a: &Poly, b: &Poly) -> Option<Poly> {
        if a.is_one() {
            return Some(b.clone());
        }
        if b.is_one() {
            return Some(a.clone());
        }
        if a.0.len() * b.0.len() > MAX_TERMS * 16 {
            return None;
        }
        let mut out = Poly::default();
        for (ma, ca) in &a.0 {
            for (mb, cb) in &b.0 {
                let (f, m) = self.mono_mul(ma, mb)?;
                let mut q = self.qmul(&ca.q, &cb.q)?;
                if let Some(f) = &f {
                    q = self.qmul(&q, f)?;
                }
                let e = if ca.e == 0.0 && cb.e == 0.0 {
                    0.0
                } else {
                    (qabs(&ca.q) * cb.e + ca.e * qabs(&cb.q) + ca.e * cb.e) * f.as_ref().map_or(1.0, qabs)
                };
                out.add_term(m, Coef { q, e });
            }
            if out.0.len() > MAX_TERMS {
                return None;
            }
        }
        Some(out)
    }

    /// `a^n`; a negative `n` only for a one-term `a`.
    fn ppow(&mut self, a: &Poly, n: i64) -> Option<Poly> {
        if n == 0 {
            return Some(Poly::one());
        }
        if a.is_zero() {
            return if n > 0 { Some(Poly::default()) } else { None };
        }
        if a.0.len() == 1 {
            let (m, c) = a.0.iter().next().unwrap();
            let raw: Vec<(u16, i64)> = m.iter().map(|(id, k)| (*id, *k as i64 * n)).collect();
            if raw.iter().any(|(_, k)| k.abs() > MAX_EXP) {
                return None;
            }
            let (f, m) = self.reduce(raw)?;
            let q = self.qpow(&c.q, n)?;
            let q = self.qmul(&q, &f)?;
            let e = if c.e == 0.0 { 0.0 } else { qabs(&q) * n.unsigned_abs() as f64 * c.e / qabs(&c.q) };
            let mut p = Poly::default();
            p.add_term(m, Coef { q, e });
            return Some(p);
        }
        if !(0..=64).contains(&n) {
            return None;
        }
        let mut result = Poly::one();
        let mut base = a.clone();
        let mut k = n as u64;
        while k > 0 {
            if k & 1 == 1 {
                result = self.pmul(&result, &base)?;
            }
            k >>= 1;
            if k > 0 {
                base = self.pmul(&base, &base)?;
            }
        }
        Some(result)
    }

    /// `a = k · b` for a rational `k`: `k` and its decimal sensitivity.
    fn proportional(&mut self, a: &Poly, b: &Poly) -> Option<(Q, f64)> {
        if a.0.len() != b.0.len() || a.is_zero() {
            return None;
        }
        let (m0, a0) = a.0.iter().next()?;
        let b0 = b.0.get(m0)?;
        let k = &a0.q / &b0.q;
        for (m, ca) in &a.0 {
            let cb = b.0.get(m)?;
            if ca.q != &cb.q * &k {
                return None;
            }
        }
        let ek = a0.e / qabs(&b0.q) + qabs(&a0.q) * b0.e / (qabs(&b0.q) * qabs(&b0.q));
        Some((k, ek))
    }

    fn rf(num: Poly) -> Rf {
        Rf { num, den: Poly::one() }
    }

    /// A one-term denominator becomes negative exponents of the numerator.
    fn normalize(&mut self, mut r: Rf) -> Option<Rf> {
        if r.num.is_zero() {
            return Some(Ctx::rf(Poly::default()));
        }
        if r.den.is_one() {
            return Some(r);
        }
        if r.den.0.len() != 1 {
            return self.reduce_fraction(r);
        }
        let inv = self.ppow(&r.den, -1)?;
        r.num = self.pmul(&r.num, &inv)?;
        r.den = Poly::one();
        Some(r)
    }

    /// `p` as a dense polynomial in one variable (exact coefficients, no decimals, exponents ≥ 0).
    fn dense(&self, p: &Poly) -> Option<(Option<u16>, Vec<Q>)> {
        let (mut id, mut deg) = (None, 0usize);
        for (m, c) in &p.0 {
            if c.e != 0.0 {
                return None;
            }
            match m.as_slice() {
                [] => {}
                [(a, k)] if *k > 0 && matches!(self.atoms[*a as usize], Atom::Var(_)) => {
                    if id.is_some_and(|x| x != *a) {
                        return None;
                    }
                    id = Some(*a);
                    deg = deg.max(*k as usize);
                }
                _ => return None,
            }
        }
        if deg > 64 {
            return None;
        }
        let mut v = vec![Q::zero(); deg + 1];
        for (m, c) in &p.0 {
            v[m.first().map_or(0, |x| x.1 as usize)] = c.q.clone();
        }
        Some((id, v))
    }

    fn sparse(id: Option<u16>, v: &[Q]) -> Poly {
        let mut p = Poly::default();
        for (k, q) in v.iter().enumerate() {
            let m = match (k, id) {
                (0, _) | (_, None) => Vec::new(),
                (k, Some(a)) => vec![(a, k as i32)],
            };
            p.add_term(m, Coef { q: q.clone(), e: 0.0 });
        }
        p
    }

    /// Quotient and remainder of dense polynomials (`b` with a nonzero leading coefficient).
    fn divmod(&mut self, a: &[Q], b: &[Q]) -> Option<(Vec<Q>, Vec<Q>)> {
        let db = b.len() - 1;
        let mut r: Vec<Q> = a.to_vec();
        if r.len() <= db {
            return Some((vec![Q::zero()], r));
        }
        let mut q = vec![Q::zero(); r.len() - db];
        for i in (0..q.len()).rev() {
            let c = &r[i + db] / &b[db];
            for (j, bj) in b.iter().enumerate() {
                let t = self.qmul(&c, bj)?;
                r[i + j] = &r[i + j] - t;
            }
            q[i] = c;
        }
        r.truncate(db.max(1));
        while r.len() > 1 && r.last().is_some_and(|x| x.is_zero()) {
            r.pop();
        }
        Some((q, r))
    }

    /// Monic greatest common divisor of dense polynomials.
    fn gcd(&mut self, a: &[Q], b: &[Q]) -> Option<Vec<Q>> {
        let trim = |mut v: Vec<Q>| {
            while v.len() > 1 && v.last().is_some_and(|x| x.is_zero()) {
                v.pop();
            }
            v
        };
        let (mut x, mut y) = (trim(a.to_vec()), trim(b.to_vec()));
        while !(y.len() == 1 && y[0].is_zero()) {
            let (_, r) = self.divmod(&x, &y)?;
            x = y;
            y = trim(r);
        }
        let lead = x.last()?.clone();
        if lead.is_zero() {
            return None;
        }
        Some(x.into_iter().map(|c| c / &lead).collect())
    }

    /// `num/den` in lowest terms where both are polynomials in one variable without decimals.
    fn reduce_fraction(&mut self, r: Rf) -> Option<Rf> {
        let (Some((ia, na)), Some((ib, da))) = (self.dense(&r.num), self.dense(&r.den)) else { return Some(r) };
        if ia.is_some() && ib.is_some() && ia != ib || da.len() < 2 || na.len() < 2 {
            return Some(r);
        }
        let id = ia.or(ib);
        let g = self.gcd(&na, &da)?;
        if g.len() < 2 {
            return Some(r);
        }
        let (qn, _) = self.divmod(&na, &g)?;
        let (qd, _) = self.divmod(&da, &g)?;
        Some(Rf { num: Ctx::sparse(id, &qn), den: Ctx::sparse(id, &qd) })
    }

    fn rf_add(&mut self, a: Rf, b: Rf) -> Option<Rf> {
        if a.num.is_zero() {
            return Some(b);
        }
        if b.num.is_zero() {
            return Some(a);
        }
        if let Some((k, ek)) = self.proportional(&a.den, &b.den) {
            let nb = self.pscale(&b.num, &k, ek)?;
            let num = self.padd(&a.num, &nb)?;
            return self.normalize(Rf { num, den: a.den });
        }
        // The least common denominator where both are polynomials in one variable (partial fractions
        // `\frac{A}{x+3} + \frac{B}{(x+3)^2}` share `(x+3)^2`, so decimals are compared per coefficient
        // against the same denominator as the other side's).
        if let (Some((ia, da)), Some((ib, db))) = (self.dense(&a.den), self.dense(&b.den)) {
            if ia == ib && da.len() > 1 && db.len() > 1 {
                let g = self.gcd(&da, &db)?;
                if g.len() > 1 {
                    let (fa, _) = self.divmod(&db, &g)?;
                    let (fb, _) = self.divmod(&da, &g)?;
                    let (fa, fb) = (Ctx::sparse(ia, &fa), Ctx::sparse(ia, &fb));
                    let x = self.pmul(&a.num, &fa)?;
                    let y = self.pmul(&b.num, &fb)?;
                    let num = self.padd(&x, &y)?;
                    let den = self.pmul(&a.den, &fa)?;
                    return self.normalize(Rf { num, den });
                }
            }
        }
        let x = self.pmul(&a.num, &b.den)?;
        let y = self.pmul(&b.num, &a.den)?;
        let num = self.padd(&x, &y)?;
        let den = self.pmul(&a.den, &b.den)?;
        self.normalize(Rf { num, den })
    }

    fn rf_mul(&mut self, a: Rf, b: Rf) -> Option<Rf> {
        let num = self.pmul(&a.num, &b.num)?;
        let den = self.pmul(&a.den, &b.den)?;
        self.normalize(Rf { num, den })
    }

    fn rf_inv(&mut self, a: Rf) -> Option<Rf> {
        if a.num.is_zero() {
            return None; // division by zero
        }
        self.normalize(Rf { num: a.den, den: a.num })
    }

    fn rf_pow(&mut self, a: Rf, n: i64) -> Option<Rf> {
        let a = if n < 0 { self.rf_inv(a)? } else { a };
        let n = n.abs();
        let num = self.ppow(&a.num, n)?;
        let den = self.ppow(&a.den, n)?;
        self.normalize(Rf { num, den })
    }

    fn rf_atom(&mut self, a: Atom) -> Option<Rf> {
        let id = self.atom(a)?;
        let mut p = Poly::default();
        p.add_term(vec![(id, 1)], Coef { q: Q::one(), e: 0.0 });
        Some(Ctx::rf(p))
    }

    fn rf_const(q: Q, e: f64) -> Rf {
        Ctx::rf(Poly::constant(q, e))
    }

    /// Expand an expression; `None` past the caps or for what has no polynomial form (`∞`, `±`).
    pub fn convert(&mut self, e: &Expr) -> Option<Rf> {
        crate::guard::recurse(|| self.conv(e)).unwrap_or(None)
    }

    fn conv(&mut self, e: &Expr) -> Option<Rf> {
        self.charge(1)?;
        match e {
            Expr::Num(q) => Some(Ctx::rf_const(q.clone(), 0.0)),
            Expr::Dec(q) => Some(Ctx::rf_const(q.clone(), qabs(q))),
            Expr::Pi => self.rf_atom(Atom::Pi),
            Expr::E => self.rf_atom(Atom::E),
            Expr::I => self.rf_atom(Atom::I),
            Expr::Var(v) => self.rf_atom(Atom::Var(v.clone())),
            Expr::Inf | Expr::Pm(..) => None,
            Expr::Neg(a) => {
                let r = self.convert(a)?;
                let num = self.pneg(&r.num);
                Some(Rf { num, den: r.den })
            }
            Expr::Add(v) => {
                let mut acc = Ctx::rf(Poly::default());
                for x in v {
                    let r = self.convert(x)?;
                    acc = self.rf_add(acc, r)?;
                }
                Some(acc)
            }
            Expr::Mul(v) => {
                let mut acc = Ctx::rf(Poly::one());
                for x in v {
                    let r = self.convert(x)?;
                    acc = self.rf_mul(acc, r)?;
                }
                Some(acc)
            }
            Expr::Div(a, b) => {
                let x = self.convert(a)?;
                let y = self.convert(b)?;
                let y = self.rf_inv(y)?;
                self.rf_mul(x, y)
            }
            Expr::Percent(a) => {
                let x = self.convert(a)?;
                self.rf_mul(x, Ctx::rf_const(Q::new(BigInt::one(), BigInt::from(100)), 0.0))
            }
            Expr::Pow(a, b) => self.power(e, a, b),
            Expr::Func(Func::Sqrt, a) => self.root(e, a, 2),
            Expr::Root(n, a) => {
                if has_vars(n) || n.has_decimal() {
                    return self.opaque(e);
                }
                match self.exact.eval(n, &Env { names: &[], values: &[] }) {
                    Ok(q) if q.is_integer() && q > Q::one() && q <= Q::from_integer(BigInt::from(64)) => {
                        self.root(e, a, q.to_integer().to_u32()?)
                    }
                    Ok(_) | Err(EvalError::NotRational) => self.opaque(e),
                    Err(_) => None,
                }
            }
            Expr::Func(Func::Exp, a) => self.exp(a),
            Expr::Func(..) | Expr::Log(..) | Expr::Fact(..) | Expr::Binom(..) | Expr::Call(..) => self.opaque(e),
        }
    }

    /// A constant subexpression with a rational value is that value (`\sqrt{16}`, `5!`, `|-3|`).
    fn constant_value(&mut self, e: &Expr) -> Option<Result<Rf, EvalError>> {
        if has_vars(e) {
            return None;
        }
        let q = match self.exact.eval(e, &Env { names: &[], values: &[] }) {
            Ok(q) => q,
            Err(err) => return Some(Err(err)),
        };
        let dec = if e.has_decimal() {
            let a = Approx::eval(e, &Env { names: &[], values: &[] });
            if !a.dec.is_finite() {
                return Some(Err(EvalError::Overflow));
            }
            a.dec
        } else {
            0.0
        };
        Some(Ok(Ctx::rf_const(q, dec)))
    }

    /// A subexpression kept whole (after trying its exact value).
    fn opaque(&mut self, e: &Expr) -> Option<Rf> {
        match self.constant_value(e) {
            Some(Ok(r)) => return Some(r),
            Some(Err(EvalError::NotRational)) | None => {}
            Some(Err(_)) => return None,
        }
        let vars = has_vars(e);
        let nonzero = matches!(e, Expr::Func(Func::Exp, _));
        self.rf_atom(Atom::Opaque { e: e.clone(), vars, nonzero, dec: e.has_decimal() })
    }

    fn exp(&mut self, a: &Expr) -> Option<Rf> {
        let canonical = Expr::Func(Func::Exp, Box::new(a.clone()));
        if !has_vars(a) && !a.has_decimal() {
            if let Ok(q) = self.exact.eval(a, &Env { names: &[], values: &[] }) {
                if q.is_integer() {
                    let n = q.to_integer().to_i64().filter(|n| n.abs() <= MAX_EXP)?;
                    let r = self.rf_atom(Atom::E)?;
                    return self.rf_pow(r, n);
                }
            }
        }
        self.opaque(&canonical)
    }

    fn power(&mut self, whole: &Expr, a: &Expr, b: &Expr) -> Option<Rf> {
        if matches!(a, Expr::E) {
            return self.exp(b);
        }
        if has_vars(b) || b.has_decimal() {
            return self.opaque(whole);
        }
        let r = match self.exact.eval(b, &Env { names: &[], values: &[] }) {
            Ok(r) => r,
            Err(EvalError::NotRational) => return self.opaque(whole),
            Err(_) => return None,
        };
        if r.is_integer() {
            let n = r.to_integer().to_i64().filter(|n| n.abs() <= MAX_EXP)?;
            // `2^{10}`, `(\frac{3}{2})^{-2}`: exact.
            if let Some(Ok(v)) = self.constant_value(whole) {
                return Some(v);
            }
            let base = self.convert(a)?;
            return self.rf_pow(base, n);
        }
        // `a^{p/q}` = `(a^{1/q})^p`.
        let q = r.denom().to_u32().filter(|q| *q <= 64)?;
        let p = r.numer().to_i64().filter(|p| p.abs() <= MAX_EXP)?;
        if let Some(Ok(v)) = self.constant_value(whole) {
            return Some(v);
        }
        let root_expr = Expr::Root(Box::new(Expr::int(q as i64)), Box::new(a.clone()));
        let rt = self.root(&root_expr, a, q)?;
        self.rf_pow(rt, p)
    }

    /// `a^{1/q}`: a canonical radical of a rational, a denested square root, the root of a variable, or
    /// an atom.
    fn root(&mut self, whole: &Expr, a: &Expr, q: u32) -> Option<Rf> {
        let canonical = Expr::Root(Box::new(Expr::int(q as i64)), Box::new(a.clone()));
        if !has_vars(a) {
            match self.exact.eval(a, &Env { names: &[], values: &[] }) {
                Ok(s) => {
                    let mut r = self.radical(&s, q);
                    if r.is_none() {
                        return self.opaque(&canonical);
                    }
                    if a.has_decimal() {
                        // A rounded radicand: the root moves by 1/q of its relative error.
                        let ax = Approx::eval(a, &Env { names: &[], values: &[] });
                        let rel = ax.dec / ax.v.norm();
                        if !rel.is_finite() {
                            return None;
                        }
                        if let Some(x) = r.as_mut() {
                            for c in x.num.0.values_mut() {
                                c.e = qabs(&c.q) * rel / q as f64;
                            }
                        }
                    }
                    return r;
                }
                Err(EvalError::NotRational) => {
                    if q == 2 && !a.has_decimal() {
                        if let Some(r) = self.denest(a) {
                            return Some(r);
                        }
                    }
                    return self.opaque(&canonical);
                }
                Err(_) => return None,
            }
        }
        if let Expr::Var(v) = a {
            let var = self.atom(Atom::Var(v.clone()))?;
            return self.rf_atom(Atom::VarRoot { q, var });
        }
        let _ = whole;
        self.opaque(&canonical)
    }

    /// `s^{1/q}` for a rational `s`: `c · t^{1/q}` with `t` free of small `q`-th powers.
    fn radical(&mut self, s: &Q, q: u32) -> Option<Rf> {
        if s.is_zero() {
            return Some(Ctx::rf(Poly::default()));
        }
        if s.is_negative() && q.is_multiple_of(2) {
            return None; // complex: an atom
        }
        let sign = if s.is_negative() { -Q::one() } else { Q::one() };
        let s = s.abs();
        // (a/b)^{1/q} = (a b^{q-1})^{1/q} / b
        let b = s.denom().clone();
        let n = s.numer() * num_traits::pow(b.clone(), q as usize - 1);
        if n.bits() > 256 {
            return None;
        }
        self.charge(200)?;
        let (outside, inside) = extract_powers(&n, q);
        let coef = sign * Q::new(outside, b);
        if inside.is_one() {
            return Some(Ctx::rf_const(coef, 0.0));
        }
        let id = self.atom(Atom::Radical { q, t: inside })?;
        let mut p = Poly::default();
        p.add_term(vec![(id, 1)], Coef { q: coef, e: 0.0 });
        Some(Ctx::rf(p))
    }

    /// `\sqrt{a + b\sqrt c} = \sqrt x ± \sqrt y` when `a² − b²c` is a rational square `d²`
    /// (`x, y = (a ± d)/2`): `\sqrt{19601-13860\sqrt2} = 99-70\sqrt2`.
    fn denest(&mut self, a: &Expr) -> Option<Rf> {
        let inner = self.convert(a)?;
        if !inner.den.is_one() || inner.num.0.len() != 2 || inner.num.has_dec() {
            return None;
        }
        let alpha = inner.num.0.get(&Vec::new())?.q.clone();
        let (m, cb) = inner.num.0.iter().find(|(m, _)| !m.is_empty())?;
        let [(id, 1)] = m.as_slice() else { return None };
        let Atom::Radical { q: 2, t } = &self.atoms[*id as usize] else { return None };
        let c = Q::from_integer(t.clone());
        let beta = cb.q.clone();
        let disc = &alpha * &alpha - &beta * &beta * &c;
        if disc.is_negative() || alpha.is_negative() {
            return None;
        }
        let d = rational_sqrt(&disc)?;
        let two = Q::from_integer(BigInt::from(2));
        let x = (&alpha + &d) / &two;
        let y = (&alpha - &d) / &two;
        if x.is_negative() || y.is_negative() {
            return None;
        }
        let rx = self.radical(&x, 2)?;
        let ry = self.radical(&y, 2)?;
        let ry = if beta.is_negative() { Rf { num: self.pneg(&ry.num), den: ry.den } } else { ry };
        self.rf_add(rx, ry)
    }

    // ------------------------------------------------------------------------------------------------
    // Deciding whether a polynomial is zero.

    fn env_for<'a>(&self, names: &'a [Box<str>], values: &'a [C]) -> Env<'a, C> {
        Env { names, values }
    }

    fn atom_value(&self, id: u16, env: &Env<C>) -> Approx {
        match &self.atoms[id as usize] {
            Atom::Var(v) => match env.names.iter().position(|n| **n == **v) {
                Some(i) => Approx::exact(env.values[i]),
                None => Approx::undefined(),
            },
            Atom::I => Approx::exact(C::new(0.0, 1.0)),
            Atom::Pi => Approx::eval(&Expr::Pi, env),
            Atom::E => Approx::eval(&Expr::E, env),
            Atom::Radical { q, t } => {
                let base = Approx::from_q(&Q::from_integer(t.clone()), false);
                if *q == 2 {
                    base.func(Func::Sqrt)
                } else {
                    base.pow(Approx::exact(C::new(1.0 / *q as f64, 0.0)).with_err(0.5 * f64::EPSILON / *q as f64))
                }
            }
            Atom::VarRoot { q, var } => {
                let x = self.atom_value(*var, env);
                if *q == 2 {
                    x.func(Func::Sqrt)
                } else {
                    x.pow(Approx::exact(C::new(1.0 / *q as f64, 0.0)).with_err(0.5 * f64::EPSILON / *q as f64))
                }
            }
            Atom::Opaque { e, .. } => Approx::eval(e, env),
        }
    }

    /// The value of `p` with the atoms' values given.
    fn value(&self, p: &Poly, vals: &[Option<Approx>]) -> Approx {
        let terms: Vec<Approx> = p
            .0
            .iter()
            .map(|(m, c)| {
                let mut acc = Approx::from_coef(&c.q, c.e);
                for (id, k) in m {
                    let a = vals[*id as usize].unwrap_or_else(Approx::undefined);
                    acc = acc * a.powi(*k as i64);
                }
                acc
            })
            .collect();
        Approx::sum(&terms)
    }

    /// Is a constant polynomial (atoms that are constants only) zero?
    fn const_zero(&self, g: &Poly, tol: f64) -> Decision {
        if g.is_zero() {
            return Decision::Equal;
        }
        let mut ids = Vec::new();
        g.atoms(&mut ids);
        let rational = ids.iter().all(|id| matches!(self.atoms[*id as usize], Atom::I));
        if rational {
            // `a + b i` with rational a, b: every coefficient on its own.
            let ok = g.0.values().all(|c| q_within(&c.q, c.e, tol));
            return if ok { Decision::Equal } else { Decision::NotEqual };
        }
        if g.0.len() == 1 && ids.iter().all(|id| self.atoms[*id as usize].nonzero()) {
            let c = g.0.values().next().unwrap();
            return if q_within(&c.q, c.e, tol) { Decision::Equal } else { Decision::NotEqual };
        }
        if !g.has_dec() {
            let only = |want: &Atom| ids.iter().all(|id| self.atoms[*id as usize] == *want || self.atoms[*id as usize] == Atom::I);
            if only(&Atom::Pi) || only(&Atom::E) {
                return Decision::NotEqual; // a nonzero polynomial in one transcendental number
            }
        }
        let env = Env { names: &[], values: &[] };
        let mut vals = vec![None; self.atoms.len()];
        for id in &ids {
            vals[*id as usize] = Some(self.atom_value(*id, &env));
        }
        match zero_test(&self.value(g, &vals), tol) {
            Zero::Zero => Decision::Equal,
            Zero::NonZero => Decision::NotEqual,
            Zero::Unknown | Zero::Undefined => Decision::Unknown,
        }
    }

    /// Whether an atom counts as part of a monomial's variable part.
    fn is_free(&self, id: u16) -> bool {
        matches!(self.atoms[id as usize], Atom::Var(_)) || self.atoms[id as usize].var_dependent()
    }

    /// Split `p` by variable part: variable part -> constant polynomial.
    fn groups(&self, p: &Poly) -> BTreeMap<Mono, Poly> {
        let mut out: BTreeMap<Mono, Poly> = BTreeMap::new();
        for (m, c) in &p.0 {
            let (free, rest): (Mono, Mono) = m.iter().partition(|(id, _)| self.is_free(*id));
            out.entry(free).or_default().add_term(rest, c.clone());
        }
        out
    }

    fn uses_var_dependent(&self, p: &Poly) -> bool {
        let mut ids = Vec::new();
        p.atoms(&mut ids);
        ids.iter().any(|id| self.atoms[*id as usize].var_dependent())
    }

    /// Is `d` identically zero?
    fn decide_zero(&self, d: &Poly, names: &[Box<str>], complex: bool, tol: f64) -> Decision {
        if d.is_zero() {
            return Decision::Equal;
        }
        let mut res = Decision::Equal;
        for g in self.groups(d).values() {
            match self.const_zero(g, tol) {
                Decision::Equal => {}
                Decision::NotEqual => {
                    res = Decision::NotEqual;
                    break;
                }
                Decision::Unknown => res = Decision::Unknown,
            }
        }
        if res == Decision::Equal || !self.uses_var_dependent(d) {
            return res;
        }
        if d.0.len() == 1 {
            let mut ids = Vec::new();
            d.atoms(&mut ids);
            if ids.iter().all(|id| self.atoms[*id as usize].nonzero()) {
                return res; // one term of factors that never vanish (`e^{-1000x}`)
            }
        }
        // Atoms that depend on variables may be related (`\sin^2 x + \cos^2 x = 1`): evaluate.
        self.points_zero(d, names, complex, tol)
    }

    /// Values of the atoms of `ids` at point `trial`, or None where the point is outside the domain.
    fn point_values(&self, ids: &[u16], names: &[Box<str>], trial: u64, complex: bool) -> Option<Vec<Option<Approx>>> {
        let values: Vec<C> = names.iter().enumerate().map(|(i, n)| C::new(point(n, i, trial), 0.0)).collect();
        let env = self.env_for(names, &values);
        let mut vals = vec![None; self.atoms.len()];
        for id in ids {
            let a = self.atom_value(*id, &env);
            if a.v.re.is_nan() || a.v.im.is_nan() || (!complex && a.nonreal) {
                return None;
            }
            vals[*id as usize] = Some(a);
        }
        Some(vals)
    }

    /// Is `d` zero at the evaluation points? Exactly (decimals as the rationals they spell) first; where a
    /// decimal tolerance is needed, one perturbation of the decimal-bearing coefficients, each within its
    /// own tolerance, must explain `d` at every point at once ([`explained`]): a tolerance at each point
    /// separately would let the largest terms hide a small one.
    fn points_zero(&self, d: &Poly, names: &[Box<str>], complex: bool, tol: f64) -> Decision {
        let mut ids = Vec::new();
        d.atoms(&mut ids);
        let dec_atoms = ids.iter().any(|id| matches!(self.atoms[*id as usize], Atom::Opaque { dec: true, .. }));
        let cols: Vec<(&Mono, f64)> = d.0.iter().filter(|(_, c)| c.e != 0.0).map(|(m, c)| (m, c.e)).collect();
        let mut rows: Vec<(Vec<C>, C, f64)> = Vec::new();
        let (mut agree, mut unknown, mut off): (u32, u32, u32) = (0, 0, 0);
        for trial in 0..POINTS {
            if off == 0 && enough(agree, unknown, trial, names.len()) {
                break;
            }
            let Some(vals) = self.point_values(&ids, names, trial, complex) else { continue };
            let v = self.value(d, &vals);
            if !complex && v.nonreal {
                continue;
            }
            match zero_test(&v, 0.0) {
                Zero::NonZero if cols.is_empty() || dec_atoms && zero_test(&v, tol) == Zero::NonZero => {
                    return Decision::NotEqual
                }
                Zero::NonZero => off += 1,
                Zero::Zero => agree += 1,
                Zero::Unknown => {
                    unknown += 1;
                    continue;
                }
                Zero::Undefined => continue,
            }
            let phi: Vec<C> = cols.iter().map(|(m, e)| self.mono_value(m, &vals).v * (tol * e)).collect();
            rows.push((phi, -v.v, v.err));
        }
        if off == 0 {
            return if agree >= 3 || (agree >= 2 && unknown == 0) { Decision::Equal } else { Decision::Unknown };
        }
        if dec_atoms || rows.len() < cols.len() + 2 {
            return Decision::Unknown; // a tolerance the points cannot weigh
        }
        if explained(&rows, cols.len()) {
            Decision::Equal
        } else {
            Decision::NotEqual
        }
    }

    fn mono_value(&self, m: &Mono, vals: &[Option<Approx>]) -> Approx {
        let mut acc = Approx::exact(C::new(1.0, 0.0));
        for (id, k) in m {
            acc = acc * vals[*id as usize].unwrap_or_else(Approx::undefined).powi(*k as i64);
        }
        acc
    }

    /// `p = c · g` for a nonzero constant `c` (two equations `p = 0`, `g = 0` that say the same).
    fn decide_proportional(&mut self, p: &Poly, g: &Poly, names: &[Box<str>], complex: bool, tol: f64) -> Decision {
        if p.is_zero() || g.is_zero() {
            return if p.is_zero() && g.is_zero() { Decision::Equal } else { Decision::Unknown };
        }
        let (gp, gg) = (self.groups(p), self.groups(g));
        // A reference variable part where the gold's coefficient is certainly nonzero.
        let mut reference = None;
        for (m, c) in &gg {
            if self.const_zero(c, 0.0) == Decision::NotEqual {
                reference = Some(m.clone());
                break;
            }
        }
        let formal = match reference {
            None => Decision::Unknown,
            Some(m0) => {
                let empty = Poly::default();
                let (p0, g0) = (gp.get(&m0).unwrap_or(&empty), &gg[&m0]);
                if self.const_zero(p0, tol) == Decision::Equal {
                    Decision::NotEqual
                } else {
                    let (p0, g0) = (p0.clone(), g0.clone());
                    let cx = &mut *self;
                    let mut res = Decision::Equal;
                    let keys: std::collections::BTreeSet<&Mono> = gp.keys().chain(gg.keys()).collect();
                    for m in keys {
                        let pm = gp.get(m).unwrap_or(&empty);
                        let gm = gg.get(m).unwrap_or(&empty);
                        let cross = (|| {
                            let x = cx.pmul(pm, &g0)?;
                            let y = cx.pmul(&p0, gm)?;
                            let ny = cx.pneg(&y);
                            cx.padd(&x, &ny)
                        })();
                        let d = match cross {
                            Some(c) => cx.const_zero(&c, tol),
                            None => Decision::Unknown,
                        };
                        match d {
                            Decision::Equal => {}
                            Decision::NotEqual => {
                                res = Decision::NotEqual;
                                break;
                            }
                            Decision::Unknown => res = Decision::Unknown,
                        }
                    }
                    res
                }
            }
        };
        if formal == Decision::Equal || !(self.uses_var_dependent(p) || self.uses_var_dependent(g)) {
            return formal;
        }
        // Atoms that depend on variables: the ratio must be the same at every point.
        let mut ids = Vec::new();
        p.atoms(&mut ids);
        g.atoms(&mut ids);
        let mut reference: Option<(Approx, Approx)> = None;
        let (mut agree, mut unknown): (u32, u32) = (0, 0);
        for trial in 0..POINTS {
            if enough(agree, unknown, trial, names.len()) {
                break;
            }
            let Some(vals) = self.point_values(&ids, names, trial, complex) else { continue };
            let (pv, gv) = (self.value(p, &vals), self.value(g, &vals));
            if !complex && (pv.nonreal || gv.nonreal) {
                continue;
            }
            let (pz, gz) = (zero_test(&pv, tol), zero_test(&gv, tol));
            if pz == Zero::Undefined || gz == Zero::Undefined {
                continue;
            }
            match &reference {
                None => {
                    if pz == Zero::NonZero && gz == Zero::NonZero {
                        reference = Some((pv, gv));
                    } else if (pz == Zero::NonZero && gz == Zero::Zero) || (pz == Zero::Zero && gz == Zero::NonZero) {
                        return Decision::NotEqual;
                    }
                }
                Some((p0, g0)) => {
                    let cross = Approx::sum(&[pv * *g0, -(*p0 * gv)]);
                    match exact_then_tolerance(&cross, tol) {
                        Zero::NonZero => return Decision::NotEqual,
                        Zero::Zero => agree += 1,
                        Zero::Unknown => unknown += 1,
                        Zero::Undefined => {}
                    }
                }
            }
        }
        if agree >= 3 || (agree >= 2 && unknown == 0) {
            Decision::Equal
        } else {
            Decision::Unknown
        }
    }
}

trait WithErr {
    fn with_err(self, err: f64) -> Self;
}

impl WithErr for Approx {
    fn with_err(mut self, err: f64) -> Self {
        self.err = err;
        self
    }
}

/// Whether one vector `u` with every `|u_j| ≤ 1` solves `Σ_j a_ij u_j = b_i` at every point `i` within
/// the point's error bound (rows: `(a_i, b_i, err_i)`; complex rows give two real equations). The
/// least-squares solution (regularised, so identities among the columns do not break it) is tried.
fn explained(rows: &[(Vec<C>, C, f64)], m: usize) -> bool {
    let mut eqs: Vec<(Vec<f64>, f64, f64)> = Vec::new();
    for (a, b, err) in rows {
        eqs.push((a.iter().map(|z| z.re).collect(), b.re, *err));
        if a.iter().any(|z| z.im != 0.0) || b.im != 0.0 {
            eqs.push((a.iter().map(|z| z.im).collect(), b.im, *err));
        }
    }
    // Normal equations (AᵀA + λI) u = Aᵀb, by Gaussian elimination with partial pivoting.
    let mut g = vec![vec![0.0; m + 1]; m];
    for (a, b, _) in &eqs {
        for j in 0..m {
            for k in 0..m {
                g[j][k] += a[j] * a[k];
            }
            g[j][m] += a[j] * b;
        }
    }
    let trace: f64 = (0..m).map(|j| g[j][j]).sum();
    if !(trace.is_finite() && trace > 0.0) {
        return false;
    }
    for (j, row) in g.iter_mut().enumerate() {
        row[j] += 1e-12 * trace / m as f64;
    }
    for c in 0..m {
        let piv = (c..m).max_by(|x, y| g[*x][c].abs().total_cmp(&g[*y][c].abs())).unwrap_or(c);
        g.swap(c, piv);
        if g[c][c] == 0.0 {
            return false;
        }
        let pivot = g[c].clone();
        for (r, row) in g.iter_mut().enumerate() {
            let f = row[c] / pivot[c];
            if r != c && f != 0.0 {
                for (x, p) in row[c..].iter_mut().zip(&pivot[c..]) {
                    *x -= f * p;
                }
            }
        }
    }
    let u: Vec<f64> = (0..m).map(|j| g[j][m] / g[j][j]).collect();
    if u.iter().any(|x| !x.is_finite() || x.abs() > 1.0 + 1e-6) {
        return false;
    }
    eqs.iter().all(|(a, b, err)| {
        let fit: f64 = a.iter().zip(&u).map(|(x, y)| x * y).sum();
        let scale: f64 = a.iter().map(|x| x.abs()).sum::<f64>() + b.abs();
        (fit - b).abs() <= err + 1e-9 * scale
    })
}

/// Enough points for an identity: four agreeing ones, after every sign pattern of the first three
/// variables was tried (a point of each sign for one variable: `\sqrt{x^2}` is not `x`).
fn enough(agree: u32, unknown: u32, trial: u64, n_vars: usize) -> bool {
    agree >= 4 && unknown == 0 && trial >= 1 << n_vars.min(3)
}

/// `n = outside^q · inside`, removing the `q`-th powers of primes below 1000 from `n > 0`.
fn extract_powers(n: &BigInt, q: u32) -> (BigInt, BigInt) {
    let mut inside = n.clone();
    let mut outside = BigInt::one();
    let mut p = 2u32;
    while p < 1000 {
        if is_small_prime(p) {
            let pq = num_traits::pow(BigInt::from(p), q as usize);
            if pq > inside {
                break;
            }
            while (&inside % &pq).is_zero() {
                inside /= &pq;
                outside *= p;
            }
        }
        p += if p == 2 { 1 } else { 2 };
    }
    // What remains may still be a perfect q-th power of a large prime.
    let r = inside.nth_root(q);
    if num_traits::pow(r.clone(), q as usize) == inside {
        outside *= &r;
        inside = BigInt::one();
    }
    (outside, inside)
}

fn is_small_prime(p: u32) -> bool {
    p >= 2 && (2..).take_while(|d| d * d <= p).all(|d| !p.is_multiple_of(d))
}

fn rational_sqrt(q: &Q) -> Option<Q> {
    if q.is_negative() {
        return None;
    }
    let (n, d) = (q.numer().sqrt(), q.denom().sqrt());
    (&n * &n == *q.numer() && &d * &d == *q.denom()).then(|| Q::new(n, d))
}

/// Evaluation point `trial` of the `index`-th variable: signs cycle through every combination of the
/// first four variables, magnitudes are near 1 first (so no monomial dominates), then larger (for
/// domains such as `x > 3`). Every value is a multiple of 1/256, exact in binary.
fn point(name: &str, index: usize, trial: u64) -> f64 {
    let h = splitmix(fnv(name) ^ trial.wrapping_mul(0xD1B5_4A32_D192_ED03));
    let u = (h % 4096) as f64 / 4096.0;
    let mag = match trial {
        0..=7 => 0.5 + u,
        8..=11 => 1.5 + 2.0 * u,
        _ => 3.5 + 8.0 * u,
    };
    let mag = (mag * 256.0).round() / 256.0;
    let sign_bit = if index < 4 { (trial >> index) & 1 } else { (h >> 40) & 1 };
    if sign_bit == 1 {
        -mag
    } else {
        mag
    }
}

fn uses_i(e: &Expr) -> bool {
    let mut found = false;
    e.walk(&mut |x| found |= matches!(x, Expr::I));
    found
}

/// `tol / (1 − tol)`: a decimal `d` stands for any value `v` with `|d − v| ≤ tol · |v|` (rounded up, so
/// the boundary itself is inside).
pub fn decimal_tolerance(rel_tol: f64) -> f64 {
    rel_tol / (1.0 - rel_tol) * (1.0 + 8.0 * f64::EPSILON)
}

/// Is `p = g` identically? `None` when the expressions have no expansion within the caps.
pub fn identity(p: &Expr, g: &Expr, names: &[Box<str>], rel_tol: f64) -> Option<Decision> {
    let mut cx = Ctx::default();
    let a = cx.convert(p)?;
    let b = cx.convert(g)?;
    let d = match cx.proportional(&a.den, &b.den) {
        Some((k, ek)) => {
            let kb = cx.pscale(&b.num, &k, ek)?;
            let nkb = cx.pneg(&kb);
            cx.padd(&a.num, &nkb)?
        }
        None => {
            let x = cx.pmul(&a.num, &b.den)?;
            let y = cx.pmul(&b.num, &a.den)?;
            let ny = cx.pneg(&y);
            cx.padd(&x, &ny)?
        }
    };
    let complex = uses_i(p) || uses_i(g);
    Some(cx.decide_zero(&d, names, complex, decimal_tolerance(rel_tol)))
}

/// Is `p = c · g` for a nonzero constant `c`? `None` when the expressions have no expansion within the
/// caps.
pub fn proportional(p: &Expr, g: &Expr, names: &[Box<str>], rel_tol: f64) -> Option<Decision> {
    let mut cx = Ctx::default();
    let a = cx.convert(p)?;
    let b = cx.convert(g)?;
    let (x, y) = match cx.proportional(&a.den, &b.den) {
        Some((k, ek)) => {
            let kb = cx.pscale(&b.num, &k, ek)?;
            (a.num, kb)
        }
        None => (cx.pmul(&a.num, &b.den)?, cx.pmul(&b.num, &a.den)?),
    };
    let complex = uses_i(p) || uses_i(g);
    Some(cx.decide_proportional(&x, &y, names, complex, decimal_tolerance(rel_tol)))
}

/// Identity (or, with `ratio`, proportionality) of two expressions that have no expansion within the
/// caps, from their values at the same points as [`identity`] with error bounds: a lower-order term can
/// still not hide, since a term below a sum's rounding error marks the value lost.
pub fn float_points(p: &Expr, g: &Expr, names: &[Box<str>], rel_tol: f64, ratio: bool) -> Decision {
    let tol = decimal_tolerance(rel_tol);
    let complex = uses_i(p) || uses_i(g);
    let mut reference: Option<(Approx, Approx)> = None;
    let (mut agree, mut unknown): (u32, u32) = (0, 0);
    for trial in 0..POINTS {
        if enough(agree, unknown, trial, names.len()) {
            break;
        }
        let values: Vec<C> = names.iter().enumerate().map(|(i, n)| C::new(point(n, i, trial), 0.0)).collect();
        let env = Env { names, values: &values };
        let (pv, gv) = (Approx::eval(p, &env), Approx::eval(g, &env));
        if !complex && (pv.nonreal || gv.nonreal) {
            continue;
        }
        let z = if !ratio {
            Approx::sum(&[pv, -gv])
        } else {
            let (pz, gz) = (zero_test(&pv, tol), zero_test(&gv, tol));
            if pz == Zero::Undefined || gz == Zero::Undefined {
                continue;
            }
            match &reference {
                None => {
                    if pz == Zero::NonZero && gz == Zero::NonZero {
                        reference = Some((pv, gv));
                    } else if (pz == Zero::NonZero && gz == Zero::Zero) || (pz == Zero::Zero && gz == Zero::NonZero) {
                        return Decision::NotEqual;
                    }
                    continue;
                }
                Some((p0, g0)) => Approx::sum(&[pv * *g0, -(*p0 * gv)]),
            }
        };
        match exact_then_tolerance(&z, tol) {
            Zero::NonZero => return Decision::NotEqual,
            Zero::Zero => agree += 1,
            Zero::Unknown => unknown += 1,
            Zero::Undefined => {}
        }
    }
    if agree >= 3 || (agree >= 2 && unknown == 0) {
        Decision::Equal
    } else {
        Decision::Unknown
    }
}

/// A value at one point where the coefficients are not at hand: zero only exactly (decimals as the
/// rationals they spell); a difference the decimal tolerance could explain at this point alone is
/// undecided, since a larger term's tolerance could be hiding a smaller term.
fn exact_then_tolerance(z: &Approx, tol: f64) -> Zero {
    match zero_test(z, 0.0) {
        Zero::NonZero if zero_test(z, tol) != Zero::NonZero => Zero::Unknown,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{tokenize, Parser};

    fn ex(s: &str) -> Expr {
        Parser::parse_all(&tokenize(s).unwrap()).unwrap()
    }

    fn same(a: &str, b: &str, tol: f64) -> Option<Decision> {
        let (x, y) = (ex(a), ex(b));
        let mut names = Vec::new();
        x.vars(&mut names);
        y.vars(&mut names);
        names.sort();
        identity(&x, &y, &names, tol)
    }

    use Decision::*;

    #[test]
    fn lower_terms_are_never_hidden() {
        for (a, b) in [
            ("61.87x^{5}+12.13x", "61.87x^{5}"),
            ("3.5x^4+1", "3.5x^4"),
            ("x^3-25.001", "x^3-25"),
            ("\\frac{x^{12}}{2}+3", "0.5x^{12}"),
            ("\\pi x^{30}+1", "\\pi x^{30}"),
            ("\\sqrt{8}x^{4}+10^{-9}", "2\\sqrt{2}x^{4}"),
        ] {
            assert_eq!(same(a, b, 1e-8), Some(NotEqual), "{a} vs {b}");
            if a != "x^3-25.001" {
                assert_eq!(same(a, b, 1e-3), Some(NotEqual), "{a} vs {b} at 1e-3");
            }
        }
        assert_eq!(same("0.333333333333333333x^2+x", "\\frac{x^2}{3}+x", 1e-8), Some(Equal));
        assert_eq!(same("0.333x^2+x", "\\frac{x^2}{3}+x", 1e-8), Some(NotEqual));
        assert_eq!(same("0.333x^2+x", "\\frac{x^2}{3}+x", 1e-3), Some(Equal));
    }

    #[test]
    fn exact_forms() {
        assert_eq!(same("(x+1)^2", "x^2+2x+1", 1e-8), Some(Equal));
        assert_eq!(same("\\frac{x^2-1}{x-1}", "x+1", 1e-8), Some(Equal));
        assert_eq!(same("\\frac{\\sqrt2}{2}x", "\\frac{x}{\\sqrt2}", 1e-8), Some(Equal));
        assert_eq!(same("\\sqrt{8}", "2\\sqrt2", 1e-8), Some(Equal));
        assert_eq!(same("x^{3/2}", "x\\sqrt{x}", 1e-8), Some(Equal));
        assert_eq!(same("\\sqrt{19601-13860\\sqrt2}", "99-70\\sqrt2", 1e-8), Some(Equal));
        assert_eq!(same("\\sqrt{19601-13860\\sqrt2}", "99-70\\sqrt2+10^{-6}", 1e-8), Some(NotEqual));
        assert_eq!(same("i^2", "-1", 1e-8), Some(Equal));
        // Partial fractions share the least common denominator: decimals compare per coefficient.
        let apart = "-\\frac{13 x}{5}+\\frac{169}{10}-\\frac{11269651}{64000(2x+7)}+\\frac{1466467}{64000(2x+3)}+\\frac{139909}{16000(2x+3)^{2}}";
        let nudged = "\\frac{-77.3x+22.3+0.89199x^{2}-20.8x^{4}}{(2x+3)^{2}(2x+7)}";
        assert_eq!(same(nudged, apart, 1e-3), Some(NotEqual));
        assert_eq!(same("\\frac{1}{x+3}+\\frac{2}{(x+3)^2}", "\\frac{x+5}{x^2+6x+9}", 1e-8), Some(Equal));
        assert_eq!(same("\\frac{0.5x^2-0.5}{x-1}", "0.5x+0.5", 1e-8), Some(Equal));
    }

    #[test]
    fn identities_in_functions() {
        assert_eq!(same("\\cos^2x-\\sin^2x-\\cos 2x", "0", 1e-8), Some(Equal));
        assert_eq!(same("\\cos^2x-\\sin^2x-\\cos 2x+10^{-9}x", "0", 1e-8), Some(NotEqual));
        assert_eq!(same("\\ln\\frac{x+1}{1-x}", "-\\ln\\frac{1-x}{x+1}", 1e-8), Some(Equal));
        assert_eq!(same("\\sqrt{x^2}", "x", 1e-8), Some(NotEqual));
        assert_eq!(same("e^{-1000x}", "0", 1e-8), Some(NotEqual));
        // Rounded decimals in an identity between functions: one perturbation must explain every point.
        let third = "0.333333333333333333";
        assert_eq!(same(&format!("{third}\\sin^2x+{third}\\cos^2x"), "\\frac13", 1e-8), Some(Equal));
        assert_eq!(same("1.005\\sin^2x+\\cos^2x", "1", 1e-2), Some(Equal));
        assert_eq!(same("1.05\\sin^2x+\\cos^2x", "1", 1e-2), Some(NotEqual));
        // A 1% change of a small term is not hidden by the tolerance of large ones (rel_tol 1e-3).
        let gold = "-67.8e^{3x}+42.32203\\sqrt{x}-33.434e^{x+3}";
        let pred = "\\frac{41903\\sqrt{x}}{1000}-\\frac{339e^{3x}}{5}-\\frac{16717e^{3}e^{x}}{500}";
        assert_eq!(same(pred, gold, 1e-3), Some(NotEqual));
    }

    #[test]
    fn constants_beyond_floats() {
        assert_eq!(same("e^{-1000}", "0", 1e-8), Some(NotEqual));
        assert_eq!(same("e^{-1000}", "e^{-1001}", 1e-8), Some(NotEqual));
        assert_eq!(same("\\sin(10^{20})", "\\sin(10^{20}+1)", 1e-8), Some(Unknown));
        assert_eq!(same("\\sin\\pi", "0", 1e-8), Some(Equal));
        assert_eq!(same("\\pi", "3.14159265358979", 1e-8), Some(Equal));
        assert_eq!(same("\\pi", "3.1416", 1e-8), Some(NotEqual));
    }
}
