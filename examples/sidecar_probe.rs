//! Builds the search sidecar of an archive and opens it again, timing each
//! step (no window): for profiling the build (`perf record`).
//!
//!     cargo run --release --example sidecar_probe -- path/to/archive.sqlite

use std::time::Instant;

use auditlens_core::archive::search_sidecar::{self as sidecar, Found, Head, Sidecar};
use auditlens_core::job::Job;
use auditlens_core::row_index::Index;

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: sidecar_probe ARCHIVE");
        std::process::exit(2);
    };
    let path = std::path::PathBuf::from(path);
    let t = Instant::now();
    let ix = Index::load(&path, &Job::new()).expect("index");
    println!(
        "index: {} entries in {:.2} s",
        ix.len(),
        t.elapsed().as_secs_f64()
    );
    let dest = sidecar::path_for(&path);
    let t = Instant::now();
    let digest = sidecar::build(&path, &dest, &ix, &Job::new()).expect("build");
    let size = std::fs::metadata(&dest).map_or(0, |m| m.len());
    println!(
        "sidecar: built in {:.2} s, {:.0} MB; peak resident {}",
        t.elapsed().as_secs_f64(),
        size as f64 / 1e6,
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| s
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_string))
            .unwrap_or_default()
    );
    let t = Instant::now();
    let archive = auditlens_core::row_index::open_unmapped(&path).expect("archive");
    let head = Head::of(&archive).expect("head");
    let found = Sidecar::open(&dest, &head, Some(&digest), ix.len());
    println!(
        "second open: {:.3} s ({})",
        t.elapsed().as_secs_f64(),
        if matches!(found, Found::Usable(_)) {
            "usable"
        } else {
            "not usable"
        }
    );
    if let Found::Usable(s) = found {
        for needle in ["prod", "delete", "safari", "2025-01"] {
            let t = Instant::now();
            let hits = s.hits(needle).expect("hits");
            println!(
                "  {needle:?}: {} hits in {:.1} ms",
                hits.len(),
                t.elapsed().as_secs_f64() * 1e3
            );
        }
    }
}
