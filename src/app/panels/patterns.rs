//! Quick filters: each pattern to watch with its count, its thresholds, and
//! the bookmarks.

use eframe::egui;
use egui::TextEdit;

use super::ERROR_COLOR;
use crate::app::command::{Command, Commands};
use crate::app::state::{AppState, BOOKMARKED};
use auditlens_core::patterns::{Pattern, PatternSettings};

/// Widget state: the thresholds being edited (text fields keep what is
/// typed until applied).
#[derive(Default)]
pub struct PatternsPanel {
    form: Option<PatternForm>,
}

#[derive(Clone, Debug)]
struct PatternForm {
    settings: PatternSettings,
    tz: String,
    labels: String,
    error: Option<String>,
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

impl PatternsPanel {
    pub fn ui(&mut self, ui: &mut egui::Ui, s: &AppState, cmds: &mut Commands) {
        let Some(doc) = &s.doc else { return };
        let bookmarks = doc.case.as_ref().map_or(0, |c| c.bookmarked().count());
        let active = s.restrict.as_ref().map(|r| r.label.as_str());
        egui::CollapsingHeader::new("Patterns to watch")
            .default_open(true)
            .show(ui, |ui| {
                let Some(report) = &doc.patterns else {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label("looking for patterns…");
                    });
                    return;
                };
                for p in Pattern::ALL {
                    // Meaningful only with change tickets (the Change tickets panel).
                    if p == Pattern::UnapprovedChange && s.pattern_settings.tickets.is_none() {
                        continue;
                    }
                    let n = report.count(p);
                    let on = active == Some(p.title());
                    let r = ui
                        .add_enabled(
                            n > 0 || on,
                            egui::Button::selectable(on, format!("{} ({n})", p.title())),
                        )
                        .on_hover_text(
                            "Show only these entries (docs/PATTERNS.md says what each means)",
                        );
                    if r.clicked() {
                        cmds.push(Command::TogglePattern(p));
                    }
                }
                self.thresholds_ui(ui, s, cmds);
                let on = active == Some(BOOKMARKED);
                if ui
                    .add_enabled(
                        bookmarks > 0 || on,
                        egui::Button::selectable(on, format!("Bookmarked only ({bookmarks})")),
                    )
                    .clicked()
                {
                    cmds.push(Command::ToggleBookmarkedOnly);
                }
            });
    }

    /// The patterns' thresholds (docs/PATTERNS.md); Apply scans again.
    fn thresholds_ui(&mut self, ui: &mut egui::Ui, s: &AppState, cmds: &mut Commands) {
        let form = self
            .form
            .get_or_insert_with(|| PatternForm::of(&s.pattern_settings));
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
                    ui.colored_label(ERROR_COLOR, e);
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
                    cmds.push(Command::SetPatternSettings(form.settings.clone()));
                }
                Ok(_) => form.error = Some("working hours must start before they end".into()),
                Err(e) => form.error = Some(e),
            }
        }
    }
}
