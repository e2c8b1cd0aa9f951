//! Change management: every production change (as [`crate::patterns`]
//! defines it) matched to an approved ticket ([`crate::tickets`]).
//!
//! A change is **approved** when a ticket whose scope (project, resource
//! type, resource id or name, where the ticket names them) covers it was
//! approved for a window holding the change's time and, where the ticket
//! names an actor, for that actor. It is **mismatched** when a ticket covers
//! its scope but the time falls outside the window or another actor made
//! it, and **unapproved** when no ticket covers it at all.

use serde_json::{Value, json};

use crate::record_view::RecordView;
use crate::tickets::{ChangeTickets, Ticket, shown};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    Approved,
    Mismatched,
    Unapproved,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Approved, Status::Mismatched, Status::Unapproved];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Approved => "approved",
            Status::Mismatched => "mismatched",
            Status::Unapproved => "unapproved",
        }
    }

    /// Name for people (the viewer's facet, the report).
    pub fn title(self) -> &'static str {
        match self {
            Status::Approved => "Approved changes",
            Status::Mismatched => "Mismatched changes",
            Status::Unapproved => "Unapproved changes",
        }
    }
}

/// One production change and what the tickets say of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeMatch {
    pub seq: u64,
    pub status: Status,
    /// The ticket that approves it, or the nearest one that covers its scope.
    pub ticket: Option<String>,
    /// Why, in one line.
    pub reason: String,
}

/// Everything reconcile found: one [`ChangeMatch`] per production change, in seq order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reconciliation {
    pub changes: Vec<ChangeMatch>,
    /// Tickets no production change was matched to (approved, nothing seen).
    pub unused_tickets: Vec<String>,
}

impl Reconciliation {
    pub fn count(&self, s: Status) -> usize {
        self.changes.iter().filter(|c| c.status == s).count()
    }

    pub fn all_approved(&self) -> bool {
        self.changes.iter().all(|c| c.status == Status::Approved)
    }

    /// The facts as JSON (the `reconcile --json` output and the report's
    /// section): the ticket file, the counts, and every change with what
    /// `about(seq)` says of the entry.
    pub fn to_json(&self, tickets: &ChangeTickets, about: impl Fn(u64) -> Value) -> Value {
        let changes: Vec<Value> = self
            .changes
            .iter()
            .map(|c| {
                let mut d = about(c.seq);
                d["status"] = c.status.as_str().into();
                d["ticket"] = c.ticket.clone().into();
                d["reason"] = c.reason.clone().into();
                d
            })
            .collect();
        let mapping: serde_json::Map<String, Value> = tickets
            .mapping
            .iter()
            .map(|(f, c)| (f.as_str().to_string(), c.clone().into()))
            .collect();
        json!({
            "tickets_file": tickets.file,
            "tickets_sha256": tickets.sha256,
            "tickets": tickets.tickets.len(),
            "rows_skipped": tickets.skipped,
            "columns": mapping,
            "production_changes": self.changes.len(),
            "approved": self.count(Status::Approved),
            "mismatched": self.count(Status::Mismatched),
            "unapproved": self.count(Status::Unapproved),
            "unused_tickets": self.unused_tickets,
            "changes": changes,
        })
    }
}

fn same(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// Whether the ticket's scope (the fields it names) covers the entry.
fn covers(t: &Ticket, e: &RecordView<'_>) -> bool {
    let project = t.project.as_deref().is_none_or(|p| {
        [e.project_id.as_deref(), e.project_name.as_deref()]
            .into_iter()
            .flatten()
            .any(|v| same(v, p))
    });
    let rtype = t
        .resource_type
        .as_deref()
        .is_none_or(|r| same(r, &e.resource_type));
    let rid = t.resource_id.as_deref().is_none_or(|r| {
        same(r, &e.resource_id) || e.resource_name.as_deref().is_some_and(|n| same(r, n))
    });
    project && rtype && rid
}

/// Whether the ticket's actor (if it names one) is the entry's actor, by
/// email, user id, key id or key name.
fn actor_matches(t: &Ticket, e: &RecordView<'_>) -> bool {
    let Some(want) = t.actor.as_deref() else {
        return true;
    };
    let a = &e.actor;
    [&a.email, &a.user_id, &a.api_key_id, &a.api_key_name]
        .into_iter()
        .filter_map(|v| v.as_deref())
        .any(|v| same(v, want))
}

fn duration(ms: i64) -> String {
    let m = ms.abs() / 60_000;
    match m {
        0 => format!("{} s", ms.abs() / 1000),
        1..=59 => format!("{m} min"),
        60..=2879 => format!("{} h {} min", m / 60, m % 60),
        _ => format!("{} days", m / 1440),
    }
}

/// What the tickets say of one production change.
pub fn match_change(
    tickets: &ChangeTickets,
    e: &RecordView<'_>,
) -> (Status, Option<String>, String) {
    let t = e.time.0;
    let candidates: Vec<&Ticket> = tickets.tickets.iter().filter(|k| covers(k, e)).collect();
    if let Some(k) = candidates
        .iter()
        .find(|k| k.start <= t && t <= k.end && actor_matches(k, e))
    {
        return (
            Status::Approved,
            Some(k.id.clone()),
            format!(
                "within {}'s window {} – {}",
                k.id,
                shown(k.start),
                shown(k.end)
            ),
        );
    }
    // The nearest covering ticket: one whose window holds the time (so the
    // actor differs) first, then the closest window.
    let distance = |k: &Ticket| {
        if t < k.start {
            k.start - t
        } else {
            t.saturating_sub(k.end).max(0)
        }
    };
    let Some(k) = candidates.iter().min_by_key(|k| (distance(k), k.row)) else {
        let what = e.resource_name.as_deref().unwrap_or(e.resource_id.as_ref());
        return (
            Status::Unapproved,
            None,
            format!("no ticket covers {} {what}", e.resource_type),
        );
    };
    let mut why = Vec::new();
    if t < k.start {
        why.push(format!(
            "{} before {}'s window opens ({})",
            duration(k.start - t),
            k.id,
            shown(k.start)
        ));
    } else if t > k.end {
        why.push(format!(
            "{} after {}'s window closed ({})",
            duration(t - k.end),
            k.id,
            shown(k.end)
        ));
    }
    if !actor_matches(k, e) {
        why.push(format!(
            "made by {}, {} names {}",
            e.actor.label().unwrap_or("an unknown actor"),
            k.id,
            k.actor.as_deref().unwrap_or_default()
        ));
    }
    (Status::Mismatched, Some(k.id.clone()), why.join("; "))
}

/// Collects the matches of the production changes seen in seq order.
#[derive(Default)]
pub struct Reconciler {
    changes: Vec<ChangeMatch>,
}

impl Reconciler {
    pub fn observe(
        &mut self,
        seq: u64,
        tickets: &ChangeTickets,
        e: &RecordView<'_>,
    ) -> &ChangeMatch {
        let (status, ticket, reason) = match_change(tickets, e);
        self.changes.push(ChangeMatch {
            seq,
            status,
            ticket,
            reason,
        });
        self.changes.last().expect("just pushed")
    }

    pub fn finish(self, tickets: &ChangeTickets) -> Reconciliation {
        let used: std::collections::HashSet<&str> = self
            .changes
            .iter()
            .filter(|c| c.status == Status::Approved)
            .filter_map(|c| c.ticket.as_deref())
            .collect();
        let mut unused: Vec<String> = tickets
            .tickets
            .iter()
            .filter(|t| !used.contains(t.id.as_str()))
            .map(|t| t.id.clone())
            .collect();
        unused.dedup();
        Reconciliation {
            changes: self.changes,
            unused_tickets: unused,
        }
    }
}
