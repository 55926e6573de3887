//! The verdict on one (completion, gold) pair, and the batch form over many pairs with rayon.

use crate::answer::{choice_letter, parse_normalized, single_choice, Answer};
use crate::expr::PResult;
use crate::equiv::{self, Decision, Options};
use crate::extract::{extract_capped, extract_gold, extract_gold_capped, MAX_ANSWER_BYTES};
use crate::guard;
use crate::normalize::normalize_text;
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

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
    guard::entry(|| Gold::new(gold).check(completion, opts))
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
    guard::entry(|| GoldAnswer::new(gold).compare(pred, opts))
}

/// A gold reference prepared once for every completion checked against it: its answer extracted,
/// normalised and (when first needed) parsed. The `k` samples of a problem share one in a batch.
struct Gold {
    answer: String,
    /// Extracting the answer reached the depth limit, or the answer is longer than [`MAX_ANSWER_BYTES`].
    too_deep: bool,
    /// Made when a completion first has an answer to compare.
    prepared: OnceLock<GoldAnswer>,
}

impl Gold {
    fn new(gold: &str) -> Gold {
        let ((answer, over_cap), too_deep) = guard::watch(|| extract_gold_capped(gold));
        Gold { answer, too_deep: too_deep || over_cap, prepared: OnceLock::new() }
    }

    fn check(&self, completion: &str, opts: &Options) -> Verdict {
        let (extracted, too_deep) = guard::watch(|| extract_capped(completion, opts.require_marker));
        // An answer over the cap was cut: it is never compared by its first 8 KiB.
        let over_cap = extracted.as_ref().is_some_and(|(_, over)| *over);
        let pred = extracted.map(|(p, _)| p);
        let status = match &pred {
            None => Status::NoAnswer,
            Some(_) if over_cap => Status::Unparseable,
            Some(p) => self.prepared.get_or_init(|| GoldAnswer::new(&self.answer)).compare(p, opts),
        };
        let status = if too_deep || self.too_deep { Status::Unparseable } else { status };
        Verdict { status, predicted: pred, gold: self.answer.clone() }
    }
}

/// An extracted gold answer, normalised once; `None` when it is empty or over the cap (nothing
/// compares equal to it).
struct GoldAnswer(Option<NormalizedGold>);

struct NormalizedGold {
    text: String,
    squashed: String,
    /// Normalising reached the depth limit.
    too_deep: bool,
    /// A gold that is a bare letter is a multiple-choice key.
    choice: Option<char>,
    /// The parse, and whether it reached the depth limit: made on first need, once.
    parsed: OnceLock<(PResult<Answer>, bool)>,
}

impl GoldAnswer {
    fn new(gold: &str) -> GoldAnswer {
        if gold.trim().is_empty() || gold.len() > MAX_ANSWER_BYTES {
            return GoldAnswer(None);
        }
        let (text, too_deep) = guard::watch(|| normalize_text(gold));
        let squashed = squash(&text);
        let choice = choice_letter(&text, true);
        GoldAnswer(Some(NormalizedGold { text, squashed, too_deep, choice, parsed: OnceLock::new() }))
    }

    fn compare(&self, pred: &str, opts: &Options) -> Status {
        let Some(g) = &self.0 else { return Status::Unparseable };
        if pred.len() > MAX_ANSWER_BYTES {
            return Status::Unparseable;
        }
        // Each side is normalised once (`normalize` is idempotent, so parsing needs no second pass).
        let ((status, same_text, gold_too_deep), too_deep) = guard::watch(|| {
            let np = normalize_text(pred);
            if squash(&np) == g.squashed {
                return (Status::Correct, true, false);
            }
            let (status, gold_too_deep) = g.decide(&np, opts);
            (status, false, gold_too_deep)
        });
        if same_text {
            // The same text is the same answer, decided without any walk that could be cut short.
            Status::Correct
        } else if too_deep || gold_too_deep || g.too_deep {
            // A walk reached the depth limit: nothing is concluded.
            Status::Unparseable
        } else {
            status
        }
    }
}

impl NormalizedGold {
    /// The status of a normalised prediction that is not the same text, and whether parsing the gold
    /// reached the depth limit.
    fn decide(&self, np: &str, opts: &Options) -> (Status, bool) {
        if let Some(g) = self.choice {
            // An answer naming two options (`C or D`) commits to neither and is incorrect.
            return match single_choice(np) {
                Some(p) if p == g => (Status::Correct, false),
                _ => (Status::Incorrect, false),
            };
        }
        let (gold, too_deep) = self.parsed.get_or_init(|| guard::watch(|| parse_normalized(&self.text)));
        let status = match gold {
            Ok(gold_a) => decide(np, &self.text, gold_a, opts),
            Err(_) => Status::Unparseable,
        };
        (status, *too_deep)
    }
}

fn decide(np: &str, ng: &str, gold_a: &Answer, opts: &Options) -> Status {
    let pred_a = match parse_normalized(np) {
        Ok(a) => a,
        Err(_) => return Status::Unparseable,
    };
    // The same parse (`9^{9^{9^{9}}}` and `9^{9^{9^9}}`) is the same answer, however large its value.
    if pred_a == *gold_a {
        return Status::Correct;
    }
    if let (Answer::Text(_), _) | (_, Answer::Text(_)) = (&pred_a, gold_a) {
        if np.eq_ignore_ascii_case(ng) {
            return Status::Correct;
        }
    }
    let log_possible = np.contains("\\log") || ng.contains("\\log");
    match equiv::decide_with(&pred_a, gold_a, opts, log_possible) {
        Decision::Equal => Status::Correct,
        Decision::NotEqual => Status::Incorrect,
        Decision::Unknown => Status::Unparseable,
    }
}

/// The text without whitespace, except one space where whitespace separates a digit from a digit or a
/// comma before it: `2 1/3` (a mixed number) is not `21/3`, `4 5` is not `45`, the list `1, 234` is not
/// the number `1,234` (the parse decides those).
fn squash(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut gap = false;
    for c in s.chars() {
        if c.is_whitespace() {
            gap = true;
            continue;
        }
        if gap && c.is_ascii_digit() && out.ends_with(|p: char| p.is_ascii_digit() || p == ',') {
            out.push(' ');
        }
        gap = false;
        out.push(c);
    }
    out
}

/// Check many pairs in parallel on the current rayon pool; results are in input order and identical to
/// a sequential run of [`check_opt`]. Each distinct gold is extracted, normalised and parsed once for the
/// batch (the `k` samples of a problem share their gold).
pub fn check_many(completions: &[Option<&str>], golds: &[Option<&str>], opts: &Options) -> Vec<Verdict> {
    check_many_on(completions, golds, opts, rayon::current_num_threads())
}

/// [`check_many`] on at most `workers` threads of the current rayon pool (`1`: the calling thread only).
pub fn check_many_on(completions: &[Option<&str>], golds: &[Option<&str>], opts: &Options, workers: usize) -> Vec<Verdict> {
    assert_eq!(completions.len(), golds.len(), "completions and golds differ in length");
    guard::entry(|| {
        let (distinct, index) = dedup(golds);
        let prepared: Vec<Gold> = map_on_workers(distinct.len(), workers, |i| Gold::new(distinct[i]));
        map_on_workers(completions.len(), workers, |i| match (completions[i], index[i]) {
            (Some(c), Some(g)) => prepared[g as usize].check(c, opts),
            (None, Some(g)) => Verdict { status: Status::NoAnswer, predicted: None, gold: prepared[g as usize].answer.clone() },
            (_, None) => Verdict { status: Status::Unparseable, predicted: None, gold: String::new() },
        })
    })
}

/// Items per block a worker takes at a time.
const BLOCK: usize = 16;

/// `[f(0), .., f(n - 1)]`, computed by at most `workers` threads of the current rayon pool, each taking
/// the next block of [`BLOCK`] items until none is left (so a slow item delays only its own block); on
/// the calling thread alone when `workers` is 1. The result does not depend on the schedule.
pub fn map_on_workers<T: Send>(n: usize, workers: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let lanes = workers.min(n.div_ceil(BLOCK));
    if lanes <= 1 {
        return (0..n).map(&f).collect();
    }
    let next = AtomicUsize::new(0);
    let mut blocks: Vec<(usize, Vec<T>)> = (0..lanes)
        .into_par_iter()
        .with_max_len(1)
        .flat_map_iter(|_| {
            let mut done = Vec::new();
            loop {
                let start = next.fetch_add(BLOCK, Ordering::Relaxed);
                if start >= n {
                    return done;
                }
                done.push((start, (start..(start + BLOCK).min(n)).map(&f).collect::<Vec<T>>()));
            }
        })
        .collect();
    blocks.sort_unstable_by_key(|(start, _)| *start);
    blocks.into_iter().flat_map(|(_, items)| items).collect()
}

/// The distinct golds in order of first appearance, and each row's index into them.
fn dedup<'a>(golds: &[Option<&'a str>]) -> (Vec<&'a str>, Vec<Option<u32>>) {
    let mut seen: HashMap<&'a str, u32> = HashMap::new();
    let mut distinct = Vec::new();
    let mut index = Vec::with_capacity(golds.len());
    let mut last: Option<(&str, u32)> = None;
    for g in golds {
        let Some(g) = *g else {
            index.push(None);
            continue;
        };
        // Rows of one problem are usually adjacent: compare with the previous gold before hashing.
        let i = match last {
            Some((l, i)) if l == g => i,
            _ => *seen.entry(g).or_insert_with(|| {
                distinct.push(g);
                (distinct.len() - 1) as u32
            }),
        };
        last = Some((g, i));
        index.push(Some(i));
    }
    (distinct, index)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_with_shared_golds_matches_single_checks() {
        let comps = ["\\boxed{4}", "so 4", "no idea", "\\boxed{x^2}", "\\boxed{(1, 2)}", "\\boxed{C}", "\\boxed{5}"];
        let golds = ["4", "#### 4", "x^2", "\\boxed{(1,2)}", "(C)", "", "\\text{(C)}"];
        let mut c: Vec<Option<&str>> = Vec::new();
        let mut g: Vec<Option<&str>> = Vec::new();
        // k samples per gold, adjacent and interleaved, with missing sides.
        for round in 0..40 {
            for (i, gold) in golds.iter().enumerate() {
                c.push(if (round + i) % 11 == 0 { None } else { Some(comps[(round * 3 + i) % comps.len()]) });
                g.push(if (round + i) % 13 == 0 { None } else { Some(gold) });
            }
        }
        let opts = Options::default();
        let single: Vec<Verdict> = c.iter().zip(&g).map(|(c, g)| check_opt(*c, *g, &opts)).collect();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap();
        for workers in [1, 2, 3, 4, 9] {
            assert_eq!(pool.install(|| check_many_on(&c, &g, &opts, workers)), single, "{workers} workers");
        }
        assert_eq!(check_many(&c, &g, &opts), single);
        let (distinct, index) = dedup(&g);
        assert_eq!(distinct.len(), golds.len());
        assert!(index.iter().zip(&g).all(|(i, g)| i.map(|i| distinct[i as usize]) == *g));
    }

    #[test]
    fn notation_of_real_outputs() {
        let o = Options::default();
        for (p, g, want) in [
            ("\\tan A = 2", "2", Status::Correct),
            ("BC^2 = 19", "19", Status::Correct),
            ("(p,q)=(3,2)", "(3,2)", Status::Correct),
            ("x \\approx 600", "600", Status::Correct),
            ("7:32", "S_{MBCN}:S=7:32", Status::Correct),
            ("2x+1=5", "5", Status::Incorrect),
            ("BC=19", "\\sqrt{19}", Status::Incorrect),
            ("4x", "y^2 = 4x", Status::Incorrect),
            ("{1,2,3}", "\\{1,2,3\\}", Status::Correct),
            ("\\{2\\pm1\\}", "\\{1,3\\}", Status::Correct),
            ("\\pm1,\\pm7", "-7,-1,1,7", Status::Correct),
            ("\u{2205}", "\\emptyset", Status::Correct),
            ("x<=2", "x \\le 2", Status::Correct),
            ("x<=2", "x<2", Status::Incorrect),
            ("-x > -1", "x < 1", Status::Correct),
            ("a<b", "b>a", Status::Correct),
            ("a<b", "a>b", Status::Incorrect),
            ("2<2x", "x>1", Status::Correct),
            ("|x|<2", "-2<x<2", Status::Correct),
            ("\\lfloor 2.5\\rfloor", "2", Status::Correct),
            ("\\lfloor 2.5\\rfloor", "3", Status::Incorrect),
            ("\\gcd(12, 18)", "6", Status::Correct),
            ("\\operatorname{lcm}(4, 6)", "12", Status::Correct),
            ("17 \\bmod 5", "2", Status::Correct),
            ("{5 \\choose 2}", "10", Status::Correct),
            ("\\sinh^{-1} x", "\\operatorname{arsinh} x", Status::Correct),
            ("x**2", "x^2", Status::Correct),
            ("11,\\! 111,\\! 100", "11111100", Status::Correct),
            ("12^{th}", "12", Status::Correct),
            ("15,000 kcal m^{-2} yr^{-1}", "15000", Status::Correct),
            ("2 xy", "2", Status::Incorrect),
            ("C e^{-2t}", "c\\,e^{-2t}", Status::Correct),
            ("C e^{-2t}", "C e^{2t}", Status::Incorrect),
            ("I\\dot\\omega+2B\\omega=T", "\\frac{d\\omega}{dt}=T/I-2B\\omega/I", Status::Correct),
            ("\\log 100", "2", Status::Unparseable),
            ("\\log 8/\\log 2", "3", Status::Correct),
            ("1,5", "1.5", Status::Incorrect),
        ] {
            assert_eq!(compare(p, g, &o), want, "{p} vs {g}");
            assert_eq!(compare(g, p, &o), want, "{g} vs {p}");
        }
    }

    /// Near misses the audit generators (`tests/test_audit.py`) found accepted, each never `correct`
    /// either way round, next to the equal forms that must stay `correct`.
    #[test]
    fn audit_near_misses() {
        let o = Options::default();
        for (p, g) in [
            // Whitespace between digits is not nothing: a mixed number, a list, two numbers side by side.
            ("2 1/3", "21/3"),
            ("4 5", "45"),
            ("4 5", "20"),
            ("1 234", "234"),
            ("1, 234", "1,234"),
            ("1.2.3", "0.36"),
            // Words after a number that change or judge its value are no unit.
            ("4 \\text{ is wrong}", "4"),
            ("4 \\text{ is not the answer}", "4"),
            ("4 \\text{ thousand}", "4"),
            ("4 \\text{ squared}", "4"),
            ("4 \\text{ plus one}", "4"),
            ("4 \\text{ fourths}", "4"),
            ("4 thousand", "4"),
            ("4 squared", "4"),
            ("4 not", "4"),
            // `n!!` is a double factorial, never `(n!)!`.
            ("4!!", "24!"),
            ("4!!", "620448401733239439360000"),
            // Intervals are not lists or sets of their endpoints; a point's coordinates follow its names.
            ("1, 2", "(1, 2]"),
            ("1, 2", "[1, 2)"),
            ("1, 2", "[1, 2]"),
            ("[1, 2]", "\\{1, 2\\}"),
            ("(1, 2]", "\\{1, 2\\}"),
            ("x = 2, y = 1", "(1, 2)"),
            ("y = 2, x = 1", "(2, 1)"),
            // Principal values of real arguments on a branch cut (a negated zero imaginary part).
            ("\\sqrt{-4}", "-2i"),
            ("\\sqrt{-9}", "-3i"),
            ("(-4)^{1/2}", "-2i"),
            ("\\ln(-1)", "-i\\pi"),
            // `a/bc` has two readings; neither is taken.
            ("1/2\\pi", "\\frac{\\pi}{2}"),
            ("1/2\\pi", "\\frac{1}{2\\pi}"),
            ("1/2x", "\\frac{x}{2}"),
            ("6/2(1+2)", "9"),
            ("6/2(1+2)", "1"),
            // Another option's letter glued to the label; the constant `e` in a left side is no name.
            ("(C)D", "C"),
            ("C)D0", "C"),
            ("e^2x = e^2", "e^2"),
            ("ix = 5", "5"),
            ("R", "(-\\infty, \\infty)"),
            // A false computation states nothing, whatever its last side.
            ("2 \\cdot 3 = 7", "7"),
            ("11 + 2 = 22", "22"),
            ("\\frac{6}{4} = 1.6", "1.6"),
            ("x = 2 + 2 = 5", "5"),
            ("x = 5 = 4", "4"),
            ("\\{1, 2, 2\\}", "\\{1, 2, 3\\}"),
            ("\\{2, 2\\}", "\\{1, 2\\}"),
        ] {
            assert_ne!(compare(p, g, &o), Status::Correct, "{p} vs {g}");
            assert_ne!(compare(g, p, &o), Status::Correct, "{g} vs {p}");
        }
        for (p, g) in [
            ("2 1/3", "7/3"),
            ("\\frac 3 4", "0.75"),
            ("3\\,607\\,421", "3607421"),
            ("4 \\text{ cm squared}", "4"),
            ("4 cm squared", "4"),
            ("5 \\text{ meters per second}", "5"),
            ("(4!)!", "24!"),
            ("y = 2, x = 1", "(1, 2)"),
            ("1, 2", "(1, 2)"),
            ("(-2, 3)", "x = 3 \\text{ or } x = -2"),
            ("\\sqrt{-4}", "2i"),
            ("\\sqrt{-2}", "i\\sqrt2"),
            ("\\ln(-1)", "i\\pi"),
            ("(1/2)x", "\\frac{x}{2}"),
            ("1/(2x)", "\\frac{1}{2x}"),
            ("3/4 \\cdot x", "0.75x"),
            ("(C)24", "C"),
            ("(C)Dog", "C"),
            ("e = 0.5", "0.5"),
            ("e_1 = 0.5", "0.5"),
            ("e^2x = e^2", "x = 1"),
            ("(-\\infty, \\infty)", "\\mathbb{R}"),
            ("x \\in \\mathbb{R}", "(-\\infty, \\infty)"),
            ("\\{1, 2, 2\\}", "\\{1, 2\\}"),
        ] {
            assert_eq!(compare(p, g, &o), Status::Correct, "{p} vs {g}");
        }
    }

    #[test]
    fn commitment_and_caps() {
        let o = Options::default();
        assert_eq!(check("<think>maybe \\boxed{4}", "4", &o).status, Status::NoAnswer);
        assert_eq!(check("\\boxed{(2, 2)} and \\boxed{(6, 2)}", "(2, 2), (6, 2)", &o).status, Status::Correct);
        assert_eq!(check("\\boxed{1}, \\boxed{2}, \\boxed{3}", "\\{1,2,3\\}", &o).status, Status::Correct);
        assert_eq!(check("\\boxed{3} or \\boxed{4}", "4", &o).status, Status::Incorrect);
        assert_eq!(check("\\boxed{3}. Wait, \\boxed{4}", "4", &o).status, Status::Correct);
        assert_eq!(check("The answer is (B) 24, although (C) is close.", "B", &o).status, Status::Incorrect);
        let shared = "1+".repeat(MAX_ANSWER_BYTES / 2);
        let (a, b) = (format!("{shared}1"), format!("{shared}2"));
        assert_eq!(check(&format!("\\boxed{{{a}}}"), &format!("\\boxed{{{b}}}"), &o).status, Status::Unparseable);
        assert_eq!(check(&format!("\\boxed{{{a}}}"), &format!("\\boxed{{{a}}}"), &o).status, Status::Unparseable);
    }

    #[test]
    fn workers_bound_the_threads_used() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(8).build().unwrap();
        let seen = std::sync::Mutex::new(std::collections::HashSet::new());
        let out = pool.install(|| {
            map_on_workers(10_000, 3, |i| {
                seen.lock().unwrap().insert(std::thread::current().id());
                std::thread::yield_now();
                i * 2
            })
        });
        assert_eq!(out, (0..10_000).map(|i| i * 2).collect::<Vec<_>>());
        assert!(seen.lock().unwrap().len() <= 3);
        assert_eq!(map_on_workers(5, 1, |i| i), vec![0, 1, 2, 3, 4]);
    }
}
