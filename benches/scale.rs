//! Scale benchmark: an archive of N entries shaped like the platform's real
//! export, and what the release `auditlens` binary does with it, each figure
//! beside its baseline in the same run:
//!
//! * ingest of the N-entry JSONL export: entries/s (goal ≥ 200k/s at 1M)
//!   beside `openssl dgst -sha256` of the input (the floor of an ingest that
//!   hashes its inputs), and the same ingest as a library call (the command
//!   adds its output: the log checkpoint, computed while appending);
//! * verify beside `openssl dgst -sha256` over the same record bytes
//!   (goal ≥ 0.6× its speed);
//! * CSV export of every entry beside `sqlite3 -csv` of the table, both
//!   writing a file (goal ≥ 1.0× its speed);
//! * scan, scan --json (every hit listed) and report: time;
//! * peak resident memory of each command (the child's VmHWM), with the
//!   peaks of its anonymous and file-backed parts, sampled from
//!   `/proc/PID/status` (goal < 300 MB for ingest, verify,
//!   export, scan and report, at any size).
//!
//! ```text
//! cargo bench --bench scale                                  # 1,000,000 entries, platform profile
//! AUDITLENS_SCALE_ENTRIES=10000000 cargo bench --bench scale # 10M (about 20 GB of disk while it runs)
//! AUDITLENS_SCALE_PROFILE=rich cargo bench --bench scale     # the bundled sample's larger rows
//! AUDITLENS_SCALE_RUNS=5 AUDITLENS_SCALE_INGEST_RUNS=3 …     # runs per median (defaults)
//! AUDITLENS_SCALE_KEEP=1 …                                   # keep the files afterwards
//! AUDITLENS_SCALE_KEEP_ARCHIVE=1 …                           # keep only the archive (for benches/viewer.rs)
//! AUDITLENS_SCALE_ONLY=ingest …                              # stop after the ingest figures
//! ```
//!
//! Files go to `target/scale-bench/` (never into git) and are deleted at the
//! end unless AUDITLENS_SCALE_KEEP is set. Each figure is a median; ours and
//! the baseline run in turn so that a busy machine slows both alike. This is
//! a measurement, not a test: it exits non-zero only if a command fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use auditlens_core::archive::Archive;
use auditlens_core::sample::{PlatformFormat, Profile, Sample, write_platform};

const GOAL_MB: f64 = 300.0;

/// One finished child process.
#[derive(Clone, Copy, Debug, Default)]
struct Run {
    secs: f64,
    /// CPU time (user + system), which a busy machine inflates less than wall time.
    cpu: f64,
    /// Peak resident set (kB): the child's `VmHWM`, the kernel's high-water
    /// mark, read every 10 ms until it exits.
    peak_kb: u64,
    /// Peaks of the anonymous and the file-backed resident memory (kB), sampled.
    anon_kb: u64,
    file_kb: u64,
}

/// `VmHWM`, `RssAnon` and `RssFile` (kB) of a process, from /proc.
fn rss_split(pid: i32) -> Option<(u64, u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some((field("VmHWM:")?, field("RssAnon:")?, field("RssFile:")?))
}

/// Runs `cmd` to completion, its output to `stdout_to` (or discarded); its
/// time, CPU time (from `wait4`) and sampled peak memory.
fn run(label: &str, cmd: &mut Command, stdout_to: Option<&Path>) -> Run {
    let stdout = match stdout_to {
        Some(p) => Stdio::from(std::fs::File::create(p).unwrap()),
        None => Stdio::null(),
    };
    let started = Instant::now();
    // Reaped below by `wait4`, which also gives its CPU time.
    #[allow(clippy::zombie_processes)]
    let child = cmd
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{label}: cannot start: {e}"));
    let pid = child.id() as i32;
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let (mut hwm, mut anon, mut file) = (0, 0, 0);
            while !done.load(Ordering::Relaxed) {
                if let Some((h, a, f)) = rss_split(pid) {
                    hwm = u64::max(hwm, h);
                    anon = u64::max(anon, a);
                    file = u64::max(file, f);
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            (hwm, anon, file)
        })
    };
    let mut stderr = child.stderr.expect("piped");
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 reaps our own child by its pid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let secs = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let (peak_kb, anon_kb, file_kb) = sampler.join().unwrap();
    let err = err_reader.join().unwrap();
    assert_eq!(r, pid, "{label}: wait4 failed");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{label} failed (status {status}): {err}"
    );
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Run {
        secs,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        // Not `ru_maxrss`: Linux carries into it the resident size the
        // child had before exec, a copy of this process's (which holds the
        // mapped archive after extracting its records).
        peak_kb,
        anon_kb,
        file_kb,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The run with the median time, and the largest peak of all runs.
fn summary(runs: &[Run]) -> Run {
    Run {
        secs: median(runs.iter().map(|r| r.secs).collect()),
        cpu: median(runs.iter().map(|r| r.cpu).collect()),
        peak_kb: runs.iter().map(|r| r.peak_kb).max().unwrap_or(0),
        anon_kb: runs.iter().map(|r| r.anon_kb).max().unwrap_or(0),
        file_kb: runs.iter().map(|r| r.file_kb).max().unwrap_or(0),
    }
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

fn size_mb(p: &Path) -> f64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0) as f64 / 1e6
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn auditlens() -> Command {
    Command::new(env!("CARGO_BIN_EXE_auditlens"))
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n: u64 = env_or("AUDITLENS_SCALE_ENTRIES", 1_000_000);
    let runs: usize = env_or("AUDITLENS_SCALE_RUNS", 5).max(1);
    let ingest_runs: usize = env_or("AUDITLENS_SCALE_INGEST_RUNS", 3).max(1);
    let keep = std::env::var_os("AUDITLENS_SCALE_KEEP").is_some();
    let profile = match std::env::var("AUDITLENS_SCALE_PROFILE").as_deref() {
        Ok("rich") => Profile::Rich,
        _ => Profile::Platform,
    };
    let name = format!("{profile:?}-{n}").to_lowercase();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/scale-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let jsonl = dir.join(format!("{name}.jsonl"));
    let archive = dir.join(format!("{name}.sqlite"));
    let records = dir.join(format!("{name}.records"));
    let csv_out = dir.join(format!("{name}.csv"));
    let sqlite_out = dir.join(format!("{name}.sqlite3.csv"));
    let report_out = dir.join(format!("{name}.report.html"));
    if !jsonl.exists() {
        eprintln!("generating {n} entries ({profile:?} profile) …");
        write_platform(
            &Sample::new(n, 1).with_profile(profile),
            PlatformFormat::Jsonl,
            std::fs::File::create(&jsonl).unwrap(),
        )
        .unwrap();
    }
    println!(
        "input: {} ({:.0} MB, {n} entries, {profile:?} profile, JSONL newest first)",
        jsonl.display(),
        size_mb(&jsonl)
    );
    let mut peaks: Vec<(&str, Run)> = Vec::new();

    // Ingest: a fresh archive each run, beside the floor of any ingest that
    // records its inputs' SHA-256 (as ours does): hashing the input once.
    let (mut ingests, mut hashes) = (Vec::new(), Vec::new());
    for _ in 0..ingest_runs {
        let _ = std::fs::remove_file(&archive);
        ingests.push(run(
            "ingest",
            auditlens()
                .arg("ingest")
                .arg("--archive")
                .arg(&archive)
                .arg(&jsonl),
            None,
        ));
        hashes.push(run(
            "openssl",
            Command::new("openssl")
                .arg("dgst")
                .arg("-sha256")
                .arg(&jsonl),
            None,
        ));
    }
    let (ingest, hash) = (summary(&ingests), summary(&hashes));
    println!(
        "ingest: median {:.2} s over {ingest_runs} runs = {:.0} entries/s (goal ≥ 200000), \
         {:.0} MB/s of input; CPU {:.2} s ({:.2} µs/entry); archive {:.0} MB; openssl dgst \
         -sha256 of the input: median {:.2} s ({:.0} MB/s), {:.2}× ingest's time",
        ingest.secs,
        n as f64 / ingest.secs,
        size_mb(&jsonl) / ingest.secs,
        ingest.cpu,
        ingest.cpu * 1e6 / n as f64,
        size_mb(&archive),
        hash.secs,
        size_mb(&jsonl) / hash.secs,
        hash.secs / ingest.secs
    );
    peaks.push(("ingest", ingest));

    // The same ingest as a library call: what the command adds around it
    // (the binary's start, its output). The archive it makes is the one
    // measured below.
    {
        let _ = std::fs::remove_file(&archive);
        let cpu = || {
            // SAFETY: an all-zero rusage is valid; getrusage fills it.
            let mut u: libc::rusage = unsafe { std::mem::zeroed() };
            unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
            let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
            tv(u.ru_utime) + tv(u.ru_stime)
        };
        let (cpu0, started) = (cpu(), Instant::now());
        auditlens_core::ingest::ingest(
            &archive,
            std::slice::from_ref(&jsonl),
            &Default::default(),
            &auditlens_core::job::Job::new(),
        )
        .unwrap();
        let secs = started.elapsed().as_secs_f64();
        println!(
            "ingest as a library call (1 run): {secs:.2} s = {:.0} entries/s, CPU {:.2} s; \
             the command's median differs by {:.2} s",
            n as f64 / secs,
            cpu() - cpu0,
            ingest.secs - secs
        );
    }
    if std::env::var("AUDITLENS_SCALE_ONLY").as_deref() == Ok("ingest") {
        println!(
            "peak resident memory of ingest at {n} entries: {:.1} MB (anonymous {:.1} MB, file-backed {:.1} MB)",
            mb(ingest.peak_kb),
            mb(ingest.anon_kb),
            mb(ingest.file_kb)
        );
        if !keep {
            let _ = std::fs::remove_file(&jsonl);
            let _ = std::fs::remove_file(&archive);
        }
        return;
    }

    if !keep {
        let _ = std::fs::remove_file(&jsonl); // gigabytes at 10M; cheap to make again
    }

    // Verify beside openssl over the same record bytes.
    {
        let a = Archive::open(&archive).unwrap();
        let mut out = std::io::BufWriter::new(std::fs::File::create(&records).unwrap());
        a.for_each_record(|_, r| std::io::Write::write_all(&mut out, r).unwrap())
            .unwrap();
    }
    let record_mb = size_mb(&records);
    println!(
        "records: {record_mb:.0} MB, mean canonical record {:.0} B",
        record_mb * 1e6 / n as f64
    );
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        ours.push(run("verify", auditlens().arg("verify").arg(&archive), None));
        base.push(run(
            "openssl",
            Command::new("openssl")
                .arg("dgst")
                .arg("-sha256")
                .arg(&records),
            None,
        ));
    }
    let _ = std::fs::remove_file(&records); // 5.6 GB at 10M: disk is short
    let (verify, openssl) = (summary(&ours), summary(&base));
    // The floor for any verifier that reads through SQLite: every record read
    // once by the sqlite3 shell (one core), nothing else done with it.
    let floor = summary(
        &(0..runs)
            .map(|_| {
                run(
                    "sqlite3 read",
                    Command::new("sqlite3").arg("-readonly").arg(&archive).arg(
                        "SELECT sum(length(CAST(record AS BLOB))) + count(leaf_hash) FROM entries",
                    ),
                    None,
                )
            })
            .collect::<Vec<_>>(),
    );
    println!(
        "reading every record through SQLite (sqlite3 shell, one core): median {:.2} s, CPU {:.2} \
         s: {:.2}× openssl's speed, the ceiling of verify's ratio through SQLite",
        floor.secs,
        floor.cpu,
        openssl.secs / floor.secs
    );
    println!(
        "verify: median {:.2} s ({:.0} MB/s of record bytes, CPU {:.2} s); openssl dgst -sha256: \
         median {:.2} s ({:.0} MB/s); ratio {:.2}× (goal ≥ 0.6×)",
        verify.secs,
        record_mb / verify.secs,
        verify.cpu,
        openssl.secs,
        record_mb / openssl.secs,
        openssl.secs / verify.secs
    );
    peaks.push(("verify", verify));

    // CSV export beside sqlite3 -csv, both writing a file.
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        // Outputs never replace exports (evidence): a clean name each time.
        let _ = std::fs::remove_file(&csv_out);
        let _ = std::fs::remove_file(auditlens_core::proof::sidecar_path(&csv_out));
        ours.push(run(
            "export csv",
            auditlens()
                .arg("export")
                .arg(&archive)
                .arg("--format")
                .arg("csv")
                .arg("-o")
                .arg(&csv_out),
            None,
        ));
        base.push(run(
            "sqlite3 -csv",
            Command::new("sqlite3")
                .arg("-readonly")
                .arg("-csv")
                .arg(&archive)
                .arg("SELECT * FROM entries ORDER BY seq"),
            Some(&sqlite_out),
        ));
    }
    let (export, sqlite3) = (summary(&ours), summary(&base));
    println!(
        "export csv: median {:.2} s ({:.0} MB written); sqlite3 -csv of the table: median {:.2} s \
         ({:.0} MB); speed ratio {:.2}× (goal ≥ 1.0×)",
        export.secs,
        size_mb(&csv_out),
        sqlite3.secs,
        size_mb(&sqlite_out),
        sqlite3.secs / export.secs
    );
    peaks.push(("export csv", export));
    for p in [
        &csv_out,
        &auditlens_core::proof::sidecar_path(&csv_out),
        &sqlite_out,
    ] {
        let _ = std::fs::remove_file(p); // gigabytes at 10M: disk is short
    }

    // Scan and report: time and memory.
    let scans: Vec<Run> = (0..runs.min(3))
        .map(|_| run("scan", auditlens().arg("scan").arg(&archive), None))
        .collect();
    let scan = summary(&scans);
    println!("scan: median {:.2} s (CPU {:.2} s)", scan.secs, scan.cpu);
    peaks.push(("scan", scan));
    let scans: Vec<Run> = (0..runs.min(3))
        .map(|_| {
            run(
                "scan --json",
                auditlens().args(["scan", "--json"]).arg(&archive),
                None,
            )
        })
        .collect();
    let scan_json = summary(&scans);
    println!(
        "scan --json: median {:.2} s (CPU {:.2} s)",
        scan_json.secs, scan_json.cpu
    );
    peaks.push(("scan --json", scan_json));
    let reports: Vec<Run> = (0..runs.min(3))
        .map(|_| {
            let _ = std::fs::remove_file(&report_out);
            let _ = std::fs::remove_file(report_out.with_extension("json"));
            run(
                "report",
                auditlens()
                    .arg("report")
                    .arg(&archive)
                    .arg("-o")
                    .arg(&report_out),
                None,
            )
        })
        .collect();
    let report = summary(&reports);
    println!(
        "report: median {:.2} s (CPU {:.2} s)",
        report.secs, report.cpu
    );
    peaks.push(("report", report));

    println!(
        "peak resident memory at {n} entries (goal < {GOAL_MB:.0} MB; anonymous and file-backed \
         parts are sampled peaks):"
    );
    for (what, r) in &peaks {
        println!(
            "  {what:<11} {:>8.1} MB  (anonymous {:.1} MB, file-backed {:.1} MB)  {}",
            mb(r.peak_kb),
            mb(r.anon_kb),
            mb(r.file_kb),
            if mb(r.peak_kb) < GOAL_MB {
                "met"
            } else {
                "MISSED"
            }
        );
    }
    println!(
        "  (baselines: openssl {:.1} MB, sqlite3 -csv {:.1} MB)",
        mb(openssl.peak_kb),
        mb(sqlite3.peak_kb)
    );
    if !keep {
        if std::env::var_os("AUDITLENS_SCALE_KEEP_ARCHIVE").is_none() {
            let _ = std::fs::remove_file(&archive);
        }
        for p in [
            &jsonl,
            &records,
            &csv_out,
            &auditlens_core::proof::sidecar_path(&csv_out),
            &sqlite_out,
            &report_out,
            &report_out.with_extension("json"),
        ] {
            let _ = std::fs::remove_file(p);
        }
    }
}
