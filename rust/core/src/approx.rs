//! Floating-point evaluation with a running error bound.
//!
//! An [`Approx`] is a complex `f64` value together with
//!
//! - `err`: a bound on its distance from the exact value, from the rounding of every operation and
//!   every literal, propagated through each operation with its derivative (first order, with a safety
//!   factor of two on functions);
//! - `dec`: how far the value moves when every decimal literal is perturbed by one unit of relative
//!   error (`|∂v/∂δ|` summed over the literals, first order): multiplied by the relative tolerance this
//!   is how much a rounded decimal can explain;
//! - `scale`: the magnitude the value was computed from (the sum of the magnitudes of the terms that
//!   cancelled in it), which the error is judged against;
//! - `lost`: the value cannot resolve a relative change of [`RESOLVE`] in one of its parts: a float
//!   underflowed or overflowed, a term of a sum is below the sum's rounding error ("swallowed": `10^{20}
//!   + 1`, `1 + e^{-1000}`), the error grew past `RESOLVE` of the scale (`\sin(10^{20})`), or a monotone
//!   function flattened its argument away (`\arctan(10^{10})`, `e^{10^{-20}}`);
//! - `nonreal`: a real argument left a function's real domain (`\ln` of a negative number, `\sqrt{-1}`,
//!   `\arcsin 2`): the point is outside the expression's real domain.
//!
//! [`zero_test`] decides from these whether a value is zero: *nonzero* when `|v|` exceeds the error
//! bound plus the decimal tolerance (certain, whatever precision was lost), *zero* when it does not and
//! nothing was lost, *unknown* otherwise. A value is never called zero because it underflowed or because
//! its precision ran out.

use crate::eval::{q_to_f64, Env};
use crate::expr::{Expr, Func, Multi};
use num_complex::Complex64 as C;
use num_rational::BigRational as Q;
use num_traits::{Signed, ToPrimitive, Zero as _};

const EPS: f64 = f64::EPSILON;
/// The smallest relative change of any part of an expression that evaluation must resolve for a value
/// to be trusted (2^-20, about 1e-6): errors above this fraction of a value's scale, and terms of a sum
/// below `1 / RESOLVE` times its error, mark the value `lost`.
pub const RESOLVE: f64 = 1.0 / 1_048_576.0;

#[derive(Debug, Clone, Copy)]
pub struct Approx {
    pub v: C,
    pub err: f64,
    pub dec: f64,
    pub scale: f64,
    pub lost: bool,
    pub nonreal: bool,
}

/// Whether a value is zero, as far as floating point can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zero {
    Zero,
    NonZero,
    Unknown,
    /// Not defined at this point (division by zero, a pole, a factorial of a non-integer).
    Undefined,
}

fn nan() -> C {
    C::new(f64::NAN, f64::NAN)
}

fn is_nan(z: C) -> bool {
    z.re.is_nan() || z.im.is_nan()
}

fn finite(z: C) -> bool {
    z.re.is_finite() && z.im.is_finite()
}

fn is_real(z: C) -> bool {
    z.im == 0.0
}

impl Approx {
    pub fn exact(v: C) -> Approx {
        Approx { v, err: 0.0, dec: 0.0, scale: v.norm(), lost: false, nonreal: false }.checked()
    }

    pub fn undefined() -> Approx {
        Approx { v: nan(), err: f64::INFINITY, dec: 0.0, scale: 0.0, lost: true, nonreal: false }
    }

    /// A rational to the nearest f64, its rounding error, and `dec = |q|` for a decimal literal.
    pub fn from_q(q: &Q, decimal: bool) -> Approx {
        let v = q_to_f64(q);
        let exact = q.is_integer() && v.abs() < 9.0e15 || q.is_zero();
        let err = if exact { 0.0 } else { 0.5 * EPS * v.abs() };
        let mut a = Approx {
            v: C::new(v, 0.0),
            err,
            dec: if decimal { v.abs() } else { 0.0 },
            scale: v.abs(),
            lost: false,
            nonreal: false,
        };
        if v == 0.0 && !q.is_zero() {
            // Underflow: the value is somewhere in (0, MIN_POSITIVE).
            a.err = f64::MIN_POSITIVE;
            a.lost = true;
        }
        a.checked()
    }

    /// A coefficient `q` whose decimal literals can move it by `e` per unit of relative error.
    pub fn from_coef(q: &Q, e: f64) -> Approx {
        let mut a = Approx::from_q(q, false);
        a.dec = e;
        a
    }

    fn constant(v: f64) -> Approx {
        Approx { v: C::new(v, 0.0), err: 0.5 * EPS * v.abs(), dec: 0.0, scale: v.abs(), lost: false, nonreal: false }
    }

    /// A result that came out zero from operands that are certainly not: it underflowed.
    fn underflowed(mut self, operands_nonzero: bool) -> Approx {
        if operands_nonzero && self.v.norm() == 0.0 {
            self.lost = true;
            self.err = self.err.max(f64::MIN_POSITIVE);
        }
        self
    }

    fn certainly_nonzero(&self) -> bool {
        self.v.norm() > 2.0 * self.err
    }

    /// Mark what no longer resolves `RESOLVE` of its scale, underflowed or overflowed.
    fn checked(mut self) -> Approx {
        let n = self.v.norm();
        if is_nan(self.v) {
            return self;
        }
        if !finite(self.v) || !self.err.is_finite() || !self.dec.is_finite() {
            self.lost = true;
            return self;
        }
        if n != 0.0 && n < f64::MIN_POSITIVE {
            self.lost = true;
            self.err = self.err.max(f64::MIN_POSITIVE);
        }
        if self.scale < n {
            self.scale = n;
        }
        if self.err > RESOLVE * self.scale {
            self.lost = true;
        }
        self
    }


    /// The sum of several terms; a nonzero term below `1 / RESOLVE` times the sum's error is lost in it.
    pub fn sum(terms: &[Approx]) -> Approx {
        let mut v = C::new(0.0, 0.0);
        let (mut err, mut dec, mut scale, mut abs) = (0.0, 0.0, 0.0, 0.0);
        let (mut lost, mut nonreal) = (false, false);
        for t in terms {
            if is_nan(t.v) {
                return Approx::undefined();
            }
            v += t.v;
            err += t.err;
            dec += t.dec;
            scale += t.scale;
            abs += t.v.norm();
            lost |= t.lost;
            nonreal |= t.nonreal;
        }
        err += 0.5 * EPS * terms.len().saturating_sub(1) as f64 * abs * 1.5;
        for t in terms {
            let n = t.v.norm();
            if n > 2.0 * t.err && n * RESOLVE <= err {
                lost = true; // `10^{20} + 1`: this term is not seen in the sum
            }
        }
        Approx { v, err, dec, scale, lost, nonreal }.checked()
    }

    fn times(self, b: Approx) -> Approx {
        if is_nan(self.v) || is_nan(b.v) {
            return Approx::undefined();
        }
        let (na, nb) = (self.v.norm(), b.v.norm());
        let v = if is_real(self.v) && is_real(b.v) { C::new(self.v.re * b.v.re, 0.0) } else { self.v * b.v };
        let round = if is_real(v) { EPS } else { 2.0 * EPS };
        Approx {
            v,
            err: na * b.err + nb * self.err + self.err * b.err + round * v.norm(),
            dec: na * b.dec + nb * self.dec,
            scale: self.scale * nb + na * b.scale,
            lost: self.lost || b.lost,
            nonreal: self.nonreal || b.nonreal,
        }
        .underflowed(self.certainly_nonzero() && b.certainly_nonzero())
        .checked()
    }

    pub fn product(factors: &[Approx]) -> Approx {
        let mut acc = Approx::exact(C::new(1.0, 0.0));
        for f in factors {
            acc = acc * *f;
        }
        acc
    }

    fn over(self, b: Approx) -> Approx {
        if is_nan(self.v) || is_nan(b.v) {
            return Approx::undefined();
        }
        let nb = b.v.norm();
        if nb == 0.0 && b.err == 0.0 {
            return Approx::undefined();
        }
        let v = if is_real(self.v) && is_real(b.v) { C::new(self.v.re / b.v.re, 0.0) } else { self.v / b.v };
        if nb <= 2.0 * b.err {
            // The divisor is not bounded away from zero.
            return Approx { v, err: f64::INFINITY, dec: 0.0, scale: v.norm(), lost: true, nonreal: self.nonreal || b.nonreal };
        }
        let nv = v.norm();
        let bmin = nb - b.err;
        let round = if is_real(v) { EPS } else { 3.0 * EPS };
        Approx {
            v,
            err: (self.err + nv * b.err) / bmin + round * nv,
            dec: (self.dec + nv * b.dec) / nb,
            scale: (self.scale + nv * b.scale) / nb,
            lost: self.lost || b.lost,
            nonreal: self.nonreal || b.nonreal,
        }
        .underflowed(self.certainly_nonzero())
        .checked()
    }

    /// An integer power.
    pub fn powi(self, n: i64) -> Approx {
        if is_nan(self.v) {
            return self;
        }
        if n == 0 {
            return Approx::exact(C::new(1.0, 0.0));
        }
        if n == 1 {
            return self;
        }
        let na = self.v.norm();
        if na == 0.0 {
            if self.err == 0.0 {
                return if n > 0 { Approx::exact(C::new(0.0, 0.0)) } else { Approx::undefined() };
            }
            return Approx { v: C::new(0.0, 0.0), err: f64::INFINITY, dec: 0.0, scale: 0.0, lost: true, nonreal: self.nonreal };
        }
        let an = n.unsigned_abs() as f64;
        let r = self.err / na;
        if an * r > 0.01 {
            let v = self.v.powf(n as f64);
            return Approx { v, err: f64::INFINITY, dec: 0.0, scale: v.norm(), lost: true, nonreal: self.nonreal };
        }
        let v = if is_real(self.v) {
            C::new(if n.abs() <= i32::MAX as i64 { self.v.re.powi(n as i32) } else { self.v.re.powf(n as f64) }, 0.0)
        } else if n.abs() <= i32::MAX as i64 {
            self.v.powi(n as i32)
        } else {
            self.v.powf(n as f64)
        };
        let nv = v.norm();
        let rounds = 2.0 * (an.log2() + 2.0);
        Approx {
            v,
            err: nv * (an * r * (1.0 + an * r) + EPS * rounds),
            dec: nv * an * self.dec / na,
            scale: nv * (an * self.scale / na).max(1.0),
            lost: self.lost,
            nonreal: self.nonreal,
        }
        .underflowed(self.certainly_nonzero())
        .checked()
    }

    /// `self ^ b` for any exponent (principal branch), through `exp(b ln self)`.
    pub fn pow(self, b: Approx) -> Approx {
        if is_nan(self.v) || is_nan(b.v) {
            return Approx::undefined();
        }
        if is_real(b.v) && b.err == 0.0 && b.dec == 0.0 && b.v.re.fract() == 0.0 && b.v.re.abs() < 1e15 {
            return self.powi(b.v.re as i64);
        }
        let na = self.v.norm();
        if na == 0.0 {
            if self.err > 0.0 {
                return Approx { v: C::new(0.0, 0.0), err: f64::INFINITY, dec: 0.0, scale: 0.0, lost: true, nonreal: false };
            }
            return if b.v.re > 0.0 { Approx::exact(C::new(0.0, 0.0)) } else { Approx::undefined() };
        }
        let v = crate::eval::cpow(self.v, b.v);
        if is_nan(v) {
            return Approx::undefined();
        }
        let nv = v.norm();
        let ln_a = crate::eval::principal(self.v).ln();
        let (nb, nl) = (b.v.norm(), ln_a.norm());
        let ga = nv * nb / na; // |∂v/∂a|
        let gb = nv * nl; // |∂v/∂b|
        let mut out = Approx {
            v,
            err: 2.0 * (ga * self.err + gb * b.err) + EPS * nv * (4.0 + 2.0 * nb * nl),
            dec: ga * self.dec + gb * b.dec,
            scale: nv.max(ga * self.scale).max(gb * b.scale),
            lost: self.lost || b.lost,
            nonreal: self.nonreal || b.nonreal || (is_real(self.v) && is_real(b.v) && v.im != 0.0),
        };
        // `2^{10^{-9}}`: the exponent no longer shows in the value.
        if nb > 2.0 * b.err && gb * nb < RESOLVE * nv {
            out.lost = true;
        }
        out.underflowed(self.certainly_nonzero()).checked()
    }

    /// A function of one argument.
    pub fn func(self, f: Func) -> Approx {
        let x = crate::eval::principal(self.v);
        if is_nan(x) {
            return Approx::undefined();
        }
        let one = C::new(1.0, 0.0);
        let real = is_real(x);
        // value, |f'(x)|, natural magnitude of the output, monotone (flattening is a loss), nonreal
        let (v, g, ns, monotone, nonreal) = match f {
            Func::Sin => {
                let v = if real { C::new(x.re.sin(), 0.0) } else { x.sin() };
                (v, x.cos().norm(), v.norm().max(1.0), false, false)
            }
            Func::Cos => {
                let v = if real { C::new(x.re.cos(), 0.0) } else { x.cos() };
                (v, x.sin().norm(), v.norm().max(1.0), false, false)
            }
            Func::Tan => {
                let v = if real { C::new(x.re.tan(), 0.0) } else { x.tan() };
                (v, (one + v * v).norm(), v.norm().max(1.0), false, false)
            }
            Func::Cot => {
                let (s, c) = (x.sin(), x.cos());
                if s.norm() == 0.0 {
                    return Approx::undefined();
                }
                let v = c / s;
                (v, (one + v * v).norm(), v.norm().max(1.0), false, false)
            }
            Func::Sec => {
                let c = x.cos();
                if c.norm() == 0.0 {
                    return Approx::undefined();
                }
                let v = one / c;
                (v, (v * x.tan()).norm(), v.norm().max(1.0), false, false)
            }
            Func::Csc => {
                let s = x.sin();
                if s.norm() == 0.0 {
                    return Approx::undefined();
                }
                let v = one / s;
                (v, (v * x.cos() / s).norm(), v.norm().max(1.0), false, false)
            }
            Func::Asin | Func::Acos => {
                let out_of_domain = real && x.re.abs() > 1.0;
                let v = if real && !out_of_domain {
                    C::new(if f == Func::Asin { x.re.asin() } else { x.re.acos() }, 0.0)
                } else if f == Func::Asin {
                    x.asin()
                } else {
                    x.acos()
                };
                let d = (one - x * x).sqrt().norm();
                (v, if d == 0.0 { f64::INFINITY } else { 1.0 / d }, v.norm().max(1.0), false, out_of_domain)
            }
            Func::Atan => {
                let v = if real { C::new(x.re.atan(), 0.0) } else { x.atan() };
                let d = (one + x * x).norm();
                (v, if d == 0.0 { f64::INFINITY } else { 1.0 / d }, v.norm(), true, false)
            }
            Func::Sinh => {
                let v = if real { C::new(x.re.sinh(), 0.0) } else { x.sinh() };
                (v, x.cosh().norm(), v.norm().max(1.0), false, false)
            }
            Func::Cosh => {
                let v = if real { C::new(x.re.cosh(), 0.0) } else { x.cosh() };
                (v, x.sinh().norm(), v.norm().max(1.0), false, false)
            }
            Func::Tanh => {
                let v = if real { C::new(x.re.tanh(), 0.0) } else { x.tanh() };
                (v, (one - v * v).norm(), v.norm(), true, false)
            }
            Func::Ln | Func::Log => {
                if x.norm() == 0.0 {
                    return Approx::undefined();
                }
                let v = if real && x.re > 0.0 { C::new(x.re.ln(), 0.0) } else { x.ln() };
                (v, 1.0 / x.norm(), v.norm().max(1.0), true, real && x.re < 0.0)
            }
            Func::Exp => {
                let v = if real { C::new(x.re.exp(), 0.0) } else { x.exp() };
                if v.norm() == 0.0 || (v.norm() < f64::MIN_POSITIVE) {
                    // Underflow: e^x is never zero, but this float cannot tell how small it is.
                    return Approx {
                        v: C::new(0.0, 0.0),
                        err: f64::MIN_POSITIVE,
                        dec: 0.0,
                        scale: 0.0,
                        lost: true,
                        nonreal: self.nonreal,
                    };
                }
                (v, v.norm(), v.norm(), true, false)
            }
            Func::Sqrt => {
                let nonreal = real && x.re < 0.0;
                let v = if real && x.re >= 0.0 { C::new(x.re.sqrt(), 0.0) } else { x.sqrt() };
                if v.norm() == 0.0 {
                    if self.err == 0.0 {
                        return Approx::exact(C::new(0.0, 0.0));
                    }
                    return Approx { v, err: self.err.sqrt() * 2.0, dec: 0.0, scale: 0.0, lost: true, nonreal };
                }
                (v, 0.5 / v.norm(), v.norm(), true, nonreal)
            }
            Func::Abs => {
                let v = C::new(x.norm(), 0.0);
                (v, 1.0, v.norm(), false, false)
            }
            Func::Asinh => {
                let v = if real { C::new(x.re.asinh(), 0.0) } else { x.asinh() };
                let d = (one + x * x).sqrt().norm();
                (v, if d == 0.0 { f64::INFINITY } else { 1.0 / d }, v.norm(), true, false)
            }
            Func::Acosh => {
                let out_of_domain = real && x.re < 1.0;
                let v = if real && !out_of_domain { C::new(x.re.acosh(), 0.0) } else { x.acosh() };
                let d = (x * x - one).sqrt().norm();
                (v, if d == 0.0 { f64::INFINITY } else { 1.0 / d }, v.norm().max(1.0), true, out_of_domain)
            }
            Func::Atanh => {
                let out_of_domain = real && x.re.abs() >= 1.0;
                if real && x.re.abs() == 1.0 {
                    return Approx::undefined();
                }
                let v = if real && !out_of_domain { C::new(x.re.atanh(), 0.0) } else { x.atanh() };
                let d = (one - x * x).norm();
                (v, if d == 0.0 { f64::INFINITY } else { 1.0 / d }, v.norm(), true, out_of_domain)
            }
            Func::Floor | Func::Ceil => return self.step(f == Func::Floor),
        };
        if is_nan(v) {
            return Approx::undefined();
        }
        let nx = x.norm();
        // Rounding of the function itself, in units of ε|v|: a correctly rounded square root, libm's
        // sub-ulp functions, compositions (tan, sec, hyperbolic), complex formulas.
        let ulps = if !real {
            4.0
        } else {
            match f {
                Func::Sqrt | Func::Abs => 0.5,
                Func::Sin | Func::Cos | Func::Exp | Func::Ln | Func::Log | Func::Atan | Func::Asin | Func::Acos => 1.0,
                _ => 2.0,
            }
        };
        // The derivative over [x - err, x + err] rather than at x (second order).
        let r = if nx > 0.0 { self.err / nx } else { 0.0 };
        let propagated = g * self.err * (1.0 + 4.0 * r) + self.err * self.err * (1.0 + g);
        let mut out = Approx {
            v,
            err: propagated + ulps * EPS * v.norm(),
            dec: g * self.dec,
            scale: ns,
            lost: self.lost || !g.is_finite() || r > 0.01,
            nonreal: self.nonreal || nonreal,
        };
        // `\arctan(10^{10})`, `e^{10^{-20}}`: a change of the argument no longer shows in the value.
        if monotone && nx > 2.0 * self.err && g * nx < RESOLVE * v.norm() {
            out.lost = true;
        }
        out.checked()
    }

    /// `⌊x⌋` or `⌈x⌉`: exact where the whole error interval of `x` (and a relative change of up to 1e-3 of
    /// its decimal literals) lies between the same two integers; a step the interval may cross is not
    /// decided (the value is marked lost), nor is a complex argument.
    fn step(self, floor: bool) -> Approx {
        let x = self.v;
        if is_nan(x) || !is_real(x) || !x.re.is_finite() || x.re.abs() > 1e15 {
            return Approx::undefined();
        }
        let slack = self.err + 1e-3 * self.dec;
        let f = |t: f64| if floor { t.floor() } else { t.ceil() };
        let v = f(x.re);
        if !slack.is_finite() || f(x.re - slack) != v || f(x.re + slack) != v {
            return Approx { v: C::new(v, 0.0), err: slack.max(1.0), dec: 0.0, scale: v.abs().max(1.0), lost: true, nonreal: self.nonreal };
        }
        Approx { v: C::new(v, 0.0), err: 0.0, dec: 0.0, scale: v.abs(), lost: self.lost, nonreal: self.nonreal }
    }

    /// `max`, `min` (1-Lipschitz: the largest error of the arguments bounds the result's), and `gcd`,
    /// `lcm`, `mod` of exact integers only.
    fn call(f: Multi, args: &[Approx]) -> Approx {
        if args.is_empty() || args.iter().any(|a| is_nan(a.v) || !is_real(a.v)) {
            return Approx::undefined();
        }
        let lost = args.iter().any(|a| a.lost);
        let nonreal = args.iter().any(|a| a.nonreal);
        match f {
            Multi::Max | Multi::Min => {
                let pick = args.iter().copied().reduce(|a, b| {
                    let better = if f == Multi::Max { b.v.re > a.v.re } else { b.v.re < a.v.re };
                    if better {
                        b
                    } else {
                        a
                    }
                });
                let Some(p) = pick else { return Approx::undefined() };
                let err = args.iter().map(|a| a.err).fold(0.0, f64::max);
                let dec = args.iter().map(|a| a.dec).fold(0.0, f64::max);
                let scale = args.iter().map(|a| a.scale).fold(0.0, f64::max);
                Approx { v: p.v, err, dec, scale, lost, nonreal }.checked()
            }
            Multi::Gcd | Multi::Lcm | Multi::Mod => {
                let exact_int = |a: &Approx| a.err == 0.0 && a.dec == 0.0 && a.v.re.fract() == 0.0 && a.v.re.abs() < 9.0e15;
                if lost || !args.iter().all(exact_int) {
                    return Approx::undefined();
                }
                let n: Vec<i128> = args.iter().map(|a| a.v.re as i128).collect();
                let v = match f {
                    Multi::Mod => {
                        if n.len() != 2 || n[1] == 0 {
                            return Approx::undefined();
                        }
                        // a - b⌊a/b⌋, as the exact evaluator defines it.
                        let (a, b) = (n[0], n[1]);
                        let (q, r) = (a / b, a % b);
                        let q = if r != 0 && ((r < 0) != (b < 0)) { q - 1 } else { q };
                        a - b * q
                    }
                    _ => {
                        let gcd = |mut a: i128, mut b: i128| {
                            while b != 0 {
                                (a, b) = (b, a % b);
                            }
                            a.abs()
                        };
                        let mut acc = n[0].abs();
                        for &m in &n[1..] {
                            acc = if f == Multi::Gcd {
                                gcd(acc, m)
                            } else if acc == 0 || m == 0 {
                                0
                            } else {
                                (acc / gcd(acc, m)).saturating_mul(m.abs())
                            };
                        }
                        acc
                    }
                };
                if v.unsigned_abs() > 1u128 << 53 {
                    return Approx::undefined();
                }
                Approx::exact(C::new(v as f64, 0.0))
            }
        }
    }

    /// Evaluate an expression; variables take their values from `env`.
    pub fn eval(e: &Expr, env: &Env<C>) -> Approx {
        crate::guard::recurse(|| Approx::eval_inner(e, env)).unwrap_or_else(|_| Approx::undefined())
    }

    fn eval_inner(e: &Expr, env: &Env<C>) -> Approx {
        match e {
            Expr::Num(q) => Approx::from_q(q, false),
            Expr::Dec(q) => Approx::from_q(q, true),
            Expr::Pi => Approx::constant(std::f64::consts::PI),
            Expr::E => Approx::constant(std::f64::consts::E),
            Expr::I => Approx::exact(C::new(0.0, 1.0)),
            Expr::Inf => {
                Approx { v: C::new(f64::INFINITY, 0.0), err: f64::INFINITY, dec: 0.0, scale: 0.0, lost: true, nonreal: false }
            }
            Expr::Var(v) => match env.names.iter().position(|n| **n == **v) {
                Some(i) => Approx::exact(env.values[i]),
                None => Approx::undefined(),
            },
            Expr::Neg(a) => -Approx::eval(a, env),
            Expr::Add(v) => {
                let terms: Vec<Approx> = v.iter().map(|x| Approx::eval(x, env)).collect();
                Approx::sum(&terms)
            }
            Expr::Mul(v) => {
                let mut acc = Approx::exact(C::new(1.0, 0.0));
                for x in v {
                    acc = acc * Approx::eval(x, env);
                }
                acc
            }
            Expr::Div(a, b) => Approx::eval(a, env) / Approx::eval(b, env),
            Expr::Percent(a) => Approx::eval(a, env) / Approx::exact(C::new(100.0, 0.0)),
            Expr::Pow(a, b) => {
                if matches!(**a, Expr::E) {
                    return Approx::eval(b, env).func(Func::Exp);
                }
                if let Some(n) = small_int(b) {
                    return Approx::eval(a, env).powi(n);
                }
                Approx::eval(a, env).pow(Approx::eval(b, env))
            }
            Expr::Root(n, x) => {
                let n = Approx::eval(n, env);
                let x = Approx::eval(x, env);
                if n.err == 0.0 && is_real(n.v) && n.v.re == 2.0 {
                    return x.func(Func::Sqrt);
                }
                x.pow(Approx::exact(C::new(1.0, 0.0)) / n)
            }
            Expr::Func(f, a) => Approx::eval(a, env).func(*f),
            Expr::Log(base, a) => {
                let x = Approx::eval(a, env).func(Func::Ln);
                match base {
                    Some(b) => x / Approx::eval(b, env).func(Func::Ln),
                    None => x,
                }
            }
            Expr::Fact(a) => {
                let x = Approx::eval(a, env);
                let n = match exact_nonneg_int(&x) {
                    Some(n) => n,
                    None => return Approx::undefined(),
                };
                if n > 170 {
                    return Approx {
                        v: C::new(f64::INFINITY, 0.0),
                        err: f64::INFINITY,
                        dec: 0.0,
                        scale: 0.0,
                        lost: true,
                        nonreal: false,
                    };
                }
                let v: f64 = (2..=n).map(|k| k as f64).product();
                Approx { v: C::new(v, 0.0), err: EPS * n as f64 * v, dec: 0.0, scale: v, lost: x.lost, nonreal: x.nonreal }
                    .checked()
            }
            Expr::Binom(a, b) => {
                let n = Approx::eval(a, env);
                let k = Approx::eval(b, env);
                let Some(k) = exact_nonneg_int(&k) else { return Approx::undefined() };
                if !is_real(n.v) || k > 10_000 {
                    return Approx::undefined();
                }
                let mut acc = 1.0;
                for i in 0..k {
                    acc = acc * (n.v.re - i as f64) / (i as f64 + 1.0);
                }
                let lost = n.lost || n.err > 0.0;
                Approx { v: C::new(acc, 0.0), err: 4.0 * EPS * k as f64 * acc.abs(), dec: 0.0, scale: acc.abs(), lost, nonreal: false }
                    .checked()
            }
            Expr::Pm(..) => Approx::undefined(),
            Expr::Call(f, args) => {
                let vals: Vec<Approx> = args.iter().map(|a| Approx::eval(a, env)).collect();
                Approx::call(*f, &vals)
            }
        }
    }
}

impl std::ops::Neg for Approx {
    type Output = Approx;
    fn neg(self) -> Approx {
        Approx { v: -self.v, ..self }
    }
}

impl std::ops::Mul for Approx {
    type Output = Approx;
    fn mul(self, b: Approx) -> Approx {
        self.times(b)
    }
}

impl std::ops::Div for Approx {
    type Output = Approx;
    fn div(self, b: Approx) -> Approx {
        self.over(b)
    }
}

/// `n` for an integer literal exponent `n` or `-n`.
fn small_int(e: &Expr) -> Option<i64> {
    match e {
        Expr::Num(q) if q.is_integer() => q.to_integer().to_i64().filter(|n| n.abs() <= 1 << 40),
        Expr::Neg(a) => small_int(a).map(|n| -n),
        _ => None,
    }
}

fn exact_nonneg_int(x: &Approx) -> Option<u64> {
    if x.err != 0.0 || !is_real(x.v) || x.v.re < 0.0 || x.v.re.fract() != 0.0 || x.v.re > 1e9 {
        return None;
    }
    Some(x.v.re as u64)
}

/// Is `z` zero? `tol` is the relative tolerance granted to decimal literals.
pub fn zero_test(z: &Approx, tol: f64) -> Zero {
    if is_nan(z.v) {
        return Zero::Undefined;
    }
    if !finite(z.v) {
        return Zero::Unknown;
    }
    let t = z.err + tol * z.dec;
    if !t.is_finite() {
        return Zero::Unknown;
    }
    if z.v.norm() > t * (1.0 + 1e-9) {
        return Zero::NonZero;
    }
    if z.lost {
        return Zero::Unknown;
    }
    Zero::Zero
}

/// Is `q` (with decimal sensitivity `e`) zero within `tol`? Exact arithmetic.
pub fn q_within(q: &Q, e: f64, tol: f64) -> bool {
    if q.is_zero() {
        return true;
    }
    let bound = tol * e;
    if !(bound.is_finite() && bound > 0.0) {
        return false;
    }
    match Q::from_float(bound) {
        Some(b) => q.abs() <= b,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{tokenize, Parser};

    fn ap(s: &str) -> Approx {
        let t = tokenize(s).unwrap();
        let e = Parser::parse_all(&t).unwrap();
        Approx::eval(&e, &Env { names: &[], values: &[] })
    }

    #[test]
    fn zero_and_nonzero() {
        assert_eq!(zero_test(&ap("\\sin\\pi"), 0.0), Zero::Zero);
        assert_eq!(zero_test(&ap("\\sqrt{19601-13860\\sqrt2}-99+70\\sqrt2"), 0.0), Zero::Zero);
        assert_eq!(zero_test(&ap("\\sqrt{19601-13860\\sqrt2}-99+70\\sqrt2-10^{-6}"), 0.0), Zero::NonZero);
        // Underflow and precision loss never read as zero.
        assert_eq!(zero_test(&ap("e^{-1000}"), 0.0), Zero::Unknown);
        assert_eq!(zero_test(&ap("e^{-1000}-e^{-1001}"), 0.0), Zero::Unknown);
        assert_eq!(zero_test(&ap("\\sin(10^{20})-\\sin(10^{20}+1)"), 0.0), Zero::Unknown);
        assert_eq!(zero_test(&ap("\\arctan(10^{10}+1)-\\arctan(10^{10})"), 0.0), Zero::Unknown);
        assert_eq!(zero_test(&ap("\\ln(1+e^{-100})"), 0.0), Zero::Unknown);
        assert_eq!(zero_test(&ap("e^{10^{-20}}-1"), 0.0), Zero::Unknown);
        assert_eq!(zero_test(&ap("6^{-6339}"), 0.0), Zero::Unknown);
        assert_eq!(zero_test(&ap("10^{-200}*10^{-200}"), 0.0), Zero::Unknown);
        assert_eq!(zero_test(&ap("\\frac{10^{-200}}{10^{200}}"), 0.0), Zero::Unknown);
        assert_eq!(zero_test(&ap("2^{-2000.5}"), 0.0), Zero::Unknown);
        assert_eq!(zero_test(&ap("\\cos\\pi+1"), 0.0), Zero::Zero);
        assert_eq!(zero_test(&ap("e^{i\\pi}+1"), 0.0), Zero::Zero);
    }

    #[test]
    fn domains() {
        assert!(ap("\\ln(-2)").nonreal);
        assert!(ap("\\sqrt{-2}").nonreal);
        assert!(ap("\\arcsin 2").nonreal);
        assert!(!ap("\\ln 2").nonreal);
        assert!(!ap("(-8)^{1/3}").nonreal);
        assert_eq!(zero_test(&ap("\\frac{1}{0}"), 0.0), Zero::Undefined);
    }
}
