//! Times the viewer's row index load of an archive, the single scan
//! against the load in parts, each run in a fresh process (so that its peak
//! resident memory is its own), alternating, and prints the median time, the
//! peak (VmHWM) and the settled (VmRSS after the load) memory of each, and a
//! digest of the index, which must agree.
//!
//!     cargo run --release --example index_probe -- ARCHIVE [RUNS]

use std::hash::{DefaultHasher, Hash, Hasher};
use std::process::Command;
use std::time::Instant;

use auditlens_core::job::Job;
use auditlens_core::row_index::{self, Index};

/// A field of /proc/self/status, in KiB.
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU seconds (user and system) of this process so far.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command (which ends at the last ')'): utime and
    // stime are the 12th and 13th, in clock ticks (100 a second).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    (f.get(11).unwrap_or(&0) + f.get(12).unwrap_or(&0)) as f64 / 100.0
}

/// Everything the index holds that a load decides, hashed.
fn digest(ix: &Index) -> u64 {
    let mut h = DefaultHasher::new();
    for r in &ix.rows {
        (r.actor, r.org, r.ip).hash(&mut h);
    }
    ix.times.hash(&mut h);
    let ids = &ix.facet_ids;
    (
        &ids.actor_types,
        &ids.actions,
        &ids.resource_types,
        &ids.projects,
    )
        .hash(&mut h);
    for p in 0..ix.len() {
        ix.seq(p).hash(&mut h);
    }
    for i in [
        &ix.actors,
        &ix.actor_types,
        &ix.actions,
        &ix.resource_types,
        &ix.projects,
        &ix.orgs,
        &ix.ips,
    ] {
        i.values.hash(&mut h);
    }
    (ix.total, ix.complete).hash(&mut h);
    let mut names: Vec<_> = ix.project_names.iter().collect();
    names.sort();
    names.hash(&mut h);
    h.finish()
}

/// One load in this process: prints seconds, peak and settled KiB,
/// entries, digest, CPU seconds.
fn child(mode: &str, path: &str) {
    let (t, cpu) = (Instant::now(), cpu_secs());
    let ix = match mode {
        "single" => Index::load_in_parts(path.as_ref(), 1, &Job::new()),
        _ => Index::load(path.as_ref(), &Job::new()),
    }
    .expect("index");
    let (secs, cpu) = (t.elapsed().as_secs_f64(), cpu_secs() - cpu);
    row_index::release_free_memory();
    println!(
        "{secs} {} {} {} {:016x} {cpu}",
        status_kib("VmHWM:"),
        status_kib("VmRSS:"),
        ix.len(),
        digest(&ix)
    );
}

/// What one child load printed.
struct Run {
    secs: f64,
    peak_kib: u64,
    settled_kib: u64,
    entries: String,
    digest: String,
    cpu: f64,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, mode, path] = &args[..]
        && flag == "--child"
    {
        return child(mode, path);
    }
    let Some(path) = args.first() else {
        eprintln!("usage: index_probe ARCHIVE [RUNS]");
        std::process::exit(2);
    };
    let runs: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(5);
    let me = std::env::current_exe().expect("own path");
    let modes = ["single", "parts"];
    let mut seen: [Vec<Run>; 2] = Default::default();
    for run in 0..runs {
        for (m, mode) in modes.iter().enumerate() {
            let out = Command::new(&me)
                .args(["--child", mode, path])
                .output()
                .expect("run a load");
            assert!(
                out.status.success(),
                "{mode}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let line = String::from_utf8_lossy(&out.stdout).to_string();
            let f: Vec<&str> = line.split_whitespace().collect();
            let r = Run {
                secs: f[0].parse().unwrap(),
                peak_kib: f[1].parse().unwrap(),
                settled_kib: f[2].parse().unwrap(),
                entries: f[3].to_string(),
                digest: f[4].to_string(),
                cpu: f[5].parse().unwrap(),
            };
            println!(
                "run {run} {mode:>6}: {:.2} s (CPU {:.2} s), peak {} MiB, settled {} MiB",
                r.secs,
                r.cpu,
                r.peak_kib / 1024,
                r.settled_kib / 1024
            );
            seen[m].push(r);
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "{path}: {} entries, {cores} cores, {runs} runs each",
        seen[0][0].entries
    );
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut medians = [0.0; 2];
    for (m, mode) in modes.iter().enumerate() {
        let s = &seen[m];
        medians[m] = median(&mut s.iter().map(|r| r.secs).collect());
        let peak = median(&mut s.iter().map(|r| r.peak_kib as f64).collect()) / 1024.0;
        let settled = median(&mut s.iter().map(|r| r.settled_kib as f64).collect()) / 1024.0;
        let cpu = median(&mut s.iter().map(|r| r.cpu).collect());
        println!(
            "{mode:>6}: median {:.2} s (CPU {cpu:.2} s), peak (VmHWM) {peak:.0} MiB, settled (VmRSS) {settled:.0} MiB",
            medians[m]
        );
    }
    println!("speedup {:.2}x", medians[0] / medians[1]);
    let digests: Vec<&String> = seen.iter().flatten().map(|r| &r.digest).collect();
    let same = digests.iter().all(|d| *d == digests[0]);
    println!("digests {}", if same { "agree" } else { "DIFFER" });
}
