//! Change tickets: load the approved changes exported from a ticketing tool,
//! see each production change's status as a facet (approved, mismatched,
//! unapproved), and choose which column holds which field (remembered for
//! files with the same columns).

use eframe::egui;
use egui::{RichText, TextEdit};

use crate::app::command::{Command, Commands};
use crate::app::state::AppState;
use auditlens_core::reconcile::Status;
use auditlens_core::tickets::{Field, Mapping};

/// Widget state: the typed path and the columns being chosen.
#[derive(Default)]
pub struct TicketsPanel {
    path: String,
    /// The mapping being edited, for the ticket file it was read from.
    columns: Option<(String, Mapping)>,
}

impl TicketsPanel {
    pub fn ui(&mut self, ui: &mut egui::Ui, s: &AppState, cmds: &mut Commands) {
        let Some(doc) = &s.doc else { return };
        if !doc.is_sealed_archive() {
            return;
        }
        // Collapsed until tickets are loaded: the facet lists below keep their place.
        egui::CollapsingHeader::new("Change tickets")
            .default_open(false)
            .open(s.pattern_settings.tickets.is_some().then_some(true))
            .show(ui, |ui| match &s.pattern_settings.tickets {
                None => self.load_ui(ui, cmds),
                Some(t) => {
                    let name = std::path::Path::new(&t.file)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| t.file.clone());
                    ui.label(format!("{name}: {} tickets", t.tickets.len()))
                        .on_hover_text(format!("{}\nSHA-256 {}", t.file, t.sha256));
                    if !t.skipped.is_empty() {
                        ui.label(RichText::new(format!("{} rows skipped", t.skipped.len())).weak())
                            .on_hover_text(
                                t.skipped
                                    .iter()
                                    .take(20)
                                    .cloned()
                                    .collect::<Vec<_>>()
                                    .join("\n"),
                            );
                    }
                    let rec = doc
                        .patterns
                        .as_ref()
                        .and_then(|p| p.reconciliation.as_ref());
                    let active = s.restrict.as_ref().map(|r| r.label.as_str());
                    match rec {
                        None => {
                            ui.horizontal(|ui| {
                                ui.spinner();
                                ui.label("matching production changes…");
                            });
                        }
                        Some(rec) => {
                            for status in Status::ALL {
                                let n = rec.count(status);
                                let on = active == Some(status.title());
                                if ui
                                    .add_enabled(
                                        n > 0 || on,
                                        egui::Button::selectable(
                                            on,
                                            format!("{} ({n})", status.title()),
                                        ),
                                    )
                                    .on_hover_text(hover(status))
                                    .clicked()
                                {
                                    cmds.push(Command::ToggleChanges(status));
                                }
                            }
                        }
                    }
                    self.columns_ui(ui, t, cmds);
                    if ui.button("Forget these tickets").clicked() {
                        self.columns = None;
                        cmds.push(Command::ClearTickets);
                    }
                }
            });
    }

    fn load_ui(&mut self, ui: &mut egui::Ui, cmds: &mut Commands) {
        ui.label(
            RichText::new("Approved changes from Jira or ServiceNow (CSV or JSON)")
                .small()
                .weak(),
        );
        let l = ui.label("Ticket file");
        ui.add(
            TextEdit::singleline(&mut self.path)
                .hint_text("/path/to/changes.csv")
                .desired_width(f32::INFINITY),
        )
        .labelled_by(l.id);
        ui.horizontal(|ui| {
            if ui
                .add_enabled(
                    !self.path.trim().is_empty(),
                    egui::Button::new("Load tickets"),
                )
                .clicked()
            {
                cmds.push(Command::LoadTickets {
                    path: self.path.trim().into(),
                    map: Mapping::new(),
                });
            }
            if ui.button("Browse…").clicked() {
                cmds.push(Command::PickTickets);
            }
        });
    }

    /// Which column holds each field; Apply reads the file again with them
    /// and remembers them for files with the same columns.
    fn columns_ui(
        &mut self,
        ui: &mut egui::Ui,
        t: &auditlens_core::tickets::ChangeTickets,
        cmds: &mut Commands,
    ) {
        if self.columns.as_ref().is_none_or(|(f, _)| *f != t.file) {
            self.columns = Some((t.file.clone(), t.mapping.clone()));
        }
        let Some((_, map)) = &mut self.columns else {
            return;
        };
        egui::CollapsingHeader::new("Columns")
            .default_open(false)
            .show(ui, |ui| {
                egui::Grid::new("ticket-columns").num_columns(2).show(ui, |ui| {
                    for f in Field::ALL {
                        ui.label(f.as_str());
                        let shown = map.get(&f).cloned().unwrap_or_else(|| "—".into());
                        egui::ComboBox::from_id_salt(("ticket-column", f.as_str()))
                            .selected_text(shown)
                            .width(150.0)
                            .show_ui(ui, |ui| {
                                if ui.selectable_label(!map.contains_key(&f), "—").clicked() {
                                    map.remove(&f);
                                }
                                for h in &t.header {
                                    let on = map.get(&f) == Some(h);
                                    if ui.selectable_label(on, h).clicked() {
                                        map.insert(f, h.clone());
                                    }
                                }
                            });
                        ui.end_row();
                    }
                });
                let changed = *map != t.mapping;
                if ui
                    .add_enabled(changed, egui::Button::new("Apply and remember"))
                    .on_hover_text("Read the file again with these columns; files with the same columns will use them")
                    .clicked()
                {
                    cmds.push(Command::LoadTickets {
                        path: t.file.clone().into(),
                        map: map.clone(),
                    });
                }
            });
    }
}

fn hover(s: Status) -> &'static str {
    match s {
        Status::Approved => "Production changes within a ticket's window, by its actor",
        Status::Mismatched => {
            "A ticket covers the change, but it was made outside the approved window or by another actor"
        }
        Status::Unapproved => "No ticket covers the change",
    }
}
