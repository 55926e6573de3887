//! Fuzz `compare` (and `normalize`) on raw answers: the input bytes are split at the first `\0` into
//! (predicted, gold); without one, the input is the prediction against a few fixed golds.
//!
//! Asserts: no panic, overflow or stack exhaustion; every status is a verdict `compare` can return
//! (never `NoAnswer`); the same text is `Correct` (when it is a gold at all); `compare` agrees with
//! `check` on a completion that boxes the prediction whenever the box extracts it unchanged; and the
//! normalised form is bounded in size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stagekit_core::extract::MAX_ANSWER_BYTES;
use stagekit_core::normalize::{normalize, normalize_checked};
use stagekit_core::{check, compare, extract_answer, Options, Status};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let opts = Options::default();
    let pairs: Vec<(&str, &str)> = match text.split_once('\0') {
        Some((p, g)) => vec![(p, g), (g, p)],
        None => vec![(&*text, "1"), (&*text, "x^2+1"), (&*text, "(1, 2)"), (&*text, "C")],
    };
    for (p, g) in pairs {
        let s = compare(p, g, &opts);
        assert_ne!(s, Status::NoAnswer, "compare never says no_answer");
        let _ = compare(p, g, &Options { rel_tol: 0.5, ..Options::default() });
        // A completion boxing the prediction: when the box gives back exactly `p`, check and compare agree.
        let boxed = format!("so $\\boxed{{{p}}}$.");
        if extract_answer(&boxed).as_deref() == Some(p) && stagekit_core::extract_gold(g) == g {
            assert_eq!(check(&boxed, g, &opts).status, s, "check and compare disagree");
        }
    }
    let p = &*text;
    if !p.trim().is_empty() && p.len() <= MAX_ANSWER_BYTES {
        assert_eq!(compare(p, p, &opts), Status::Correct, "the same text is the same answer");
    }
    let n = normalize(p);
    // `½` (2 bytes) becomes `\frac{1}{2}` (11): nothing grows more than that.
    assert!(n.len() <= 6 * p.len().min(MAX_ANSWER_BYTES) + 16, "normalize grew {} bytes to {}", p.len(), n.len());
    if let Ok(m) = normalize_checked(p) {
        assert_eq!(m, n, "normalize_checked and normalize disagree");
    }
});
