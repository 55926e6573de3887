//! Evaluation: exact rational arithmetic with caps, and complex floating point for the rest.
//!
//! Exact evaluation refuses (rather than computes) anything whose size would pass [`MAX_BITS`] or whose
//! total cost would pass a per-pair work budget, so `9^{9^{9^9}}` or `100000!` cost nothing.

use crate::expr::{Expr, Func, Multi};
use num_bigint::BigInt;
use num_complex::Complex64 as C;
use num_integer::Integer;
use num_rational::BigRational as Q;
use num_traits::{One, Signed, ToPrimitive, Zero};

/// Largest numerator or denominator (in bits) exact arithmetic produces.
pub const MAX_BITS: u64 = 16_384;
/// Work budget of one exact evaluation, in units of roughly a machine-word operation (an integer result
/// of `w` words costs `w`; a rational one `16 w²`, for the binary gcd that normalises it). A few
/// milliseconds at most; past it, floating point decides.
pub const WORK_BUDGET: u64 = 500_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalError {
    /// The value is not rational (π, √2, a variable without a value) or not handled exactly.
    NotRational,
    /// The value would be too large to represent within the caps.
    Overflow,
    /// Division by zero, 0^-1, a factorial of a negative number.
    Undefined,
}

pub type EResult<T> = Result<T, EvalError>;

/// Values of variables at one evaluation point.
pub struct Env<'a, T> {
    pub names: &'a [Box<str>],
    pub values: &'a [T],
}

impl<T: Clone> Env<'_, T> {
    fn get(&self, name: &str) -> Option<T> {
        self.names.iter().position(|n| &**n == name).map(|i| self.values[i].clone())
    }
}

pub struct Exact {
    work: u64,
}

impl Default for Exact {
    fn default() -> Self {
        Exact { work: WORK_BUDGET }
    }
}

/// `a + b`, without num-rational's gcd when both are integers (its binary gcd with 1 is quadratic).
fn qadd(a: Q, b: Q) -> Q {
    if a.is_integer() && b.is_integer() {
        return Q::from_integer(a.to_integer() + b.to_integer());
    }
    a + b
}

/// `a * b`, without a gcd when both are integers.
fn qmul(a: Q, b: Q) -> Q {
    if a.is_integer() && b.is_integer() {
        return Q::from_integer(a.to_integer() * b.to_integer());
    }
    a * b
}

fn bits(q: &Q) -> u64 {
    q.numer().bits().max(q.denom().bits())
}

impl Exact {
    fn charge(&mut self, units: u64) -> EResult<()> {
        if units > self.work {
            self.work = 0;
            return Err(EvalError::Overflow);
        }
        self.work -= units;
        Ok(())
    }

    fn capped(&mut self, q: Q) -> EResult<Q> {
        let b = bits(&q);
        if b > MAX_BITS {
            return Err(EvalError::Overflow);
        }
        // Normalising a rational takes a (binary) gcd, quadratic in the operands' length in bits; an
        // integer needs none.
        let w = 1 + b / 64;
        self.charge(if q.is_integer() { w } else { 16 * w * w })?;
        Ok(q)
    }

    /// Evaluate exactly; variables take their values from `env`.
    pub fn eval(&mut self, e: &Expr, env: &Env<Q>) -> EResult<Q> {
        crate::guard::recurse(|| self.eval_inner(e, env)).unwrap_or(Err(EvalError::Overflow))
    }

    fn eval_inner(&mut self, e: &Expr, env: &Env<Q>) -> EResult<Q> {
        match e {
            Expr::Num(q) | Expr::Dec(q) => {
                if bits(q) > MAX_BITS {
                    return Err(EvalError::Overflow);
                }
                Ok(q.clone())
            }
            Expr::Pi | Expr::E | Expr::I => Err(EvalError::NotRational),
            Expr::Inf => Err(EvalError::NotRational),
            Expr::Var(v) => env.get(v).ok_or(EvalError::NotRational),
            Expr::Neg(a) => Ok(-self.eval(a, env)?),
            Expr::Add(v) => {
                let mut acc = Q::zero();
                for x in v {
                    let y = self.eval(x, env)?;
                    acc = self.capped(qadd(acc, y))?;
                }
                Ok(acc)
            }
            Expr::Mul(v) => {
                let mut acc = Q::one();
                for x in v {
                    let y = self.eval(x, env)?;
                    if bits(&acc) + bits(&y) > MAX_BITS + 64 {
                        return Err(EvalError::Overflow);
                    }
                    acc = self.capped(qmul(acc, y))?;
                }
                Ok(acc)
            }
            Expr::Div(a, b) => {
                let x = self.eval(a, env)?;
                let y = self.eval(b, env)?;
                if y.is_zero() {
                    return Err(EvalError::Undefined);
                }
                self.capped(x / y)
            }
            Expr::Percent(a) => {
                let x = self.eval(a, env)?;
                self.capped(x / Q::from_integer(BigInt::from(100)))
            }
            Expr::Pow(a, b) => {
                let base = self.eval(a, env)?;
                let exp = self.eval(b, env)?;
                self.pow(base, exp)
            }
            Expr::Root(n, x) => {
                let n = self.eval(n, env)?;
                let x = self.eval(x, env)?;
                if n.is_zero() {
                    return Err(EvalError::Undefined);
                }
                self.pow(x, n.recip())
            }
            Expr::Func(Func::Sqrt, x) => {
                let x = self.eval(x, env)?;
                self.pow(x, Q::new(BigInt::one(), BigInt::from(2)))
            }
            Expr::Func(Func::Abs, x) => Ok(self.eval(x, env)?.abs()),
            Expr::Func(Func::Floor, x) => Ok(Q::from_integer(self.eval(x, env)?.floor().to_integer())),
            Expr::Func(Func::Ceil, x) => Ok(Q::from_integer(self.eval(x, env)?.ceil().to_integer())),
            Expr::Func(..) | Expr::Log(..) => Err(EvalError::NotRational),
            Expr::Call(f, args) => {
                let mut vals = Vec::with_capacity(args.len());
                for a in args {
                    vals.push(self.eval(a, env)?);
                }
                self.call(*f, vals)
            }
            Expr::Fact(a) => {
                let n = self.eval(a, env)?;
                if !n.is_integer() || n.is_negative() {
                    return Err(EvalError::Undefined);
                }
                let n = n.to_integer().to_u64().ok_or(EvalError::Overflow)?;
                if n > 1700 {
                    return Err(EvalError::Overflow);
                }
                let mut acc = BigInt::one();
                for k in 2..=n {
                    acc *= k;
                    self.charge(1 + acc.bits() / 64)?;
                }
                Ok(Q::from_integer(acc))
            }
            Expr::Binom(a, b) => {
                let n = self.eval(a, env)?;
                let k = self.eval(b, env)?;
                if !n.is_integer() || !k.is_integer() {
                    return Err(EvalError::NotRational);
                }
                let (n, k) = (n.to_integer(), k.to_integer());
                if k.is_negative() || n.is_negative() || k > n {
                    return Ok(Q::zero());
                }
                let k = std::cmp::min(k.clone(), &n - &k);
                let k = k.to_u64().ok_or(EvalError::Overflow)?;
                if k > 5000 || n.bits() > 64 {
                    return Err(EvalError::Overflow);
                }
                let mut acc = BigInt::one();
                for i in 0..k {
                    acc = acc * (&n - i) / (i + 1);
                    if acc.bits() > MAX_BITS {
                        return Err(EvalError::Overflow);
                    }
                    self.charge(2 + acc.bits() / 32)?;
                }
                Ok(Q::from_integer(acc))
            }
            Expr::Pm(..) => Err(EvalError::NotRational),
        }
    }

    /// A function of several exact arguments: `gcd`/`lcm` of integers (non-negative, `gcd(0, 0) = 0`),
    /// `max`/`min`, and `a mod b = a - b⌊a/b⌋` (in `[0, b)` for `b > 0`; undefined for `b = 0`).
    fn call(&mut self, f: Multi, vals: Vec<Q>) -> EResult<Q> {
        match f {
            Multi::Max => vals.into_iter().reduce(|a, b| if b > a { b } else { a }).ok_or(EvalError::Undefined),
            Multi::Min => vals.into_iter().reduce(|a, b| if b < a { b } else { a }).ok_or(EvalError::Undefined),
            Multi::Gcd | Multi::Lcm => {
                if vals.iter().any(|q| !q.is_integer()) {
                    return Err(EvalError::Undefined);
                }
                let mut acc: Option<BigInt> = None;
                for q in vals {
                    let n = q.to_integer().abs();
                    self.charge(1 + n.bits() / 16)?;
                    acc = Some(match acc {
                        None => n,
                        Some(a) if f == Multi::Gcd => a.gcd(&n),
                        Some(a) => a.lcm(&n),
                    });
                }
                self.capped(Q::from_integer(acc.ok_or(EvalError::Undefined)?))
            }
            Multi::Mod => {
                let [a, b] = <[Q; 2]>::try_from(vals).map_err(|_| EvalError::Undefined)?;
                if b.is_zero() {
                    return Err(EvalError::Undefined);
                }
                let k = (&a / &b).floor();
                self.capped(a - b * k)
            }
        }
    }

    /// The exact value of a constant expression and its first-order sensitivity to its decimal literals:
    /// how far the value moves when every literal `d` is moved by `|d|` (one unit of relative error),
    /// summed in absolute value. `NotRational` where it is not a rational function of the literals.
    pub fn sensitivity(&mut self, e: &Expr) -> EResult<(Q, Q)> {
        crate::guard::recurse(|| self.sensitivity_inner(e)).unwrap_or(Err(EvalError::Overflow))
    }

    fn sensitivity_inner(&mut self, e: &Expr) -> EResult<(Q, Q)> {
        let env = Env { names: &[], values: &[] };
        if !e.has_decimal() {
            return Ok((self.eval(e, &env)?, Q::zero()));
        }
        match e {
            Expr::Dec(q) => Ok((q.clone(), q.abs())),
            Expr::Neg(a) => {
                let (v, s) = self.sensitivity(a)?;
                Ok((-v, s))
            }
            Expr::Add(items) => {
                let (mut v, mut s) = (Q::zero(), Q::zero());
                for x in items {
                    let (a, b) = self.sensitivity(x)?;
                    v = self.capped(qadd(v, a))?;
                    s = self.capped(qadd(s, b))?;
                }
                Ok((v, s))
            }
            Expr::Mul(items) => {
                let (mut v, mut s) = (Q::one(), Q::zero());
                for x in items {
                    let (a, b) = self.sensitivity(x)?;
                    s = self.capped(qadd(qmul(v.abs(), b), qmul(s, a.abs())))?;
                    v = self.capped(qmul(v, a))?;
                }
                Ok((v, s))
            }
            Expr::Div(a, b) => {
                let (va, sa) = self.sensitivity(a)?;
                let (vb, sb) = self.sensitivity(b)?;
                if vb.is_zero() {
                    return Err(EvalError::Undefined);
                }
                let v = self.capped(&va / &vb)?;
                let s = self.capped(sa / vb.abs() + va.abs() * sb / (&vb * &vb))?;
                Ok((v, s))
            }
            Expr::Percent(a) => {
                let (v, s) = self.sensitivity(a)?;
                let h = Q::from_integer(BigInt::from(100));
                Ok((v / &h, s / h))
            }
            Expr::Pow(a, b) => {
                let (vb, sb) = self.sensitivity(b)?;
                if !sb.is_zero() || !vb.is_integer() {
                    return Err(EvalError::NotRational);
                }
                let (va, sa) = self.sensitivity(a)?;
                let n = vb.to_integer();
                let v = self.pow(va.clone(), vb)?;
                let s = if va.is_zero() {
                    if n.is_one() {
                        sa
                    } else {
                        Q::zero()
                    }
                } else {
                    self.capped(Q::from_integer(n.abs()) * (&v / &va).abs() * sa)?
                };
                Ok((v, s))
            }
            _ => Err(EvalError::NotRational),
        }
    }

    fn pow(&mut self, base: Q, exp: Q) -> EResult<Q> {
        if exp.is_integer() {
            let n = exp.to_integer();
            if base.is_zero() {
                return if n.is_negative() {
                    Err(EvalError::Undefined)
                } else if n.is_zero() {
                    Ok(Q::one())
                } else {
                    Ok(Q::zero())
                };
            }
            if base.is_one() {
                return Ok(base);
            }
            if base == -Q::one() {
                return Ok(if n.is_even() { Q::one() } else { base });
            }
            let n = n.to_i64().ok_or(EvalError::Overflow)?;
            let b = bits(&base).max(1);
            if (n.unsigned_abs()).saturating_mul(b.saturating_sub(1).max(1)) > MAX_BITS {
                return Err(EvalError::Overflow);
            }
            self.charge(1 + n.unsigned_abs() * b / 64)?;
            let r = if base.is_integer() {
                Q::from_integer(num_traits::pow(base.to_integer(), n.unsigned_abs() as usize))
            } else {
                num_traits::pow(base, n.unsigned_abs() as usize)
            };
            let r = if n < 0 { r.recip() } else { r };
            return self.capped(r);
        }
        // Rational exponent p/q: exact only when the q-th root is exact.
        let q = exp.denom().to_u32().ok_or(EvalError::NotRational)?;
        if q > 64 {
            return Err(EvalError::NotRational);
        }
        if base.is_negative() && q % 2 == 0 {
            return Err(EvalError::NotRational);
        }
        let root = |x: &BigInt| -> Option<BigInt> {
            let neg = x.is_negative();
            let r = x.abs().nth_root(q);
            if num_traits::pow(r.clone(), q as usize) == x.abs() {
                Some(if neg { -r } else { r })
            } else {
                None
            }
        };
        self.charge(1 + bits(&base) / 16)?;
        let (Some(rn), Some(rd)) = (root(base.numer()), root(base.denom())) else {
            return Err(EvalError::NotRational);
        };
        let p = Q::from_integer(exp.numer().clone());
        self.pow(Q::new(rn, rd), p)
    }
}

/// Evaluate in complex floating point; variables take their values from `env`. Never fails: undefined
/// results are NaN, overflows are infinite.
pub fn numeric(e: &Expr, env: &Env<C>) -> C {
    crate::guard::recurse(|| numeric_inner(e, env)).unwrap_or(C::new(f64::NAN, f64::NAN))
}

fn numeric_inner(e: &Expr, env: &Env<C>) -> C {
    let nan = C::new(f64::NAN, f64::NAN);
    match e {
        Expr::Num(q) | Expr::Dec(q) => C::new(q_to_f64(q), 0.0),
        Expr::Pi => C::new(std::f64::consts::PI, 0.0),
        Expr::E => C::new(std::f64::consts::E, 0.0),
        Expr::I => C::new(0.0, 1.0),
        Expr::Inf => C::new(f64::INFINITY, 0.0),
        Expr::Var(v) => env.get(v).unwrap_or(nan),
        Expr::Neg(a) => {
            let x = numeric(a, env);
            C::new(-x.re, -x.im)
        }
        Expr::Add(v) => v.iter().fold(C::new(0.0, 0.0), |acc, x| acc + numeric(x, env)),
        Expr::Mul(v) => v.iter().fold(C::new(1.0, 0.0), |acc, x| cmul(acc, numeric(x, env))),
        Expr::Div(a, b) => cdiv(numeric(a, env), numeric(b, env)),
        Expr::Percent(a) => numeric(a, env) / 100.0,
        Expr::Pow(a, b) => cpow(numeric(a, env), numeric(b, env)),
        Expr::Root(n, x) => cpow(numeric(x, env), cdiv(C::new(1.0, 0.0), numeric(n, env))),
        Expr::Func(f, a) => {
            let x = principal(numeric(a, env));
            match f {
                Func::Sin => x.sin(),
                Func::Cos => x.cos(),
                Func::Tan => x.tan(),
                Func::Cot => cdiv(x.cos(), x.sin()),
                Func::Sec => cdiv(C::new(1.0, 0.0), x.cos()),
                Func::Csc => cdiv(C::new(1.0, 0.0), x.sin()),
                Func::Asin => x.asin(),
                Func::Acos => x.acos(),
                Func::Atan => x.atan(),
                Func::Sinh => x.sinh(),
                Func::Cosh => x.cosh(),
                Func::Tanh => x.tanh(),
                Func::Ln | Func::Log => x.ln(),
                Func::Exp => x.exp(),
                Func::Sqrt => {
                    if x.im == 0.0 && x.re >= 0.0 {
                        C::new(x.re.sqrt(), 0.0)
                    } else {
                        x.sqrt()
                    }
                }
                Func::Abs => C::new(x.norm(), 0.0),
                Func::Asinh => x.asinh(),
                Func::Acosh => x.acosh(),
                Func::Atanh => x.atanh(),
                Func::Floor | Func::Ceil => {
                    if x.im != 0.0 {
                        return nan;
                    }
                    C::new(if *f == Func::Floor { x.re.floor() } else { x.re.ceil() }, 0.0)
                }
            }
        }
        Expr::Call(f, args) => {
            let vals: Vec<C> = args.iter().map(|a| numeric(a, env)).collect();
            if vals.iter().any(|v| v.im != 0.0 || v.re.is_nan()) {
                return nan;
            }
            let re: Vec<f64> = vals.iter().map(|v| v.re).collect();
            let int = |x: f64| x.fract() == 0.0 && x.abs() < 9.0e15;
            match f {
                Multi::Max => C::new(re.iter().copied().fold(f64::NEG_INFINITY, f64::max), 0.0),
                Multi::Min => C::new(re.iter().copied().fold(f64::INFINITY, f64::min), 0.0),
                Multi::Mod if re.len() == 2 && re[1] != 0.0 => C::new(re[0] - re[1] * (re[0] / re[1]).floor(), 0.0),
                Multi::Gcd | Multi::Lcm if re.iter().all(|x| int(*x)) => {
                    let mut acc: Option<i64> = None;
                    for x in re {
                        let n = (x as i64).abs();
                        acc = Some(match acc {
                            None => n,
                            Some(a) if *f == Multi::Gcd => a.gcd(&n),
                            Some(a) => a.lcm(&n),
                        });
                    }
                    C::new(acc.unwrap_or(0) as f64, 0.0)
                }
                _ => nan,
            }
        }
        Expr::Log(base, a) => {
            let x = principal(numeric(a, env)).ln();
            match base {
                Some(b) => cdiv(x, principal(numeric(b, env)).ln()),
                None => x,
            }
        }
        Expr::Fact(a) => {
            let x = numeric(a, env);
            if x.im != 0.0 || x.re < 0.0 || x.re.fract() != 0.0 {
                return nan;
            }
            if x.re > 170.0 {
                return C::new(f64::INFINITY, 0.0);
            }
            let mut acc = 1.0;
            let mut k = 2.0;
            while k <= x.re {
                acc *= k;
                k += 1.0;
            }
            C::new(acc, 0.0)
        }
        Expr::Binom(a, b) => {
            let (n, k) = (numeric(a, env), numeric(b, env));
            if n.im != 0.0 || k.im != 0.0 || k.re.fract() != 0.0 || k.re < 0.0 {
                return nan;
            }
            if k.re > 10_000.0 {
                return C::new(f64::INFINITY, 0.0);
            }
            let mut acc = 1.0;
            let mut i = 0.0;
            while i < k.re {
                acc = acc * (n.re - i) / (i + 1.0);
                i += 1.0;
            }
            C::new(acc, 0.0)
        }
        Expr::Pm(..) => nan,
    }
}

fn cmul(a: C, b: C) -> C {
    if a.im == 0.0 && b.im == 0.0 {
        C::new(a.re * b.re, 0.0)
    } else {
        a * b
    }
}

fn cdiv(a: C, b: C) -> C {
    if b.re == 0.0 && b.im == 0.0 {
        return C::new(f64::NAN, f64::NAN);
    }
    if a.im == 0.0 && b.im == 0.0 {
        C::new(a.re / b.re, 0.0)
    } else {
        a / b
    }
}

/// `x` with a zero part's sign dropped: `-(4 + 0i)` is `-4 - 0i`, whose square root on the other side of
/// the branch cut is `-2i`. Functions with a branch cut (roots, logarithms, inverse trigonometric and
/// hyperbolic functions, powers) take the principal value of a real argument: `\sqrt{-4}` = `2i`.
pub(crate) fn principal(x: C) -> C {
    C::new(if x.re == 0.0 { 0.0 } else { x.re }, if x.im == 0.0 { 0.0 } else { x.im })
}

pub(crate) fn cpow(a: C, b: C) -> C {
    let a = principal(a);
    if b.im == 0.0 && b.re.fract() == 0.0 && b.re.abs() <= 1024.0 {
        let n = b.re as i32;
        if a.im == 0.0 {
            return C::new(a.re.powi(n), 0.0);
        }
        return a.powi(n);
    }
    if a.im == 0.0 && b.im == 0.0 && a.re >= 0.0 {
        return C::new(a.re.powf(b.re), 0.0);
    }
    if a.im == 0.0 && b.im == 0.0 && a.re < 0.0 {
        // Real odd roots of negatives: (-8)^(1/3) = -2.
        let inv = 1.0 / b.re;
        if (inv - inv.round()).abs() < 1e-12 && (inv.round() as i64) % 2 != 0 {
            return C::new(-(-a.re).powf(b.re), 0.0);
        }
    }
    if a.re == 0.0 && a.im == 0.0 {
        return if b.re > 0.0 { C::new(0.0, 0.0) } else { C::new(f64::NAN, f64::NAN) };
    }
    a.powc(b)
}

/// Rational to the nearest f64, also for numerators and denominators beyond f64's range.
pub fn q_to_f64(q: &Q) -> f64 {
    if let (Some(n), Some(d)) = (q.numer().to_f64(), q.denom().to_f64()) {
        if n.is_finite() && d.is_finite() && d != 0.0 {
            return n / d;
        }
    }
    // Scale both to ~60 significant bits.
    let nb = q.numer().bits() as i64;
    let db = q.denom().bits() as i64;
    let shift_n = (nb - 60).max(0);
    let shift_d = (db - 60).max(0);
    let n = (q.numer() >> shift_n as usize).to_f64().unwrap_or(f64::NAN);
    let d = (q.denom() >> shift_d as usize).to_f64().unwrap_or(f64::NAN);
    let e = shift_n - shift_d;
    let m = n / d;
    if e > 2000 {
        return if m > 0.0 { f64::INFINITY } else { f64::NEG_INFINITY };
    }
    if e < -2000 {
        return 0.0;
    }
    m * 2f64.powi(e as i32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{tokenize, Parser};

    fn ex(s: &str) -> EResult<Q> {
        let t = tokenize(s).unwrap();
        let e = Parser::parse_all(&t).unwrap();
        Exact::default().eval(&e, &Env { names: &[], values: &[] })
    }

    fn q(n: i64, d: i64) -> Q {
        Q::new(BigInt::from(n), BigInt::from(d))
    }

    #[test]
    fn exact_values() {
        assert_eq!(ex("\\frac{3}{4}"), Ok(q(3, 4)));
        assert_eq!(ex("2^{-3}"), Ok(q(1, 8)));
        assert_eq!(ex("\\sqrt{16}"), Ok(q(4, 1)));
        assert_eq!(ex("\\sqrt{2}"), Err(EvalError::NotRational));
        assert_eq!(ex("\\binom{10}{3}"), Ok(q(120, 1)));
        assert_eq!(ex("5!"), Ok(q(120, 1)));
        assert_eq!(ex("3.2*10^{5}"), Ok(q(320000, 1)));
        assert_eq!(ex("(-8)^{1/3}"), Ok(q(-2, 1)));
        assert_eq!(ex("1/0"), Err(EvalError::Undefined));
    }

    #[test]
    fn caps() {
        assert_eq!(ex("9^{9^{9^9}}"), Err(EvalError::Overflow));
        assert_eq!(ex("100000!"), Err(EvalError::Overflow));
        assert_eq!(ex("2^{-99}") == ex("2^{-98}"), false);
    }

    #[test]
    fn big_ratio_to_f64() {
        let big = Q::from_integer(num_traits::pow(BigInt::from(10), 400));
        assert!(q_to_f64(&big).is_infinite());
        let tiny = big.recip();
        assert_eq!(q_to_f64(&tiny), 0.0);
        assert!((q_to_f64(&q(1, 3)) - 1.0 / 3.0).abs() < 1e-16);
    }
}
