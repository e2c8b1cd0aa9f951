//! cargo-fuzz target `archive_verify`: the body, and what it checks, is
//! `auditlens_fuzz_harness::targets::archive_verify` (fuzz/harness/), which `cargo test`
//! also runs over the committed corpus and regressions.
#![no_main]

use auditlens_fuzz_harness::targets::archive_verify;

libfuzzer_sys::fuzz_target!(|data: &[u8]| archive_verify::run(data));
