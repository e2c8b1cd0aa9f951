//! The verification banner, the loading progress and the findings list.

use eframe::egui;
use egui::{Color32, RichText, Sense};

use super::progress_bar;
use crate::app::command::{Command, Commands};
use crate::app::document::VerifyState;
use crate::app::fonts::safe;
use crate::app::state::{AppState, task};
use auditlens_core::verdict;
use auditlens_core::verify::{self, Status};

#[derive(Default)]
pub struct Banner;

impl Banner {
    pub fn ui(&mut self, ui: &mut egui::Ui, s: &AppState, cmds: &mut Commands) {
        let Some(doc) = &s.doc else {
            ui.label("No file open. Open an archive or an export (Ctrl+O), or drop a file here.");
            return;
        };
        if !doc.index_complete() {
            let (phase, done, total) = doc.load_job.snapshot();
            ui.horizontal(|ui| {
                ui.spinner();
                if doc.index.is_some() {
                    ui.label(format!("Loading the index (filters, sorting) — {phase}"));
                } else {
                    ui.label(format!("Opening {} — {phase}", doc.path.display()));
                }
                progress_bar(ui, done, total, 200.0);
            });
        }
        if let Some(job) = s.tasks.running(task::TEXT_INDEX).last() {
            let (_, done, total) = job.snapshot();
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(
                    "Indexing text for search (until it is ready, a search reads the records)",
                );
                progress_bar(ui, done, total, 200.0);
            });
        }
        match &doc.verify {
            VerifyState::Running(job) => {
                let (phase, done, total) = job.snapshot();
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label(format!("Verifying… {phase}"));
                    progress_bar(ui, done, total, 240.0);
                    if ui.button("Cancel").clicked() {
                        cmds.push(Command::CancelVerify);
                    }
                });
            }
            VerifyState::Unsealed => {
                banner_frame(ui, Color32::from_rgb(120, 100, 20), |ui| {
                    ui.label(
                        RichText::new(safe(ui, verdict::UNSEALED))
                            .strong()
                            .color(Color32::WHITE),
                    );
                    ui.label(
                        RichText::new("This raw platform export was sealed into a temporary archive for viewing.")
                            .color(Color32::WHITE),
                    );
                });
            }
            VerifyState::Cancelled => {
                ui.horizontal(|ui| {
                    ui.label(verdict::CANCELLED);
                    if ui.button("Verify again").clicked() {
                        cmds.push(Command::Verify);
                    }
                });
            }
            VerifyState::Failed(m) => {
                banner_frame(ui, Color32::from_rgb(130, 40, 40), |ui| {
                    let text = safe(ui, &verdict::could_not_verify(m));
                    ui.label(RichText::new(text).color(Color32::WHITE));
                });
            }
            VerifyState::Done(r) => {
                let sentence = safe(ui, &verdict::sentence(r, doc.anchor.as_ref()));
                let color = if r.status() == Status::Intact {
                    Color32::from_rgb(30, 110, 50)
                } else {
                    Color32::from_rgb(150, 30, 30)
                };
                // For a subset: which filter it is proven complete for, or why not.
                let complete = verify::complete::line(r, doc.anchor.as_ref()).map(|l| safe(ui, &l));
                banner_frame(ui, color, |ui| {
                    ui.label(RichText::new(sentence).strong().color(Color32::WHITE))
                        .on_hover_text(format!("verified in {:.2} s", r.elapsed.as_secs_f64()));
                    if let Some(line) = complete {
                        ui.label(RichText::new(line).color(Color32::WHITE));
                    }
                });
                if !r.findings.is_empty() {
                    findings_list(ui, r, cmds);
                }
            }
        }
    }
}

/// The findings, one line each; a click shows the entry.
fn findings_list(ui: &mut egui::Ui, r: &auditlens_core::verify::Report, cmds: &mut Commands) {
    let title = format!("Findings ({})", r.findings.len());
    egui::CollapsingHeader::new(title)
        .id_salt("findings")
        .default_open(true)
        .show(ui, |ui| {
            egui::ScrollArea::vertical()
                .max_height(120.0)
                .auto_shrink([false, true])
                .show_rows(ui, 18.0, r.findings.len(), |ui, range| {
                    for f in &r.findings[range] {
                        let color = if f.kind.is_warning() {
                            Color32::from_rgb(200, 150, 40)
                        } else {
                            Color32::from_rgb(220, 70, 70)
                        };
                        let text = RichText::new(safe(ui, &verdict::describe(f)));
                        let resp = ui
                            .add(
                                egui::Button::new(text.color(color))
                                    .frame(false)
                                    .sense(Sense::click()),
                            )
                            .on_hover_text(verdict::meaning(f.kind));
                        if let Some(seq) = f.seq
                            && resp.on_hover_text("Show this entry").clicked()
                        {
                            cmds.push(Command::SelectSeq(seq));
                        }
                    }
                });
        });
}

fn banner_frame(ui: &mut egui::Ui, fill: Color32, add: impl FnOnce(&mut egui::Ui)) {
    egui::Frame::new()
        .fill(fill)
        .inner_margin(6.0)
        .corner_radius(4.0)
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            add(ui)
        });
}
