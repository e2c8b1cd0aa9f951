//! Complete exports (docs/FORMAT.md §14): which filter an export is proven
//! to hold *every* entry of, and the index roots of a whole archive.
//!
//! An export's filter maps to a contiguous range of one index tree (for
//! example `action = delete` with a time range is the run of leaves with key
//! `delete` and a time in the range). The export's footer carries that run,
//! its two neighbours just outside it (or the tree's edge) and one range
//! proof to the index root of the checkpoint. The verifier derives the range
//! from the export's stated filter (so a widened or narrowed filter is
//! checked against the range it now states), checks the run and the
//! neighbours, and matches the run's seqs against the entries read, so a
//! dropped, added or duplicated entry is located at its seq.
//!
//! [`make_claim`] (used by the export) and [`check_claim`] (used by verify)
//! share [`ranges_for`], the one mapping from a filter to index ranges.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use crate::chain::{Hash, empty_root};
use crate::checkpoint::Checkpoint;
use crate::finding::{Finding, FindingKind};
use crate::index_tree::{INDEXES, IndexKind, IndexLeaf, IndexSet};
use crate::merkle::root_from_range;
use crate::record_view::RecordView;
use crate::time::Timestamp;

/// One index range a filter maps to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Range {
    pub kind: IndexKind,
    pub key: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// The parts of the filter the range does not cover, for people
    /// ("project = p1"): the export was filtered further by them.
    pub further: Vec<String>,
}

impl Range {
    /// "all entries with action = delete from … to …".
    pub fn describe(&self) -> String {
        let mut s = String::from("all entries");
        if let Some(k) = &self.key {
            s.push_str(&format!(" with {} = {k}", self.kind.label()));
        }
        match (self.from, self.to) {
            (Some(f), Some(t)) => s.push_str(&format!(
                " from {} to {} (exclusive)",
                Timestamp(f),
                Timestamp(t)
            )),
            (Some(f), None) => s.push_str(&format!(" from {}", Timestamp(f))),
            (None, Some(t)) => s.push_str(&format!(" before {}", Timestamp(t))),
            (None, None) => {}
        }
        s
    }
}

/// The ranges a filter (as written into an export's header) maps to, or why
/// none: the one mapping both the export and the verifier use.
///
/// A keyed index covers its filter part when that part names exactly one
/// value (`actions: [delete]`, `resource_types: [apiKey]`, `projects: [p1]`,
/// `actor: u1`); the time index covers `from`/`to` alone. Every range takes
/// the filter's `from`/`to`; the parts it does not cover are "further".
pub fn ranges_for(filter: &Value) -> Result<Vec<Range>, String> {
    let Some(m) = filter.as_object() else {
        return Err("the export states no filter".into());
    };
    if m.contains_key("selected_rows") {
        return Err("its rows were picked one by one, which no index range describes".into());
    }
    let known = [
        "from",
        "to",
        "projects",
        "actions",
        "resource_types",
        "actor",
        "actor_type",
        "search",
    ];
    if let Some(k) = m.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(format!(
            "its filter holds {k:?}, which no index range describes"
        ));
    }
    // The one reader of a stated filter (its types and canonical times).
    let f = crate::export::stated_filter(filter)?;
    let (from, to) = (f.from.map(|t| t.0), f.to.map(|t| t.0));
    let parts: [(IndexKind, &str, Vec<String>); 4] = [
        (IndexKind::Action, "action", f.actions),
        (IndexKind::ResourceType, "resource type", f.resource_types),
        (IndexKind::Project, "project", f.projects),
        (IndexKind::Actor, "actor", f.actor.into_iter().collect()),
    ];
    let mut other = Vec::new();
    if let Some(t) = &f.actor_type {
        other.push(format!("actor type = {}", t.as_str()));
    }
    if let Some(s) = &f.search {
        other.push(format!("search {s:?}"));
    }
    let describe = |label: &str, values: &[String]| match values {
        [one] => format!("{label} = {one}"),
        many => format!("{label} in {}", many.join(", ")),
    };
    let further_than = |covered: Option<IndexKind>| -> Vec<String> {
        let mut f: Vec<String> = parts
            .iter()
            .filter(|(k, _, v)| Some(*k) != covered && !v.is_empty())
            .map(|(_, label, v)| describe(label, v))
            .collect();
        f.extend(other.iter().cloned());
        f
    };
    let mut out: Vec<Range> = parts
        .iter()
        .filter(|(_, _, v)| v.len() == 1)
        .map(|(kind, _, v)| Range {
            kind: *kind,
            key: Some(v[0].clone()),
            from,
            to,
            further: further_than(Some(*kind)),
        })
        .collect();
    if from.is_some() || to.is_some() {
        out.push(Range {
            kind: IndexKind::Time,
            key: None,
            from,
            to,
            further: further_than(None),
        });
    }
    if out.is_empty() {
        return Err(
            "its filter names no time range and no single action, resource type, project or \
             actor, so no index range describes it"
                .into(),
        );
    }
    Ok(out)
}

/// The completeness proof an export writes in its footer, or `None` when no
/// range of the filter holds exactly the exported entries (a project given
/// by name, an actor by email: their matches are not one key's range).
/// `exported` are the exported seqs. Among the ranges that fit, the
/// smallest is proven.
pub fn make_claim(set: &IndexSet, filter: &Value, exported: &[u64]) -> Option<ClaimToWrite> {
    let ranges = ranges_for(filter).ok()?;
    // The export writes in seq order: `exported` is sorted, so membership is
    // a binary search (no second copy of the seqs in a hash set).
    if !exported.is_sorted_by(|a, b| a < b) {
        return None;
    }
    let fits = |r: &'_ Range| -> Option<(u64, Range, u64, u64)> {
        let (lo, hi) = set.range(r.kind, r.key.as_deref(), r.from, r.to);
        let inside = set
            .seqs(r.kind, lo, hi)
            .filter(|s| exported.binary_search(s).is_ok())
            .count();
        let fits = inside == exported.len() && (!r.further.is_empty() || inside as u64 == hi - lo);
        fits.then(|| (hi - lo, r.clone(), lo, hi))
    };
    let (_, r, lo, hi) = ranges.iter().filter_map(fits).min_by_key(|f| f.0)?;
    let size = set.size();
    let left = (lo > 0).then(|| set.leaf(r.kind, lo - 1));
    let right = (hi < size).then(|| set.leaf(r.kind, hi));
    let (run_lo, run_hi) = (
        lo - u64::from(left.is_some()),
        hi + u64::from(right.is_some()),
    );
    let proof = if run_lo < run_hi {
        set.tree(r.kind).range_proof(run_lo, run_hi)?
    } else {
        Vec::new()
    };
    Some(ClaimToWrite {
        kind: r.kind,
        size,
        lo,
        hi,
        left,
        right,
        proof,
    })
}

/// A completeness proof to write into an export's footer: a range of one
/// index tree, its neighbours and its range proof. The range's entries are
/// not held: [`ClaimToWrite::write_json`] reads them from the index set as it
/// writes, so a claim over millions of entries costs no memory per entry.
pub struct ClaimToWrite {
    pub kind: IndexKind,
    size: u64,
    lo: u64,
    hi: u64,
    left: Option<IndexLeaf>,
    right: Option<IndexLeaf>,
    proof: Vec<Hash>,
}

impl ClaimToWrite {
    /// The claim's JSON (FORMAT.md §14), compact, keys in the order
    /// `index`, `size`, `position`, `left`, `entries`, `right`, `proof`.
    pub fn write_json(&self, set: &IndexSet, out: &mut impl std::io::Write) -> std::io::Result<()> {
        let neighbour = |l: &Option<IndexLeaf>| {
            l.as_ref().map_or(Value::Null, |l| {
                json!([l.key, l.time_ms, l.seq, l.leaf.to_hex()])
            })
        };
        write!(
            out,
            "{{\"index\":\"{}\",\"size\":{},\"position\":{},\"left\":{},\"entries\":[",
            self.kind.name(),
            self.size,
            self.lo,
            neighbour(&self.left)
        )?;
        for i in self.lo..self.hi {
            let l = set.leaf(self.kind, i);
            let comma = if i > self.lo { "," } else { "" };
            write!(
                out,
                "{comma}[{},{},\"{}\"]",
                l.seq,
                l.time_ms,
                l.leaf.to_hex()
            )?;
        }
        write!(out, "],\"right\":{},\"proof\":[", neighbour(&self.right))?;
        for (i, h) in self.proof.iter().enumerate() {
            let comma = if i > 0 { "," } else { "" };
            write!(out, "{comma}\"{}\"", h.to_hex())?;
        }
        write!(out, "]}}")
    }
}

/// The words for the range a claim made by [`make_claim`] for `filter`
/// proves: "all entries with action = delete from … to …", and the further
/// filter if any.
pub fn claim_statement(filter: &Value, kind: IndexKind) -> Option<String> {
    let range = ranges_for(filter)
        .ok()?
        .into_iter()
        .find(|r| r.kind == kind)?;
    let mut s = range.describe();
    if !range.further.is_empty() {
        s.push_str(&format!(
            ", then filtered further by {}",
            range.further.join(" and ")
        ));
    }
    Some(s)
}

/// What a verified completeness proof shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completeness {
    pub range: Range,
    /// Entries in the proven range.
    pub in_range: u64,
    /// Entries of the range the export left out (by its further filter).
    pub left_out: u64,
    /// The size of the checkpoint the range is proven against.
    pub checkpoint_size: u64,
}

impl Completeness {
    /// The words: "complete: all entries with action = delete from … to …
    /// (12 entries), proven against the checkpoint of 1,000 entries".
    pub fn sentence(&self) -> String {
        use crate::verdict::thousands;
        let mut s = format!(
            "complete: {} ({} entries), proven against the checkpoint of {} entries",
            self.range.describe(),
            thousands(self.in_range),
            thousands(self.checkpoint_size)
        );
        if !self.range.further.is_empty() {
            s.push_str(&format!(
                "; then filtered further by {}: {} entries of the range left out, which the \
                 export does not show, so the further filter is not proven",
                self.range.further.join(" and "),
                thousands(self.left_out)
            ));
        }
        s
    }

    pub fn to_json(&self) -> Value {
        json!({
            "statement": self.sentence(),
            "index": self.range.kind.name(),
            "key": self.range.key,
            "from": self.range.from.map(|t| Timestamp(t).to_string()),
            "to": self.range.to.map(|t| Timestamp(t).to_string()),
            "further": self.range.further,
            "entries_in_range": self.in_range,
            "left_out": self.left_out,
            "checkpoint_size": self.checkpoint_size,
        })
    }
}

/// An exported entry as the completeness check needs it.
pub struct Exported {
    pub seq: u64,
    /// The leaf hash recomputed from the entry.
    pub leaf: Hash,
    pub time_ms: i64,
    /// Its key in each index, from its record.
    pub keys: [Option<String>; 5],
    /// Its record does not match the leaf hash it carries: already a
    /// finding of its own, so not judged again here.
    pub edited: bool,
}

impl Exported {
    pub fn of(seq: u64, leaf: Hash, edited: bool, record: &[u8]) -> Option<Exported> {
        let v = RecordView::parse(record).ok()?;
        Some(Exported {
            seq,
            leaf,
            time_ms: v.time.0,
            keys: INDEXES.map(|k| k.key_of(&v).map(str::to_string)),
            edited,
        })
    }
}

/// Checks an export's completeness proof against `cp` (the checkpoint its
/// inclusion proofs were checked against): what it proves, or why it proves
/// nothing. What is wrong with it goes to `findings`, located at the seq.
pub fn check_claim(
    claim: &Value,
    filter: Option<&Value>,
    cp: &Checkpoint,
    exported: &[Exported],
    findings: &mut Vec<Finding>,
) -> Result<Completeness, String> {
    let fail = |seq: Option<u64>, m: String| Finding::new(FindingKind::CompletenessFailed, seq, m);
    let Some(roots) = cp.indexes else {
        return Err(
            "the checkpoint it is verified against carries no index roots (it was made before \
             complete exports)"
                .into(),
        );
    };
    let ranges = match filter.map(ranges_for) {
        Some(Ok(r)) => r,
        Some(Err(why)) => {
            findings.push(fail(
                None,
                format!("the export carries a completeness proof, but {why}"),
            ));
            return Err("its completeness proof does not hold".into());
        }
        None => {
            findings.push(fail(
                None,
                "the export carries a completeness proof but states no filter".into(),
            ));
            return Err("its completeness proof does not hold".into());
        }
    };
    let before = findings.len();
    let parsed = parse_claim(claim);
    let Some(p) = parsed.as_ref().ok() else {
        findings.push(fail(
            None,
            format!(
                "the completeness proof is malformed: {}",
                parsed.err().unwrap_or_default()
            ),
        ));
        return Err("its completeness proof does not hold".into());
    };
    let Some(range) = ranges.iter().find(|r| r.kind == p.kind) else {
        findings.push(fail(
            None,
            format!(
                "the completeness proof is for the {} index, but the export's stated filter \
                 does not select a range of it: the filter was changed after export",
                p.kind.name()
            ),
        ));
        return Err("its completeness proof does not hold".into());
    };
    if p.size != cp.size {
        findings.push(fail(
            None,
            format!(
                "the completeness proof is for a tree of {} entries, the checkpoint holds {}",
                p.size, cp.size
            ),
        ));
    }
    let key = range.key.as_deref();
    let inside = |k: Option<&str>, t: i64| {
        k == key && range.from.is_none_or(|f| t >= f) && range.to.is_none_or(|to| t < to)
    };
    // The neighbours lie just outside the range, or the range starts or ends at the tree's edge.
    match &p.left {
        Some(l) => {
            let below = l.key.as_deref() < key
                || (l.key.as_deref() == key && range.from.is_some_and(|f| l.time_ms < f));
            if !below {
                findings.push(fail(
                    Some(l.seq),
                    format!(
                        "the entry just before the proven range belongs in it ({}): the range \
                         stated is not the one proven (the filter was widened), or an entry was left out",
                        range.describe()
                    ),
                ));
            }
        }
        None if p.position != 0 => findings.push(fail(
            None,
            "the completeness proof has no left neighbour but does not start at the tree's edge"
                .into(),
        )),
        None => {}
    }
    let end = p.position + p.entries.len() as u64;
    match &p.right {
        Some(r) => {
            let above = r.key.as_deref() > key
                || (r.key.as_deref() == key && range.to.is_some_and(|to| r.time_ms >= to));
            if !above {
                findings.push(fail(
                    Some(r.seq),
                    format!(
                        "the entry just after the proven range belongs in it ({}): the range \
                         stated is not the one proven (the filter was widened), or an entry was left out",
                        range.describe()
                    ),
                ));
            }
        }
        None if end != p.size => findings.push(fail(
            None,
            "the completeness proof has no right neighbour but does not end at the tree's edge"
                .into(),
        )),
        None => {}
    }
    let mut prev: Option<(i64, u64)> = None;
    for e in &p.entries {
        if !inside(key, e.time_ms) || prev.is_some_and(|p| p >= (e.time_ms, e.seq)) {
            findings.push(fail(
                Some(e.seq),
                format!(
                    "an entry of the proof's run is not in the range stated ({}) or not in index \
                     order: the filter was narrowed, or the proof was edited",
                    range.describe()
                ),
            ));
        }
        prev = Some((e.time_ms, e.seq));
    }
    // The run leads to the index root.
    let run: Vec<Hash> = p
        .left
        .iter()
        .map(|l| l.hash(p.kind))
        .chain(
            p.entries
                .iter()
                .map(|e| crate::index_tree::index_leaf(p.kind, key, e.time_ms, e.seq, &e.leaf)),
        )
        .chain(p.right.iter().map(|r| r.hash(p.kind)))
        .collect();
    let run_lo = p.position.saturating_sub(u64::from(p.left.is_some()));
    let root = if run.is_empty() {
        (p.size == 0 && p.position == 0).then(empty_root)
    } else {
        root_from_range(p.size, run_lo, &run, &p.proof).ok()
    };
    if root != Some(roots.get(p.kind)) {
        findings.push(fail(
            None,
            format!(
                "the completeness proof does not lead to the checkpoint's {} index root: the \
                 range, its neighbours or the proof were changed",
                p.kind.name()
            ),
        ));
    }
    // The run's entries against the entries read.
    let in_range: HashMap<u64, &ProofEntry> = p.entries.iter().map(|e| (e.seq, e)).collect();
    let mut seen = HashSet::new();
    for e in exported {
        if !seen.insert(e.seq) {
            findings.push(fail(
                Some(e.seq),
                "this entry appears twice in a complete export".into(),
            ));
            continue;
        }
        match in_range.get(&e.seq) {
            None => findings.push(fail(
                Some(e.seq),
                format!(
                    "this entry is not in the proven range ({}): it was added to the export",
                    range.describe()
                ),
            )),
            Some(_) if e.edited => {}
            Some(r)
                if r.leaf != e.leaf
                    || r.time_ms != e.time_ms
                    || e.keys[p.kind as usize].as_deref() != key =>
            {
                findings.push(fail(
                    Some(e.seq),
                    "this entry is not the one the proven range holds at its seq (another leaf \
                     hash, time or key)"
                        .into(),
                ))
            }
            Some(_) => {}
        }
    }
    let left_out = p.entries.iter().filter(|e| !seen.contains(&e.seq)).count() as u64;
    if range.further.is_empty() {
        for e in p.entries.iter().filter(|e| !seen.contains(&e.seq)) {
            findings.push(fail(
                Some(e.seq),
                format!(
                    "this entry is in the proven range ({}) but missing from the export: it was \
                     dropped",
                    range.describe()
                ),
            ));
        }
    }
    if findings.len() > before {
        return Err("its completeness proof does not hold".into());
    }
    Ok(Completeness {
        range: range.clone(),
        in_range: p.entries.len() as u64,
        left_out,
        checkpoint_size: cp.size,
    })
}

struct ProofEntry {
    seq: u64,
    time_ms: i64,
    leaf: Hash,
}

struct Claim {
    kind: IndexKind,
    size: u64,
    position: u64,
    left: Option<IndexLeaf>,
    right: Option<IndexLeaf>,
    entries: Vec<ProofEntry>,
    proof: Vec<Hash>,
}

fn parse_claim(v: &Value) -> Result<Claim, String> {
    let m = v.as_object().ok_or("not an object")?;
    let keys = [
        "index", "size", "position", "left", "entries", "right", "proof",
    ];
    if let Some(k) = m.keys().find(|k| !keys.contains(&k.as_str())) {
        return Err(format!("unknown key {k:?}"));
    }
    let kind = m
        .get("index")
        .and_then(Value::as_str)
        .and_then(IndexKind::from_name)
        .ok_or("\"index\" names no index")?;
    let num = |k: &str| {
        m.get(k)
            .and_then(Value::as_u64)
            .ok_or(format!("{k:?} is not a number"))
    };
    let hash = |v: &Value| {
        v.as_str()
            .and_then(Hash::from_hex)
            .filter(|h| Some(h.to_hex().as_str()) == v.as_str())
            .ok_or("a hash is not 64 lower-case hex digits".to_string())
    };
    let neighbour = |k: &str| -> Result<Option<IndexLeaf>, String> {
        match m.get(k) {
            Some(Value::Null) => Ok(None),
            Some(Value::Array(a)) if a.len() == 4 => Ok(Some(IndexLeaf {
                key: match &a[0] {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    _ => return Err(format!("{k:?}'s key is not text or null")),
                },
                time_ms: a[1]
                    .as_i64()
                    .ok_or(format!("{k:?}'s time is not a number"))?,
                seq: a[2]
                    .as_u64()
                    .ok_or(format!("{k:?}'s seq is not a number"))?,
                leaf: hash(&a[3])?,
            })),
            _ => Err(format!("{k:?} is not [key, time, seq, leaf hash] or null")),
        }
    };
    let entries = m
        .get("entries")
        .and_then(Value::as_array)
        .ok_or("\"entries\" is not a list")?
        .iter()
        .map(|e| match e.as_array().map(Vec::as_slice) {
            Some([s, t, l]) => Ok(ProofEntry {
                seq: s.as_u64().ok_or("an entry's seq is not a number")?,
                time_ms: t.as_i64().ok_or("an entry's time is not a number")?,
                leaf: hash(l)?,
            }),
            _ => Err("an entry is not [seq, time, leaf hash]".to_string()),
        })
        .collect::<Result<Vec<_>, String>>()?;
    let proof = m
        .get("proof")
        .and_then(Value::as_array)
        .ok_or("\"proof\" is not a list")?
        .iter()
        .map(hash)
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Claim {
        kind,
        size: num("size")?,
        position: num("position")?,
        left: neighbour("left")?,
        right: neighbour("right")?,
        entries,
        proof,
    })
}

/// `index_root_mismatch` for each index root of `cp` that the rebuilt set
/// does not give. Nothing when the set could not be rebuilt (a gap, an
/// unreadable record, fewer entries than the checkpoint: found elsewhere).
pub(super) fn check_index_roots(set: Option<IndexSet>, cp: &Checkpoint) -> Vec<Finding> {
    let (Some(set), Some(want)) = (set, cp.indexes) else {
        return Vec::new();
    };
    if set.size() != cp.size {
        return Vec::new();
    }
    let got = set.roots();
    INDEXES
        .into_iter()
        .filter(|&k| got.get(k) != want.get(k))
        .map(|k| {
            Finding::new(
                FindingKind::IndexRootMismatch,
                None,
                format!(
                    "the checkpoint's {} index root is not the one the archive's first {} records \
                     give: its signer committed to an index that misstates the entries, so a \
                     complete export proven against it proves nothing",
                    k.name(),
                    cp.size
                ),
            )
            .values(got_b64(&want.get(k)), got_b64(&got.get(k)))
        })
        .collect()
}

fn got_b64(h: &Hash) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(h.0)
}

/// The completeness line of a verification, for the CLI and the viewer:
/// "complete: all entries with action = delete … (proven against the
/// checkpoint of N entries of archive X, signed by K)", or why the subset is
/// only proven genuine. `None` for archives and exports of every entry.
pub fn line(r: &super::Report, anchor: Option<&super::AnchorInfo>) -> Option<String> {
    if let Some(c) = &r.complete {
        let mut s = c.sentence();
        if let Some(a) = anchor {
            s.push_str(&format!(
                " ({} of archive {}",
                a.what, a.checkpoint.archive_id
            ));
            match &a.check {
                Some(k) if k.accepted() => {
                    s.push_str(&format!(", signed by {})", k.verified.join(", ")))
                }
                _ if a.signers.is_empty() => s.push_str(", not signed)"),
                _ => s.push_str(&format!(
                    ", signature lines by {} not checked: give --key)",
                    a.signers.join(", ")
                )),
            }
        }
        return Some(s);
    }
    r.not_complete
        .as_ref()
        .map(|why| format!("NOT PROVEN COMPLETE (genuine entries at most): {why}"))
}
