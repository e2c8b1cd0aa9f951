//! cargo-fuzz target `platform_csv`: the body, and what it checks, is
//! `auditlens_fuzz_harness::targets::platform_csv` (fuzz/harness/), which `cargo test`
//! also runs over the committed corpus and regressions.
#![no_main]

use auditlens_fuzz_harness::targets::platform_csv;

libfuzzer_sys::fuzz_target!(|data: &[u8]| platform_csv::run(data));
