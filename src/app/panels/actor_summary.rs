//! Everything one actor did, summed up over the shown entries (when the
//! filter names an actor).

use std::collections::{BTreeMap, BTreeSet};

use eframe::egui;
use egui::RichText;

use super::timeline::view_fingerprint;
use crate::app::fonts::safe;
use crate::app::state::AppState;
use auditlens_core::row_index::Index;
use auditlens_core::time::Timestamp;

/// Projects and IP addresses listed before "(+N more)".
const LISTED: usize = 12;

/// Widget state: the summary of the last view (recomputed when it changes).
#[derive(Default)]
pub struct ActorSummary {
    cache: Option<((usize, u64), Summary)>,
}

#[derive(Clone)]
struct Summary {
    first: i64,
    last: i64,
    actions: String,
    projects: String,
    ips: String,
}

impl Summary {
    fn of(ix: &Index, view: &[u32]) -> Summary {
        let mut first = i64::MAX;
        let mut last = i64::MIN;
        let mut actions: BTreeMap<&str, u64> = BTreeMap::new();
        let mut projects: BTreeSet<&str> = BTreeSet::new();
        let mut ips: BTreeSet<&str> = BTreeSet::new();
        for &p in view {
            let r = &ix.rows[p as usize];
            first = first.min(r.time_ms);
            last = last.max(r.time_ms);
            *actions
                .entry(ix.actions.get(u32::from(r.action)).unwrap_or("?"))
                .or_default() += 1;
            if let Some(pr) = ix.projects.get(r.project).filter(|p| !p.is_empty()) {
                projects.insert(ix.project_names.get(pr).map_or(pr, String::as_str));
            }
            if let Some(ip) = ix.ips.get(r.ip).filter(|i| !i.is_empty()) {
                ips.insert(ip);
            }
        }
        let list = |set: &BTreeSet<&str>| {
            let v: Vec<&str> = set.iter().take(LISTED).copied().collect();
            let more = set.len().saturating_sub(LISTED);
            if more > 0 {
                format!("{} (+{more} more)", v.join(", "))
            } else if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        let acts: Vec<String> = actions.iter().map(|(a, n)| format!("{a} {n}")).collect();
        Summary {
            first,
            last,
            actions: acts.join(", "),
            projects: list(&projects),
            ips: list(&ips),
        }
    }
}

impl ActorSummary {
    pub fn ui(&mut self, ui: &mut egui::Ui, s: &AppState) {
        let Some(ix) = s.index() else { return };
        if s.filter.actor.trim().is_empty() || !ix.complete || s.view.is_empty() {
            return;
        }
        let key = (s.view.len(), view_fingerprint(&s.view));
        let sum = match &self.cache {
            Some((k, sum)) if *k == key => sum.clone(),
            _ => {
                let sum = Summary::of(ix, &s.view);
                self.cache = Some((key, sum.clone()));
                sum
            }
        };
        egui::Frame::group(ui.style()).show(ui, |ui| {
            let who = safe(ui, s.filter.actor.trim());
            ui.label(RichText::new(format!("Activity of {who}")).strong());
            ui.label(format!(
                "{} entries · first seen {} · last seen {}",
                s.view.len(),
                Timestamp(sum.first),
                Timestamp(sum.last)
            ));
            ui.label(safe(ui, &format!("Actions: {}", sum.actions)));
            ui.label(safe(ui, &format!("Projects touched: {}", sum.projects)));
            ui.label(safe(ui, &format!("IP addresses: {}", sum.ips)));
        });
    }
}
