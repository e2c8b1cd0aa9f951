//! cargo-fuzz target `json`: the body, and what it checks, is
//! `auditlens_fuzz_harness::targets::json` (fuzz/harness/), which `cargo test`
//! also runs over the committed corpus and regressions.
#![no_main]

use auditlens_fuzz_harness::targets::json;

libfuzzer_sys::fuzz_target!(|data: &[u8]| json::run(data));
