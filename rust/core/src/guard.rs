//! The one recursion guard of the core (after pydantic-core's `RecursionGuard`/`RecursionToken`).
//!
//! Every recursive walk — normalisation of nested `\text{..}`, extraction, parsing, answer structure,
//! evaluation, equivalence — takes one level of the same depth counter per level of nesting through
//! [`recurse`], and stops at the same limit, [`MAX_DEPTH`]. Past it, the walk returns its error value and
//! the verdict of the pair is `unparseable` ([`watch`] reports that the limit was reached, so no decision
//! is ever made on a walk that was cut short).
//!
//! The limit alone does not make a small thread stack safe (a Python thread may have 64 KiB), so each
//! level also keeps [`RED_ZONE`] bytes of stack in reserve, growing the stack on the heap (`stacker`) when
//! less is left, and every public entry point starts with at least [`ENTRY_RED_ZONE`] bytes ([`entry`]),
//! enough for the recursion the guard does not see (the compiler-generated `Clone`, `PartialEq` and `Drop`
//! of an expression at most `MAX_DEPTH` deep, which the parser guarantees). On a thread with a normal
//! stack nothing is ever allocated.
//!
//! The counter is per thread and restored by a token when a level returns or unwinds, so it is the depth
//! of the current call only: results never depend on earlier calls or on other threads.

use std::cell::Cell;

/// Deepest nesting any walk of the core follows (brackets, braces, fractions, exponents, `\text{..}`
/// wrappers, nested answers and expressions, counted together). Past it an answer is `unparseable`.
pub const MAX_DEPTH: usize = 1024;

/// Stack kept in reserve at every level of a guarded walk.
pub const RED_ZONE: usize = 256 * 1024;
/// Size of each stack segment allocated on the heap when a walk runs short.
pub const STACK_SEGMENT: usize = 4 * 1024 * 1024;
/// Stack every public entry point starts with (allocated on the heap on small thread stacks).
pub const ENTRY_RED_ZONE: usize = 512 * 1024;

/// The depth limit was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooDeep;

thread_local! {
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    static TRIPPED: Cell<bool> = const { Cell::new(false) };
}

/// One level of recursion; dropping it (on return or unwind) gives the level back.
#[must_use]
pub struct RecursionToken(());

impl RecursionToken {
    /// Take one level, or `Err(TooDeep)` (remembered for [`watch`]) when all are taken.
    pub fn enter() -> Result<RecursionToken, TooDeep> {
        DEPTH.with(|d| {
            let n = d.get();
            if n >= MAX_DEPTH {
                TRIPPED.with(|t| t.set(true));
                Err(TooDeep)
            } else {
                d.set(n + 1);
                Ok(RecursionToken(()))
            }
        })
    }
}

impl Drop for RecursionToken {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get() - 1));
    }
}

/// Run `f` one level deeper, with at least [`RED_ZONE`] bytes of stack; `Err(TooDeep)` past [`MAX_DEPTH`].
#[inline]
pub fn recurse<R>(f: impl FnOnce() -> R) -> Result<R, TooDeep> {
    let _token = RecursionToken::enter()?;
    Ok(stacker::maybe_grow(RED_ZONE, STACK_SEGMENT, f))
}

/// Whether `extra` more levels fit under the limit from the current depth (for nesting that a loop
/// builds without recursing, such as `a/b/c/..` or `3!!!..`); reaching the limit is remembered as in
/// [`RecursionToken::enter`].
pub fn fits(extra: usize) -> Result<(), TooDeep> {
    if DEPTH.with(|d| d.get()) + extra > MAX_DEPTH {
        TRIPPED.with(|t| t.set(true));
        return Err(TooDeep);
    }
    Ok(())
}

/// Run a public entry point with at least [`ENTRY_RED_ZONE`] bytes of stack.
#[inline]
pub fn entry<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(ENTRY_RED_ZONE, STACK_SEGMENT, f)
}

/// Run `f` and report whether any walk inside it reached the depth limit. Calls nest: an inner `watch`
/// reports the walks inside it to its caller, who decides what that means for its result (`compare`
/// says `unparseable`), and an outer `watch` does not see them again.
pub fn watch<R>(f: impl FnOnce() -> R) -> (R, bool) {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            TRIPPED.with(|t| t.set(self.0));
        }
    }
    let _restore = Restore(TRIPPED.with(|t| t.replace(false)));
    let r = f();
    let tripped = TRIPPED.with(|t| t.get());
    (r, tripped)
}

/// The current depth (for tests).
pub fn depth() -> usize {
    DEPTH.with(|d| d.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nest(n: usize) -> Result<usize, TooDeep> {
        if n == 0 {
            return Ok(depth());
        }
        recurse(|| nest(n - 1))?
    }

    #[test]
    fn limit_and_restore() {
        assert_eq!(nest(10), Ok(10));
        assert_eq!(depth(), 0);
        assert_eq!(nest(MAX_DEPTH), Ok(MAX_DEPTH));
        let (r, tripped) = watch(|| nest(MAX_DEPTH + 1));
        assert_eq!(r, Err(TooDeep));
        assert!(tripped);
        assert_eq!(depth(), 0);
        let (r, tripped) = watch(|| nest(5));
        assert_eq!((r, tripped), (Ok(5), false));
    }

    #[test]
    fn watch_nests() {
        let ((inner, inner_tripped), outer_tripped) = watch(|| {
            let clean = watch(|| nest(3));
            assert_eq!(clean, (Ok(3), false));
            watch(|| nest(MAX_DEPTH + 1))
        });
        assert_eq!(inner, Err(TooDeep));
        assert!(inner_tripped);
        assert!(!outer_tripped);
        assert_eq!(watch(|| nest(3)), (Ok(3), false));
    }

    #[test]
    fn unwinding_gives_levels_back() {
        let r = std::panic::catch_unwind(|| {
            recurse(|| recurse(|| -> () { panic!("boom") })).ok();
        });
        assert!(r.is_err());
        assert_eq!(depth(), 0);
    }

    #[test]
    fn small_stack_thread_survives_the_limit() {
        let h = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(|| entry(|| watch(|| nest(MAX_DEPTH + 5))))
            .unwrap();
        assert_eq!(h.join().unwrap(), (Err(TooDeep), true));
    }
}
