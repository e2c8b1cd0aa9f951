//! The bodies of auditlens's fuzz targets, as plain functions over bytes.
//!
//! Two callers: the cargo-fuzz targets in `fuzz/fuzz_targets/` (one line each,
//! nightly and libFuzzer), and `cargo test` on stable, which replays every
//! file of `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` through
//! the same functions (`tests/replay.rs`). A target fails by panicking; what
//! each checks is in its module's documentation.
//!
//! `core` is auditlens's core library (`auditlens-core`), without the GUI.

pub use auditlens_core as core;

pub mod checks;
pub mod keys;
pub mod scratch;
pub mod targets;

/// A fuzz target: its name (the file `fuzz/fuzz_targets/<name>.rs` and the
/// folders `fuzz/corpus/<name>/`, `fuzz/regressions/<name>/`) and its body.
#[derive(Clone, Copy)]
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
}

/// Every target, in the order of README's table.
pub const TARGETS: [Target; 7] = [
    Target {
        name: "json",
        run: targets::json::run,
    },
    Target {
        name: "detect_and_read",
        run: targets::detect_and_read::run,
    },
    Target {
        name: "platform_csv",
        run: targets::platform_csv::run,
    },
    Target {
        name: "platform_json",
        run: targets::platform_json::run,
    },
    Target {
        name: "export_verify",
        run: targets::export_verify::run,
    },
    Target {
        name: "checkpoint_note",
        run: targets::checkpoint_note::run,
    },
    Target {
        name: "archive_verify",
        run: targets::archive_verify::run,
    },
];
