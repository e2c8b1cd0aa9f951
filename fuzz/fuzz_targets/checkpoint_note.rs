//! cargo-fuzz target `checkpoint_note`: the body, and what it checks, is
//! `auditlens_fuzz_harness::targets::checkpoint_note` (fuzz/harness/), which `cargo test`
//! also runs over the committed corpus and regressions.
#![no_main]

use auditlens_fuzz_harness::targets::checkpoint_note;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checkpoint_note::run(data));
