//! The blast radius of a credential: everything one identity (a user or an
//! API key) did, and who touched the same resources after it.
//!
//! The platform guide's use case: "investigate suspicious API activity …
//! reviewing all actions performed by that identity" with "blast radius
//! analysis". The identity is matched as the filter matches an actor (user
//! id, email, API key id or name, case-insensitive: [`Filter::matches`]), so
//! what this counts is what `export --actor` exports. The subset it finds is
//! exported through the one export path ([`BlastRadius::subset`] as the rows
//! to export), never a writer of its own.

use std::collections::{BTreeMap, HashMap};

use crate::archive::{Archive, Column, Columns, Scan};
use crate::filter::Filter;
use crate::job::Job;
use crate::model::Entry;
use crate::record_view::RecordView;
use crate::time::Timestamp;

/// A day in milliseconds: the timeline strip's bucket.
pub const DAY_MS: i64 = 86_400_000;

/// One resource the identity touched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    pub project_id: Option<String>,
    pub resource_type: String,
    pub resource_id: String,
    /// The resource's name where a record carried one.
    pub name: Option<String>,
    pub entries: u64,
    /// The identity's first touch (time, seq): "afterwards" starts here.
    pub first: (Timestamp, u64),
    pub last: Timestamp,
}

/// An entry by someone else on a touched resource, after the identity's first touch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Touch {
    pub seq: u64,
    pub time: Timestamp,
    pub actor_label: String,
    pub actor_key: String,
    pub action: String,
    pub project_id: Option<String>,
    pub resource_type: String,
    pub resource_id: String,
}

/// What one identity touched, when, from where, and who came after.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlastRadius {
    /// The identity as asked for.
    pub actor: String,
    /// The actor labels its entries carry (an email, a key name), in order of first appearance.
    pub labels: Vec<String>,
    /// Its entries' seqs, in seq order.
    pub seqs: Vec<u64>,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
    /// Per resource type: (type, distinct resources, entries), most entries first.
    pub by_type: Vec<(String, u64, u64)>,
    /// Every resource touched, most entries first.
    pub resources: Vec<Resource>,
    /// IP addresses and user agents with their entry counts, most first.
    pub ips: Vec<(String, u64)>,
    pub user_agents: Vec<(String, u64)>,
    /// The time of each of its entries, oldest first (the viewer's strip).
    pub times: Vec<Timestamp>,
    /// Entries per UTC day (day start in ms, count), oldest first, days without entries left out.
    pub days: Vec<(i64, u64)>,
    /// Other identities' entries on the touched resources, after the first touch, oldest first.
    pub others_after: Vec<Touch>,
}

fn ranked(m: HashMap<String, u64>) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = m.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

/// A resource: (project, type, id). An id is unique within a project, not
/// across them (prompt entries carry the prompt's name).
type Key = (Option<String>, String, String);

/// Builds the blast radius in two steps over any source of entries: first
/// the identity's own entries ([`Collector::own`]), then everyone's
/// ([`Collector::other`]). The archive reader and the tests both use it.
pub struct Collector {
    filter: Filter,
    out: BlastRadius,
    resources: HashMap<Key, Resource>,
    types: HashMap<String, (u64, u64)>,
    ips: HashMap<String, u64>,
    agents: HashMap<String, u64>,
    days: BTreeMap<i64, u64>,
}

impl Collector {
    pub fn new(actor: &str) -> Collector {
        Collector {
            filter: Filter {
                actor: Some(actor.to_string()),
                ..Filter::default()
            },
            out: BlastRadius {
                actor: actor.to_string(),
                ..BlastRadius::default()
            },
            resources: HashMap::new(),
            types: HashMap::new(),
            ips: HashMap::new(),
            agents: HashMap::new(),
            days: BTreeMap::new(),
        }
    }

    /// The filter that selects the identity's own entries.
    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    /// Pass 1: an entry, counted if it is the identity's.
    pub fn own(&mut self, seq: u64, e: &Entry) {
        if !self.filter.matches(e) {
            return;
        }
        let o = &mut self.out;
        o.seqs.push(seq);
        o.times.push(e.time);
        o.first = Some(o.first.map_or(e.time, |t| t.min(e.time)));
        o.last = Some(o.last.map_or(e.time, |t| t.max(e.time)));
        let label = e.actor.label();
        if !label.is_empty() && !o.labels.iter().any(|l| l == label) {
            o.labels.push(label.to_string());
        }
        let key = (
            e.project_id.clone(),
            e.resource_type.clone(),
            e.resource_id.clone(),
        );
        let t = self.types.entry(e.resource_type.clone()).or_default();
        t.1 += 1;
        let r = self.resources.entry(key).or_insert_with(|| {
            t.0 += 1;
            Resource {
                project_id: e.project_id.clone(),
                resource_type: e.resource_type.clone(),
                resource_id: e.resource_id.clone(),
                name: None,
                entries: 0,
                first: (e.time, seq),
                last: e.time,
            }
        });
        r.entries += 1;
        r.first = r.first.min((e.time, seq));
        r.last = r.last.max(e.time);
        if r.name.is_none() {
            r.name = e.resource_name.clone();
        }
        for (v, m) in [
            (&e.ip_address, &mut self.ips),
            (&e.user_agent, &mut self.agents),
        ] {
            if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                *m.entry(v.clone()).or_default() += 1;
            }
        }
        *self
            .days
            .entry(e.time.0.div_euclid(DAY_MS) * DAY_MS)
            .or_default() += 1;
    }

    /// Does pass 2 need this record in full? (A cheap test on the borrowed view.)
    pub fn touches(
        &self,
        project_id: Option<&str>,
        resource_type: &str,
        resource_id: &str,
    ) -> bool {
        // A map keyed by owned strings cannot be probed with borrowed ones without allocating.
        self.resources.contains_key(&(
            project_id.map(str::to_string),
            resource_type.to_string(),
            resource_id.to_string(),
        ))
    }

    /// Pass 2: an entry by anyone; kept if another identity touched a
    /// touched resource after the identity's first touch of it.
    pub fn other(&mut self, seq: u64, e: &Entry) {
        if self.filter.matches(e) {
            return;
        }
        let key = (
            e.project_id.clone(),
            e.resource_type.clone(),
            e.resource_id.clone(),
        );
        let Some(r) = self.resources.get(&key) else {
            return;
        };
        if (e.time, seq) > r.first {
            self.out.others_after.push(Touch {
                seq,
                time: e.time,
                actor_label: e.actor.label().to_string(),
                actor_key: e.actor.key().to_string(),
                action: e.action.clone(),
                project_id: e.project_id.clone(),
                resource_type: e.resource_type.clone(),
                resource_id: e.resource_id.clone(),
            });
        }
    }

    pub fn finish(mut self) -> BlastRadius {
        let mut o = self.out;
        o.seqs.sort_unstable();
        o.times.sort_unstable();
        let mut types: Vec<(String, u64, u64)> = self
            .types
            .into_iter()
            .map(|(t, (r, n))| (t, r, n))
            .collect();
        types.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
        o.by_type = types;
        let mut res: Vec<Resource> = self.resources.drain().map(|(_, r)| r).collect();
        res.sort_by(|a, b| {
            b.entries.cmp(&a.entries).then_with(|| {
                (&a.resource_type, &a.resource_id).cmp(&(&b.resource_type, &b.resource_id))
            })
        });
        o.resources = res;
        o.ips = ranked(self.ips);
        o.user_agents = ranked(self.agents);
        o.days = self.days.into_iter().collect();
        o.others_after.sort_by_key(|t| (t.time, t.seq));
        o
    }
}

impl BlastRadius {
    /// The entries to export: the identity's own and the later ones by
    /// others on the same resources, in seq order.
    pub fn subset(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .seqs
            .iter()
            .copied()
            .chain(self.others_after.iter().map(|t| t.seq))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The identities who came after: (id, label, entries), most entries first.
    pub fn who_else(&self) -> Vec<(String, String, u64)> {
        let mut m: HashMap<(&str, &str), u64> = HashMap::new();
        for t in &self.others_after {
            *m.entry((&t.actor_key, &t.actor_label)).or_default() += 1;
        }
        let mut v: Vec<(String, String, u64)> = m
            .into_iter()
            .map(|((k, l), n)| (k.to_string(), l.to_string(), n))
            .collect();
        v.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
        v
    }

    /// `auditlens blast-radius --json`. `name` gives a directory's name for an id, if any.
    pub fn to_json(&self, name: impl Fn(&str) -> Option<String>) -> serde_json::Value {
        use serde_json::json;
        let pairs = |v: &[(String, u64)]| -> Vec<serde_json::Value> {
            v.iter()
                .map(|(k, n)| json!({"value": k, "entries": n}))
                .collect()
        };
        json!({
            "actor": self.actor,
            "actor_name": name(&self.actor),
            "labels": self.labels,
            "entries": self.seqs.len(),
            "first": self.first.map(|t| t.to_string()),
            "last": self.last.map(|t| t.to_string()),
            "by_resource_type": self.by_type.iter().map(|(t, r, n)| json!({
                "resource_type": t, "resources": r, "entries": n
            })).collect::<Vec<_>>(),
            "resources": self.resources.iter().map(|r| json!({
                "project_id": r.project_id,
                "resource_type": r.resource_type,
                "resource_id": r.resource_id,
                "name": r.name.clone().or_else(|| name(&r.resource_id)),
                "entries": r.entries,
                "first": r.first.0.to_string(),
                "last": r.last.to_string(),
            })).collect::<Vec<_>>(),
            "ip_addresses": pairs(&self.ips),
            "user_agents": pairs(&self.user_agents),
            "days": self.days.iter().map(|(d, n)| json!({
                "day": Timestamp(*d).to_string().get(..10).unwrap_or_default(), "entries": n
            })).collect::<Vec<_>>(),
            "others_after": self.others_after.iter().map(|t| json!({
                "seq": t.seq,
                "time": t.time.to_string(),
                "actor": t.actor_label,
                "actor_id": t.actor_key,
                "actor_name": name(&t.actor_key),
                "action": t.action,
                "project_id": t.project_id,
                "resource_type": t.resource_type,
                "resource_id": t.resource_id,
            })).collect::<Vec<_>>(),
            "seqs": self.seqs,
            "subset": self.subset().len(),
        })
    }
}

/// The blast radius of `actor` in `archive`: the identity's entries (the
/// scan skips rows by index columns as exports do, then the record decides),
/// then one pass over every record for the resources it touched.
pub fn blast_radius(archive: &Archive, actor: &str, job: &Job) -> Result<BlastRadius, String> {
    let actor = actor.trim();
    if actor.is_empty() {
        return Err("give the identity: a user id, email, API key id or API key name".into());
    }
    archive.read_streaming()?;
    let mut c = Collector::new(actor);
    let cancelled = |_| "cancelled".to_string();
    let cols = Columns::of(&[Column::Record]);
    let filter = c.filter().clone();
    let lower = actor.to_lowercase();
    job.start_phase("the identity's entries", archive.seq_span()?);
    let mut n = 0u64;
    archive.scan::<String>(&Scan::all(cols).prefilter(&filter), |r| {
        n += 1;
        if n.is_multiple_of(16_384) {
            job.check().map_err(cancelled)?;
        }
        // The borrowed view rules most rows out before a full parse; the
        // parsed record decides ([`Collector::own`] applies the filter).
        // An unreadable record is verification's business; it is skipped here.
        if let Ok(v) = RecordView::parse(r.record())
            && may_be(&v, &lower)
            && let Ok(e) = crate::archive::parse_record(r.record())
        {
            c.own(r.seq(), &e);
        }
        Ok(())
    })?;
    if c.resources.is_empty() {
        return Ok(c.finish());
    }
    job.start_phase("who came after", archive.seq_span()?);
    n = 0;
    archive.scan::<String>(&Scan::all(cols), |r| {
        n += 1;
        if n.is_multiple_of(16_384) {
            job.check().map_err(cancelled)?;
            job.set_done(n);
        }
        if let Ok(v) = RecordView::parse(r.record())
            && c.touches(v.project_id.as_deref(), &v.resource_type, &v.resource_id)
            && let Ok(e) = crate::archive::parse_record(r.record())
        {
            c.other(r.seq(), &e);
        }
        Ok(())
    })?;
    Ok(c.finish())
}

/// Could the record be the identity's? The fields [`Filter::matches`] compares.
fn may_be(v: &RecordView<'_>, lower: &str) -> bool {
    let a = &v.actor;
    [&a.user_id, &a.email, &a.api_key_id, &a.api_key_name]
        .into_iter()
        .flatten()
        .any(|x| x.to_lowercase() == lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(t: i64, who: &str, rt: &str, rid: &str, action: &str) -> Entry {
        let mut e = Entry::new(&format!("e{t}"), Timestamp(t), rt, rid, action);
        e.actor.actor_type = Some(crate::model::ActorType::ApiKey);
        e.actor.api_key_id = Some(who.to_string());
        e.ip_address = Some(format!("10.0.0.{}", t % 2));
        e
    }

    #[test]
    fn own_and_later_touches() {
        let entries = [
            e(1, "other", "prompt", "p1", "update"), // before the first touch: not counted
            e(2, "KEY1", "prompt", "p1", "update"),
            e(3, "key1", "dataset", "d1", "delete"),
            e(DAY_MS + 4, "other", "prompt", "p1", "update"), // hit
            e(DAY_MS + 5, "other", "prompt", "p2", "update"), // near miss: not touched
        ];
        let mut c = Collector::new("key1");
        for (i, x) in entries.iter().enumerate() {
            c.own(i as u64 + 1, x);
        }
        for (i, x) in entries.iter().enumerate() {
            c.other(i as u64 + 1, x);
        }
        let b = c.finish();
        assert_eq!(b.seqs, [2, 3]);
        assert_eq!(
            b.by_type,
            [("dataset".into(), 1, 1), ("prompt".into(), 1, 1)]
        );
        assert_eq!(b.others_after.len(), 1);
        assert_eq!(b.others_after[0].seq, 4);
        assert_eq!(b.subset(), [2, 3, 4]);
        assert_eq!(b.days, [(0, 2)]);
        assert_eq!(b.ips, [("10.0.0.0".into(), 1), ("10.0.0.1".into(), 1)]);
        assert_eq!(b.who_else(), [("other".into(), "other".into(), 1)]);
    }
}
