//! Everything one actor did, summed up over the shown entries (when the
//! filter names an actor), and on request its blast radius: the resources
//! it touched by type, its own timeline strip, where it came from, and who
//! touched the same resources afterwards, with the way to show (and so
//! export) exactly those entries.

use std::collections::{BTreeMap, BTreeSet};

use eframe::egui;
use egui::RichText;

use super::timeline::view_fingerprint;
use crate::app::command::{Command, Commands};
use crate::app::fonts::safe;
use crate::app::state::{AppState, Pending};
use auditlens_core::blast_radius::{BlastRadius, DAY_MS};
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
    pub fn ui(&mut self, ui: &mut egui::Ui, s: &AppState, cmds: &mut Commands) {
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
            let actor = s.filter.actor.trim();
            let who = safe(ui, &s.investigation.readable(actor, actor));
            ui.horizontal(|ui| {
                ui.label(RichText::new(format!("Activity of {who}")).strong());
                let asked = s
                    .investigation
                    .blast
                    .as_ref()
                    .is_some_and(|(a, _)| a == actor);
                if !asked
                    && ui
                        .button("Blast radius")
                        .on_hover_text(
                            "What this identity touched in the whole archive, when, from where, \
                             and who touched the same resources afterwards",
                        )
                        .clicked()
                {
                    cmds.push(Command::ShowBlastRadius(actor.to_string()));
                }
            });
            ui.label(format!(
                "{} entries · first seen {} · last seen {}",
                s.view.len(),
                Timestamp(sum.first),
                Timestamp(sum.last)
            ));
            ui.label(safe(ui, &format!("Actions: {}", sum.actions)));
            ui.label(safe(ui, &format!("Projects touched: {}", sum.projects)));
            ui.label(safe(ui, &format!("IP addresses: {}", sum.ips)));
            match s.investigation.blast.as_ref().filter(|(a, _)| a == actor) {
                Some((_, Pending::Running)) => {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label("Reading the blast radius…");
                    });
                }
                Some((_, Pending::Failed(e))) => {
                    ui.colored_label(super::ERROR_COLOR, safe(ui, e));
                }
                Some((_, Pending::Done(b))) => blast_ui(ui, s, b, cmds),
                None => {}
            }
        });
    }
}

/// A comma-separated list of at most [`LISTED`] (value, count) pairs.
fn counted(v: &[(String, u64)]) -> String {
    if v.is_empty() {
        return "none recorded".into();
    }
    let mut parts: Vec<String> = v
        .iter()
        .take(LISTED)
        .map(|(k, n)| format!("{k} ({n})"))
        .collect();
    if v.len() > LISTED {
        parts.push(format!("+{} more", v.len() - LISTED));
    }
    parts.join(", ")
}

/// The blast radius of the actor: touched resources by type, the timeline
/// strip, IPs and user agents, who came after, and the subset to show.
fn blast_ui(ui: &mut egui::Ui, s: &AppState, b: &BlastRadius, cmds: &mut Commands) {
    ui.separator();
    let inv = &s.investigation;
    ui.label(
        RichText::new(format!(
            "Blast radius: {} entries on {} resources",
            b.seqs.len(),
            b.resources.len()
        ))
        .strong(),
    );
    let types: Vec<(String, u64)> = b
        .by_type
        .iter()
        .map(|(t, r, n)| {
            (
                format!("{} {r}", auditlens_core::catalog::display_name(t)),
                *n,
            )
        })
        .collect();
    ui.label(safe(
        ui,
        &format!("Resources by type (entries): {}", counted(&types)),
    ));
    strip(ui, b);
    ui.label(safe(ui, &format!("IP addresses: {}", counted(&b.ips))));
    ui.label(safe(
        ui,
        &format!("User agents: {}", counted(&b.user_agents)),
    ));
    let who = b.who_else();
    ui.horizontal_wrapped(|ui| {
        ui.label(format!(
            "Afterwards, on the same resources: {} entries by {} others",
            b.others_after.len(),
            who.len()
        ));
        for (key, label, n) in who.iter().take(LISTED) {
            let shown = if inv.directory.as_ref().and_then(|d| d.name(key)).is_some() {
                inv.readable(key, key)
            } else {
                label.clone()
            };
            if ui
                .small_button(safe(ui, &format!("{shown} ({n})")))
                .on_hover_text("Everything this identity did")
                .clicked()
            {
                cmds.push(Command::ShowActor(key.clone()));
            }
        }
    });
    let subset = b.subset();
    if ui
        .button(format!("Show these {} entries", subset.len()))
        .on_hover_text(
            "Its own entries and the later ones by others on the same resources; Export… then \
             writes exactly these, with their proofs",
        )
        .clicked()
    {
        cmds.push(Command::RestrictTo {
            label: format!("Blast radius of {}", b.actor),
            seqs: subset,
        });
    }
}

/// The identity's own timeline: one bar per UTC day from its first to its last entry.
fn strip(ui: &mut egui::Ui, b: &BlastRadius) {
    let (Some(first), Some(last)) = (b.days.first(), b.days.last()) else {
        return;
    };
    let n_days = ((last.0 - first.0) / DAY_MS + 1).clamp(1, 3650) as usize;
    let max = b.days.iter().map(|(_, n)| *n).max().unwrap_or(1).max(1);
    let width = ui.available_width().min(600.0);
    let (rect, resp) = ui.allocate_exact_size(egui::vec2(width, 28.0), egui::Sense::hover());
    let p = ui.painter_at(rect);
    p.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
    let w = rect.width() / n_days as f32;
    for (day, n) in &b.days {
        let i = ((day - first.0) / DAY_MS) as f32;
        let h = rect.height() * (*n as f32 / max as f32);
        let r = egui::Rect::from_min_max(
            egui::pos2(rect.left() + i * w + 0.5, rect.bottom() - h),
            egui::pos2(rect.left() + (i + 1.0) * w - 0.5, rect.bottom()),
        );
        p.rect_filled(r, 0.0, egui::Color32::from_rgb(70, 130, 200));
    }
    resp.on_hover_text(format!(
        "{} days with entries, {} to {} (UTC); the busiest day has {max}",
        b.days.len(),
        Timestamp(first.0).to_string().get(..10).unwrap_or_default(),
        Timestamp(last.0).to_string().get(..10).unwrap_or_default(),
    ));
}
