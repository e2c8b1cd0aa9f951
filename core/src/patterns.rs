//! Patterns to watch: the suspicious activity the platform's guidance tells
//! users to look for in a SIEM ("off-hours access, bulk exports, privilege
//! escalation, unauthorized access"), found offline in the archive itself.
//!
//! A [`Scanner`] is fed entries in seq order and names every entry that shows
//! a pattern, with a one-line reason. The thresholds are [`PatternSettings`];
//! their defaults are documented in docs/PATTERNS.md.

use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::io::{self, Write};

use chrono::{Datelike, Timelike};

use crate::archive::{Archive, Column, Columns, Scan};
use crate::authorization::{self, Judgement};
use crate::external_sort::{ExternalSort, RunReader, Spill};
use crate::job::Job;
use crate::json::{self, Json};
use crate::reconcile::{Reconciler, Reconciliation, Status};
use crate::record_view::RecordView;
use crate::tickets::ChangeTickets;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pattern {
    /// Outside the working window, or on a weekend, in the configured time zone.
    OffHours,
    /// A membership or invitation made OWNER/ADMIN, or a role raised.
    PrivilegeEscalation,
    /// An API key was created.
    ApiKeyCreated,
    /// An API key used from an IP it had not used before (its first use included).
    ApiKeyNewIp,
    /// More than N deletes by one actor within M minutes.
    BulkDeletes,
    /// More than N batch exports by one actor within M minutes.
    BulkExports,
    /// A prompt promoted or labelled to a protected label such as `production`.
    ProductionChange,
    /// Memberships, invitations and API keys created or deleted.
    AccessControl,
    /// The actor's recorded role did not grant the action (authorization.rs).
    NotAuthorized,
    /// A production change no ticket approves, or not as approved (reconcile.rs;
    /// only with change tickets loaded).
    UnapprovedChange,
}

impl Pattern {
    pub const ALL: [Pattern; 10] = [
        Pattern::OffHours,
        Pattern::PrivilegeEscalation,
        Pattern::ApiKeyCreated,
        Pattern::ApiKeyNewIp,
        Pattern::BulkDeletes,
        Pattern::BulkExports,
        Pattern::ProductionChange,
        Pattern::AccessControl,
        Pattern::NotAuthorized,
        Pattern::UnapprovedChange,
    ];

    /// Stable name for JSON and the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Pattern::OffHours => "off_hours",
            Pattern::PrivilegeEscalation => "privilege_escalation",
            Pattern::ApiKeyCreated => "api_key_created",
            Pattern::ApiKeyNewIp => "api_key_new_ip",
            Pattern::BulkDeletes => "bulk_deletes",
            Pattern::BulkExports => "bulk_exports",
            Pattern::ProductionChange => "production_change",
            Pattern::AccessControl => "access_control",
            Pattern::NotAuthorized => "not_authorized",
            Pattern::UnapprovedChange => "unapproved_change",
        }
    }

    /// The pattern's place in [`Pattern::ALL`] (the declaration order).
    const fn index(self) -> u8 {
        self as u8
    }

    /// Name for people.
    pub fn title(self) -> &'static str {
        match self {
            Pattern::OffHours => "Off-hours activity",
            Pattern::PrivilegeEscalation => "Privilege escalation",
            Pattern::ApiKeyCreated => "API keys created",
            Pattern::ApiKeyNewIp => "API key used from a new IP",
            Pattern::BulkDeletes => "Bulk deletes",
            Pattern::BulkExports => "Bulk exports",
            Pattern::ProductionChange => "Production changes",
            Pattern::AccessControl => "Access-control changes",
            Pattern::NotAuthorized => "Not authorized by the role",
            Pattern::UnapprovedChange => "Changes without approval",
        }
    }
}

/// Thresholds of the patterns. See docs/PATTERNS.md.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternSettings {
    /// The working time zone as an offset from UTC, in minutes (+60 = UTC+01:00).
    pub utc_offset_minutes: i32,
    /// Working hours are `[work_start_hour, work_end_hour)` local time, Monday to Friday.
    pub work_start_hour: u32,
    pub work_end_hour: u32,
    /// A burst is more than this many deletes (or batch exports) by one actor…
    pub bulk_count: usize,
    /// …within this many minutes.
    pub bulk_minutes: u32,
    /// Prompt labels whose promotion is a production change.
    pub protected_labels: Vec<String>,
    /// Approved change tickets; with them each production change is
    /// reconciled (reconcile.rs).
    pub tickets: Option<Arc<ChangeTickets>>,
}

impl Default for PatternSettings {
    fn default() -> Self {
        PatternSettings {
            utc_offset_minutes: 0,
            work_start_hour: 7,
            work_end_hour: 19,
            bulk_count: 20,
            bulk_minutes: 10,
            protected_labels: vec!["production".into()],
            tickets: None,
        }
    }
}

impl PatternSettings {
    /// Parses `+01:00`, `-0530`, `Z` or `UTC` into minutes east of UTC.
    pub fn parse_offset(s: &str) -> Result<i32, String> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("z") || t.eq_ignore_ascii_case("utc") {
            return Ok(0);
        }
        let bad = || format!("{s:?} is not a UTC offset (use e.g. +01:00, -05:30 or UTC)");
        let (sign, rest) = match t.as_bytes().first() {
            Some(b'+') => (1, &t[1..]),
            Some(b'-') => (-1, &t[1..]),
            _ => return Err(bad()),
        };
        let digits: String = rest.chars().filter(|c| *c != ':').collect();
        if !(digits.len() == 2 || digits.len() == 4) || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let h: i32 = digits[..2].parse().map_err(|_| bad())?;
        let m: i32 = if digits.len() == 4 {
            digits[2..].parse().map_err(|_| bad())?
        } else {
            0
        };
        if h > 14 || m > 59 {
            return Err(bad());
        }
        Ok(sign * (h * 60 + m))
    }
}

/// One entry showing a pattern.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Hit {
    pub seq: u64,
    /// Why, in a few words (`role VIEWER → OWNER`, `23 deletes in 10 min`).
    pub reason: String,
}

/// What a scan keeps of its hits besides their number. Ten million entries
/// can show millions of hits (a reason string each: hundreds of megabytes),
/// so each use keeps only what it shows, and a scan's memory does not grow
/// with the archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keep {
    /// The first hits of each pattern (the lowest seqs), with their
    /// reasons: what the report and `scan` list.
    pub listed: usize,
    /// Every hit's seq, in memory (8 bytes a hit): the viewer's patterns
    /// panel shows a pattern's entries (it holds a row per entry anyway).
    pub seqs: bool,
    /// Every hit with its reason, sorted through a temporary file as they
    /// are found, for [`ScanReport::write_json`] (`scan --json`).
    pub all: bool,
}

impl Keep {
    /// Every hit, listed in memory: for small inputs (tests).
    pub const EVERYTHING: Keep = Keep {
        listed: usize::MAX,
        seqs: true,
        all: false,
    };

    /// The first `n` hits of each pattern with their reasons.
    pub const fn listed(n: usize) -> Keep {
        Keep {
            listed: n,
            seqs: false,
            all: false,
        }
    }
}

/// What a scan kept of one pattern's hits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Found {
    /// How many entries show the pattern.
    pub count: u64,
    /// The first [`Keep::listed`] hits, by seq.
    pub listed: Vec<Hit>,
    /// Every hit's seq, ascending, when [`Keep::seqs`].
    pub seqs: Option<Vec<u64>>,
}

static NOTHING_FOUND: Found = Found {
    count: 0,
    listed: Vec::new(),
    seqs: None,
};

/// Everything a scan found, per pattern in [`Pattern::ALL`] order.
#[derive(Debug, Default)]
pub struct ScanReport {
    pub entries: u64,
    pub found: Vec<(Pattern, Found)>,
    /// How many entries the roles granted, did not grant, or could not be judged.
    pub authorization: authorization::Tally,
    /// Every production change matched to the tickets, when tickets were given.
    pub reconciliation: Option<Reconciliation>,
    /// Every hit, when [`Keep::all`].
    all: Option<AllHits>,
}

impl ScanReport {
    /// What the scan kept of `p` (nothing found when `p` is missing).
    pub fn found(&self, p: Pattern) -> &Found {
        self.found
            .iter()
            .find(|(q, _)| *q == p)
            .map_or(&NOTHING_FOUND, |(_, f)| f)
    }

    /// How many entries show `p`.
    pub fn count(&self, p: Pattern) -> u64 {
        self.found(p).count
    }

    /// The first hits of `p` (all of them with [`Keep::EVERYTHING`]).
    pub fn listed(&self, p: Pattern) -> &[Hit] {
        &self.found(p).listed
    }

    /// The seq of every hit of `p`, when the scan kept them ([`Keep::seqs`]).
    pub fn seqs(&self, p: Pattern) -> Option<&[u64]> {
        self.found(p).seqs.as_deref()
    }

    /// The hits as JSON, one object per pattern: name, title, count and the
    /// listed hits, each what `about(seq)` says of the entry plus the reason.
    /// The shape of the report's JSON twin, and of `scan --json`
    /// ([`ScanReport::write_json`], which lists every hit).
    pub fn to_json(&self, about: impl Fn(u64) -> serde_json::Value) -> Vec<serde_json::Value> {
        self.found
            .iter()
            .map(|(p, f)| {
                let listed: Vec<serde_json::Value> = f
                    .listed
                    .iter()
                    .map(|h| hit_json(&about, h.seq, &h.reason))
                    .collect();
                serde_json::json!({
                    "name": p.as_str(),
                    "title": p.title(),
                    "count": f.count,
                    "hits": listed,
                })
            })
            .collect()
    }

    /// Writes the JSON array of [`ScanReport::to_json`] with every hit
    /// listed (the same bytes `serde_json` makes of it), one hit at a time
    /// from the sorted temporary file: `scan --json` of millions of hits in
    /// bounded memory. The scan must have kept them ([`Keep::all`]); they
    /// are read once.
    pub fn write_json(
        &mut self,
        w: &mut impl Write,
        about: impl Fn(u64) -> serde_json::Value,
    ) -> io::Result<()> {
        let all = self
            .all
            .take()
            .ok_or_else(|| io::Error::other("the scan kept only the first hits of each pattern"))?;
        if let Some(e) = all.error {
            return Err(io::Error::new(
                e.kind(),
                format!("cannot keep the hits in a temporary file: {e}"),
            ));
        }
        let mut sorted = all.sort.finish()?.peekable();
        w.write_all(b"[")?;
        for (i, (p, f)) in self.found.iter().enumerate() {
            if i > 0 {
                w.write_all(b",")?;
            }
            w.write_all(b"{\"name\":")?;
            serde_json::to_writer(&mut *w, p.as_str())?;
            w.write_all(b",\"title\":")?;
            serde_json::to_writer(&mut *w, p.title())?;
            write!(w, ",\"count\":{},\"hits\":[", f.count)?;
            let mut n = 0u64;
            while let Some(next) =
                sorted.next_if(|h| h.as_ref().map_or(true, |h| h.pattern == p.index()))
            {
                let h = next?;
                if n > 0 {
                    w.write_all(b",")?;
                }
                serde_json::to_writer(&mut *w, &hit_json(&about, h.seq, &h.reason))?;
                n += 1;
            }
            w.write_all(b"]}")?;
            if n != f.count {
                return Err(io::Error::other(format!(
                    "{} hits of {} were kept, {} counted",
                    n,
                    p.as_str(),
                    f.count
                )));
            }
        }
        w.write_all(b"]")
    }
}

/// One hit as JSON: what `about(seq)` says of the entry, and the reason.
fn hit_json(
    about: &impl Fn(u64) -> serde_json::Value,
    seq: u64,
    reason: &str,
) -> serde_json::Value {
    let mut d = about(seq);
    d["reason"] = reason.into();
    d
}

/// A hit with its pattern, as the sort of every hit holds it: ordered by
/// pattern, then seq (unique within a pattern).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Spilled {
    pattern: u8,
    seq: u64,
    reason: String,
}

impl Spill for Spilled {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.pattern);
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&(self.reason.len() as u64).to_le_bytes());
        out.extend_from_slice(self.reason.as_bytes());
    }

    fn decode(r: &mut RunReader) -> io::Result<Option<Spilled>> {
        let mut pattern = [0u8; 1];
        if !r.take(&mut pattern)? {
            return Ok(None);
        }
        let mut n = [0u8; 8];
        r.take_all(&mut n)?;
        let seq = u64::from_le_bytes(n);
        r.take_all(&mut n)?;
        let len = usize::try_from(u64::from_le_bytes(n)).map_err(io::Error::other)?;
        let mut reason = vec![0u8; len];
        r.take_all(&mut reason)?;
        Ok(Some(Spilled {
            pattern: pattern[0],
            seq,
            reason: String::from_utf8(reason).map_err(io::Error::other)?,
        }))
    }
}

/// Hits held in memory per sorted run of every hit (about 100 bytes each).
const HITS_PER_RUN: usize = 1 << 16;

/// Every hit of a scan, in an external sort (runs spilled to a temporary
/// file). A write that fails (a full disk) is kept and reported when the
/// hits are read, since the scan itself cannot stop on it.
struct AllHits {
    sort: ExternalSort<Spilled>,
    error: Option<io::Error>,
}

impl AllHits {
    /// Holding `run` hits in memory at a time ([`HITS_PER_RUN`]).
    fn new(run: usize) -> AllHits {
        AllHits {
            sort: ExternalSort::new(run, None),
            error: None,
        }
    }

    fn push(&mut self, p: Pattern, seq: u64, reason: String) {
        if self.error.is_some() {
            return;
        }
        let pattern = p.index();
        if let Err(e) = self.sort.push(Spilled {
            pattern,
            seq,
            reason,
        }) {
            self.error = Some(e);
        }
    }
}

impl std::fmt::Debug for AllHits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AllHits")
    }
}

/// One pattern's hits while scanning.
#[derive(Default)]
struct Kept {
    count: u64,
    /// The lowest seqs so far with their reasons; the top of this max-heap
    /// is the first to go.
    listed: BinaryHeap<Hit>,
    seqs: Vec<u64>,
}

/// A sliding window of one actor's recent deletes (or exports). It holds
/// the times in the order they came (a run of equal times as one count)
/// and the seqs not yet reported, which are the window's newest entries
/// and never more than the threshold (a burst reports them all): its size
/// does not grow with the entries, even when thousands share a millisecond.
#[derive(Default)]
struct Burst {
    /// (time, how many entries in a row had it), oldest first.
    times: VecDeque<(i64, u64)>,
    /// How many entries `times` holds.
    len: u64,
    /// The seqs of the window's newest entries not yet reported.
    pending: VecDeque<u64>,
}

impl Burst {
    /// Adds the entry `seq` at `t`, lets go of the entries that came before
    /// it more than `window` ms earlier, and says how many remain.
    fn slide(&mut self, t: i64, seq: u64, window: i64) -> u64 {
        match self.times.back_mut() {
            Some((last, n)) if *last == t => *n += 1,
            _ => self.times.push_back((t, 1)),
        }
        self.len += 1;
        self.pending.push_back(seq);
        while let Some(&(t0, n)) = self.times.front()
            && t - t0 > window
        {
            self.times.pop_front();
            self.len -= n;
        }
        while self.pending.len() as u64 > self.len {
            self.pending.pop_front();
        }
        self.len
    }
}

/// Finds the patterns in entries given in seq order.
pub struct Scanner {
    settings: PatternSettings,
    keep: Keep,
    entries: u64,
    found: [Kept; Pattern::ALL.len()],
    all: Option<AllHits>,
    key_ips: HashMap<String, HashSet<String>>,
    deletes: HashMap<String, Burst>,
    exports: HashMap<String, Burst>,
    judge: authorization::Judge,
    authorization: authorization::Tally,
    reconciler: Reconciler,
}

const ROLES: [&str; 5] = ["NONE", "VIEWER", "MEMBER", "ADMIN", "OWNER"];

fn role_rank(role: &str) -> Option<usize> {
    ROLES.iter().position(|r| r.eq_ignore_ascii_case(role))
}

/// The `role` of a membership or invitation state (an object, or the
/// platform's stringified form already unwrapped by ingest).
fn role_of(state: Option<&str>) -> Option<String> {
    let j = json::parse(state?.as_bytes()).ok()?;
    j.get("role")?.as_str().map(str::to_ascii_uppercase)
}

/// Whether a state mentions `label` as a string anywhere (a label list, a
/// single label, or a prompt object with `labels`).
fn mentions(state: &Json, label: &str) -> bool {
    match state {
        Json::String(s) => s == label,
        Json::Array(items) => items.iter().any(|j| mentions(j, label)),
        Json::Object(m) => m.values().any(|j| mentions(j, label)),
        _ => false,
    }
}

/// Whether `e` is a production change: a prompt promoted or labelled
/// (`promote`, `setLabel`) whose after-state mentions a protected label.
/// The reason names the prompt, the label and the actor. The one definition
/// the pattern and change reconciliation share.
pub fn production_change(e: &RecordView<'_>, settings: &PatternSettings) -> Option<String> {
    let action = e.action.as_ref();
    if e.resource_type != "prompt" || !matches!(action, "promote" | "setLabel") {
        return None;
    }
    let after = json::parse(e.after?.as_bytes()).ok()?;
    let label = settings
        .protected_labels
        .iter()
        .find(|l| mentions(&after, l))?;
    let name = e.resource_name.as_deref().unwrap_or(e.resource_id.as_ref());
    let actor = e.actor.label().unwrap_or("?");
    Some(format!("prompt {name} {action} to {label:?} by {actor}"))
}

impl Scanner {
    pub fn new(settings: PatternSettings, keep: Keep) -> Self {
        Scanner {
            settings,
            keep,
            entries: 0,
            found: Default::default(),
            all: keep.all.then(|| AllHits::new(HITS_PER_RUN)),
            key_ips: HashMap::new(),
            deletes: HashMap::new(),
            exports: HashMap::new(),
            judge: authorization::Judge::default(),
            authorization: authorization::Tally::default(),
            reconciler: Reconciler::default(),
        }
    }

    /// Counts a hit and keeps what [`Keep`] asks for; the reason is
    /// written out only for a hit that is kept with it.
    fn hit(&mut self, p: Pattern, seq: u64, reason: fmt::Arguments<'_>) {
        let k = &mut self.found[usize::from(p.index())];
        k.count += 1;
        if self.keep.seqs {
            k.seqs.push(seq);
        }
        let limit = self.keep.listed;
        let listed = k.listed.len() < limit || k.listed.peek().is_some_and(|h| seq < h.seq);
        let reason = match (listed, &mut self.all) {
            (false, None) => return,
            (false, Some(all)) => return all.push(p, seq, fmt::format(reason)),
            (true, None) => fmt::format(reason),
            (true, Some(all)) => {
                let reason = fmt::format(reason);
                all.push(p, seq, reason.clone());
                reason
            }
        };
        k.listed.push(Hit { seq, reason });
        if k.listed.len() > limit {
            k.listed.pop();
        }
    }

    /// Looks at the next entry.
    pub fn observe(&mut self, seq: u64, e: &RecordView<'_>) {
        self.entries += 1;
        let rt = e.resource_type.as_ref();
        let action = e.action.as_ref();
        let actor = e.actor.label().unwrap_or("?");

        // Off-hours, in the working time zone.
        let local = e.time.to_datetime()
            + chrono::Duration::minutes(i64::from(self.settings.utc_offset_minutes));
        let weekend = local.weekday().number_from_monday() >= 6;
        let hour = local.hour();
        if weekend || hour < self.settings.work_start_hour || hour >= self.settings.work_end_hour {
            let minute = local.minute();
            if weekend {
                let day = local.weekday();
                let why = format_args!("{action} at {day} {hour:02}:{minute:02} local time");
                self.hit(Pattern::OffHours, seq, why);
            } else {
                let why = format_args!("{action} at {hour:02}:{minute:02} local time");
                self.hit(Pattern::OffHours, seq, why);
            }
        }

        // Privilege escalation.
        if matches!(
            rt,
            "orgMembership" | "projectMembership" | "membershipInvitation"
        ) {
            let before = role_of(e.before);
            let after = role_of(e.after);
            let raised = match (&before, &after) {
                (Some(b), Some(a)) => role_rank(a) > role_rank(b),
                _ => false,
            };
            let powerful = after
                .as_deref()
                .is_some_and(|a| a == "OWNER" || a == "ADMIN");
            if (action == "create" && powerful) || (action == "update" && raised) {
                let reason = match (before, after) {
                    (Some(b), Some(a)) => format!("{rt} {action}: role {b} → {a}"),
                    (_, Some(a)) => format!("{rt} {action}: role {a}"),
                    _ => format!("{rt} {action}"),
                };
                self.hit(Pattern::PrivilegeEscalation, seq, format_args!("{reason}"));
            }
        }

        // Access-control changes.
        if matches!(
            rt,
            "orgMembership" | "projectMembership" | "membershipInvitation" | "apiKey"
        ) && matches!(action, "create" | "delete")
        {
            self.hit(Pattern::AccessControl, seq, format_args!("{rt} {action}"));
        }

        // API key lifecycle.
        if rt == "apiKey" && action == "create" {
            let name = e.resource_name.as_deref().unwrap_or(e.resource_id.as_ref());
            let why = format_args!("key {name} created by {actor}");
            self.hit(Pattern::ApiKeyCreated, seq, why);
        }
        if let (Some(key), Some(ip)) = (e.actor.api_key_id.as_deref(), e.ip_address.as_deref()) {
            let seen = self.key_ips.entry(key.to_string()).or_default();
            if !seen.contains(ip) {
                let name = e.actor.api_key_name.as_deref().unwrap_or(key);
                let reason = if seen.is_empty() {
                    format!("first use of key {name}, from {ip}")
                } else {
                    let mut before: Vec<&str> = seen.iter().map(String::as_str).collect();
                    before.sort_unstable();
                    before.truncate(3);
                    format!(
                        "key {name} used from {ip}, before only from {}",
                        before.join(", ")
                    )
                };
                seen.insert(ip.to_string());
                self.hit(Pattern::ApiKeyNewIp, seq, format_args!("{reason}"));
            }
        }

        // Bursts of deletes and of batch exports, per actor.
        let key = e.actor.key().unwrap_or("?");
        let t = e.time.0;
        if action == "delete" {
            self.burst(Pattern::BulkDeletes, key, t, seq, "deletes");
        }
        if rt == "batchExport" {
            self.burst(Pattern::BulkExports, key, t, seq, "batch exports");
        }

        // Production changes, reconciled with the tickets when given.
        let production = production_change(e, &self.settings);
        if let Some(reason) = &production {
            if let Some(tickets) = self.settings.tickets.clone() {
                let m = self.reconciler.observe(seq, &tickets, e);
                if m.status != Status::Approved {
                    // A reference into the reconciler: written out before the hit.
                    let why = format!("{}: {}", m.status.as_str(), m.reason);
                    self.hit(Pattern::UnapprovedChange, seq, format_args!("{why}"));
                }
            }
            self.hit(Pattern::ProductionChange, seq, format_args!("{reason}"));
        }

        // Authorization at the time (a protected label needs its own scope).
        let protected = production.is_some();
        let judgement = self.judge.observe(e, protected);
        self.authorization.add(&judgement);
        if let Judgement::NotGranted(reason) = judgement {
            self.hit(Pattern::NotAuthorized, seq, format_args!("{reason}"));
        }
    }

    fn burst(&mut self, p: Pattern, actor: &str, t: i64, seq: u64, what: &str) {
        let window = i64::from(self.settings.bulk_minutes) * 60_000;
        let table = if p == Pattern::BulkDeletes {
            &mut self.deletes
        } else {
            &mut self.exports
        };
        if !table.contains_key(actor) {
            table.insert(actor.to_string(), Burst::default());
        }
        let Some(b) = table.get_mut(actor) else {
            return;
        };
        let n = b.slide(t, seq, window);
        if n > self.settings.bulk_count as u64 {
            let new = std::mem::take(&mut b.pending);
            let minutes = self.settings.bulk_minutes;
            for s in new {
                let why = format_args!("{n} {what} within {minutes} min by one actor");
                self.hit(p, s, why);
            }
        }
    }

    pub fn finish(self) -> ScanReport {
        let found = Pattern::ALL
            .iter()
            .zip(self.found)
            .map(|(p, k)| {
                let mut seqs = k.seqs;
                // Bursts are found late: their seqs come out of order.
                seqs.sort_unstable();
                let found = Found {
                    count: k.count,
                    listed: k.listed.into_sorted_vec(),
                    seqs: self.keep.seqs.then_some(seqs),
                };
                (*p, found)
            })
            .collect();
        let reconciliation = self
            .settings
            .tickets
            .as_ref()
            .map(|t| self.reconciler.finish(t));
        ScanReport {
            entries: self.entries,
            found,
            authorization: self.authorization,
            reconciliation,
            all: self.all,
        }
    }
}

/// Scans a whole archive.
pub fn scan_archive(
    archive: &Archive,
    settings: &PatternSettings,
    keep: Keep,
    job: &Job,
) -> Result<ScanReport, String> {
    archive.read_streaming()?;
    job.start_phase("scanning", archive.seq_span()?);
    let mut scanner = Scanner::new(settings.clone(), keep);
    let mut n = 0u64;
    archive.scan::<String>(&Scan::all(Columns::of(&[Column::Record])), |r| {
        // An unreadable record is verification's business; the scan skips it.
        if let Ok(view) = RecordView::parse(r.record()) {
            scanner.observe(r.seq(), &view);
        }
        n += 1;
        if n.is_multiple_of(16_384) {
            job.check().map_err(|_| "scan cancelled".to_string())?;
            job.set_done(n);
        }
        Ok(())
    })?;
    Ok(scanner.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Actor, ActorType, Entry};
    use crate::time::Timestamp;

    fn user(id: &str) -> Actor {
        Actor {
            actor_type: Some(ActorType::User),
            user_id: Some(id.into()),
            ..Actor::default()
        }
    }

    /// A scanner fed `entries` (seq = position + 1), not yet finished.
    fn scanner(entries: &[Entry], settings: &PatternSettings, keep: Keep, run: usize) -> Scanner {
        let mut s = Scanner::new(settings.clone(), keep);
        if keep.all {
            s.all = Some(AllHits::new(run));
        }
        for (i, e) in entries.iter().enumerate() {
            let record = e.canonical_record();
            s.observe(i as u64 + 1, &RecordView::parse(record.as_bytes()).unwrap());
        }
        s
    }

    /// Deletes by three actors whose bursts overlap (so that hits are found
    /// out of seq order), times that repeat and sometimes run backwards,
    /// at night and by day: a deterministic jumble.
    fn jumble(n: u32) -> Vec<Entry> {
        let monday_0000 = 1_736_121_600_000i64;
        let mut t = monday_0000 + 5 * 3_600_000;
        let mut x = 0x2545_f491_4f6c_dd1du64;
        (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                t += match x % 10 {
                    0..=3 => 0,
                    4..=7 => (x >> 8) as i64 % 40_000,
                    8 => (x >> 8) as i64 % 3_600_000,
                    _ => -((x >> 8) as i64 % 900_000),
                };
                let who = ["a", "b", "c"][(x >> 40) as usize % 3];
                let action = if (x >> 50).is_multiple_of(5) {
                    "update"
                } else {
                    "delete"
                };
                let mut e = Entry::new(&format!("e{i}"), Timestamp(t), "trace", "r", action);
                e.actor = user(who);
                e
            })
            .collect()
    }

    fn bursty() -> PatternSettings {
        PatternSettings {
            bulk_count: 4,
            bulk_minutes: 1,
            ..PatternSettings::default()
        }
    }

    #[test]
    fn every_hit_streams_as_the_bytes_of_the_json_of_all_hits() {
        let entries = jumble(3_000);
        let settings = bursty();
        let everything = scanner(&entries, &settings, Keep::EVERYTHING, 0).finish();
        let about = |seq: u64| serde_json::json!({ "seq": seq });
        let want = serde_json::to_string(&everything.to_json(about)).unwrap();
        assert!(everything.count(Pattern::BulkDeletes) > 100);
        assert!(everything.count(Pattern::OffHours) > 100);
        let bursts = everything.seqs(Pattern::BulkDeletes).unwrap();
        assert!(bursts.windows(2).all(|w| w[0] < w[1]));
        let all = Keep {
            listed: 0,
            seqs: false,
            all: true,
        };
        // Runs of 7 hits: hundreds of runs spilled and merged; one run: none.
        for run in [7, HITS_PER_RUN] {
            let mut streamed = scanner(&entries, &settings, all, run).finish();
            assert!(streamed.listed(Pattern::OffHours).is_empty());
            let mut got = Vec::new();
            streamed.write_json(&mut got, about).unwrap();
            assert_eq!(String::from_utf8(got).unwrap(), want, "runs of {run}");
            // The hits are read once.
            assert!(streamed.write_json(&mut Vec::new(), about).is_err());
        }
    }

    #[test]
    fn the_first_hits_listed_are_the_lowest_seqs_of_every_hit() {
        let entries = jumble(3_000);
        let settings = bursty();
        let everything = scanner(&entries, &settings, Keep::EVERYTHING, 0).finish();
        // 12: the 12th burst hit found has a higher seq than the 13th.
        for n in [0, 5, 12, 20, 60, 400] {
            let first = scanner(&entries, &settings, Keep::listed(n), 0).finish();
            for p in Pattern::ALL {
                assert_eq!(first.count(p), everything.count(p), "{p:?}");
                let all = everything.listed(p);
                assert_eq!(all.len() as u64, everything.count(p), "{p:?}");
                assert_eq!(first.listed(p), &all[..all.len().min(n)], "{p:?} {n}");
                assert_eq!(first.seqs(p), None);
            }
        }
        // Bursts were found out of seq order (the lowest seqs were not found first).
        let unsorted = scanner(&entries, &settings, Keep::EVERYTHING, 0);
        let found = &unsorted.found[usize::from(Pattern::BulkDeletes.index())].seqs;
        assert!(found.windows(2).any(|w| w[0] > w[1]));
    }

    /// The window as it was: every (time, seq) held, reported seqs
    /// remembered by the last one reported.
    fn plain_bursts(entries: &[Entry], settings: &PatternSettings) -> Vec<Hit> {
        let window = i64::from(settings.bulk_minutes) * 60_000;
        let mut by_actor: HashMap<String, (VecDeque<(i64, u64)>, u64)> = HashMap::new();
        let mut hits = Vec::new();
        for (i, e) in entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.action == "delete")
        {
            let seq = i as u64 + 1;
            let t = e.time.0;
            let key = e.actor.user_id.clone().unwrap();
            let (recent, reported_up_to) = by_actor.entry(key).or_default();
            recent.push_back((t, seq));
            while recent.front().is_some_and(|(t0, _)| t - *t0 > window) {
                recent.pop_front();
            }
            if recent.len() > settings.bulk_count {
                let n = recent.len();
                for &(_, s) in recent.iter().filter(|(_, s)| *s > *reported_up_to) {
                    hits.push(Hit {
                        seq: s,
                        reason: format!(
                            "{n} deletes within {} min by one actor",
                            settings.bulk_minutes
                        ),
                    });
                }
                *reported_up_to = seq;
            }
        }
        hits.sort();
        hits
    }

    #[test]
    fn burst_windows_find_what_a_window_of_every_entry_finds() {
        let settings = bursty();
        for n in [50, 500, 3_000] {
            let entries = jumble(n);
            let r = scanner(&entries, &settings, Keep::EVERYTHING, 0).finish();
            assert_eq!(
                r.listed(Pattern::BulkDeletes),
                plain_bursts(&entries, &settings)
            );
        }
    }

    #[test]
    fn a_burst_window_stays_small_when_entries_share_a_millisecond() {
        let t = Timestamp(1_736_157_600_000);
        let entries: Vec<Entry> = (0..5_000)
            .map(|i| {
                let mut e = Entry::new(&format!("e{i}"), t, "trace", "r", "delete");
                e.actor = user("mass-deleter");
                e
            })
            .collect();
        let settings = PatternSettings::default();
        let s = scanner(&entries, &settings, Keep::listed(3), 0);
        let b = &s.deletes["mass-deleter"];
        assert_eq!((b.times.len(), b.len), (1, 5_000));
        assert!(b.pending.is_empty());
        let r = s.finish();
        assert_eq!(r.count(Pattern::BulkDeletes), 5_000);
        let listed = r.listed(Pattern::BulkDeletes);
        assert_eq!(listed.iter().map(|h| h.seq).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(listed[0].reason, "21 deletes within 10 min by one actor");
    }

    #[test]
    fn patterns_are_indexed_in_the_order_of_all() {
        for (i, p) in Pattern::ALL.iter().enumerate() {
            assert_eq!(usize::from(p.index()), i);
        }
    }

    #[test]
    fn offsets_parse() {
        assert_eq!(PatternSettings::parse_offset("+01:00"), Ok(60));
        assert_eq!(PatternSettings::parse_offset("-0530"), Ok(-330));
        assert_eq!(PatternSettings::parse_offset("UTC"), Ok(0));
        assert!(PatternSettings::parse_offset("01:00").is_err());
        assert!(PatternSettings::parse_offset("+25").is_err());
    }
}
