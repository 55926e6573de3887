//! Single-thread throughput of extraction and checking over a JSONL file of {prediction, gold} rows
//! (the pairs `../shared/bench/gen_bench.py` writes):
//! `cargo run --release --example throughput -- bench.jsonl`
use stagekit_core::{check, extract_answer, extract_gold, Options};
use std::time::Instant;

fn main() {
    let path = std::env::args().nth(1).expect("usage: throughput FILE.jsonl");
    let text = std::fs::read_to_string(&path).expect("read");
    let rows: Vec<(String, String)> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json");
            (v["prediction"].as_str().unwrap_or("").to_string(), v["gold"].as_str().unwrap_or("").to_string())
        })
        .collect();
    let opts = Options::default();
    for _ in 0..2 {
        let t = Instant::now();
        let mut n = 0;
        for (p, _) in &rows {
            n += extract_answer(p).is_some() as usize;
        }
        let te = t.elapsed().as_secs_f64();
        let t = Instant::now();
        for (_, g) in &rows {
            n += extract_gold(g).len();
        }
        let tg = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mut correct = 0;
        for (p, g) in &rows {
            correct += check(p, g, &opts).correct() as usize;
        }
        let tc = t.elapsed().as_secs_f64();
        let r = rows.len() as f64;
        println!(
            "{} pairs: extract {:.0}/s, gold {:.0}/s, check {:.0}/s ({} correct, {n})",
            rows.len(), r / te, r / tg, r / tc, correct
        );
    }
}
