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
use auditlens_core::blast_radius::BlastRadius;
use auditlens_core::directory::Directory;
use auditlens_core::row_index::Index;
use auditlens_core::time::Timestamp;

/// Projects and IP addresses listed before "(+N more)".
const LISTED: usize = 12;

/// Widget state: the summary of the last view (recomputed when it changes).
#[derive(Default)]
pub struct ActorSummary {
    /// Keyed by the view and the directory (names change the projects' text).
    cache: Option<((usize, u64, usize), Summary)>,
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
    /// Counted by interned id and named once at the end: an actor can
    /// have millions of entries, and this runs in a frame.
    fn of(ix: &Index, view: &[u32], names: Option<&Directory>) -> Summary {
        let mut first = i64::MAX;
        let mut last = i64::MIN;
        let ids = &ix.facet_ids;
        let mut action_counts = vec![0u64; ix.actions.len()];
        let mut seen_projects = vec![false; ix.projects.len()];
        let mut seen_ips = vec![false; ix.ips.len()];
        for &p in view {
            let p = p as usize;
            first = first.min(ix.times[p]);
            last = last.max(ix.times[p]);
            if let Some(n) = action_counts.get_mut(usize::from(ids.actions[p])) {
                *n += 1;
            }
            if let Some(seen) = seen_projects.get_mut(ids.projects[p] as usize) {
                *seen = true;
            }
            if let Some(seen) = seen_ips.get_mut(ix.rows[p].ip as usize) {
                *seen = true;
            }
        }
        let mut actions: BTreeMap<&str, u64> = BTreeMap::new();
        for (id, &n) in action_counts.iter().enumerate().filter(|(_, n)| **n > 0) {
            *actions
                .entry(ix.actions.get(id as u32).unwrap_or("?"))
                .or_default() += n;
        }
        let flagged = |seen: &[bool]| -> Vec<u32> {
            (0..seen.len() as u32)
                .filter(|&i| seen[i as usize])
                .collect()
        };
        let projects: BTreeSet<String> = flagged(&seen_projects)
            .into_iter()
            .filter_map(|id| ix.projects.get(id).filter(|p| !p.is_empty()))
            .map(|pr| {
                let name = ix.project_names.get(pr).map(String::as_str);
                match name.or_else(|| names.and_then(|d| d.name(pr))) {
                    Some(n) => format!("{n} ({pr})"),
                    None => pr.to_string(),
                }
            })
            .collect();
        let ips: BTreeSet<&str> = flagged(&seen_ips)
            .into_iter()
            .filter_map(|id| ix.ips.get(id).filter(|i| !i.is_empty()))
            .collect();
        fn list<S: AsRef<str>>(set: &BTreeSet<S>) -> String {
            let v: Vec<&str> = set.iter().take(LISTED).map(AsRef::as_ref).collect();
            let more = set.len().saturating_sub(LISTED);
            if more > 0 {
                format!("{} (+{more} more)", v.join(", "))
            } else if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        }
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
        let names = s.investigation.directory.as_deref();
        let key = (
            s.view.len(),
            view_fingerprint(&s.view),
            names.map_or(0, |d| d as *const Directory as usize),
        );
        let sum = match &self.cache {
            Some((k, sum)) if *k == key => sum.clone(),
            _ => {
                let sum = Summary::of(ix, &s.view, names);
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

/// Bars of the identity's own timeline.
const STRIP_BARS: i64 = 60;

/// The identity's own timeline: its entries from first to last in
/// [`STRIP_BARS`] equal slices (minutes for a burst, days for a season).
fn strip(ui: &mut egui::Ui, b: &BlastRadius) {
    let (Some(first), Some(last)) = (b.times.first(), b.times.last()) else {
        return;
    };
    let span = (last.0 - first.0).max(1);
    let slice = (span / STRIP_BARS + 1).max(1);
    let mut bars = vec![0u64; STRIP_BARS as usize + 1];
    for t in &b.times {
        bars[((t.0 - first.0) / slice) as usize] += 1;
    }
    let max = bars.iter().copied().max().unwrap_or(1).max(1);
    let width = ui.available_width().min(600.0);
    let (rect, resp) = ui.allocate_exact_size(egui::vec2(width, 28.0), egui::Sense::hover());
    let p = ui.painter_at(rect);
    p.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
    let w = rect.width() / bars.len() as f32;
    for (i, n) in bars.iter().enumerate().filter(|(_, n)| **n > 0) {
        let h = rect.height() * (*n as f32 / max as f32);
        let x = rect.left() + i as f32 * w;
        let r = egui::Rect::from_min_max(
            egui::pos2(x + 0.5, rect.bottom() - h),
            egui::pos2(x + w - 0.5, rect.bottom()),
        );
        p.rect_filled(r, 0.0, egui::Color32::from_rgb(70, 130, 200));
    }
    let minutes = slice as f64 / 60_000.0;
    let bucket = if minutes < 120.0 {
        format!("{minutes:.0} min")
    } else {
        format!("{:.1} h", minutes / 60.0)
    };
    resp.on_hover_text(format!(
        "{} entries from {} to {} (UTC), one bar per {bucket}; {} days with entries",
        b.times.len(),
        Timestamp(first.0),
        Timestamp(last.0),
        b.days.len(),
    ));
}
