//! Complete exports at scale (issue 13, docs/FORMAT.md §14): on an archive of
//! N entries, the checkpoint with all five index roots against the one
//! without (time and ratio), the export and verification of a complete
//! subset of about 1,000 entries (action = delete in a time window), and the
//! proof bytes per entry and per export.
//!
//!     cargo bench -p auditlens-core --bench complete        # 1,000,000 entries
//!     AUDITLENS_BENCH_ENTRIES=100000 cargo bench -p auditlens-core --bench complete
//!
//! Measured (1,000,000 entries of `Sample::new(n, 1)`, a 2-core machine
//! shared with other builds, load ≈ 5.5): checkpoint 0.90 s without index
//! roots, 6.89 s with all five (7.7×; `auditlens checkpoint` also verifies
//! first, 8.4 s, so 15.3 s in all); export of a complete 1,000-entry subset
//! 10.7 s (it builds the log tree and the five index trees); its verification
//! 0.106 s; proofs 1,465 B per entry (inclusion 1,374 B, completeness 91 B;
//! 91 KB per export). A second run on the same machine: 7.40 s, 12.5 s,
//! 0.107 s.
//!
//! The archive is kept in `bench-data/` (git-ignored, shared with the core
//! benchmark) and reused between runs. Each time is a median; the two
//! checkpoints are taken in turn so that a busy machine slows both alike.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use auditlens_core::archive::Archive;
use auditlens_core::export::{ExportFormat, export};
use auditlens_core::filter::Filter;
use auditlens_core::index_tree::{IndexKind, checkpoint_with_indexes};
use auditlens_core::job::Job;
use auditlens_core::output::Destination;
use auditlens_core::sample::{Sample, SampleFile, write_file};
use auditlens_core::time::Timestamp;
use auditlens_core::verify::verify_file;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

/// The bytes of the export's proofs: the completeness proof in the footer,
/// and the inclusion proofs (`"leaf_index":…,"inclusion":[…]`) of its lines.
fn proof_bytes(path: &Path) -> (u64, u64, u64) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    lines.next();
    let (mut entries, mut inclusion, mut complete) = (0u64, 0u64, 0u64);
    for line in lines {
        if let Some(at) = line.find(",\"complete\":") {
            complete = (line.len() - 2 - at) as u64;
            continue;
        }
        if let Some(at) = line.find(",\"leaf_index\":") {
            let end = line[at..].find(']').unwrap() + 1;
            inclusion += end as u64;
            entries += 1;
        }
    }
    (entries, inclusion, complete)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n: u64 = std::env::var("AUDITLENS_BENCH_ENTRIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    let archive_path = dir.join(format!("archive-{n}.sqlite"));
    if !archive_path.exists() {
        eprintln!("generating an archive of {n} entries …");
        let t = Instant::now();
        write_file(
            &Sample::new(n, 1),
            SampleFile::Archive,
            &Destination::new(&archive_path),
            &Job::new(),
        )
        .unwrap();
        eprintln!("  in {:.0} s", t.elapsed().as_secs_f64());
    }
    let archive = Archive::open(&archive_path).unwrap();
    println!("archive: {} ({n} entries)", archive_path.display());

    // Checkpoint without and with the index roots, in turn.
    let (mut plain, mut indexed) = (Vec::new(), Vec::new());
    let mut set = None;
    for _ in 0..3 {
        let t = Instant::now();
        let cp = archive.checkpoint().unwrap();
        plain.push(t.elapsed());
        assert_eq!(cp.size, n);
        let t = Instant::now();
        let (cp, s) = checkpoint_with_indexes(&archive, &Job::new()).unwrap();
        indexed.push(t.elapsed());
        assert!(cp.indexes.is_some());
        set = Some(s);
    }
    let (plain, indexed) = (median(plain), median(indexed));
    println!(
        "checkpoint: {} without index roots, {} with all five ({:.1}×; the index roots add {})",
        secs(plain),
        secs(indexed),
        indexed.as_secs_f64() / plain.as_secs_f64(),
        secs(indexed.saturating_sub(plain))
    );

    // `auditlens checkpoint` verifies the archive before it seals it: the
    // index roots' share of the whole command.
    let t = Instant::now();
    let rep = verify_file(&archive_path, None, &Job::new()).unwrap();
    let verify_all = t.elapsed();
    assert!(rep.findings.is_empty(), "{:?}", rep.findings);
    println!(
        "  `auditlens checkpoint` also verifies the archive first ({}): {} in all, of which the \
         index roots {:.0} %",
        secs(verify_all),
        secs(verify_all + indexed),
        100.0 * indexed.saturating_sub(plain).as_secs_f64() / (verify_all + indexed).as_secs_f64()
    );

    // A window of about 1,000 deletes: from the action index's own order
    // (kept for ranges; a checkpoint's set holds the roots only).
    assert_eq!(set.unwrap().size(), n);
    let set = auditlens_core::index_tree::index_archive_keeping(
        &archive,
        n,
        &Job::new(),
        &[IndexKind::Action],
    )
    .unwrap();
    let (lo, hi) = set.range(IndexKind::Action, Some("delete"), None, None);
    assert!(hi - lo > 1_100, "only {} deletes", hi - lo);
    let start = lo + (hi - lo) / 3;
    let from = set.leaf(IndexKind::Action, start).time_ms;
    let to = set
        .leaf(IndexKind::Action, (start + 1_000).min(hi - 1))
        .time_ms;
    drop(set);
    let filter = Filter {
        actions: vec!["delete".into()],
        from: Some(Timestamp(from)),
        to: Some(Timestamp(to)),
        ..Filter::default()
    };
    println!(
        "subset: action = delete from {} to {}",
        Timestamp(from),
        Timestamp(to)
    );

    let scratch = tempfile::tempdir_in(&dir).unwrap();
    let mut times = Vec::new();
    let mut out = PathBuf::new();
    let mut count = 0;
    for i in 0..3 {
        out = scratch.path().join(format!("deletes-{i}.ndjson"));
        let t = Instant::now();
        let r = export(&archive, &filter, ExportFormat::Ndjson, &out, &Job::new()).unwrap();
        times.push(t.elapsed());
        assert!(r.complete.is_some(), "the subset is not proven complete");
        count = r.entries;
    }
    println!(
        "export: {count} entries in {} (median of 3; includes building the log tree and the five index trees)",
        secs(median(times))
    );

    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let rep = verify_file(&out, None, &Job::new()).unwrap();
        times.push(t.elapsed());
        assert!(rep.findings.is_empty(), "{:?}", rep.findings);
        let c = rep.complete.expect("verified complete");
        assert_eq!(c.in_range, count);
    }
    println!(
        "verify: {} (median of 5) for the {count}-entry complete subset",
        secs(median(times))
    );

    let size = std::fs::metadata(&out).unwrap().len();
    let (entries, inclusion, complete) = proof_bytes(&out);
    assert_eq!(entries, count);
    let per = |b: u64| b as f64 / entries.max(1) as f64;
    println!(
        "proof bytes: completeness proof {complete} B per export ({:.0} B per entry); inclusion proofs \
         {:.0} B per entry; together {:.0} B per entry; export file {:.0} KB ({:.0} B per entry)",
        per(complete),
        per(inclusion),
        per(complete + inclusion),
        size as f64 / 1e3,
        per(size)
    );
}
