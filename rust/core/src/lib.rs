//! stagekit-core: the answer verifier and reward core of stagekit, in pure Rust.
//!
//! - [`extract_answer`]: the final answer a reasoning completion commits to.
//! - [`check`] / [`compare`]: is it equivalent to the gold answer? Numbers, fractions, radicals,
//!   expressions, equations, intervals, sets, tuples, matrices, units, multiple choice, ...
//! - [`check_many`]: the same over many pairs in parallel (rayon).
//! - [`steps::first_false_claim`]: the first false `a op b = c` claim of a reasoning trace.
//!
//! Work per pair is bounded by construction (input, token, depth, bit-size and work caps), so hostile
//! inputs cost at most milliseconds; nothing uses signals, timeouts or global state.

pub mod answer;
pub mod check;
pub mod equiv;
pub mod eval;
pub mod expr;
pub mod extract;
pub mod normalize;
pub mod steps;

pub use check::{check, check_many, check_opt, compare, Status, Verdict};
pub use equiv::Options;
pub use extract::{extract_answer, extract_gold};

/// Run `f` with at least 128 KiB of stack left, growing the stack on the heap when needed, so deep (but
/// capped) nesting never overflows a small thread stack.
#[inline]
pub(crate) fn deep<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(128 * 1024, 4 * 1024 * 1024, f)
}
