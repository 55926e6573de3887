//! The verdict on one (completion, gold) pair, and the batch form over many pairs with rayon.

use crate::answer::{choice_letter, parse_normalized, Answer};
use crate::equiv::{equivalent, Decision, Options};
use crate::extract::{extract_answer, extract_gold, MAX_ANSWER_BYTES};
use crate::guard;
use crate::normalize::normalize_text;
use rayon::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// The final answer is equivalent to the gold answer.
    Correct,
    /// The final answer was parsed and differs from the gold answer.
    Incorrect,
    /// The completion commits to no final answer.
    NoAnswer,
    /// A final answer was found but could not be interpreted (or the gold could not), or deciding
    /// equivalence would pass the work caps; it counts as not correct.
    Unparseable,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Correct => "correct",
            Status::Incorrect => "incorrect",
            Status::NoAnswer => "no_answer",
            Status::Unparseable => "unparseable",
        }
    }

    pub const ALL: [Status; 4] = [Status::Correct, Status::Incorrect, Status::NoAnswer, Status::Unparseable];
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub status: Status,
    /// The extracted final answer of the completion.
    pub predicted: Option<String>,
    /// The answer extracted from the gold reference.
    pub gold: String,
}

impl Verdict {
    pub fn correct(&self) -> bool {
        self.status == Status::Correct
    }
}

/// Check a completion against a gold answer or reference solution.
///
/// ```
/// use stagekit_core::{check, Options, Status};
/// let v = check("... so the answer is $\\boxed{\\dfrac{3}{4}}$.", "0.75", &Options::default());
/// assert_eq!(v.status, Status::Correct);
/// assert_eq!(v.predicted.as_deref(), Some("\\dfrac{3}{4}"));
/// ```
///
/// Where any step reaches the depth limit of [`crate::guard`], the status is `Unparseable`.
pub fn check(completion: &str, gold: &str, opts: &Options) -> Verdict {
    guard::entry(|| {
        let (mut v, too_deep) = guard::watch(|| check_inner(completion, gold, opts));
        if too_deep {
            v.status = Status::Unparseable;
        }
        v
    })
}

fn check_inner(completion: &str, gold: &str, opts: &Options) -> Verdict {
    let gold_ans = extract_gold(gold);
    let Some(pred) = extract_answer(completion) else {
        return Verdict { status: Status::NoAnswer, predicted: None, gold: gold_ans };
    };
    let status = compare(&pred, &gold_ans, opts);
    Verdict { status, predicted: Some(pred), gold: gold_ans }
}

/// Compare two extracted answers.
///
/// ```
/// use stagekit_core::{compare, Options, Status};
/// assert_eq!(compare("3+2x", "2x+3", &Options::default()), Status::Correct);
/// assert_eq!(compare("(3,-1)", "(-1,3)", &Options::default()), Status::Incorrect);
/// ```
///
/// Answers longer than [`MAX_ANSWER_BYTES`] (the cap extraction applies) are `Unparseable`, and so are
/// answers nested deeper than the limit of [`crate::guard`], unless both sides are the same text.
pub fn compare(pred: &str, gold: &str, opts: &Options) -> Status {
    if gold.trim().is_empty() || pred.len() > MAX_ANSWER_BYTES || gold.len() > MAX_ANSWER_BYTES {
        return Status::Unparseable;
    }
    guard::entry(|| match guard::watch(|| compare_inner(pred, gold, opts)) {
        ((status, _), false) | ((status, true), true) => status,
        ((_, false), true) => Status::Unparseable,
    })
}

/// The status, and whether the two sides are the same text once normalised (decided without any walk
/// that could reach the depth limit).
fn compare_inner(pred: &str, gold: &str, opts: &Options) -> (Status, bool) {
    // Each side is normalised once (`normalize` is idempotent, so parsing needs no second pass).
    let np = normalize_text(pred);
    let ng = normalize_text(gold);
    if squash(&np) == squash(&ng) {
        return (Status::Correct, true);
    }
    (decide(&np, &ng, opts), false)
}

fn decide(np: &str, ng: &str, opts: &Options) -> Status {
    if let Some(g) = choice_letter(ng, true) {
        // A gold that is a bare letter is a multiple-choice key.
        return match choice_letter(np, false) {
            Some(p) if p == g => Status::Correct,
            _ => Status::Incorrect,
        };
    }
    let gold_a = match parse_normalized(ng) {
        Ok(a) => a,
        Err(_) => return Status::Unparseable,
    };
    let pred_a = match parse_normalized(np) {
        Ok(a) => a,
        Err(_) => return Status::Unparseable,
    };
    // The same parse (`9^{9^{9^{9}}}` and `9^{9^{9^9}}`) is the same answer, however large its value.
    if pred_a == gold_a {
        return Status::Correct;
    }
    if let (Answer::Text(_), _) | (_, Answer::Text(_)) = (&pred_a, &gold_a) {
        if np.eq_ignore_ascii_case(ng) {
            return Status::Correct;
        }
    }
    match equivalent(&pred_a, &gold_a, opts) {
        Decision::Equal => Status::Correct,
        Decision::NotEqual => Status::Incorrect,
        Decision::Unknown => Status::Unparseable,
    }
}

fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Check many pairs in parallel on the current rayon pool; results are in input order and identical to
/// a sequential run.
pub fn check_many(completions: &[Option<&str>], golds: &[Option<&str>], opts: &Options) -> Vec<Verdict> {
    assert_eq!(completions.len(), golds.len(), "completions and golds differ in length");
    completions.par_iter().zip(golds.par_iter()).with_min_len(16).map(|(c, g)| check_opt(*c, *g, opts)).collect()
}

/// [`check`] where either side may be missing: a missing completion has no answer; a missing gold
/// cannot be checked (unparseable).
pub fn check_opt(completion: Option<&str>, gold: Option<&str>, opts: &Options) -> Verdict {
    match (completion, gold) {
        (Some(c), Some(g)) => check(c, g, opts),
        (None, Some(g)) => Verdict { status: Status::NoAnswer, predicted: None, gold: extract_gold(g) },
        (_, None) => Verdict { status: Status::Unparseable, predicted: None, gold: String::new() },
    }
}
