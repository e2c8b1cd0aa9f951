use auditlens_core::archive::{Archive, ArchiveError, Column, Columns, Scan};
use auditlens_core::record_view::RecordView;
use std::time::Instant;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let n: u64 = a.get(2).map(|s| s.parse().unwrap()).unwrap_or(200000);
    let iters: usize = a.get(3).map(|s| s.parse().unwrap()).unwrap_or(7);
    let archive = Archive::open(std::path::Path::new(&a[1])).unwrap();
    let mut recs: Vec<Vec<u8>> = Vec::new();
    let first = Scan::all(Columns::of(&[Column::Record])).limit(n);
    archive
        .scan::<ArchiveError>(&first, |r| {
            recs.push(r.record().to_vec());
            Ok(())
        })
        .unwrap();
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
