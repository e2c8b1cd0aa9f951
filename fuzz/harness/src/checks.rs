//! Checks shared by the reader targets: a reader advances, and every entry it
//! accepts reads back from the record ingest would seal.

use crate::core::archive::{IndexColumns, parse_record};
use crate::core::model::Entry;
use crate::core::record_view::RecordView;
use crate::core::source::Source;

/// Reads every record of `src` to the end, checking each accepted entry with
/// [`check_entry`]. Every record consumes input, so a reader that yields more
/// items than the input has bytes is stuck: that is a failure, not a slow input.
pub fn drain(src: &mut Source, input_len: usize) -> usize {
    let mut n = 0usize;
    while let Some(r) = src.next_record() {
        n += 1;
        assert!(
            n <= input_len + 2,
            "the reader yielded {n} records from {input_len} bytes: it does not advance"
        );
        if let Ok(rec) = r {
            check_entry(&rec.entry);
        }
    }
    assert!(
        src.next_record().is_none(),
        "a finished reader yielded again"
    );
    n
}

/// What ingest seals for an accepted entry must read back: the canonical
/// record parses to the same entry, and the record view (which ingest and
/// verify use for the index columns) derives the same columns as the entry.
pub fn check_entry(e: &Entry) {
    let rec = e.canonical_record();
    let back = parse_record(rec.as_bytes())
        .unwrap_or_else(|m| panic!("an accepted entry's record does not read back: {m}\n{rec}"));
    assert_eq!(&back, e, "the record reads back as another entry: {rec}");
    assert_eq!(back.canonical_record(), rec, "canonical form is not stable");
    let view = RecordView::parse(rec.as_bytes())
        .unwrap_or_else(|m| panic!("the record view rejects an accepted record: {m}\n{rec}"));
    let derived: Vec<Option<String>> = view.index_columns().iter().map(|c| c.to_text()).collect();
    assert_eq!(
        derived,
        IndexColumns::from_entry(e).values().to_vec(),
        "the record view derives other index columns than the entry: {rec}"
    );
    assert_eq!(
        view.before,
        e.before.as_ref().map(|b| b.to_canonical()).as_deref()
    );
    assert_eq!(
        view.after,
        e.after.as_ref().map(|b| b.to_canonical()).as_deref()
    );
}
