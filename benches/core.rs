//! Core benchmark on a realistic archive: ingest rate, verify throughput beside
//! `openssl dgst -sha256` over the same record bytes, and CSV export beside
//! `sqlite3 -csv` over the same rows. Prints medians and ratios.
//!
//!     cargo bench --bench core                      # 1,000,000 entries
//!     AUDITLENS_BENCH_ENTRIES=100000 cargo bench --bench core
//!     AUDITLENS_BENCH_REUSE=1 cargo bench --bench core  # keep the last archive, skip ingest
//!
//! Data is kept in `bench-data/` (git-ignored) and reused between runs. Each
//! figure is a median over several runs, ours and the baseline taken in turn
//! so that a busy machine slows both alike.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use auditlens_core::archive::Archive;
use auditlens_core::export::{ExportFormat, export};
use auditlens_core::filter::Filter;
use auditlens_core::ingest::{IngestOptions, ingest};
use auditlens_core::job::Job;
use auditlens_core::sample::{PlatformFormat, Sample, write_platform};
use auditlens_core::verify::verify_file;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let t = Instant::now();
    let r = f();
    (t.elapsed(), r)
}

fn have(cmd: &str) -> bool {
    Command::new(cmd).arg("--version").output().is_ok()
        || Command::new(cmd).arg("version").output().is_ok()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n: u64 = std::env::var("AUDITLENS_BENCH_ENTRIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let runs = 5;
    let reuse = std::env::var_os("AUDITLENS_BENCH_REUSE").is_some();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    let jsonl = dir.join(format!("platform-{n}.jsonl"));
    if !jsonl.exists() {
        eprintln!("generating {n} entries …");
        write_platform(
            &Sample::new(n, 1),
            PlatformFormat::Jsonl,
            std::fs::File::create(&jsonl).unwrap(),
        )
        .unwrap();
    }
    let input_mb = std::fs::metadata(&jsonl).unwrap().len() as f64 / 1e6;
    println!("input: {} ({input_mb:.0} MB, {n} entries)", jsonl.display());

    // Ingest (one run: it is the slowest step; the archive is reused below).
    let archive_path = dir.join(format!("archive-{n}.sqlite"));
    if reuse && archive_path.exists() {
        println!("ingest: skipped, reusing {}", archive_path.display());
    } else {
        let _ = std::fs::remove_file(&archive_path);
        let (t, r) = time(|| {
            ingest(
                &archive_path,
                std::slice::from_ref(&jsonl),
                &IngestOptions::default(),
                &Job::new(),
            )
            .unwrap()
        });
        assert_eq!(r.added, n);
        println!(
            "ingest: {:.1} s, {:.0} entries/s, {:.0} MB/s of input; archive {:.0} MB",
            t.as_secs_f64(),
            n as f64 / t.as_secs_f64(),
            input_mb / t.as_secs_f64(),
            std::fs::metadata(&archive_path).unwrap().len() as f64 / 1e6
        );
    }

    // Verify vs openssl over the same record bytes.
    let records = dir.join(format!("records-{n}.bin"));
    {
        let a = Archive::open(&archive_path).unwrap();
        let mut out = std::io::BufWriter::new(std::fs::File::create(&records).unwrap());
        a.for_each_record(|_, r| std::io::Write::write_all(&mut out, r).unwrap())
            .unwrap();
    }
    let record_mb = std::fs::metadata(&records).unwrap().len() as f64 / 1e6;
    let verify = || {
        let rep = verify_file(&archive_path, None, &Job::new()).unwrap();
        assert_eq!(rep.entries, n);
        assert!(rep.findings.is_empty());
    };
    let openssl = || {
        let out = Command::new("openssl")
            .arg("dgst")
            .arg("-sha256")
            .arg(&records)
            .output()
            .unwrap();
        assert!(out.status.success());
    };
    if have("openssl") {
        let (ours, base) = paired(runs, verify, openssl);
        let ours_mbs = record_mb / ours.as_secs_f64();
        let base_mbs = record_mb / base.as_secs_f64();
        println!(
            "verify: median {:.2} s, {ours_mbs:.0} MB/s of record bytes ({record_mb:.0} MB); \
             openssl dgst -sha256: median {:.2} s, {base_mbs:.0} MB/s; ratio {:.2}× (goal ≥ 0.6×)",
            ours.as_secs_f64(),
            base.as_secs_f64(),
            ours_mbs / base_mbs
        );
    } else {
        let ours = median((0..runs).map(|_| time(verify).0).collect());
        println!(
            "verify: median {:.2} s, {:.0} MB/s of record bytes; openssl not installed, no baseline",
            ours.as_secs_f64(),
            record_mb / ours.as_secs_f64()
        );
    }

    // CSV export vs sqlite3 -csv of the same rows.
    let csv_out = dir.join(format!("export-{n}.csv"));
    let a = Archive::open(&archive_path).unwrap();
    let export_csv = || {
        // Outputs never replace exports (evidence): start from a clean name each time.
        let _ = std::fs::remove_file(&csv_out);
        let _ = std::fs::remove_file(auditlens_core::proof::sidecar_path(&csv_out));
        let r = export(
            &a,
            &Filter::default(),
            ExportFormat::Csv,
            &csv_out,
            &Job::new(),
        )
        .unwrap();
        assert_eq!(r.entries, n);
    };
    let sink = dir.join("sqlite3-out.csv");
    let sqlite3 = || {
        let out = Command::new("sqlite3")
            .arg("-readonly")
            .arg("-csv")
            .arg(&archive_path)
            .arg("SELECT * FROM entries ORDER BY seq")
            .stdout(std::fs::File::create(&sink).unwrap())
            .status()
            .unwrap();
        assert!(out.success());
    };
    if have("sqlite3") {
        let (ours, base) = paired(runs, export_csv, sqlite3);
        println!(
            "export csv: median {:.2} s ({:.0} MB written); sqlite3 -csv same rows: median {:.2} s; \
             speed ratio {:.2}× (goal ≥ 1.0×)",
            ours.as_secs_f64(),
            std::fs::metadata(&csv_out).unwrap().len() as f64 / 1e6,
            base.as_secs_f64(),
            base.as_secs_f64() / ours.as_secs_f64()
        );
    } else {
        let ours = median((0..runs).map(|_| time(export_csv).0).collect());
        println!(
            "export csv: median {:.2} s; sqlite3 not installed, no baseline",
            ours.as_secs_f64()
        );
    }
}

/// Medians of `ours` and `base`, run in turn `runs` times each.
fn paired(runs: usize, ours: impl Fn(), base: impl Fn()) -> (Duration, Duration) {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        a.push(time(&ours).0);
        b.push(time(&base).0);
    }
    (median(a), median(b))
}
