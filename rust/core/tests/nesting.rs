//! The nesting matrix on a thread with a small stack: every construct nested 300 / 3,000 / 30,000 deep
//! through every public entry point of the core. A stack overflow aborts the whole test binary (it is a
//! signal, not a panic), so passing means no input of the matrix overflows a 64 KiB stack.

use stagekit_core::answer::parse_answer;
use stagekit_core::guard;
use stagekit_core::normalize::{normalize, normalize_checked};
use stagekit_core::steps::{arithmetic_claims, first_false_claim};
use stagekit_core::{check, check_many, compare, extract_answer, extract_gold, Options, Status};

const CONSTRUCTS: &[(&str, &str, &str)] = &[
    ("text", "\\text{", "}"),
    ("mathrm", "\\mathrm{", "}"),
    ("textbf", "\\textbf{", "}"),
    ("operatorname", "\\operatorname{", "}"),
    ("rm", "\\rm{", "}"),
    ("frac", "\\frac{", "}{2}"),
    ("sqrt", "\\sqrt{", "}"),
    ("left", "\\left(", "\\right)"),
    ("paren", "(", ")"),
    ("bracket", "[", "]"),
    ("brace", "{", "}"),
    ("sup", "x^{", "}"),
    ("sub", "x_{", "}"),
    ("boxed", "\\boxed{", "}"),
    ("fbox", "\\fbox{", "}"),
    ("pmatrix", "\\begin{pmatrix}", "\\end{pmatrix}"),
    ("hat", "\\hat{", "}"),
    ("minus", "-", ""),
    ("pm", "\\pm", ""),
    ("tuple", "(1,", ")"),
    ("set", "\\{1,", "\\}"),
    ("unit", "1\\text{a ", "}"),
    ("factorial", "", "!"),
    ("division", "", "/2"),
];

fn nested(open: &str, close: &str, depth: usize) -> String {
    format!("{}1{}", open.repeat(depth), close.repeat(depth))
}

fn every_entry_point(h: &str) {
    let opts = Options::default();
    let boxed = format!("so $\\boxed{{{h}}}$.");
    let _ = extract_answer(h);
    let _ = extract_answer(&boxed);
    let _ = extract_gold(h);
    let _ = extract_gold(&boxed);
    let _ = normalize(h);
    let _ = normalize_checked(h);
    let _ = guard::entry(|| parse_answer(&h[..h.len().min(8192)]).is_ok());
    for (p, g) in [(h, h), (h, "1"), ("1", h)] {
        assert!(Status::ALL.contains(&compare(p, g, &opts)));
    }
    assert!(Status::ALL.contains(&check(h, "1", &opts).status));
    assert!(Status::ALL.contains(&check(&boxed, h, &opts).status));
    let lhs = &h[h.len().saturating_sub(150)..];
    let _ = arithmetic_claims(&format!("{h} = 1 and 2 + {lhs} = 3"));
    let _ = first_false_claim(&format!("2 + {lhs} = 3"));
    let many = check_many(&[Some(h), Some(&boxed), None], &[Some("1"), Some(h), Some(h)], &opts);
    assert_eq!(many.len(), 3);
}

fn on_small_stack(depths: &'static [usize]) {
    let h = std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(move || {
            for &depth in depths {
                for (_, open, close) in CONSTRUCTS {
                    every_entry_point(&nested(open, close, depth));
                }
            }
        })
        .unwrap();
    h.join().unwrap();
}

#[test]
fn matrix_300_on_a_64k_stack() {
    on_small_stack(&[300]);
}

#[test]
fn matrix_3000_on_a_64k_stack() {
    on_small_stack(&[3000]);
}

#[test]
fn matrix_30000_on_a_64k_stack() {
    on_small_stack(&[30000]);
}

/// Expressions just under and just over the limit: the walks the guard does not see (the compiler's
/// `Clone`, `PartialEq` and `Drop` of the expression) run at their deepest.
#[test]
fn deepest_expressions_on_a_64k_stack() {
    let h = std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(|| {
            let opts = Options::default();
            for n in [1000, 1022, 1030] {
                for h in [
                    format!("{}1", "-".repeat(n)),
                    format!("3{}", "!".repeat(n)),
                    format!("3{}", "%".repeat(n)),
                    format!("1{}", "/2".repeat(n)),
                    format!("x{}", "^2!".repeat(n / 2)),
                    nested("\\frac{", "}{2}", n / 2),
                    nested("\\sqrt{", "}", n / 2),
                    nested("(1,", ")", n),
                ] {
                    for g in ["1", "(1, 1)"] {
                        let _ = compare(&h, g, &opts);
                        let _ = compare(g, &h, &opts);
                    }
                    let _ = compare(&h, &format!("{h}+1"), &opts);
                    // A parsed answer is as deep as the input: dropped within an entry point's stack.
                    let _ = guard::entry(|| parse_answer(&h).is_ok());
                }
            }
        })
        .unwrap();
    h.join().unwrap();
}

#[test]
fn past_the_limit_is_unparseable() {
    let opts = Options::default();
    for (name, open, close) in CONSTRUCTS {
        if matches!(*name, "boxed" | "fbox" | "minus" | "pm" | "left" | "paren" | "bracket" | "brace") {
            continue; // unwrapped without recursing, or read as one value: not a depth question
        }
        let h = nested(open, close, 1500);
        if h.len() > 8192 {
            continue;
        }
        assert_eq!(compare(&h, "1", &opts), Status::Unparseable, "{name}");
        assert_eq!(compare("1", &h, &opts), Status::Unparseable, "{name}");
        assert_eq!(check(&format!("\\boxed{{{h}}}"), "1", &opts).status, Status::Unparseable, "{name}");
        // The very same text is the same answer, however deep (decided without walking it).
        assert_eq!(compare(&h, &h, &opts), Status::Correct, "{name}");
        assert_eq!(check(&format!("so \\boxed{{{h}}}"), &h, &opts).status, Status::Correct, "{name}");
    }
    // Within the limit, deep answers are still decided.
    let frac = nested("\\frac{", "}{2}", 400);
    assert_eq!(compare(&frac, "2^{-400}", &opts), Status::Correct);
    let text = nested("\\text{", "}", 500);
    assert_eq!(compare(&text, "1", &opts), Status::Correct);
}

#[test]
fn the_issue_s_inputs() {
    let opts = Options::default();
    // `\boxed{` + `\rm{` x 1600 + `1}`... within the 8 KiB cap.
    let rm = format!("\\boxed{{{}}}", nested("\\rm{", "}", 1600));
    for stack in [64 * 1024, 128 * 1024, 512 * 1024] {
        let rm = rm.clone();
        let h = std::thread::Builder::new()
            .stack_size(stack)
            .spawn(move || check(&rm, "1", &Options::default()).status)
            .unwrap();
        assert_eq!(h.join().unwrap(), Status::Unparseable);
    }
    // 30,000 nested wrappers through compare and normalize on the main test thread.
    for w in ["\\mathrm{", "\\text{", "\\textbf{", "\\operatorname{"] {
        let h = nested(w, "}", 30_000);
        assert_eq!(compare(&h, "1", &opts), Status::Unparseable);
        let _ = normalize(&h);
    }
}
