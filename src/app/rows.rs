//! What the table and the detail pane show of the records: the text of a
//! table row, the selected entry in full, and the cache of rows read.

use std::collections::HashMap;

use auditlens_core::archive::{Archive, StoredEntry};
use auditlens_core::diff::{self, DiffItem};
use auditlens_core::model::{ActorType, Entry};
use auditlens_core::record_view::RecordView;

/// Rows kept before the cache starts over.
const ROW_CACHE_LIMIT: usize = 20_000;

/// Text of one table row, taken from the hashed record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowText {
    pub time_ms: i64,
    pub actor: String,
    pub actor_type: String,
    pub action: String,
    pub resource_type: String,
    pub resource: String,
    pub project: String,
    pub org: String,
    pub ip: String,
}

impl RowText {
    /// Every cell with hidden characters escaped and long values cut.
    fn safe(mut self) -> RowText {
        use auditlens_core::safe_text::{CELL_CHARS, shown};
        for f in [
            &mut self.actor,
            &mut self.actor_type,
            &mut self.action,
            &mut self.resource_type,
            &mut self.resource,
            &mut self.project,
            &mut self.org,
            &mut self.ip,
        ] {
            if let std::borrow::Cow::Owned(o) = shown(f, CELL_CHARS) {
                *f = o;
            }
        }
        self
    }

    fn from_entry(e: &Entry) -> RowText {
        RowText {
            time_ms: e.time.0,
            actor: e.actor.label().to_string(),
            actor_type: e
                .actor
                .actor_type
                .as_ref()
                .map(|t| t.display_name().to_string())
                .unwrap_or_default(),
            action: e.action.clone(),
            resource_type: auditlens_core::catalog::display_name(&e.resource_type).to_string(),
            resource: e.resource_label().to_string(),
            project: e
                .project_name
                .clone()
                .or_else(|| e.project_id.clone())
                .unwrap_or_default(),
            org: e
                .org_name
                .clone()
                .or_else(|| e.org_id.clone())
                .unwrap_or_default(),
            ip: e.ip_address.clone().unwrap_or_default(),
        }
    }

    /// From the borrowed view of the stored record: the same values as
    /// [`RowText::from_entry`] without building the before/after trees
    /// (a page of rows is read on most scrolling frames).
    fn from_view(v: &RecordView<'_>) -> RowText {
        RowText {
            time_ms: v.time.0,
            actor: v.actor.label().unwrap_or_default().to_string(),
            actor_type: v
                .actor
                .actor_type
                .as_deref()
                .map(|t| ActorType::parse(t).display_name().to_string())
                .unwrap_or_default(),
            action: v.action.to_string(),
            resource_type: auditlens_core::catalog::display_name(&v.resource_type).to_string(),
            resource: v
                .resource_name
                .as_deref()
                .unwrap_or(&v.resource_id)
                .to_string(),
            project: v
                .project_name
                .as_deref()
                .or(v.project_id.as_deref())
                .unwrap_or_default()
                .to_string(),
            org: v
                .org_name
                .as_deref()
                .or(v.org_id.as_deref())
                .unwrap_or_default()
                .to_string(),
            ip: v.ip_address.as_deref().unwrap_or_default().to_string(),
        }
    }

    /// The row of a stored record's bytes, escaped for display.
    fn of_record(bytes: &[u8]) -> RowText {
        let text = match RecordView::parse(bytes) {
            Ok(v) => RowText::from_view(&v),
            // The full parser words the error for people.
            Err(_) => match auditlens_core::archive::parse_record(bytes) {
                Ok(e) => RowText::from_entry(&e),
                Err(m) => RowText::unreadable(&m),
            },
        };
        text.safe()
    }

    fn unreadable(message: &str) -> RowText {
        RowText {
            time_ms: 0,
            actor: String::new(),
            actor_type: String::new(),
            action: format!("unreadable record: {message}"),
            resource_type: String::new(),
            resource: String::new(),
            project: String::new(),
            org: String::new(),
            ip: String::new(),
        }
    }

    /// The cells in column order (the time formatted by the caller).
    pub fn cells(&self) -> [&str; 8] {
        [
            &self.actor,
            &self.actor_type,
            &self.action,
            &self.resource_type,
            &self.resource,
            &self.project,
            &self.org,
            &self.ip,
        ]
    }
}

/// The rows read so far, by seq.
#[derive(Default)]
pub struct RowCache {
    rows: HashMap<u64, RowText>,
}

impl RowCache {
    pub fn get(&self, seq: u64) -> Option<&RowText> {
        self.rows.get(&seq)
    }

    pub fn contains(&self, seq: u64) -> bool {
        self.rows.contains_key(&seq)
    }

    pub fn clear(&mut self) {
        self.rows.clear();
    }

    /// The seqs of `seqs` that are not cached.
    pub fn missing(&self, seqs: &[u64]) -> Vec<u64> {
        seqs.iter()
            .copied()
            .filter(|s| !self.rows.contains_key(s))
            .collect()
    }

    /// Keeps rows that [`read_rows`] read.
    pub fn insert(&mut self, rows: Vec<(u64, RowText)>) {
        if self.rows.len() + rows.len() > ROW_CACHE_LIMIT {
            self.rows.clear();
        }
        self.rows.extend(rows);
    }

    /// Reads the rows of `seqs` that are not cached yet, here (benchmarks;
    /// the viewer reads on a worker with [`read_rows`]).
    pub fn fetch(&mut self, archive: &Archive, seqs: &[u64]) {
        let missing = self.missing(seqs);
        if !missing.is_empty() {
            self.insert(read_rows(archive, &missing));
        }
    }
}

/// Reads the table rows of `seqs` with one indexed point query for all of
/// them. A row that cannot be read says why in its Action cell (the table
/// shows the failure where the entry would be, and does not ask again).
pub fn read_rows(archive: &Archive, seqs: &[u64]) -> Vec<(u64, RowText)> {
    let mut got = HashMap::with_capacity(seqs.len());
    let failed = archive
        .for_each_record_at(seqs, |seq, bytes| {
            got.insert(seq, RowText::of_record(bytes));
        })
        .err()
        .map(|e| format!("reading rows: {e}"));
    seqs.iter()
        .map(|&s| {
            let row = got.remove(&s).unwrap_or_else(|| {
                RowText::unreadable(failed.as_deref().unwrap_or("not in the archive"))
            });
            (s, row)
        })
        .collect()
}

/// The selected entry, read in full.
pub struct Detail {
    pub seq: u64,
    pub result: Result<StoredEntry, String>,
    pub diff: Vec<DiffItem>,
}

impl Detail {
    /// Reads entry `seq` and the diff of its before and after states.
    pub fn read(archive: &Archive, seq: u64) -> Detail {
        let result = read_entry(archive, seq);
        let diff = match &result {
            Ok(s) if s.entry.before.is_some() && s.entry.after.is_some() => {
                diff::diff(s.entry.before.as_ref(), s.entry.after.as_ref())
            }
            _ => Vec::new(),
        };
        Detail { seq, result, diff }
    }
}

/// Reads one stored entry by seq, with an error worded for the status line.
pub fn read_entry(archive: &Archive, seq: u64) -> Result<StoredEntry, String> {
    archive
        .entry(seq)
        .map_err(|e| e.0)?
        .ok_or_else(|| format!("entry {seq} is not in the archive"))
}

/// The entry as pretty JSON: seq, hashes and the record.
pub fn entry_json(s: &StoredEntry) -> String {
    use auditlens_core::json::Json;
    let mut m = std::collections::BTreeMap::new();
    m.insert("seq".to_string(), Json::Number(s.seq.to_string()));
    m.insert("leaf_hash".to_string(), Json::String(s.leaf_hash.to_hex()));
    m.insert(
        "chain_hash".to_string(),
        Json::String(s.chain_hash.to_hex()),
    );
    m.insert("record".to_string(), s.entry.to_record());
    Json::Object(m).to_pretty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The table's fast path (borrowed view) shows what the full parse shows.
    #[test]
    fn row_text_from_view_matches_entry() {
        for name in ["audit-sample.sqlite", "tampered.sqlite"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("sample-data")
                .join(name);
            let a = Archive::open(&path).unwrap();
            let mut n = 0;
            a.for_each_record(|_, bytes| {
                if let (Ok(v), Ok(e)) = (
                    RecordView::parse(bytes),
                    auditlens_core::archive::parse_record(bytes),
                ) {
                    assert_eq!(RowText::from_view(&v), RowText::from_entry(&e));
                    n += 1;
                }
            })
            .unwrap();
            assert!(n > 1000, "{n}");
        }
    }
}
