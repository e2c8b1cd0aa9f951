//! Builds the viewer's index and free-text index for an archive and prints
//! their sizes, build times and a few query times (no window).
//!
//!     cargo run --release --example text_index_probe -- path/to/archive.sqlite [needle…]

use std::time::Instant;

use auditlens_core::job::Job;
use auditlens_core::row_index::Index;
use auditlens_core::text_search::SearchIndex;

fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: text_index_probe ARCHIVE [NEEDLE…]");
        std::process::exit(2);
    };
    let r0 = rss();
    let t = Instant::now();
    let ix = Index::load(path.as_ref(), &Job::new()).expect("index");
    let n = ix.len().max(1) as f64;
    println!(
        "index: {} entries in {:.2} s, heap {:.1} B/entry, RSS +{:.1} B/entry",
        ix.len(),
        t.elapsed().as_secs_f64(),
        ix.heap_bytes() as f64 / n,
        (rss() - r0) as f64 / n
    );
    let r1 = rss();
    let t = Instant::now();
    let si = SearchIndex::build(path.as_ref(), &ix, &Job::new()).expect("text index");
    auditlens_core::row_index::release_free_memory();
    println!(
        "text index: built in {:.2} s, heap {:.1} B/entry, RSS +{:.1} B/entry; {}",
        t.elapsed().as_secs_f64(),
        si.heap_bytes() as f64 / n,
        (rss() - r1) as f64 / n,
        si.describe()
    );
    let all: Vec<u32> = (0..ix.len() as u32).collect();
    let needles: Vec<String> = if args.len() > 1 {
        args[1..].to_vec()
    } else {
        [
            "a",
            "e",
            "x",
            "7",
            "q",
            "ivan",
            "2025",
            "2025-03",
            "08:00",
            "datasetitem-6",
            "cvawg5cjui8264kydp7nn23vt",
        ]
        .map(String::from)
        .to_vec()
    };
    for q in needles {
        let q = q.to_lowercase();
        let mut times = Vec::new();
        let mut hits = 0;
        for _ in 0..5 {
            let t = Instant::now();
            hits = si.filter(&q, &all).len();
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "{q:?}: {hits} hits, median {:.1} ms",
            times[2].as_secs_f64() * 1e3
        );
    }
}
