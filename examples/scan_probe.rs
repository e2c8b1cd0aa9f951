use auditlens_core::record_view::RecordView;
use rusqlite::{Connection, OpenFlags};
use std::time::Instant;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let n: i64 = a.get(2).map(|s| s.parse().unwrap()).unwrap_or(200000);
    let iters: usize = a.get(3).map(|s| s.parse().unwrap()).unwrap_or(7);
    let conn = Connection::open_with_flags(&a[1], OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut st = conn
        .prepare("SELECT record FROM entries ORDER BY seq LIMIT ?1")
        .unwrap();
    let recs: Vec<Vec<u8>> = st
        .query_map([n], |r| Ok(r.get_ref(0)?.as_bytes().unwrap().to_vec()))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let mut times = vec![];
    for _ in 0..iters {
        let t = Instant::now();
        let mut k = 0usize;
        for r in &recs {
            let v = RecordView::parse(r).unwrap();
            k += v.id.len();
        }
        times.push(t.elapsed().as_secs_f64());
        std::hint::black_box(k);
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "parse: min {:.2} us/record",
        times[0] * 1e6 / recs.len() as f64
    );
}
