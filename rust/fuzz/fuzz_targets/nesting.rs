//! Fuzz deep nesting: the input describes a construct that is repeated to a depth the fuzzer chooses,
//! so it explores nesting (of any piece of LaTeX, not only the known ones) far past the depth limit.
//!
//! Layout: two bytes of depth (little endian, up to 4,095), then `open \0 core \0 close` (missing parts
//! are empty). The nested text `open^depth core close^depth` (at most 64 KiB) goes through `normalize`,
//! `compare` and `check`, each on a thread with a 64 KiB stack: no panic and no stack overflow anywhere.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stagekit_core::normalize::normalize;
use stagekit_core::{check, compare, extract_answer, extract_gold, Options, Status};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let depth = (u16::from_le_bytes([data[0], data[1]]) & 0x0fff) as usize;
    let text = String::from_utf8_lossy(&data[2..]);
    let mut parts = text.splitn(3, '\0');
    let (open, core, close) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if (open.len() + close.len()) * depth + core.len() > 64 * 1024 {
        return;
    }
    let h = format!("{}{}{}", open.repeat(depth), core, close.repeat(depth));
    let worker = std::thread::Builder::new().stack_size(64 * 1024);
    let status = worker
        .spawn(move || {
            let opts = Options::default();
            let _ = normalize(&h);
            let _ = extract_answer(&h);
            let _ = extract_gold(&h);
            let a = compare(&h, "1", &opts);
            let b = check(&format!("\\boxed{{{h}}}"), &h, &opts).status;
            (a, b)
        })
        .expect("spawn")
        .join()
        .expect("no panic");
    assert_ne!(status.0, Status::NoAnswer);
});
