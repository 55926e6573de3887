//! stagekit-core: the answer verifier and reward core of stagekit, in pure Rust.
//!
//! - [`extract_answer`]: the final answer a reasoning completion commits to.
//! - [`check`] / [`compare`]: is it equivalent to the gold answer? Numbers, fractions, radicals,
//!   expressions, equations, intervals, sets, tuples, matrices, units, multiple choice, ...
//! - [`check_many`]: the same over many pairs in parallel (rayon).
//! - [`steps::first_false_claim`]: the first false `a op b = c` claim of a reasoning trace.
//!
//! Work per pair is bounded by construction (input, token, depth, bit-size and work caps), so hostile
//! inputs cost at most milliseconds; nothing uses signals, timeouts or global state. Every recursive walk
//! goes through one depth guard ([`guard`]), and no input overflows even a small thread stack.

pub mod answer;
pub mod approx;
pub mod check;
pub mod equiv;
pub mod eval;
pub mod expr;
pub mod extract;
pub mod guard;
pub mod normalize;
pub mod poly;
pub mod steps;

pub use check::{check, check_many, check_many_on, check_opt, compare, map_on_workers, Status, Verdict};
pub use equiv::Options;
pub use extract::{extract_answer, extract_gold};
