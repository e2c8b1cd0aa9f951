//! cargo-fuzz target `platform_json`: the body, and what it checks, is
//! `auditlens_fuzz_harness::targets::platform_json` (fuzz/harness/), which `cargo test`
//! also runs over the committed corpus and regressions.
#![no_main]

use auditlens_fuzz_harness::targets::platform_json;

libfuzzer_sys::fuzz_target!(|data: &[u8]| platform_json::run(data));
