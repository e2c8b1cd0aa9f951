//! cargo-fuzz target `detect_and_read`: the body, and what it checks, is
//! `auditlens_fuzz_harness::targets::detect_and_read` (fuzz/harness/), which `cargo test`
//! also runs over the committed corpus and regressions.
#![no_main]

use auditlens_fuzz_harness::targets::detect_and_read;

libfuzzer_sys::fuzz_target!(|data: &[u8]| detect_and_read::run(data));
