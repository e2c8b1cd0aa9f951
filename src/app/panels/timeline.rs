//! The histogram of the shown entries over time, above the table. Dragging
//! across it sets the time filter; a double click shows all times again.

use eframe::egui;
use egui::{Color32, RichText, Sense};

use crate::app::command::{Command, Commands};
pub use crate::app::histogram::Histogram;
use crate::app::state::AppState;
use auditlens_core::coverage::Coverage;
use auditlens_core::time::Timestamp;

pub const BOOKMARK_COLOR: Color32 = Color32::from_rgb(240, 190, 40);

const KIND_NAMES: [&str; 4] = ["create", "update", "delete", "other"];
const KIND_COLORS: [Color32; 4] = [
    Color32::from_rgb(80, 170, 100),
    Color32::from_rgb(80, 140, 220),
    Color32::from_rgb(220, 80, 70),
    Color32::from_rgb(150, 150, 150),
];
const HEIGHT: f32 = 64.0;

/// Widget state: the bucket count the last frame's width called for (the
/// state counts the view for it, see [`AppState::count_timeline`]), and
/// where a drag started.
#[derive(Default)]
pub struct Timeline {
    buckets: Option<usize>,
    drag_from: Option<f32>,
}

impl Timeline {
    /// The buckets to count the view into, once the panel has been drawn.
    pub fn buckets(&self) -> Option<usize> {
        self.buckets
    }

    pub fn ui(&mut self, ui: &mut egui::Ui, s: &AppState, cmds: &mut Commands) {
        let Some(ix) = s.index() else { return };
        if !ix.complete || s.view.is_empty() {
            return;
        }
        let width = ui.available_width();
        let buckets = (width / 4.0).max(10.0) as usize;
        if self.buckets != Some(buckets) {
            // Counted in the next frame's logic.
            self.buckets = Some(buckets);
            ui.ctx().request_repaint();
        }
        // Until the view's counts come, the last ones (or an empty strip).
        let empty = Histogram::default();
        let hist = s.timeline().unwrap_or(&empty);
        let (rect, resp) =
            ui.allocate_exact_size(egui::vec2(width, HEIGHT), Sense::click_and_drag());
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
        if hist.counts.is_empty() {
            // Nothing counted yet: no bars to read, no times to drag over.
            return;
        }
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
                let h = (*n as f32 / max) * (HEIGHT - 4.0);
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
                    let t = ix.times[p as usize];
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
            let range = (time_at(a.min(p.x)), time_at(a.max(p.x)) + 1);
            cmds.push(Command::SetTimeRange(Some(range)));
        }
        if resp.double_clicked() {
            cmds.push(Command::SetTimeRange(None));
        }
        if let Some(cov) = s.doc.as_ref().and_then(|d| d.coverage.as_ref()) {
            coverage_strip(
                ui,
                cov,
                hist.from,
                hist.bucket_ms * hist.counts.len() as i64,
            );
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

const COVERED_COLOR: Color32 = Color32::from_rgb(70, 130, 110);
const HOLE_COLOR: Color32 = Color32::from_rgb(220, 60, 60);
const STRIP_HEIGHT: f32 = 8.0;
const DAY_MS: i64 = 86_400_000;

/// Under the histogram, over the same time span: where an ingested file's
/// window covers the time (green), and the holes (red): empty days between
/// busy ones, and stretches no file covers (docs/PATTERNS.md, "Coverage").
fn coverage_strip(ui: &mut egui::Ui, cov: &Coverage, from: i64, span: i64) {
    let width = ui.available_width();
    let (rect, resp) = ui.allocate_exact_size(egui::vec2(width, STRIP_HEIGHT), Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 1.0, ui.visuals().extreme_bg_color);
    let span = span.max(1);
    let x_of =
        |t: i64| rect.left() + ((t - from) as f32 / span as f32).clamp(0.0, 1.0) * rect.width();
    let band = |a: i64, b: i64, top: f32, bottom: f32, c: Color32| {
        let (l, r) = (x_of(a), x_of(b).max(x_of(a) + 1.0));
        painter.rect_filled(
            egui::Rect::from_min_max(egui::pos2(l, top), egui::pos2(r, bottom)),
            0.0,
            c,
        );
    };
    let windows: Vec<(&str, i64, i64)> = cov
        .runs
        .iter()
        .flat_map(|r| &r.sources)
        .filter_map(|s| s.window.map(|(a, b)| (s.file.as_str(), a, b)))
        .collect();
    for (_, a, b) in &windows {
        band(*a, *b, rect.top() + 2.0, rect.bottom() - 2.0, COVERED_COLOR);
    }
    let mut holes: Vec<(i64, i64, String)> = cov
        .empty_days
        .iter()
        .map(|h| {
            (
                h.from_day * DAY_MS,
                (h.to_day + 1) * DAY_MS,
                format!(
                    "{} day(s) with no entries ({} the day before, {} the day after){}",
                    h.to_day - h.from_day + 1,
                    h.before,
                    h.after,
                    if h.weekend_only { ", a weekend" } else { "" }
                ),
            )
        })
        .collect();
    holes.extend(cov.export_gaps.iter().map(|g| {
        (
            g.from,
            g.to,
            format!(
                "{} h no ingested file covers, after {} and before {}",
                (g.to - g.from) / 3_600_000,
                g.after_file,
                g.before_file
            ),
        )
    }));
    for (a, b, _) in &holes {
        band(*a, *b, rect.top(), rect.bottom(), HOLE_COLOR);
    }
    if let Some(pos) = resp.hover_pos() {
        let t = from + (((pos.x - rect.left()) / rect.width()) * span as f32) as i64;
        let mut lines: Vec<String> = holes
            .iter()
            .filter(|(a, b, _)| *a <= t && t < *b)
            .map(|(_, _, why)| format!("hole: {why}"))
            .collect();
        let files: Vec<&str> = windows
            .iter()
            .filter(|(_, a, b)| *a <= t && t <= *b)
            .map(|(f, _, _)| *f)
            .collect();
        lines.push(if files.is_empty() {
            "no ingested file's window covers this time".to_string()
        } else {
            format!("covered by {}", files.join(", "))
        });
        if cov.files_without_window > 0 {
            lines.push(format!(
                "{} file(s) were ingested before auditlens recorded windows",
                cov.files_without_window
            ));
        }
        resp.on_hover_text(format!("{}\n{}", Timestamp(t), lines.join("\n")));
    }
    ui.horizontal(|ui| {
        ui.label(RichText::new("Coverage:").small());
        for (c, name) in [(COVERED_COLOR, "export windows"), (HOLE_COLOR, "holes")] {
            let (r, _) = ui.allocate_exact_size(egui::vec2(9.0, 9.0), Sense::hover());
            ui.painter().rect_filled(r, 1.0, c);
            ui.label(RichText::new(name).small());
        }
        let files: usize = cov.runs.iter().map(|r| r.sources.len()).sum();
        ui.label(
            RichText::new(format!(
                "· {files} file(s) in {} ingest run(s), {} hole(s)",
                cov.runs.len(),
                holes.len()
            ))
            .small()
            .weak(),
        );
    });
}

/// A cheap stand-in for the view's identity (its ends and a few samples).
pub(super) fn view_fingerprint(v: &[u32]) -> u64 {
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
