//! Bounded memory: peak RSS of the release `auditlens` binary ingesting a
//! platform JSON export of about 2 GB (one JSON array, not lines), and
//! exporting an archive of 1M+ entries, each measured with `/usr/bin/time -v`.
//! The goal is a peak under 300 MB whatever the file size.
//!
//!     cargo bench --bench memory
//!     AUDITLENS_MEMORY_ENTRIES=500000 cargo bench --bench memory   # smaller file
//!     AUDITLENS_MEMORY_ARCHIVE=path/to/archive.sqlite cargo bench --bench memory
//!         # export that archive (read only) instead of the one just ingested
//!     AUDITLENS_MEMORY_KEEP=1 cargo bench --bench memory   # keep the files afterwards
//!
//! Files go to `bench-data/` (git-ignored) and are deleted afterwards unless
//! AUDITLENS_MEMORY_KEEP is set: the JSON file, the archive and the export
//! take several GB. This is a measurement, not a test: it prints the figures
//! and exits non-zero only if a command fails or the 300 MB goal is missed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use auditlens_core::sample::{PlatformFormat, Sample, write_platform};

const GOAL_KB: u64 = 300 * 1024;

/// `RssAnon` and `RssFile` (kB) of a process, from /proc.
fn rss_split(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some((field("RssAnon:")?, field("RssFile:")?))
}

/// Runs `auditlens ARGS` under `/usr/bin/time -v`; returns (peak RSS in kB, seconds).
/// Also samples the process's anonymous and file-backed resident memory
/// (mapped archive pages count in RSS but are the kernel's page cache).
fn measure(label: &str, args: &[&str]) -> (u64, f64) {
    let bin = env!("CARGO_BIN_EXE_auditlens");
    let started = Instant::now();
    let child = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(bin)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run /usr/bin/time (apt-get install time)");
    let time_pid = child.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let (mut anon, mut file) = (0u64, 0u64);
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let kids =
                    std::fs::read_to_string(format!("/proc/{time_pid}/task/{time_pid}/children"))
                        .unwrap_or_default();
                for pid in kids.split_whitespace().filter_map(|p| p.parse().ok()) {
                    if let Some((a, f)) = rss_split(pid) {
                        anon = anon.max(a);
                        file = file.max(f);
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            (anon, file)
        })
    };
    let out = child.wait_with_output().unwrap();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let (anon, file) = sampler.join().unwrap();
    let secs = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        panic!("{label} failed: {stderr}");
    }
    let kb = stderr
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.trim().parse().ok())
        .expect("time -v prints the maximum resident set size");
    println!(
        "{label}: peak RSS {:.1} MB (sampled peaks: anonymous {:.1} MB, file-backed {:.1} MB), \
         {secs:.1} s\n    /usr/bin/time -v {} {}",
        kb as f64 / 1024.0,
        anon as f64 / 1024.0,
        file as f64 / 1024.0,
        bin,
        args.join(" ")
    );
    (kb, secs)
}

fn size_mb(p: &Path) -> f64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0) as f64 / 1e6
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // Sample rows average about 1 kB: 2,000,000 entries make about 2 GB.
    let n: u64 = std::env::var("AUDITLENS_MEMORY_ENTRIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000_000);
    let keep = std::env::var_os("AUDITLENS_MEMORY_KEEP").is_some();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join(format!("memory-platform-{n}.json"));
    let archive = dir.join(format!("memory-{n}.sqlite"));
    let out = dir.join(format!("memory-{n}.export.json"));
    // Outputs never replace evidence (an archive, an export): clear what a kept run left.
    let csv_out = out.with_extension("csv");
    for p in [
        &archive,
        &out,
        &csv_out,
        &auditlens_core::proof::sidecar_path(&csv_out),
    ] {
        let _ = std::fs::remove_file(p);
    }
    if !json.exists() {
        eprintln!("generating {n} entries as one JSON array …");
        write_platform(
            &Sample::new(n, 1),
            PlatformFormat::Json,
            std::fs::File::create(&json).unwrap(),
        )
        .unwrap();
    }
    println!(
        "input: {} ({:.0} MB, {n} entries, one JSON array)",
        json.display(),
        size_mb(&json)
    );

    let mut worst = 0;
    let (kb, _) = measure(
        "ingest",
        &[
            "ingest",
            "--archive",
            archive.to_str().unwrap(),
            json.to_str().unwrap(),
        ],
    );
    worst = worst.max(kb);

    let source = std::env::var_os("AUDITLENS_MEMORY_ARCHIVE")
        .map(PathBuf::from)
        .unwrap_or_else(|| archive.clone());
    for (format, ext) in [("json", "json"), ("csv", "csv")] {
        let out = out.with_extension(ext);
        let (kb, _) = measure(
            &format!("export ({format}, whole archive {})", source.display()),
            &[
                "export",
                source.to_str().unwrap(),
                "--format",
                format,
                "-o",
                out.to_str().unwrap(),
            ],
        );
        println!("    wrote {:.0} MB", size_mb(&out));
        worst = worst.max(kb);
        if !keep {
            let _ = std::fs::remove_file(&out);
            let _ = std::fs::remove_file(auditlens_core::proof::sidecar_path(&out));
        }
    }
    if !keep {
        for p in [&json, &archive] {
            let _ = std::fs::remove_file(p);
        }
    }
    println!(
        "worst peak RSS {:.1} MB (goal < {} MB): {}",
        worst as f64 / 1024.0,
        GOAL_KB / 1024,
        if worst < GOAL_KB { "met" } else { "MISSED" }
    );
    if worst >= GOAL_KB {
        std::process::exit(1);
    }
}
