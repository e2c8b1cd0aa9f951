//! Reading the records of many chosen entries (the hits of a search) in seq
//! order through one statement that steps forward and seeks only across
//! wide gaps.
//!
//! A point query per entry ([`Scan::one`](super::Scan::one)) costs a
//! statement lookup, a bind and a descent of the table's b-tree each time;
//! with hundreds of thousands of hits that was most of a search's time.
//! Stepping to the next row is a move to the next cell of a page already
//! read, so across small gaps this reader steps, and across wide ones it
//! starts the statement again at the wanted seq.

use rusqlite::types::ValueRef;

use super::{Archive, ArchiveError, Result};

/// Across a gap of more rows than this, seek instead of stepping: a seek is
/// a b-tree descent (a few interior pages, cached), a step a move within a
/// leaf page (about five rows to a page).
const SEEK_GAP: u64 = 24;

impl Archive {
    /// Calls `f(seq, record)` for each stored entry among `seqs` (ascending,
    /// no repeats), in order; entries not stored are skipped. `f` answers
    /// whether to go on: `Ok(false)` or an error stops the reads.
    pub fn for_each_record_among<E: From<ArchiveError>>(
        &self,
        seqs: &[u64],
        f: impl FnMut(u64, &[u8]) -> Result<bool, E>,
    ) -> Result<(), E> {
        // One read transaction for all the seeks: each statement run on its
        // own would take and drop the file's shared lock and check the file
        // for changes before it reads (most of a seek's cost, measured).
        let own = self.conn.is_autocommit();
        if own {
            self.conn
                .execute_batch("BEGIN DEFERRED")
                .map_err(|e| self.err(e))?;
        }
        let result = self.records_among(seqs, f);
        if own {
            // Nothing was written: ending the read cannot lose anything.
            let _ = self.conn.execute_batch("COMMIT");
        }
        result
    }

    fn records_among<E: From<ArchiveError>>(
        &self,
        seqs: &[u64],
        mut f: impl FnMut(u64, &[u8]) -> Result<bool, E>,
    ) -> Result<(), E> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT seq, record FROM entries NOT INDEXED WHERE seq >= ?1 ORDER BY seq",
            )
            .map_err(|e| self.err(e))?;
        let mut i = 0usize;
        'seek: while let Some(&from) = seqs.get(i) {
            let from = i64::try_from(from).unwrap_or(i64::MAX);
            let mut rows = st.query([from]).map_err(|e| self.err(e))?;
            while let Some(row) = rows.next().map_err(|e| self.err(e))? {
                let seq = match row.get_ref(0).map_err(|e| self.err(e))? {
                    ValueRef::Integer(s) if s >= 0 => s as u64,
                    _ => continue, // never a wanted seq
                };
                while seqs.get(i).is_some_and(|&w| w < seq) {
                    i += 1; // not stored
                }
                let Some(&want) = seqs.get(i) else {
                    return Ok(());
                };
                if want == seq {
                    let record = match row.get_ref(1).map_err(|e| self.err(e))? {
                        ValueRef::Text(b) | ValueRef::Blob(b) => b,
                        _ => &[],
                    };
                    if !f(seq, record)? {
                        return Ok(());
                    }
                    i += 1;
                    match seqs.get(i) {
                        None => return Ok(()),
                        Some(&next) if next.saturating_sub(seq) > SEEK_GAP => continue 'seek,
                        Some(_) => {}
                    }
                } else if want.saturating_sub(seq) > SEEK_GAP {
                    continue 'seek;
                }
            }
            return Ok(());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::{Column, Columns, Scan};
    use std::path::Path;

    /// The same records as one point query per seq, for sparse, dense,
    /// mixed and missing seqs; and `Ok(false)` stops.
    #[test]
    fn reads_the_records_of_the_seqs_asked_for() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-data/audit-sample.sqlite");
        let a = Archive::open(&path).unwrap();
        let n = a.count().unwrap();
        assert!(n > 500, "{n}");
        let one = |seq: u64| {
            let mut r = None;
            a.scan::<ArchiveError>(&Scan::one(Columns::of(&[Column::Record]), seq), |row| {
                r = Some(row.record().to_vec());
                Ok(())
            })
            .unwrap();
            r
        };
        let lists: Vec<Vec<u64>> = vec![
            vec![],
            vec![1],
            vec![n],
            (1..=n).collect(),
            (1..=n).step_by(7).collect(),
            (1..=n).step_by(101).collect(),
            // Dense runs with wide gaps between, and seqs not stored.
            [0, 2, 3, 4, 60, 61, 400]
                .into_iter()
                .chain([n - 1, n, n + 1, n + 500, u64::MAX])
                .collect(),
        ];
        for seqs in lists {
            let mut got = Vec::new();
            a.for_each_record_among::<ArchiveError>(&seqs, |s, r| {
                got.push((s, r.to_vec()));
                Ok(true)
            })
            .unwrap();
            let want: Vec<(u64, Vec<u8>)> = seqs
                .iter()
                .filter_map(|&s| one(s).map(|r| (s, r)))
                .collect();
            assert_eq!(got, want, "{seqs:?}");
        }
        let mut seen = 0;
        a.for_each_record_among::<ArchiveError>(&[1, 2, 3, 50], |_, _| {
            seen += 1;
            Ok(seen < 2)
        })
        .unwrap();
        assert_eq!(seen, 2);
        // The read transaction ends with the reads, however they end.
        assert!(a.conn.is_autocommit());
        let e = a
            .for_each_record_among::<ArchiveError>(&[1, 2], |_, _| Err(ArchiveError("stop".into())))
            .unwrap_err();
        assert_eq!(e.0, "stop");
        assert!(a.conn.is_autocommit());
    }
}
