//! Case notes: bookmarks, tags and notes on entries, kept in a sidecar file
//! next to the archive (`ARCHIVE.case.json`), never inside it: the evidence
//! is not touched by the investigation of it.
//!
//! Marks are keyed by seq and carry the entry id as well, so a case file
//! opened against another archive, or against entries that changed, is
//! noticed instead of silently pinning notes on the wrong rows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::chain::ArchiveId;
use crate::evidence::{CASE_KEY, CASE_SUFFIX};
use crate::output::Output;

/// What the investigator noted on one entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mark {
    pub entry_id: String,
    pub bookmarked: bool,
    pub tags: Vec<String>,
    pub note: String,
}

impl Mark {
    fn is_empty(&self) -> bool {
        !self.bookmarked && self.tags.is_empty() && self.note.trim().is_empty()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseFile {
    pub archive_id: ArchiveId,
    /// By seq.
    pub marks: BTreeMap<u64, Mark>,
}

/// The largest case file read: notes on a hundred thousand entries fit many
/// times over, and a file that is larger (or a device that never ends, put
/// in its place) is refused instead of filling memory.
pub const MAX_CASE_BYTES: u64 = 64 << 20;

/// Where the case file of an archive lives.
pub fn case_path(archive: &Path) -> PathBuf {
    let mut p = archive.as_os_str().to_owned();
    p.push(CASE_SUFFIX);
    PathBuf::from(p)
}

/// The archive a case file belongs to (`A.sqlite` for `A.sqlite.case.json`).
fn archive_of(case: &Path) -> Option<PathBuf> {
    let s = case.as_os_str().to_str()?;
    s.strip_suffix(CASE_SUFFIX).map(PathBuf::from)
}

impl CaseFile {
    pub fn new(archive_id: ArchiveId) -> Self {
        CaseFile {
            archive_id,
            marks: BTreeMap::new(),
        }
    }

    /// The case file at `path`, or an empty case when there is none yet.
    /// A case file of another archive is an error, not an empty case: its
    /// notes must not be lost by being overwritten.
    pub fn load(path: &Path, archive_id: ArchiveId) -> Result<CaseFile, String> {
        use crate::small_file::{self, SmallFileError};
        let bad = |why: &str| format!("{} is not a readable case file: {why}", path.display());
        let bytes = match small_file::read(path, MAX_CASE_BYTES) {
            Ok(b) => b,
            Err(SmallFileError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(CaseFile::new(archive_id));
            }
            Err(SmallFileError::Io(e)) => return Err(format!("{}: {e}", path.display())),
            Err(SmallFileError::TooLarge) => {
                return Err(bad(&format!(
                    "it holds more than {} MiB (or never ends); move it away to start a new case",
                    MAX_CASE_BYTES >> 20
                )));
            }
        };
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| bad(&e.to_string()))?;
        if v[CASE_KEY] != json!(1) {
            return Err(bad("no \"auditlens_case\": 1"));
        }
        let id = v["archive_id"]
            .as_str()
            .and_then(ArchiveId::parse)
            .ok_or_else(|| bad("no archive id"))?;
        if id != archive_id {
            return Err(format!(
                "{} holds the notes of archive {id}, not of this archive ({archive_id}); \
                 move it away to start a new case",
                path.display()
            ));
        }
        let mut case = CaseFile::new(id);
        for m in v["marks"].as_array().ok_or_else(|| bad("no marks list"))? {
            let seq = m["seq"].as_u64().ok_or_else(|| bad("a mark without seq"))?;
            let mark = Mark {
                entry_id: m["entry_id"].as_str().unwrap_or_default().to_string(),
                bookmarked: m["bookmarked"].as_bool().unwrap_or(false),
                tags: m["tags"]
                    .as_array()
                    .map(|t| {
                        t.iter()
                            .filter_map(|t| t.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
                note: m["note"].as_str().unwrap_or_default().to_string(),
            };
            case.marks.insert(seq, mark);
        }
        Ok(case)
    }

    /// Writes the case file through the one output path: it may replace
    /// this archive's case file (the viewer's working file), nothing else,
    /// and never the archive it annotates.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let marks: Vec<Value> = self
            .marks
            .iter()
            .filter(|(_, m)| !m.is_empty())
            .map(|(seq, m)| {
                json!({
                    "seq": seq,
                    "entry_id": m.entry_id,
                    "bookmarked": m.bookmarked,
                    "tags": m.tags,
                    "note": m.note,
                })
            })
            .collect();
        let v = json!({
            CASE_KEY: 1,
            "archive_id": self.archive_id.to_string(),
            "saved_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "marks": marks,
        });
        let fail = |e: String| format!("cannot save the case file: {e}");
        let text = serde_json::to_string_pretty(&v).map_err(|e| fail(e.to_string()))?;
        let mut out = Output::reading(archive_of(path).as_slice());
        let slot = out
            .add_case_file(path, self.archive_id)
            .map_err(|e| fail(e.to_string()))?;
        out.write(slot, text.as_bytes())
            .map_err(|e| fail(e.to_string()))?;
        out.commit().map_err(|e| fail(e.to_string()))?;
        Ok(())
    }

    pub fn mark(&self, seq: u64) -> Option<&Mark> {
        self.marks.get(&seq)
    }

    /// The mark of `seq`, created for entry `entry_id` if absent.
    pub fn mark_mut(&mut self, seq: u64, entry_id: &str) -> &mut Mark {
        self.marks.entry(seq).or_insert_with(|| Mark {
            entry_id: entry_id.to_string(),
            ..Mark::default()
        })
    }

    pub fn bookmarked(&self) -> impl Iterator<Item = (u64, &Mark)> {
        self.marks
            .iter()
            .filter(|(_, m)| m.bookmarked)
            .map(|(s, m)| (*s, m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_case_file_is_an_empty_case_and_a_bad_one_an_error() {
        let d = tempfile::tempdir().unwrap();
        let id = ArchiveId::random();
        let path = d.path().join("a.sqlite.case.json");
        assert!(CaseFile::load(&path, id).unwrap().marks.is_empty());
        std::fs::write(&path, b"{ not json").unwrap();
        assert!(
            CaseFile::load(&path, id)
                .unwrap_err()
                .contains("not a readable case file")
        );
    }

    /// A device that never ends, put where the case file goes, is refused
    /// instead of being read until memory runs out.
    #[cfg(unix)]
    #[test]
    fn an_endless_case_file_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("a.sqlite.case.json");
        std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
        let e = CaseFile::load(&path, ArchiveId::random()).unwrap_err();
        assert!(e.contains("more than 64 MiB"), "{e}");
    }
}
