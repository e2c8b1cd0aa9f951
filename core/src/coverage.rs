//! Coverage of the archive: which export files went into it, and where it
//! has holes. An auditor's first question is "is this all of it?"; the
//! chain proves that nothing stored was removed, this shows what may never
//! have been stored.
//!
//! Two kinds of hole are named, each a lead for a person, not a verdict:
//! - **empty days**: a run of UTC days with no entries whose neighbouring
//!   days (the day before and the day after) each have at least
//!   [`CoverageSettings::busy_day`] entries;
//! - **export gaps**: a stretch longer than [`CoverageSettings::min_gap_hours`]
//!   that no ingested file's window (its oldest to its newest entry)
//!   covers. Overlapping windows (daily exports that repeat entries) are
//!   normal and are not holes.
//!
//! Both say whether they fall on a weekend only, where quiet is often normal.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::archive::{Archive, Cell, Column, Columns, IngestRun, Scan};
use crate::job::Job;
use crate::time::Timestamp;

const DAY_MS: i64 = 86_400_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoverageSettings {
    /// A neighbouring day is busy with at least this many entries.
    pub busy_day: u64,
    /// Export windows further apart than this are a gap.
    pub min_gap_hours: u32,
}

impl Default for CoverageSettings {
    fn default() -> Self {
        CoverageSettings {
            busy_day: 10,
            min_gap_hours: 24,
        }
    }
}

/// A run of empty days, `from_day..=to_day` (days since 1970-01-01, UTC).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmptyDays {
    pub from_day: i64,
    pub to_day: i64,
    /// Entries on the day before and the day after.
    pub before: u64,
    pub after: u64,
    pub weekend_only: bool,
}

/// A stretch no ingested file covers, between two files' windows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportGap {
    pub from: i64,
    pub to: i64,
    /// The file whose window ends where the gap starts, and the one that starts after it.
    pub after_file: String,
    pub before_file: String,
    pub weekend_only: bool,
}

/// What the archive covers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    pub runs: Vec<IngestRun>,
    /// Entries per UTC day, for every day from the first to the last entry's.
    pub days: BTreeMap<i64, u64>,
    pub empty_days: Vec<EmptyDays>,
    pub export_gaps: Vec<ExportGap>,
    /// Files recorded before auditlens kept windows: not in the gap analysis.
    pub files_without_window: usize,
}

fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

/// Monday = 0 … Sunday = 6 (1970-01-01 was a Thursday).
fn weekday(day: i64) -> i64 {
    (day + 3).rem_euclid(7)
}

fn day_text(day: i64) -> String {
    Timestamp(day.saturating_mul(DAY_MS))
        .to_string()
        .chars()
        .take(10)
        .collect()
}

/// Entries per UTC day, read from each row's `time_ms` (every day between
/// the first and last is present, empty ones as 0).
pub fn day_counts(archive: &Archive, job: &Job) -> Result<BTreeMap<i64, u64>, String> {
    let mut days: BTreeMap<i64, u64> = BTreeMap::new();
    let mut n = 0u64;
    archive.scan::<String>(&Scan::all(Columns::of(&[Column::TimeMs])), |r| {
        if let Cell::Integer(t) = r.get(Column::TimeMs) {
            *days.entry(day_of(t)).or_default() += 1;
        }
        n += 1;
        if n.is_multiple_of(65_536) {
            job.check().map_err(|_| "cancelled".to_string())?;
        }
        Ok(())
    })?;
    Ok(fill(days))
}

/// `days` with every missing day between the first and the last as 0.
pub fn fill(mut days: BTreeMap<i64, u64>) -> BTreeMap<i64, u64> {
    if let (Some((&a, _)), Some((&b, _))) = (days.first_key_value(), days.last_key_value()) {
        // An archive's span is years, not millennia; a forged time far away
        // must not make this allocate without end.
        if b - a <= 366 * 100 {
            for d in a..=b {
                days.entry(d).or_default();
            }
        }
    }
    days
}

/// The runs of empty days between two busy days.
pub fn empty_days(days: &BTreeMap<i64, u64>, busy_day: u64) -> Vec<EmptyDays> {
    let mut out = Vec::new();
    let list: Vec<(i64, u64)> = days.iter().map(|(d, n)| (*d, *n)).collect();
    let mut i = 0;
    while i < list.len() {
        if list[i].1 != 0 {
            i += 1;
            continue;
        }
        let start = i;
        while i < list.len() && list[i].1 == 0 {
            i += 1;
        }
        let (Some(before), Some(after)) = (start.checked_sub(1).map(|b| list[b]), list.get(i))
        else {
            continue;
        };
        // Consecutive days only: a gap in the map is not a run.
        if list[i - 1].0 - list[start].0 != (i - 1 - start) as i64 {
            continue;
        }
        if before.1 >= busy_day && after.1 >= busy_day {
            let (from_day, to_day) = (list[start].0, list[i - 1].0);
            out.push(EmptyDays {
                from_day,
                to_day,
                before: before.1,
                after: after.1,
                weekend_only: (from_day..=to_day).all(|d| weekday(d) >= 5),
            });
        }
    }
    out
}

/// Stretches longer than `min_gap_ms` that no file's window covers.
pub fn export_gaps(windows: &[(String, i64, i64)], min_gap_ms: i64) -> Vec<ExportGap> {
    let mut sorted: Vec<&(String, i64, i64)> = windows.iter().collect();
    sorted.sort_by_key(|w| (w.1, w.2));
    let mut out = Vec::new();
    let Some(first) = sorted.first() else {
        return out;
    };
    let (mut covered_to, mut last_file) = (first.2, &first.0);
    for w in &sorted[1..] {
        if w.1 - covered_to > min_gap_ms {
            out.push(ExportGap {
                from: covered_to,
                to: w.1,
                after_file: last_file.clone(),
                before_file: w.0.clone(),
                weekend_only: (day_of(covered_to) + 1..day_of(w.1)).all(|d| weekday(d) >= 5),
            });
        }
        if w.2 > covered_to {
            covered_to = w.2;
            last_file = &w.0;
        }
    }
    out
}

/// The coverage of `archive`.
pub fn of_archive(
    archive: &Archive,
    settings: &CoverageSettings,
    job: &Job,
) -> Result<Coverage, String> {
    // The runs describe; the entries are the evidence. An `ingests` table
    // another program dropped or changed (verify says `schema_altered`)
    // leaves the coverage of the entries themselves, not an error that
    // would stop `info`, the report and the viewer's panel.
    let runs = archive.ingest_runs().unwrap_or_default();
    let days = day_counts(archive, job)?;
    let windows: Vec<(String, i64, i64)> = runs
        .iter()
        .flat_map(|r| &r.sources)
        .filter_map(|s| s.window.map(|(a, b)| (s.file.clone(), a, b)))
        .collect();
    let files_without_window = runs
        .iter()
        .flat_map(|r| &r.sources)
        .filter(|s| s.entries.is_none())
        .count();
    Ok(Coverage {
        empty_days: empty_days(&days, settings.busy_day),
        export_gaps: export_gaps(&windows, i64::from(settings.min_gap_hours) * 3_600_000),
        runs,
        days,
        files_without_window,
    })
}

impl Coverage {
    /// The facts as JSON: `info --json`'s `coverage` and the report's section.
    pub fn to_json(&self, settings: &CoverageSettings) -> Value {
        let files: Vec<Value> = self
            .runs
            .iter()
            .flat_map(|r| {
                r.sources.iter().map(move |s| {
                    json!({
                        "file": s.file,
                        "sha256": s.sha256,
                        "entries": s.entries,
                        "rejected": s.rejected,
                        "from": s.window.map(|w| Timestamp(w.0).to_string()),
                        "to": s.window.map(|w| Timestamp(w.1).to_string()),
                        "ingested_at": r.finished_at,
                        "run": r.run,
                    })
                })
            })
            .collect();
        let runs: Vec<Value> = self
            .runs
            .iter()
            .map(|r| {
                json!({
                    "run": r.run,
                    "finished_at": r.finished_at,
                    "files": r.sources.len(),
                    "added": r.added,
                    "duplicates": r.duplicates,
                    "conflicts": r.conflicts,
                })
            })
            .collect();
        let empty: Vec<Value> = self
            .empty_days
            .iter()
            .map(|h| {
                json!({
                    "from": day_text(h.from_day),
                    "to": day_text(h.to_day),
                    "days": h.to_day - h.from_day + 1,
                    "entries_day_before": h.before,
                    "entries_day_after": h.after,
                    "weekend_only": h.weekend_only,
                })
            })
            .collect();
        let gaps: Vec<Value> = self
            .export_gaps
            .iter()
            .map(|g| {
                json!({
                    "from": Timestamp(g.from).to_string(),
                    "to": Timestamp(g.to).to_string(),
                    "hours": (g.to - g.from) / 3_600_000,
                    "after_file": g.after_file,
                    "before_file": g.before_file,
                    "weekend_only": g.weekend_only,
                })
            })
            .collect();
        json!({
            "settings": {
                "busy_day": settings.busy_day,
                "min_gap_hours": settings.min_gap_hours,
            },
            "files": files,
            "files_without_window": self.files_without_window,
            "runs": runs,
            "days": self.days.len(),
            "empty_days": empty,
            "export_gaps": gaps,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekdays() {
        assert_eq!(weekday(0), 3); // 1970-01-01, a Thursday
        assert_eq!(day_text(day_of(1_736_121_600_000)), "2025-01-06");
        assert_eq!(weekday(day_of(1_736_121_600_000)), 0); // a Monday
    }
}
