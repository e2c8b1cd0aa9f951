//! Investigation panels: the activity timeline, the patterns to watch, the
//! actor summary and the case notes of the selected entry.

use std::collections::{BTreeMap, BTreeSet};

use egui::{Color32, RichText, Sense, TextEdit};

use crate::app::egui;
use crate::app::fonts::safe;
use crate::app::state::{AppState, BOOKMARKED, TimePreset};
use auditlens_core::patterns::{Pattern, PatternSettings};
use auditlens_core::row_index::Index;
use auditlens_core::time::Timestamp;

/// What kind of change an action is, for the timeline's colours.
fn kind_of(action: &str) -> usize {
    match action {
        "create" => 0,
        "update" | "updateTags" | "setLabel" | "promote" | "transfer" => 1,
        "delete" => 2,
        _ => 3,
    }
}

pub const BOOKMARK_COLOR: Color32 = Color32::from_rgb(240, 190, 40);

const KIND_NAMES: [&str; 4] = ["create", "update", "delete", "other"];
const KIND_COLORS: [Color32; 4] = [
    Color32::from_rgb(80, 170, 100),
    Color32::from_rgb(80, 140, 220),
    Color32::from_rgb(220, 80, 70),
    Color32::from_rgb(150, 150, 150),
];

/// Counts per time bucket and action kind, over the shown entries.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram {
    pub from: i64,
    pub bucket_ms: i64,
    pub counts: Vec<[u32; 4]>,
}

impl Histogram {
    /// Buckets the entries at `positions` over their own time span: the
    /// bucket size follows the range shown, so narrowing the range zooms in.
    pub fn of(ix: &Index, positions: &[u32], buckets: usize) -> Histogram {
        let kinds: Vec<usize> = (0..ix.actions.len())
            .map(|id| kind_of(ix.actions.get(id as u32).unwrap_or("")))
            .collect();
        let times = positions.iter().map(|&p| ix.rows[p as usize].time_ms);
        let (Some(min), Some(max)) = (times.clone().min(), times.max()) else {
            return Histogram::default();
        };
        let buckets = buckets.max(1);
        let bucket_ms = ((max - min) / buckets as i64 + 1).max(1);
        let mut counts = vec![[0u32; 4]; buckets];
        for &p in positions {
            let row = &ix.rows[p as usize];
            let b = (((row.time_ms - min) / bucket_ms) as usize).min(buckets - 1);
            counts[b][kinds.get(row.action as usize).copied().unwrap_or(3)] += 1;
        }
        Histogram {
            from: min,
            bucket_ms,
            counts,
        }
    }
}

/// The histogram of entries over time above the table. Dragging across it
/// sets the time filter; a double click shows all times again.
#[derive(Default)]
pub struct Timeline {
    cache: Option<(usize, u64, usize, Histogram)>,
    drag_from: Option<f32>,
}

impl Timeline {
    pub fn ui(&mut self, ui: &mut egui::Ui, s: &mut AppState) {
        let Some(ix) = s.index().cloned() else { return };
        if !ix.complete || s.view.is_empty() {
            return;
        }
        let width = ui.available_width();
        let buckets = (width / 4.0).max(10.0) as usize;
        // The view only changes when refiltered: recompute then, not per frame.
        let key = (s.view.len(), view_fingerprint(&s.view), buckets);
        let hist = match &self.cache {
            Some((a, b, c, h)) if (*a, *b, *c) == key => h.clone(),
            _ => {
                let h = Histogram::of(&ix, &s.view, buckets);
                self.cache = Some((key.0, key.1, key.2, h.clone()));
                h
            }
        };
        let height = 64.0;
        let (rect, resp) =
            ui.allocate_exact_size(egui::vec2(width, height), Sense::click_and_drag());
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
        let max = hist
            .counts
            .iter()
            .map(|c| c.iter().sum::<u32>())
            .max()
            .unwrap_or(1)
            .max(1) as f32;
        let bw = rect.width() / hist.counts.len().max(1) as f32;
        for (i, c) in hist.counts.iter().enumerate() {
            let x = rect.left() + i as f32 * bw;
            let mut y = rect.bottom();
            for (k, n) in c.iter().enumerate() {
                if *n == 0 {
                    continue;
                }
                let h = (*n as f32 / max) * (height - 4.0);
                painter.rect_filled(
                    egui::Rect::from_min_max(egui::pos2(x, y - h), egui::pos2(x + bw - 0.5, y)),
                    0.0,
                    KIND_COLORS[k],
                );
                y -= h;
            }
        }
        // Bookmarks as small marks along the top.
        if let Some(case) = s.doc.as_ref().and_then(|d| d.case.as_ref()) {
            let span = hist.bucket_ms * hist.counts.len() as i64;
            for (seq, _) in case.bookmarked() {
                if let Some(p) = ix.position(seq) {
                    let t = ix.rows[p as usize].time_ms;
                    if t >= hist.from && t <= hist.from + span {
                        let x = rect.left() + (t - hist.from) as f32 / span as f32 * rect.width();
                        painter.circle_filled(egui::pos2(x, rect.top() + 4.0), 3.0, BOOKMARK_COLOR);
                    }
                }
            }
        }
        let time_at = |x: f32| {
            let f = ((x - rect.left()) / rect.width()).clamp(0.0, 1.0);
            hist.from + (f * (hist.bucket_ms * hist.counts.len() as i64) as f32) as i64
        };
        if let Some(pos) = resp.hover_pos() {
            let b =
                (((pos.x - rect.left()) / bw) as usize).min(hist.counts.len().saturating_sub(1));
            if let Some(c) = hist.counts.get(b) {
                let start = hist.from + b as i64 * hist.bucket_ms;
                let parts: Vec<String> = c
                    .iter()
                    .zip(KIND_NAMES)
                    .filter(|(n, _)| **n > 0)
                    .map(|(n, k)| format!("{n} {k}"))
                    .collect();
                resp.clone().on_hover_text(format!(
                    "{} – {}: {}\nDrag to filter to a time range; double-click for all times.",
                    Timestamp(start),
                    Timestamp(start + hist.bucket_ms),
                    if parts.is_empty() {
                        "nothing".to_string()
                    } else {
                        parts.join(", ")
                    }
                ));
            }
        }
        if resp.drag_started() {
            self.drag_from = resp.interact_pointer_pos().map(|p| p.x);
        }
        if let (Some(a), Some(p)) = (self.drag_from, resp.interact_pointer_pos()) {
            let (l, r) = (a.min(p.x), a.max(p.x));
            painter.rect_filled(
                egui::Rect::from_min_max(egui::pos2(l, rect.top()), egui::pos2(r, rect.bottom())),
                0.0,
                Color32::from_rgba_unmultiplied(255, 255, 255, 40),
            );
        }
        if resp.drag_stopped()
            && let (Some(a), Some(p)) = (self.drag_from.take(), resp.interact_pointer_pos())
            && (a - p.x).abs() > 3.0
        {
            let (from, to) = (time_at(a.min(p.x)), time_at(a.max(p.x)));
            s.filter.preset = TimePreset::Custom;
            s.filter.from = Timestamp(from).to_string();
            s.filter.to = Timestamp(to + 1).to_string();
        }
        if resp.double_clicked() {
            s.filter.preset = TimePreset::All;
            s.filter.from.clear();
            s.filter.to.clear();
        }
        ui.horizontal(|ui| {
            // Drawn swatches: the default fonts have no square glyph.
            for (k, name) in KIND_NAMES.iter().enumerate() {
                let (r, _) = ui.allocate_exact_size(egui::vec2(9.0, 9.0), Sense::hover());
                ui.painter().rect_filled(r, 1.0, KIND_COLORS[k]);
                ui.label(RichText::new(*name).small());
            }
            ui.label(
                RichText::new(format!("· bucket {}", human_duration(hist.bucket_ms)))
                    .small()
                    .weak(),
            );
        });
    }
}

/// A cheap stand-in for the view's identity (its ends and a few samples).
fn view_fingerprint(v: &[u32]) -> u64 {
    let n = v.len();
    [0, n / 3, n / 2, 2 * n / 3, n.saturating_sub(1)]
        .iter()
        .filter_map(|&i| v.get(i))
        .fold(n as u64, |h, &p| {
            h.wrapping_mul(1_000_003).wrapping_add(u64::from(p))
        })
}

fn human_duration(ms: i64) -> String {
    let s = ms / 1000;
    if s < 120 {
        format!("{s} s")
    } else if s < 7200 {
        format!("{} min", s / 60)
    } else if s < 2 * 86_400 {
        format!("{} h", s / 3600)
    } else {
        format!("{} days", s / 86_400)
    }
}

/// Quick filters: each pattern to watch with its count, and the bookmarks.
pub fn patterns_ui(ui: &mut egui::Ui, s: &mut AppState) {
    let Some(doc) = &s.doc else { return };
    let report = doc.patterns.clone();
    let bookmarks = doc.case.as_ref().map_or(0, |c| c.bookmarked().count());
    let active = s.restrict.as_ref().map(|r| r.label.clone());
    egui::CollapsingHeader::new("Patterns to watch")
        .default_open(true)
        .show(ui, |ui| {
            let Some(report) = report else {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("looking for patterns…");
                });
                return;
            };
            for p in Pattern::ALL {
                let n = report.hits_of(p).len();
                let on = active.as_deref() == Some(p.title());
                let r = ui
                    .add_enabled(
                        n > 0 || on,
                        egui::Button::selectable(on, format!("{} ({n})", p.title())),
                    )
                    .on_hover_text(
                        "Show only these entries (docs/PATTERNS.md says what each means)",
                    );
                if r.clicked() {
                    s.toggle_pattern(p);
                }
            }
            thresholds_ui(ui, s);
            let on = active.as_deref() == Some(BOOKMARKED);
            if ui
                .add_enabled(
                    bookmarks > 0 || on,
                    egui::Button::selectable(on, format!("Bookmarked only ({bookmarks})")),
                )
                .clicked()
            {
                s.toggle_bookmarked_only();
            }
        });
}

/// The thresholds being edited (text fields keep what is typed until applied).
#[derive(Clone, Debug)]
pub struct PatternForm {
    pub settings: PatternSettings,
    pub tz: String,
    pub labels: String,
    pub error: Option<String>,
}

impl PatternForm {
    fn of(p: &PatternSettings) -> Self {
        let m = p.utc_offset_minutes;
        PatternForm {
            settings: p.clone(),
            tz: format!(
                "{}{:02}:{:02}",
                if m < 0 { '-' } else { '+' },
                m.abs() / 60,
                m.abs() % 60
            ),
            labels: p.protected_labels.join(", "),
            error: None,
        }
    }
}

/// The patterns' thresholds (docs/PATTERNS.md); Apply scans again.
fn thresholds_ui(ui: &mut egui::Ui, s: &mut AppState) {
    let mut form = s
        .pattern_form
        .take()
        .unwrap_or_else(|| PatternForm::of(&s.pattern_settings));
    let mut apply = false;
    egui::CollapsingHeader::new("Thresholds")
        .default_open(false)
        .show(ui, |ui| {
            let p = &mut form.settings;
            ui.horizontal(|ui| {
                let l = ui.label("Working hours");
                ui.add(egui::DragValue::new(&mut p.work_start_hour).range(0..=23))
                    .labelled_by(l.id);
                ui.label("to");
                ui.add(egui::DragValue::new(&mut p.work_end_hour).range(1..=24));
            });
            ui.horizontal(|ui| {
                let l = ui.label("UTC offset");
                ui.add(TextEdit::singleline(&mut form.tz).desired_width(60.0))
                    .labelled_by(l.id);
            });
            ui.horizontal(|ui| {
                let l = ui.label("Burst: more than");
                ui.add(egui::DragValue::new(&mut p.bulk_count).range(1..=100_000))
                    .labelled_by(l.id);
                ui.label("in");
                ui.add(egui::DragValue::new(&mut p.bulk_minutes).range(1..=10_080));
                ui.label("min");
            });
            let l = ui.label("Protected labels");
            ui.add(TextEdit::singleline(&mut form.labels).desired_width(f32::INFINITY))
                .labelled_by(l.id);
            if let Some(e) = &form.error {
                ui.colored_label(Color32::from_rgb(220, 70, 70), e);
            }
            apply = ui.button("Apply and scan again").clicked();
        });
    if apply {
        match PatternSettings::parse_offset(&form.tz) {
            Ok(m) if form.settings.work_start_hour < form.settings.work_end_hour => {
                form.settings.utc_offset_minutes = m;
                form.settings.protected_labels = form
                    .labels
                    .split(',')
                    .map(|l| l.trim().to_string())
                    .filter(|l| !l.is_empty())
                    .collect();
                form.error = None;
                s.set_pattern_settings(form.settings.clone());
            }
            Ok(_) => form.error = Some("working hours must start before they end".into()),
            Err(e) => form.error = Some(e),
        }
    }
    s.pattern_form = Some(form);
}

/// Everything one actor did, summed up over the shown entries.
pub fn actor_summary_ui(ui: &mut egui::Ui, s: &AppState) {
    let Some(ix) = s.index() else { return };
    if s.filter.actor.trim().is_empty() || !ix.complete || s.view.is_empty() {
        return;
    }
    let mut first = i64::MAX;
    let mut last = i64::MIN;
    let mut actions: BTreeMap<&str, u64> = BTreeMap::new();
    let mut projects: BTreeSet<&str> = BTreeSet::new();
    let mut ips: BTreeSet<&str> = BTreeSet::new();
    for &p in &s.view {
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
    egui::Frame::group(ui.style()).show(ui, |ui| {
        let who = safe(ui, s.filter.actor.trim());
        ui.label(RichText::new(format!("Activity of {who}")).strong());
        ui.label(format!(
            "{} entries · first seen {} · last seen {}",
            s.view.len(),
            Timestamp(first),
            Timestamp(last)
        ));
        let acts: Vec<String> = actions.iter().map(|(a, n)| format!("{a} {n}")).collect();
        ui.label(safe(ui, &format!("Actions: {}", acts.join(", "))));
        let list = |set: &BTreeSet<&str>| {
            let v: Vec<&str> = set.iter().take(12).copied().collect();
            let more = set.len().saturating_sub(12);
            if more > 0 {
                format!("{} (+{more} more)", v.join(", "))
            } else if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        ui.label(safe(ui, &format!("Projects touched: {}", list(&projects))));
        ui.label(safe(ui, &format!("IP addresses: {}", list(&ips))));
    });
}

/// The draft of the selected entry's case notes, kept between frames.
#[derive(Clone, Debug, Default)]
pub struct NoteDraft {
    pub seq: u64,
    pub tags: String,
    pub note: String,
}

/// Bookmark, tags and note of the selected entry; saved beside the archive.
pub fn case_notes_ui(
    ui: &mut egui::Ui,
    s: &mut AppState,
    seq: u64,
    entry_id: &str,
    actor_key: Option<&str>,
) {
    let mark = s.mark(seq).cloned().unwrap_or_default();
    let mut draft = std::mem::take(&mut s.note_draft);
    if draft.as_ref().is_none_or(|d| d.seq != seq) {
        draft = Some(NoteDraft {
            seq,
            tags: mark.tags.join(", "),
            note: mark.note.clone(),
        });
    }
    let Some(d) = draft.as_mut() else { return };
    let mut save = false;
    ui.horizontal(|ui| {
        let star = if mark.bookmarked {
            "Bookmarked"
        } else {
            "Bookmark"
        };
        if ui
            .selectable_label(mark.bookmarked, star)
            .on_hover_text("Bookmarks are kept in ARCHIVE.case.json, beside the archive")
            .clicked()
        {
            let on = !mark.bookmarked;
            s.edit_mark(seq, entry_id, |m| m.bookmarked = on);
        }
        if let Some(key) = actor_key
            && ui
                .button("All by this actor")
                .on_hover_text("Everything this user or key did, with a summary")
                .clicked()
        {
            s.filter = Default::default();
            s.filter.actor = key.to_string();
            s.set_restriction(None);
        }
        let l = ui.label("Tags");
        let r = ui
            .add(
                TextEdit::singleline(&mut d.tags)
                    .desired_width(180.0)
                    .hint_text("a, b"),
            )
            .labelled_by(l.id);
        save |= r.lost_focus();
    });
    let l = ui.label("Note");
    let r = ui
        .add(
            TextEdit::multiline(&mut d.note)
                .desired_rows(2)
                .desired_width(f32::INFINITY)
                .hint_text("what you found; saved beside the archive, never in it"),
        )
        .labelled_by(l.id);
    save |= r.lost_focus();
    let tags: Vec<String> = d
        .tags
        .split(',')
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    if save && (tags != mark.tags || d.note != mark.note) {
        let note = d.note.clone();
        s.edit_mark(seq, entry_id, |m| {
            m.tags = tags;
            m.note = note;
        });
    }
    s.note_draft = draft;
}
