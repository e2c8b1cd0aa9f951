//! Viewer benchmark at scale, driven through egui_kittest as the tests drive
//! the viewer: `App::logic` then `App::ui` per step, the real state, panels
//! and workers, without a display or a GPU. So the figures are the viewer's
//! own CPU time per frame (layout, tessellation, the view computations),
//! not the driver's: under Xvfb every frame would add Mesa's software
//! rasteriser, which measures this machine's lack of a GPU, not the viewer.
//!
//!     cargo bench --bench viewer                               # 1M entries
//!     AUDITLENS_BENCH_ENTRIES=200000 cargo bench --bench viewer
//!     AUDITLENS_BENCH_ARCHIVE=path/to/archive.sqlite cargo bench --bench viewer
//!
//! The archive is `target/viewer-bench/platform-N.sqlite`, made by the
//! release binary (`auditlens sample --profile platform --entries N`, shaped
//! like the platform's export) and reused when present. Its search sidecar
//! (`….search.sqlite`) is removed first, so the first open builds it. Prints:
//! 1. first open: time to the first interactive frame (rows on screen), to
//!    the whole index, and until free-text search is ready (the sidecar built);
//! 2. memory from `/proc/self/status`: RssAnon and RssFile once settled
//!    (loaded, text search ready, verified, patterns scanned), and VmHWM, the
//!    peak resident size (anonymous + file-backed) of the whole process;
//! 3. what a frame needs read from the records, and the facet counts;
//! 4. frame time while paging through the table (median and p95);
//! 5. re-filter: a keystroke in Search, the last keystroke of a word, a facet;
//! 6. second open (the sidecar found), 3 times: first frame, text search
//!    ready, and a search set at once served from the sidecar;
//! 7. the sidecar's build alone, `AUDITLENS_BENCH_BUILDS` times (3).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use auditlens::app::egui;
use auditlens::app::{NoDialogs, Viewer};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

/// How long any one wait may take (`AUDITLENS_BENCH_TIMEOUT_S`, 2 h by
/// default): building the search sidecar of 10M entries takes a while.
fn timeout() -> Duration {
    Duration::from_secs(env_or("AUDITLENS_BENCH_TIMEOUT_S", 7200))
}

/// `AUDITLENS_BENCH_TEXT=0`: leave the search sidecar out (its build is
/// cancelled once the index is whole) and the keystroke figures with it; at
/// 10M entries the sidecar's first build took over an hour with FTS5 (now
/// 46-125 s per million entries on this shared machine; not run at 10M).
fn with_text() -> bool {
    std::env::var("AUDITLENS_BENCH_TEXT").map_or(true, |v| v != "0")
}

/// `AUDITLENS_BENCH_KEEP_SIDECAR=1`: reuse the search sidecar an earlier
/// run built beside the archive (trusted by its digest as if this viewer had
/// built it), so the keystroke figures can be measured again without the
/// minutes its build takes; the first open's "search ready" is then a find.
fn keep_sidecar() -> bool {
    std::env::var("AUDITLENS_BENCH_KEEP_SIDECAR").is_ok_and(|v| v == "1")
}

fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v[v.len() / 2]
}

fn percentile(v: &[Duration], p: f64) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

/// One line of `/proc/self/status` in bytes (Linux only).
fn status_bytes(key: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn mb(b: Option<u64>) -> String {
    b.map_or("n/a".into(), |b| format!("{:.0} MB", b as f64 / 1e6))
}

/// A viewer with no file open, as eframe runs it (`App::logic`, then
/// `App::ui`), one frame drawn (fonts etc. allocated).
fn harness() -> Harness<'static, Viewer> {
    let mut h = Harness::builder()
        .with_size(egui::vec2(1400.0, 900.0))
        .build_eframe(|cc| Viewer::from_creation(cc, Box::new(NoDialogs), None));
    h.run_steps(3);
    h
}

/// Steps the UI until `done` holds; returns the time it took. Panics after `timeout()`.
fn wait_for(h: &mut Harness<'_, Viewer>, what: &str, done: impl Fn(&Viewer) -> bool) -> Duration {
    let start = Instant::now();
    loop {
        h.step();
        if done(h.state()) {
            return start.elapsed();
        }
        if start.elapsed() > timeout() {
            panic!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The first page is on screen: an index (perhaps only its first page), the
/// view computed and the first screen of rows read.
fn interactive(v: &Viewer) -> bool {
    let s = &v.state;
    s.index().is_some() && !s.view.is_empty() && s.seq_at(0).is_some_and(|q| s.rows.contains(q))
}

fn index_complete(v: &Viewer) -> bool {
    v.state.doc.as_ref().is_some_and(|d| d.index_complete())
}

fn text_index_ready(v: &Viewer) -> bool {
    v.state.doc.as_ref().is_some_and(|d| d.search.is_some())
}

fn loaded_and_verified(v: &Viewer) -> bool {
    v.state.index().is_some() && !v.state.busy() && v.state.settled()
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The archive to measure: given, or made once by the release binary.
fn archive() -> PathBuf {
    if let Some(p) = std::env::var_os("AUDITLENS_BENCH_ARCHIVE") {
        return p.into();
    }
    let n: u64 = env_or("AUDITLENS_BENCH_ENTRIES", 1_000_000);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/viewer-bench");
    std::fs::create_dir_all(&dir).expect("target/viewer-bench");
    let path = dir.join(format!("platform-{n}.sqlite"));
    if !path.exists() {
        println!(
            "making {} (auditlens sample --profile platform)…",
            path.display()
        );
        let t = Instant::now();
        let status = Command::new(env!("CARGO_BIN_EXE_auditlens"))
            .args([
                "sample",
                "--profile",
                "platform",
                "--entries",
                &n.to_string(),
                "-o",
            ])
            .arg(&path)
            .status()
            .expect("run auditlens sample");
        assert!(status.success(), "auditlens sample failed");
        println!("  made in {:.1} s", t.elapsed().as_secs_f64());
    }
    path
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let archive = archive();
    if !archive.exists() {
        eprintln!("{} does not exist", archive.display());
        std::process::exit(1);
    }
    let sidecar = auditlens_core::archive::search_sidecar::path_for(&archive);
    if !(keep_sidecar() && sidecar.exists()) {
        let _ = std::fs::remove_file(&sidecar);
    }
    let size_mb = std::fs::metadata(&archive).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
    println!("archive: {} ({size_mb:.0} MB)", archive.display());

    // First open in a fresh process, so that VmHWM is this open's peak.
    let (entries, mut h) = first_open(&archive);
    println!(
        "search sidecar: {:.0} MB",
        std::fs::metadata(&sidecar).map_or(0, |m| m.len()) as f64 / 1e6
    );
    // Which step raised the peak (VmHWM only grows).
    let peak_after = |step: &str| {
        println!(
            "  (peak after {step}: VmHWM {})",
            mb(status_bytes("VmHWM:"))
        )
    };
    frame_reads(&archive, &h);
    peak_after("the record reads");
    facets(&archive, &h);
    peak_after("the facet figures");
    scrolling(&mut h);
    peak_after("scrolling");
    if with_text() {
        recheck(&archive, &h);
        peak_after("the re-check figures");
        sidecar_builds(&archive, &h);
        peak_after("the sidecar builds");
        refilter(&mut h);
        peak_after("the keystrokes");
        second_open(&archive, &mut h);
    } else {
        println!(
            "(AUDITLENS_BENCH_TEXT=0: no search sidecar, no keystroke figures, no second open)"
        );
        refilter_facet(&mut h);
    }
    println!(
        "peak resident memory of the whole run: VmHWM {}",
        mb(status_bytes("VmHWM:"))
    );
    drop(h);
    println!("(entries: {entries}; the machine may be shared: compare medians, not single runs)");
}

/// Figures 1 and 2: the first open, timed, then memory once everything is in.
fn first_open(archive: &Path) -> (usize, Harness<'static, Viewer>) {
    let mut h = harness();
    let sidecar = auditlens_core::archive::search_sidecar::path_for(archive);
    if keep_sidecar() && sidecar.exists() {
        let digest = auditlens_core::digest::file_sha256(&sidecar).expect("sidecar digest");
        h.state_mut()
            .state
            .settings
            .trust_search_index(sidecar, digest);
        println!(
            "(AUDITLENS_BENCH_KEEP_SIDECAR=1: the search sidecar of an earlier run is reused)"
        );
    }
    let anon_before = status_bytes("RssAnon:");
    let t0 = Instant::now();
    h.state_mut().state.open(archive.to_path_buf());
    wait_for(&mut h, "first interactive frame", interactive);
    let first = t0.elapsed();
    wait_for(&mut h, "whole index", index_complete);
    let complete = t0.elapsed();
    let text = if with_text() {
        wait_for(&mut h, "text index", text_index_ready);
        t0.elapsed()
    } else {
        // The text index starts after the index: cancel it once it runs.
        wait_for(&mut h, "text index started", |v| {
            v.state
                .tasks
                .running(auditlens::app::state::task::TEXT_INDEX)
                .next()
                .is_some()
                || v.state.doc.as_ref().is_some_and(|d| d.search.is_some())
        });
        for j in h
            .state()
            .state
            .tasks
            .running(auditlens::app::state::task::TEXT_INDEX)
        {
            j.cancel();
        }
        Duration::ZERO
    };
    wait_for(&mut h, "load + text index + verify", loaded_and_verified);
    let settled_at = t0.elapsed();
    h.run_steps(2);
    auditlens_core::row_index::release_free_memory();
    let s = &h.state().state;
    let n = s.index().map(|i| i.len()).unwrap_or(0);
    let kind = match s.doc.as_ref().and_then(|d| d.search.as_deref()) {
        Some(auditlens::app::text_index::TextIndex::Sidecar(_)) => "the sidecar",
        Some(auditlens::app::text_index::TextIndex::Memory(_)) => "in memory",
        None => "none",
    };
    println!(
        "first open: first interactive frame {}; whole index {}; free-text search ready ({kind}) {} \
         (built in {} after the whole index, beside verification and the pattern scan); \
         everything settled (verified, scanned) {}",
        ms(first),
        ms(complete),
        if with_text() {
            ms(text)
        } else {
            "skipped".into()
        },
        ms(text.saturating_sub(complete)),
        ms(settled_at),
    );
    let anon = status_bytes("RssAnon:");
    let per_entry = match (anon, anon_before) {
        (Some(a), Some(b)) if n > 0 => format!(
            "{:.0} B/entry over the empty window",
            a.saturating_sub(b) as f64 / n as f64
        ),
        _ => "n/a".into(),
    };
    let index_heap = s.index().map_or(0, |i| i.heap_bytes());
    println!(
        "memory settled: RssAnon {} ({per_entry}; {} before open; row index heap {:.0} B/entry), \
         RssFile {}; peak so far VmHWM {}",
        mb(anon),
        mb(anon_before),
        index_heap as f64 / n.max(1) as f64,
        mb(status_bytes("RssFile:")),
        mb(status_bytes("VmHWM:")),
    );
    (n, h)
}

/// Figure 6: close, open again (3 times): the sidecar this viewer built is
/// found, and a search typed at once is served by it.
fn second_open(archive: &Path, h: &mut Harness<'static, Viewer>) {
    let (mut firsts, mut readies, mut served) = (Vec::new(), Vec::new(), Vec::new());
    let (mut wholes, mut after_whole) = (Vec::new(), Vec::new());
    let mut kind = "none";
    let mut rows = 0;
    for _ in 0..3 {
        h.state_mut().state.close();
        h.state_mut().state.filter = Default::default();
        h.run_steps(3);
        let t0 = Instant::now();
        h.state_mut().state.open(archive.to_path_buf());
        wait_for(h, "first interactive frame", interactive);
        firsts.push(t0.elapsed());
        // The text index is found once the whole row index is in (a
        // search waits for that anyway).
        wait_for(h, "whole index", index_complete);
        let whole = t0.elapsed();
        wholes.push(whole);
        wait_for(h, "text index", text_index_ready);
        readies.push(t0.elapsed());
        after_whole.push(t0.elapsed() - whole);
        kind = match h
            .state()
            .state
            .doc
            .as_ref()
            .and_then(|d| d.search.as_deref())
        {
            Some(auditlens::app::text_index::TextIndex::Sidecar(_)) => "the sidecar",
            Some(auditlens::app::text_index::TextIndex::Memory(_)) => "in memory",
            None => "none",
        };
        // A search set as soon as the index is there: its rows come from
        // the sidecar (the hits re-checked against their records).
        h.state_mut().state.filter.search = "prod".into();
        wait_for(h, "search", |v| {
            v.state.filter.search == "prod" && v.state.view_current()
        });
        served.push(t0.elapsed());
        rows = h.state().state.view.len();
        wait_for(h, "settled", loaded_and_verified);
    }
    let all = |v: &[Duration]| v.iter().map(|&d| ms(d)).collect::<Vec<_>>().join(", ");
    println!(
        "second open (3 times): first interactive frame median {} [{}]; whole index median {} [{}]; \
         free-text search ready ({kind}) median {} [{}], that is {} [{}] after the whole index; \
         search \"prod\" served ({rows} rows) median {} [{}] after open",
        ms(median(&firsts)),
        all(&firsts),
        ms(median(&wholes)),
        all(&wholes),
        ms(median(&readies)),
        all(&readies),
        ms(median(&after_whole)),
        all(&after_whole),
        ms(median(&served)),
        all(&served),
    );
    h.state_mut().state.filter = Default::default();
    wait_for(h, "settled", loaded_and_verified);
}

/// The sidecar's build alone (no viewer around it), `AUDITLENS_BENCH_BUILDS`
/// times (3 by default), into a file beside the archive removed afterwards.
fn sidecar_builds(archive: &Path, h: &Harness<'static, Viewer>) {
    use auditlens_core::archive::search_sidecar;
    let Some(ix) = h.state().state.index().cloned() else {
        return;
    };
    let runs: usize = env_or("AUDITLENS_BENCH_BUILDS", 3);
    if runs == 0 {
        return;
    }
    let mut dest = archive.as_os_str().to_owned();
    dest.push(".bench-build.search.sqlite");
    let dest = PathBuf::from(dest);
    let mut times = Vec::new();
    for _ in 0..runs {
        let _ = std::fs::remove_file(&dest);
        let t = Instant::now();
        search_sidecar::build(archive, &dest, &ix, &auditlens_core::job::Job::new())
            .expect("sidecar build");
        times.push(t.elapsed());
    }
    let size = std::fs::metadata(&dest).map_or(0, |m| m.len());
    let _ = std::fs::remove_file(&dest);
    let all: Vec<String> = times.iter().map(|&d| ms(d)).collect();
    println!(
        "search sidecar build alone ({} entries, {:.0} MB): median {} of {runs} [{}]",
        ix.len(),
        size as f64 / 1e6,
        ms(median(&times)),
        all.join(", ")
    );
}

/// Figure 5: the record reads behind a frame: a screenful of table rows with
/// read-ahead (120 rows, contiguous as when sorted by time or seq, and
/// scattered as when sorted by another column), and the selected entry in
/// full (with its diff). Each from a cold row cache, at 50 places. (Too
/// slow for the frame itself: the viewer reads them on a worker.)
fn frame_reads(archive: &Path, h: &Harness<'static, Viewer>) {
    use auditlens::app::rows::{Detail, RowCache};
    let Some(ix) = h.state().state.index().cloned() else {
        return;
    };
    let a = auditlens_core::archive::Archive::open(archive).expect("archive");
    let n = ix.len() as u64;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let (mut contiguous, mut scattered, mut detail) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..50 {
        let start = next() % n.saturating_sub(120).max(1);
        let seqs: Vec<u64> = (start..(start + 120).min(n))
            .map(|p| ix.seq(p as usize))
            .collect();
        let t = Instant::now();
        RowCache::default().fetch(&a, &seqs);
        contiguous.push(t.elapsed());
        let seqs: Vec<u64> = (0..120).map(|_| ix.seq((next() % n) as usize)).collect();
        let t = Instant::now();
        RowCache::default().fetch(&a, &seqs);
        scattered.push(t.elapsed());
        let seq = ix.seq((next() % n) as usize);
        let t = Instant::now();
        std::hint::black_box(Detail::read(&a, seq));
        detail.push(t.elapsed());
    }
    println!(
        "record reads behind a frame: 120 table rows contiguous median {} p95 {}, scattered median {} p95 {}; \
         the selected entry in full median {} p95 {} (50 places each, cold row cache)",
        us(median(&contiguous)),
        us(percentile(&contiguous, 0.95)),
        us(median(&scattered)),
        us(percentile(&scattered, 0.95)),
        us(median(&detail)),
        us(percentile(&detail, 0.95)),
    );
}

/// Figure 6: the facet counts over every entry (each facet's counts under
/// the other filters, with one action ticked) as the viewer computes them
/// (from the load's pair counts), and the full pass over the facet columns
/// in one part (what two ticked facets need, split across threads); the view of that tick computed
/// as the worker does (from the kept base, sorted by seq); and, with the
/// text index, a whole view for a search plus that facet, from scratch
/// (what the viewer runs when such a filter is set).
fn facets(archive: &Path, h: &Harness<'static, Viewer>) {
    use auditlens::app::query::{self, Query, Reads, Sources};
    use auditlens_core::filter::Filter;
    use auditlens_core::job::Job;
    use auditlens_core::row_index::{SortKey, Subset};
    let s = &h.state().state;
    let Some(ix) = s.index().cloned() else {
        return;
    };
    let text = s.doc.as_ref().and_then(|d| d.search.clone());
    let Some(action) = (1..ix.actions.len() as u32)
        .max_by_key(|&i| ix.counts.actions[i as usize])
        .and_then(|i| ix.actions.get(i))
    else {
        return;
    };
    let f = Filter {
        actions: vec![action.to_string()],
        ..Filter::default()
    };
    let time5 = |run: &mut dyn FnMut()| {
        let times: Vec<Duration> = (0..5)
            .map(|_| {
                let t = Instant::now();
                run();
                t.elapsed()
            })
            .collect();
        median(&times)
    };
    let one_part = time5(&mut || {
        std::hint::black_box(ix.facets_in_parts(&f, Subset::All, &[], 1));
    });
    let pass = time5(&mut || {
        std::hint::black_box(ix.facets(&f, Subset::All, &[]));
    });
    let src = Sources {
        index: &ix,
        text: text.as_deref(),
        archive,
    };
    let view = |q: &Query, prior| {
        query::compute(&src, q, prior, Reads::Records, &Job::new())
            .expect("view")
            .expect("records allowed")
    };
    let unfiltered = Query {
        filter: Filter::default(),
        sort: SortKey::Seq,
        descending: false,
        restriction: None,
    };
    let base = view(&unfiltered, None).base;
    let tick = Query {
        filter: f.clone(),
        ..unfiltered.clone()
    };
    let computed = time5(&mut || {
        std::hint::black_box(view(&tick, Some(&base)));
    });
    println!(
        "facet counts over all {} entries (action={action:?} ticked): median {} of 5 (the full pass \
         over the facet columns, in one part: {}); the view of that tick computed (facets + sort by \
         seq): median {} of 5",
        ix.len(),
        ms(pass),
        ms(one_part),
        ms(computed),
    );
    if text.is_none() {
        return;
    }
    let q = Query {
        filter: Filter {
            search: Some("prod".into()),
            ..f
        },
        sort: SortKey::Time,
        descending: false,
        restriction: None,
    };
    let mut rows = 0;
    let whole = time5(&mut || rows = view(&q, None).rows.len());
    println!(
        "whole view for search \"prod\" + that facet ({rows} rows, counts, sorted by time): median {} of 5",
        ms(whole),
    );
}

/// Figure 2: frame time while paging down: one PageDown per frame for 200 frames.
fn scrolling(h: &mut Harness<'static, Viewer>) {
    // Select the first row (ArrowDown with no selection selects row 0).
    h.key_press(egui::Key::ArrowDown);
    h.run_steps(3);
    let frames = 200;
    let mut key_frames = Vec::with_capacity(frames);
    let mut idle_frames = Vec::with_capacity(frames);
    // Frames that drew a row still being read ("…"): rows are read on a worker.
    let mut placeholders = 0;
    let drew_placeholder = |h: &Harness<'static, Viewer>| {
        let v = h.state();
        let rows = v.panels.table.visible();
        rows.clone()
            .filter_map(|r| v.state.seq_at(r))
            .any(|q| !v.state.rows.contains(q))
    };
    for _ in 0..frames {
        // One queued event = exactly one frame in `step`.
        h.key_down(egui::Key::PageDown);
        let t = Instant::now();
        h.step();
        key_frames.push(t.elapsed());
        placeholders += usize::from(drew_placeholder(h));
        h.key_up(egui::Key::PageDown);
        let t = Instant::now();
        h.step();
        idle_frames.push(t.elapsed());
        placeholders += usize::from(drew_placeholder(h));
    }
    let s = &h.state().state;
    println!(
        "scrolling (PageDown, {frames} frames, reached row {} of {}): \
         median {} p95 {} per frame; following key-up frames median {} p95 {}; \
         {placeholders} of {} frames drew a row still being read",
        s.selected_row.map(|r| r.to_string()).unwrap_or("-".into()),
        s.view.len(),
        us(median(&key_frames)),
        us(percentile(&key_frames, 0.95)),
        us(median(&idle_frames)),
        us(percentile(&idle_frames, 0.95)),
        2 * frames,
    );
}

/// The re-check of the search sidecar's hits against their records, per
/// hit: what a keystroke in Search costs beyond the sidecar's own query.
fn recheck(archive: &Path, h: &Harness<'static, Viewer>) {
    use auditlens::app::text_index::TextIndex;
    use auditlens_core::filter::Filter;
    use auditlens_core::job::Job;
    let s = &h.state().state;
    let (Some(ix), Some(text)) = (
        s.index().cloned(),
        s.doc.as_ref().and_then(|d| d.search.clone()),
    ) else {
        return;
    };
    let TextIndex::Sidecar(sidecar) = text.as_ref() else {
        println!("re-check of sidecar hits: skipped (the text index is in memory)");
        return;
    };
    // An actor id's first eight characters, as someone pasting part of one.
    let actor: String = ix
        .actors
        .get(ix.actors.len().saturating_sub(1) as u32)
        .map_or("alice".into(), |a| a.chars().take(8).collect());
    let mut each = Vec::new();
    for needle in ["prod", "delete", actor.as_str(), "2025-01"] {
        let t = Instant::now();
        let hits = sidecar.hits(needle).expect("sidecar query");
        let query = t.elapsed();
        let positions: Vec<u32> = hits.iter().filter_map(|&q| ix.position(q)).collect();
        let f = Filter {
            search: Some(needle.into()),
            ..Filter::default()
        };
        let t = Instant::now();
        let kept = auditlens_core::row_index::refine_with_records(
            &ix,
            archive,
            &positions,
            &f,
            &Job::new(),
        )
        .expect("re-check");
        let check = t.elapsed();
        each.push(format!(
            "{needle:?} sidecar query {} for {} hits, re-check {} ({:.2} µs/hit, {} kept)",
            ms(query),
            hits.len(),
            ms(check),
            check.as_secs_f64() * 1e6 / hits.len().max(1) as f64,
            kept.len()
        ));
    }
    println!(
        "re-check of sidecar hits against their records: {}",
        each.join("; ")
    );
}

/// Figure 3: keystroke in Search → view settled, median of 5; then a facet tick, median of 5.
fn refilter(h: &mut Harness<'static, Viewer>) {
    // Typing a word one key at a time: each keystroke until the rows are
    // updated (a needle of one or two characters reads the records: the
    // sidecar's trigrams need three).
    for word in ["prod", "alice"] {
        h.state_mut().state.filter = Default::default();
        wait_for(h, "cleared filter", |v| v.state.settled());
        h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Search")
            .click();
        h.run_steps(2);
        let mut each = Vec::new();
        for (i, c) in word.char_indices() {
            let typed = &word[..i + c.len_utf8()];
            h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Search")
                .type_text(&c.to_string());
            let t = wait_for(h, "search", |v| {
                v.state.filter.search == typed && v.state.settled()
            });
            let s = &h.state().state;
            each.push(match s.search_waits {
                Some(_) => format!("{typed:?} {} (waits for more characters)", ms(t)),
                None => format!("{typed:?} {} ({} rows)", ms(t), s.view.len()),
            });
        }
        println!(
            "typing {word:?}, each keystroke until the rows are updated: {}",
            each.join(", ")
        );
    }

    // Narrowing: the last keystroke of a word, the rest already typed.
    let mut times = Vec::new();
    let mut shown = Vec::new();
    for word in ["ivan", "prod", "2025", "alice", "safari"] {
        let (head, last) = word.split_at(word.len() - 1);
        h.state_mut().state.filter.search = head.to_string();
        wait_for(h, "prefix typed", |v| v.state.settled());
        h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Search")
            .click();
        h.run_steps(2);
        h.key_press(egui::Key::End);
        h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Search")
            .type_text(last);
        let t = wait_for(h, "search", |v| {
            v.state.filter.search == word && v.state.settled()
        });
        times.push(t);
        shown.push(format!("{word:?}→{}", h.state().state.view.len()));
    }
    let all: Vec<String> = times.iter().map(|&d| ms(d)).collect();
    println!(
        "re-filter on the last keystroke of a word (until settled): median {} of 5 [{}] (rows: {})",
        ms(median(&times)),
        all.join(", "),
        shown.join(", ")
    );

    refilter_facet(h);
}

/// A facet ticked and unticked (through the state), until the view settles; and the timeline.
fn refilter_facet(h: &mut Harness<'static, Viewer>) {
    // Facet: tick the most common action's checkbox.
    h.state_mut().state.filter = Default::default();
    wait_for(h, "cleared filter", |v| v.state.settled());
    h.key_press(egui::Key::Escape); // drop keyboard focus from Search
    h.run_steps(2);
    let Some(ix) = h.state().state.index().cloned() else {
        println!("re-filter on a facet: skipped (no index)");
        return;
    };
    // The activity timeline over every entry (counted again when the view
    // changes: in the frame up to `TIMELINE_IN_FRAME` entries, else on a worker).
    let positions: Vec<u32> = (0..ix.len() as u32).collect();
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        std::hint::black_box(auditlens::app::panels::timeline::Histogram::of(
            &ix, &positions, 300,
        ));
        times.push(t.elapsed());
    }
    println!(
        "timeline histogram over all {} entries (300 buckets): median {} of 5, {}",
        ix.len(),
        ms(median(&times)),
        if ix.len() > auditlens::app::state::TIMELINE_IN_FRAME {
            "counted on a worker, not in a frame"
        } else {
            "counted in the frame"
        }
    );
    let best = ix
        .actions
        .values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.as_ref().map(|v| (v.to_string(), ix.counts.actions[i])))
        .max_by_key(|(_, n)| *n);
    let Some((action, n)) = best else {
        println!("re-filter on a facet: skipped (no actions)");
        return;
    };
    let mut times = Vec::new();
    for _ in 0..5 {
        // Through the state: in the platform-shaped archive the Actions list
        // sits below the Projects list, out of the side panel's view, where
        // a click would not reach it.
        h.state_mut().state.filter.actions.insert(action.clone());
        let t = wait_for(h, "facet on", |v| {
            !v.state.filter.actions.is_empty() && v.state.settled()
        });
        times.push(t);
        h.state_mut().state.filter.actions.clear();
        wait_for(h, "facet off", |v| {
            v.state.filter.actions.is_empty() && v.state.settled()
        });
    }
    let all: Vec<String> = times.iter().map(|&d| ms(d)).collect();
    println!(
        "re-filter on ticking facet action={action:?} ({n} entries, until settled): median {} of 5 [{}]",
        ms(median(&times)),
        all.join(", ")
    );
}
