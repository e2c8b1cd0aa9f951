//! The history of one resource: every entry on the same resource type and
//! id, oldest first, with the diffs chained. Each entry's before state is
//! compared with the previous entry's after state in the same project (an
//! id is unique within a project: prompt entries carry the prompt's name); where they differ, the
//! resource changed in a way the log does not show (an edit outside the
//! platform, a lost entry, an export that missed a page), and the history
//! says so with the difference.
//!
//! Records are read through the one reader and parsed from the sealed
//! bytes; the index columns are not trusted to pick the entries.

use std::collections::HashMap;

use crate::archive::{Archive, Column, Columns, Scan};
use crate::diff::{self, DiffItem};
use crate::job::Job;
use crate::json::Json;
use crate::model::Entry;
use crate::record_view::RecordView;

/// How an entry's before state relates to the previous entry's after state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Link {
    /// The first entry of the history: nothing to compare with.
    First,
    /// The before state is the previous after state.
    Continues,
    /// The states differ: a change the log does not hold (the differences,
    /// from the previous after state to this before state).
    Unlogged(Vec<DiffItem>),
    /// One side has no state, or the two are different kinds of value (a
    /// prompt's tag list after an `updateTags` and the whole prompt before
    /// an `update`): they cannot be compared.
    NotComparable,
}

/// One entry of a resource's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub seq: u64,
    pub entry: Entry,
    /// The entry's own change, before → after.
    pub diff: Vec<DiffItem>,
    pub link: Link,
}

/// A resource's history, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History {
    pub resource_type: String,
    pub resource_id: String,
    pub steps: Vec<Step>,
}

impl History {
    /// Only the entries of one project (`None`: the organisation-level
    /// ones): the same id in another project is another resource.
    pub fn in_project(mut self, project: Option<&str>) -> History {
        self.steps
            .retain(|s| s.entry.project_id.as_deref() == project);
        if let Some(first) = self.steps.first_mut() {
            first.link = Link::First;
        }
        self
    }

    /// The steps whose before state does not continue the previous after state.
    pub fn unlogged(&self) -> impl Iterator<Item = &Step> {
        self.steps
            .iter()
            .filter(|s| matches!(s.link, Link::Unlogged(_)))
    }

    /// The history as JSON (`auditlens history --json`).
    pub fn to_json(&self) -> serde_json::Value {
        let steps: Vec<serde_json::Value> = self
            .steps
            .iter()
            .map(|s| {
                let e = &s.entry;
                let items = |d: &[DiffItem]| -> Vec<serde_json::Value> {
                    d.iter()
                        .map(|i| serde_json::json!({"path": i.path, "old": i.old, "new": i.new}))
                        .collect()
                };
                let (link, unlogged) = match &s.link {
                    Link::First => ("first", None),
                    Link::Continues => ("continues", None),
                    Link::Unlogged(d) => ("unlogged_change", Some(items(d))),
                    Link::NotComparable => ("not_comparable", None),
                };
                serde_json::json!({
                    "seq": s.seq,
                    "id": e.id,
                    "time": e.time.to_string(),
                    "actor": e.actor.label(),
                    "actor_id": e.actor.key(),
                    "project_id": e.project_id,
                    "action": e.action,
                    "changes": items(&s.diff),
                    "link": link,
                    "unlogged_changes": unlogged,
                })
            })
            .collect();
        serde_json::json!({
            "resource_type": self.resource_type,
            "resource_id": self.resource_id,
            "entries": self.steps.len(),
            "unlogged_changes": self.unlogged().count(),
            "steps": steps,
        })
    }
}

/// Builds a history from entries (any order); the archive reader and tests
/// both come through here.
pub fn chain(resource_type: &str, resource_id: &str, mut entries: Vec<(u64, Entry)>) -> History {
    // Oldest first; the seq settles equal times in the order they were stored.
    entries.sort_by_key(|(seq, e)| (e.time, *seq));
    let mut steps: Vec<Step> = Vec::with_capacity(entries.len());
    // The last step of each project: a resource id is unique within a
    // project, not across them (prompt entries use the prompt's name).
    let mut last: HashMap<Option<String>, usize> = HashMap::new();
    for (seq, entry) in entries {
        let link = match last.get(&entry.project_id) {
            None => Link::First,
            Some(&i) => link(steps[i].entry.after.as_ref(), entry.before.as_ref()),
        };
        last.insert(entry.project_id.clone(), steps.len());
        let diff = if entry.before.is_some() || entry.after.is_some() {
            diff::diff(entry.before.as_ref(), entry.after.as_ref())
        } else {
            Vec::new()
        };
        steps.push(Step {
            seq,
            entry,
            diff,
            link,
        });
    }
    History {
        resource_type: resource_type.to_string(),
        resource_id: resource_id.to_string(),
        steps,
    }
}

fn same_kind(a: &Json, b: &Json) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

fn link(prev_after: Option<&Json>, before: Option<&Json>) -> Link {
    match (prev_after, before) {
        (Some(a), Some(b)) if a == b => Link::Continues,
        (Some(a), Some(b)) if same_kind(a, b) => Link::Unlogged(diff::diff(Some(a), Some(b))),
        _ => Link::NotComparable,
    }
}

/// The history of the resource `resource_type`/`resource_id` in `archive`:
/// one pass over the table, each record read from its sealed bytes.
pub fn history(
    archive: &Archive,
    resource_type: &str,
    resource_id: &str,
    job: &Job,
) -> Result<History, String> {
    archive.read_streaming()?;
    job.start_phase("reading the history", archive.seq_span()?);
    let mut found = Vec::new();
    let mut n = 0u64;
    archive.scan::<String>(&Scan::all(Columns::of(&[Column::Record])), |r| {
        n += 1;
        if n.is_multiple_of(16_384) {
            job.check().map_err(|_| "cancelled".to_string())?;
            job.set_done(n);
        }
        // An unreadable record is verification's business; it is skipped here.
        let Ok(v) = RecordView::parse(r.record()) else {
            return Ok(());
        };
        if v.resource_type == resource_type
            && v.resource_id == resource_id
            && let Ok(e) = crate::archive::parse_record(r.record())
        {
            found.push((r.seq(), e));
        }
        Ok(())
    })?;
    Ok(chain(resource_type, resource_id, found))
}

/// `TYPE:ID` as typed on the command line: the type is the internal name
/// (`prompt`) or the display name ("Prompt"); the id is everything after the
/// first colon (ids may hold colons).
pub fn parse_resource(s: &str) -> Result<(String, String), String> {
    let (t, id) = s
        .split_once(':')
        .filter(|(t, id)| !t.trim().is_empty() && !id.is_empty())
        .ok_or_else(|| {
            format!("--resource {s:?}: give TYPE:ID, e.g. prompt:cm1x2y3z4 (the type as the table's Resource type shows it, or its internal name)")
        })?;
    let t = t.trim();
    // A display name ("API Key") stands for its internal name (`apiKey`).
    let internal = crate::catalog::RESOURCES
        .iter()
        .find(|(_, display, _)| display.eq_ignore_ascii_case(t))
        .map_or(t, |(k, _, _)| k);
    Ok((internal.to_string(), id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    fn j(s: &str) -> Json {
        crate::json::parse(s.as_bytes()).unwrap()
    }

    fn e(t: i64, action: &str, before: Option<&str>, after: Option<&str>) -> Entry {
        let mut e = Entry::new(&format!("e{t}"), Timestamp(t), "prompt", "p1", action);
        e.before = before.map(j);
        e.after = after.map(j);
        e
    }

    #[test]
    fn chained_and_unlogged() {
        let h = chain(
            "prompt",
            "p1",
            vec![
                (3, e(30, "update", Some(r#"{"v":3}"#), Some(r#"{"v":4}"#))),
                (1, e(10, "create", None, Some(r#"{"v":1}"#))),
                (2, e(20, "update", Some(r#"{"v":1}"#), Some(r#"{"v":2}"#))),
                (4, e(40, "updateTags", None, Some(r#"["a"]"#))),
                (5, e(50, "update", Some(r#"{"v":4}"#), Some(r#"{"v":5}"#))),
                (6, {
                    // Another project's prompt of the same name: its own chain.
                    let mut x = e(60, "update", Some(r#"{"v":9}"#), Some(r#"{"v":10}"#));
                    x.project_id = Some("other".into());
                    x
                }),
            ],
        );
        let seqs: Vec<u64> = h.steps.iter().map(|s| s.seq).collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
        assert_eq!(h.steps[0].link, Link::First);
        assert_eq!(h.steps[1].link, Link::Continues);
        // v went from 2 to 3 with no entry: the hit.
        let Link::Unlogged(d) = &h.steps[2].link else {
            panic!("{:?}", h.steps[2].link)
        };
        assert_eq!(d[0].text(), "v: 2 → 3");
        // A tag list after a whole prompt: the near miss, not comparable.
        assert_eq!(h.steps[3].link, Link::NotComparable);
        assert_eq!(h.steps[4].link, Link::NotComparable);
        assert_eq!(h.steps[5].link, Link::First);
        let other = h.clone().in_project(Some("other"));
        assert_eq!(other.steps.len(), 1);
        assert_eq!(h.clone().in_project(None).steps.len(), 5);
        assert_eq!(h.unlogged().count(), 1);
        let v = h.to_json();
        assert_eq!(v["unlogged_changes"], 1);
        assert_eq!(v["steps"][2]["link"], "unlogged_change");
        assert_eq!(v["steps"][2]["unlogged_changes"][0]["path"], "v");
    }

    #[test]
    fn resource_argument() {
        assert_eq!(
            parse_resource("prompt:a:b"),
            Ok(("prompt".into(), "a:b".into()))
        );
        assert_eq!(
            parse_resource("API Key:k1"),
            Ok(("apiKey".into(), "k1".into()))
        );
        assert!(parse_resource("prompt:").is_err());
        assert!(parse_resource("p1").is_err());
    }
}
