//! Patterns to watch: the suspicious activity the platform's guidance tells
//! users to look for in a SIEM ("off-hours access, bulk exports, privilege
//! escalation, unauthorized access"), found offline in the archive itself.
//!
//! A [`Scanner`] is fed entries in seq order and names every entry that shows
//! a pattern, with a one-line reason. The thresholds are [`PatternSettings`];
//! their defaults are documented in docs/PATTERNS.md.

use std::collections::{HashMap, HashSet, VecDeque};

use chrono::{Datelike, Timelike};

use crate::archive::{Archive, Column, Columns, Scan};
use crate::authorization::{self, Judgement};
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    pub seq: u64,
    /// Why, in a few words (`role VIEWER → OWNER`, `23 deletes in 10 min`).
    pub reason: String,
}

/// Everything a scan found, per pattern in [`Pattern::ALL`] order.
#[derive(Clone, Debug, Default)]
pub struct ScanReport {
    pub entries: u64,
    pub hits: Vec<(Pattern, Vec<Hit>)>,
    /// How many entries the roles granted, did not grant, or could not be judged.
    pub authorization: authorization::Tally,
    /// Every production change matched to the tickets, when tickets were given.
    pub reconciliation: Option<Reconciliation>,
}

impl ScanReport {
    pub fn hits_of(&self, p: Pattern) -> &[Hit] {
        self.hits
            .iter()
            .find(|(q, _)| *q == p)
            .map(|(_, h)| h.as_slice())
            .unwrap_or_default()
    }

    /// The hits as JSON, one object per pattern: name, title, count and the
    /// first `limit` hits, each what `about(seq)` says of the entry plus the
    /// reason. The one shape of `scan --json` and the report's JSON twin.
    pub fn to_json(
        &self,
        limit: usize,
        about: impl Fn(u64) -> serde_json::Value,
    ) -> Vec<serde_json::Value> {
        self.hits
            .iter()
            .map(|(p, hits)| {
                let listed: Vec<serde_json::Value> = hits
                    .iter()
                    .take(limit)
                    .map(|h| {
                        let mut d = about(h.seq);
                        d["reason"] = h.reason.clone().into();
                        d
                    })
                    .collect();
                serde_json::json!({
                    "name": p.as_str(),
                    "title": p.title(),
                    "count": hits.len(),
                    "hits": listed,
                })
            })
            .collect()
    }
}

/// A sliding window of one actor's recent deletes (or exports).
#[derive(Default)]
struct Burst {
    recent: VecDeque<(i64, u64)>,
    /// Seqs of the current burst already reported.
    reported_up_to: u64,
}

/// Finds the patterns in entries given in seq order.
pub struct Scanner {
    settings: PatternSettings,
    entries: u64,
    hits: HashMap<Pattern, Vec<Hit>>,
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
    pub fn new(settings: PatternSettings) -> Self {
        Scanner {
            settings,
            entries: 0,
            hits: HashMap::new(),
            key_ips: HashMap::new(),
            deletes: HashMap::new(),
            exports: HashMap::new(),
            judge: authorization::Judge::default(),
            authorization: authorization::Tally::default(),
            reconciler: Reconciler::default(),
        }
    }

    fn hit(&mut self, p: Pattern, seq: u64, reason: String) {
        self.hits.entry(p).or_default().push(Hit { seq, reason });
    }

    /// Looks at the next entry.
    pub fn observe(&mut self, seq: u64, e: &RecordView<'_>) {
        self.entries += 1;
        let rt = e.resource_type.as_ref();
        let action = e.action.as_ref();
        let actor = e.actor.label().unwrap_or("?").to_string();

        // Off-hours, in the working time zone.
        let local = e.time.to_datetime()
            + chrono::Duration::minutes(i64::from(self.settings.utc_offset_minutes));
        let weekend = local.weekday().number_from_monday() >= 6;
        let hour = local.hour();
        if weekend || hour < self.settings.work_start_hour || hour >= self.settings.work_end_hour {
            let when = if weekend {
                format!("{} {:02}:{:02}", local.weekday(), hour, local.minute())
            } else {
                format!("{:02}:{:02}", hour, local.minute())
            };
            self.hit(
                Pattern::OffHours,
                seq,
                format!("{action} at {when} local time"),
            );
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
                self.hit(Pattern::PrivilegeEscalation, seq, reason);
            }
        }

        // Access-control changes.
        if matches!(
            rt,
            "orgMembership" | "projectMembership" | "membershipInvitation" | "apiKey"
        ) && matches!(action, "create" | "delete")
        {
            self.hit(Pattern::AccessControl, seq, format!("{rt} {action}"));
        }

        // API key lifecycle.
        if rt == "apiKey" && action == "create" {
            let name = e.resource_name.as_deref().unwrap_or(e.resource_id.as_ref());
            self.hit(
                Pattern::ApiKeyCreated,
                seq,
                format!("key {name} created by {actor}"),
            );
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
                self.hit(Pattern::ApiKeyNewIp, seq, reason);
            }
        }

        // Bursts of deletes and of batch exports, per actor.
        let key = e.actor.key().unwrap_or("?").to_string();
        let t = e.time.0;
        if action == "delete" {
            self.burst(Pattern::BulkDeletes, key.clone(), t, seq, "deletes");
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
                    let reason = format!("{}: {}", m.status.as_str(), m.reason);
                    self.hit(Pattern::UnapprovedChange, seq, reason);
                }
            }
            self.hit(Pattern::ProductionChange, seq, reason.clone());
        }

        // Authorization at the time (a protected label needs its own scope).
        let protected = production.is_some();
        let judgement = self.judge.observe(e, protected);
        self.authorization.add(&judgement);
        if let Judgement::NotGranted(reason) = judgement {
            self.hit(Pattern::NotAuthorized, seq, reason);
        }
    }

    fn burst(&mut self, p: Pattern, actor: String, t: i64, seq: u64, what: &str) {
        let window = i64::from(self.settings.bulk_minutes) * 60_000;
        let limit = self.settings.bulk_count;
        let table = if p == Pattern::BulkDeletes {
            &mut self.deletes
        } else {
            &mut self.exports
        };
        let b = table.entry(actor).or_default();
        b.recent.push_back((t, seq));
        while b.recent.front().is_some_and(|(t0, _)| t - *t0 > window) {
            b.recent.pop_front();
        }
        if b.recent.len() > limit {
            let n = b.recent.len();
            let new: Vec<u64> = b
                .recent
                .iter()
                .map(|(_, s)| *s)
                .filter(|s| *s > b.reported_up_to)
                .collect();
            b.reported_up_to = seq;
            let minutes = self.settings.bulk_minutes;
            for s in new {
                self.hit(
                    p,
                    s,
                    format!("{n} {what} within {minutes} min by one actor"),
                );
            }
        }
    }

    pub fn finish(mut self) -> ScanReport {
        let hits = Pattern::ALL
            .iter()
            .map(|p| {
                let mut h = self.hits.remove(p).unwrap_or_default();
                h.sort_by_key(|h| h.seq);
                (*p, h)
            })
            .collect();
        let reconciliation = self
            .settings
            .tickets
            .as_ref()
            .map(|t| self.reconciler.finish(t));
        ScanReport {
            entries: self.entries,
            hits,
            authorization: self.authorization,
            reconciliation,
        }
    }
}

/// Scans a whole archive.
pub fn scan_archive(
    archive: &Archive,
    settings: &PatternSettings,
    job: &Job,
) -> Result<ScanReport, String> {
    archive.stop_mapping()?;
    job.start_phase("scanning", archive.seq_span()?);
    let mut scanner = Scanner::new(settings.clone());
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

    #[test]
    fn offsets_parse() {
        assert_eq!(PatternSettings::parse_offset("+01:00"), Ok(60));
        assert_eq!(PatternSettings::parse_offset("-0530"), Ok(-330));
        assert_eq!(PatternSettings::parse_offset("UTC"), Ok(0));
        assert!(PatternSettings::parse_offset("01:00").is_err());
        assert!(PatternSettings::parse_offset("+25").is_err());
    }
}
