//! Viewer benchmark on a realistic archive, driven through egui_kittest (no
//! display, no GPU: every figure is UI/CPU time on this machine).
//!
//!     cargo bench --bench viewer
//!     AUDITLENS_BENCH_ARCHIVE=path/to/archive.sqlite cargo bench --bench viewer
//!
//! The default archive is `bench-data/archive-1000000.sqlite`, written by
//! `cargo bench --bench core`. Prints one line per figure:
//! 1. open → first interactive frame (index loaded, rows on screen), median of 3;
//! 2. frame time while paging through the table (median and p95);
//! 3. re-filter time after one keystroke in Search, and after ticking a facet;
//! 4. resident memory per entry with the archive open and verified;
//! 5. what a frame needs read from the records (a screenful of rows, the
//!    selected entry), which the viewer reads on a worker;
//! 6. the facet counts (each facet under the other filters) and a whole
//!    view computation with a search and a facet.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use auditlens::app::egui;
use auditlens::app::panels::thousands;
use auditlens::app::{NoDialogs, Viewer};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

/// Generous: verifying a large archive on a slow machine can take a while.
const TIMEOUT: Duration = Duration::from_secs(600);

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

/// VmRSS of this process in bytes (Linux only).
fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
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

/// Steps the UI until `done` holds; returns the time it took. Panics after TIMEOUT.
fn wait_for(h: &mut Harness<'_, Viewer>, what: &str, done: impl Fn(&Viewer) -> bool) -> Duration {
    let start = Instant::now();
    loop {
        h.step();
        if done(h.state()) {
            return start.elapsed();
        }
        if start.elapsed() > TIMEOUT {
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

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let archive: PathBuf = match std::env::var_os("AUDITLENS_BENCH_ARCHIVE") {
        Some(p) => p.into(),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench-data/archive-1000000.sqlite"),
    };
    if !archive.exists() {
        eprintln!(
            "{} does not exist.\n\
             Create it with:  cargo bench --bench core\n\
             (or point AUDITLENS_BENCH_ARCHIVE at an existing archive)",
            archive.display()
        );
        std::process::exit(1);
    }
    let size_mb = std::fs::metadata(&archive).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
    println!("archive: {} ({size_mb:.0} MB)", archive.display());

    // Memory first, in a fresh process, so freed-but-retained heap from the
    // other measurements does not hide the growth. The same window (loaded,
    // text-indexed and verified: nothing else running) is then scrolled and
    // filtered.
    let (entries, mut h) = memory(&archive);
    frame_reads(&archive, &h);
    facets(&archive, &h);
    scrolling(&mut h);
    refilter(&mut h);
    drop(h);
    open_to_interactive(&archive);
    println!("(entries: {entries}; the machine may be shared: compare medians, not single runs)");
}

/// Figure 4: VmRSS before opening and after loading + text index + verification, per entry.
fn memory(archive: &Path) -> (usize, Harness<'static, Viewer>) {
    let mut h = harness();
    let before = rss_bytes();
    h.state_mut().state.open(archive.to_path_buf());
    let t = wait_for(&mut h, "load + text index + verify", loaded_and_verified);
    h.run_steps(2);
    let after = rss_bytes();
    let s = &h.state().state;
    let n = s.index().map(|i| i.len()).unwrap_or(0);
    let heap = |b: usize| b as f64 / n.max(1) as f64;
    let index_heap = s.index().map_or(0, |i| i.heap_bytes());
    let text_heap = s
        .doc
        .as_ref()
        .and_then(|d| d.search.as_ref())
        .map_or(0, |t| t.heap_bytes());
    match (before, after) {
        (Some(b), Some(a)) if n > 0 => println!(
            "memory: VmRSS {:.1} MB before open, {:.1} MB after load + text index + verify ({:.1} s); \
             {:.0} bytes/entry over {n} entries (heap: index {:.0} B/entry, text index {:.0} B/entry)",
            b as f64 / 1e6,
            a as f64 / 1e6,
            t.as_secs_f64(),
            a.saturating_sub(b) as f64 / n as f64,
            heap(index_heap),
            heap(text_heap),
        ),
        _ => println!("memory: VmRSS not available (no /proc/self/status?) or empty archive"),
    }
    (n, h)
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

/// Figure 6: the facet pass over every entry (each facet's counts under
/// the other filters, with one action ticked), and a whole view computed
/// on a worker for a search plus that facet, from scratch with the text
/// index (what the viewer runs when such a filter is set).
fn facets(archive: &Path, h: &Harness<'static, Viewer>) {
    use auditlens::app::query::{self, Query, Reads, Sources};
    use auditlens_core::filter::Filter;
    use auditlens_core::job::Job;
    let s = &h.state().state;
    let (Some(ix), Some(text)) = (
        s.index().cloned(),
        s.doc.as_ref().and_then(|d| d.search.clone()),
    ) else {
        return;
    };
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
    let all: Vec<u32> = (0..ix.len() as u32).collect();
    let mut pass = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        std::hint::black_box(ix.facets(&f, &all, &[]));
        pass.push(t.elapsed());
    }
    let q = Query {
        filter: Filter {
            search: Some("prod".into()),
            ..f
        },
        sort: auditlens_core::row_index::SortKey::Time,
        descending: false,
        restriction: None,
    };
    let src = Sources {
        index: &ix,
        text: Some(&text),
        archive,
    };
    let mut whole = Vec::new();
    let mut rows = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let v = query::compute(&src, &q, None, Reads::Records, &Job::new())
            .expect("view")
            .expect("records allowed");
        whole.push(t.elapsed());
        rows = v.rows.len();
    }
    println!(
        "facet counts over all {} entries (action={action:?} ticked): median {} of 5; \
         whole view for search \"prod\" + that facet ({rows} rows, counts, sorted by time): median {} of 5",
        ix.len(),
        ms(median(&pass)),
        ms(median(&whole)),
    );
}

/// Figure 1: open → first interactive frame (first page on screen), median of
/// 3, with the times until the whole index (filters) and the text index are
/// in. Each open is in a fresh window; closing it cancels its background work.
fn open_to_interactive(archive: &Path) {
    let mut first = Vec::new();
    let mut complete = Vec::new();
    let mut text = Vec::new();
    for _ in 0..3 {
        let mut h = harness();
        let t0 = Instant::now();
        h.state_mut().state.open(archive.to_path_buf());
        wait_for(&mut h, "first interactive frame", interactive);
        first.push(t0.elapsed());
        wait_for(&mut h, "whole index", index_complete);
        complete.push(t0.elapsed());
        wait_for(&mut h, "text index", text_index_ready);
        text.push(t0.elapsed());
        h.state_mut().state.close();
    }
    let all = |v: &[Duration]| v.iter().map(|&d| ms(d)).collect::<Vec<_>>().join(", ");
    println!(
        "open → first interactive frame (first page on screen): median {} of 3 [{}]; \
         whole index (filters, sorting) median {} [{}]; text index median {} [{}]",
        ms(median(&first)),
        all(&first),
        ms(median(&complete)),
        all(&complete),
        ms(median(&text)),
        all(&text),
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

/// Figure 3: keystroke in Search → view settled, median of 5; then a facet tick, median of 5.
fn refilter(h: &mut Harness<'static, Viewer>) {
    let mut times = Vec::new();
    let mut shown = Vec::new();
    for c in ["a", "e", "x", "7", "q"] {
        h.state_mut().state.filter = Default::default();
        wait_for(h, "cleared filter", |v| v.state.settled());
        h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Search")
            .click();
        h.run_steps(2);
        h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Search")
            .type_text(c);
        let t = wait_for(h, "search", |v| {
            v.state.filter.search == c && v.state.settled()
        });
        times.push(t);
        shown.push(format!("{c:?}→{}", h.state().state.view.len()));
    }
    let all: Vec<String> = times.iter().map(|&d| ms(d)).collect();
    println!(
        "re-filter on one keystroke in Search (until settled): median {} of 5 [{}] (rows: {})",
        ms(median(&times)),
        all.join(", "),
        shown.join(", ")
    );

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

    // Facet: tick the most common action's checkbox.
    h.state_mut().state.filter = Default::default();
    wait_for(h, "cleared filter", |v| v.state.settled());
    h.key_press(egui::Key::Escape); // drop keyboard focus from Search
    h.run_steps(2);
    let Some(ix) = h.state().state.index().cloned() else {
        println!("re-filter on a facet: skipped (no index)");
        return;
    };
    // The activity timeline over every entry (it is recomputed when the view changes).
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
        "timeline histogram over all {} entries (300 buckets): median {} of 5",
        ix.len(),
        ms(median(&times))
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
    let label = format!("{action} ({})", thousands(n));
    if h.query_by_label(&label).is_none() {
        // Collapsed when there are many values: open the "Actions" header.
        if let Some(header) = h.query_by_label("Actions") {
            header.click();
            h.run_steps(2);
        }
    }
    if h.query_by_label(&label).is_none() {
        println!("re-filter on a facet: skipped (checkbox {label:?} not found)");
        return;
    }
    let mut times = Vec::new();
    for _ in 0..5 {
        h.get_by_label(&label).click();
        let t = wait_for(h, "facet on", |v| {
            !v.state.filter.actions.is_empty() && v.state.settled()
        });
        times.push(t);
        h.get_by_label(&label).click();
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
