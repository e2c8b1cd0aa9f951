//! Core benchmark on a realistic archive: ingest rate, verify throughput beside
//! `openssl dgst -sha256` over the same record bytes, and CSV export beside
//! `sqlite3 -csv` over the same rows. Prints medians and ratios.
//!
//!     cargo bench --bench core                      # 1,000,000 entries
//!     AUDITLENS_BENCH_ENTRIES=100000 cargo bench --bench core
//!
//! Data is kept in `bench-data/` (git-ignored) and reused between runs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use auditlens::core::archive::Archive;
use auditlens::core::export::{ExportFormat, export};
use auditlens::core::filter::Filter;
use auditlens::core::ingest::{IngestOptions, ingest};
use auditlens::core::job::Job;
use auditlens::core::sample::{PlatformFormat, Sample, write_platform};
use auditlens::core::verify::verify_file;

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
    let runs = 3;
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

    // Verify vs openssl over the same record bytes.
    let records = dir.join(format!("records-{n}.bin"));
    {
        let a = Archive::open(&archive_path).unwrap();
        let mut stmt = a
            .connection()
            .prepare("SELECT record FROM entries ORDER BY seq")
            .unwrap();
        let mut rows = stmt.query([]).unwrap();
        let mut out = std::io::BufWriter::new(std::fs::File::create(&records).unwrap());
        while let Some(r) = rows.next().unwrap() {
            std::io::Write::write_all(&mut out, r.get_ref(0).unwrap().as_bytes().unwrap()).unwrap();
        }
    }
    let record_mb = std::fs::metadata(&records).unwrap().len() as f64 / 1e6;
    let mut ours = Vec::new();
    for _ in 0..runs {
        let (t, rep) = time(|| verify_file(&archive_path, None, &Job::new()).unwrap());
        assert_eq!(rep.entries, n);
        assert!(rep.findings.is_empty());
        ours.push(t);
    }
    let ours = median(ours);
    let ours_mbs = record_mb / ours.as_secs_f64();
    print!(
        "verify: median {:.2} s, {ours_mbs:.0} MB/s of record bytes ({record_mb:.0} MB)",
        ours.as_secs_f64()
    );
    if have("openssl") {
        let mut base = Vec::new();
        for _ in 0..runs {
            let (t, out) = time(|| {
                Command::new("openssl")
                    .arg("dgst")
                    .arg("-sha256")
                    .arg(&records)
                    .output()
                    .unwrap()
            });
            assert!(out.status.success());
            base.push(t);
        }
        let base = median(base);
        let base_mbs = record_mb / base.as_secs_f64();
        println!(
            "; openssl dgst -sha256: {base_mbs:.0} MB/s; ratio {:.2}× (goal ≥ 0.6×)",
            ours_mbs / base_mbs
        );
    } else {
        println!("; openssl not installed, no baseline");
    }

    // CSV export vs sqlite3 -csv of the same rows.
    let csv_out = dir.join(format!("export-{n}.csv"));
    let a = Archive::open(&archive_path).unwrap();
    let mut ours = Vec::new();
    for _ in 0..runs {
        let _ = std::fs::remove_file(&csv_out);
        let (t, r) = time(|| {
            export(
                &a,
                &Filter::default(),
                ExportFormat::Csv,
                &csv_out,
                &Job::new(),
            )
            .unwrap()
        });
        assert_eq!(r.entries, n);
        ours.push(t);
    }
    let ours = median(ours);
    print!(
        "export csv: median {:.2} s ({:.0} MB written)",
        ours.as_secs_f64(),
        std::fs::metadata(&csv_out).unwrap().len() as f64 / 1e6
    );
    if have("sqlite3") {
        let mut base = Vec::new();
        let sink = dir.join("sqlite3-out.csv");
        for _ in 0..runs {
            let (t, out) = time(|| {
                Command::new("sqlite3")
                    .arg("-readonly")
                    .arg("-csv")
                    .arg(&archive_path)
                    .arg("SELECT * FROM entries ORDER BY seq")
                    .stdout(std::fs::File::create(&sink).unwrap())
                    .status()
                    .unwrap()
            });
            assert!(out.success());
            base.push(t);
        }
        let base = median(base);
        println!(
            "; sqlite3 -csv same rows: {:.2} s; speed ratio {:.2}× (goal ≥ 1.0×)",
            base.as_secs_f64(),
            base.as_secs_f64() / ours.as_secs_f64()
        );
    } else {
        println!("; sqlite3 not installed, no baseline");
    }
    let _ = Path::new(&records);
}
