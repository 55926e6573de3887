//! Fuzz the verifier end to end: extraction, normalisation, parsing and equivalence must never panic
//! (nor overflow, index out of bounds or blow the stack) on any input.
//!
//! The input bytes are split at the first `\0` into (completion, gold); without one the whole input is
//! the completion, checked against a fixed gold, and is also compared against itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stagekit_core::{check, compare, extract_answer, extract_gold, Options, Status};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (completion, gold) = match text.split_once('\0') {
        Some((c, g)) => (c, g),
        None => (&*text, "\\frac{3}{4}"),
    };
    let opts = Options::default();

    let verdict = check(completion, gold, &opts);
    // Consistency of the verdict with the pieces it is made of.
    let predicted = extract_answer(completion);
    assert_eq!(verdict.predicted, predicted, "check and extract_answer disagree");
    assert_eq!(verdict.gold, extract_gold(gold), "check and extract_gold disagree");
    assert_eq!(verdict.status == Status::NoAnswer, predicted.is_none());
    if let Some(p) = &predicted {
        let status = compare(p, &verdict.gold, &opts);
        assert_eq!(status, verdict.status, "check and compare disagree");
    }

    // The raw halves as already extracted answers, both ways round, and with a loose tolerance.
    let _ = compare(completion, gold, &opts);
    let _ = compare(gold, completion, &Options { rel_tol: 0.5, ..Options::default() });
    let _ = compare(completion, completion, &opts);

    // Only a marked answer with require_marker: never more than without it.
    let strict = check(completion, gold, &Options { require_marker: true, ..Options::default() });
    if strict.predicted.is_some() {
        assert_eq!(strict.predicted, verdict.predicted, "require_marker found another answer");
    }
});
