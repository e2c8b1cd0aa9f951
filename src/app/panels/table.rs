//! The virtualised table of the shown entries, its count line, and what it
//! says when the filters match nothing.

use std::ops::Range;

use eframe::egui;
use egui::{Align, Color32, Layout, RichText, Sense};
use egui_extras::{Column, TableBuilder};

use super::{format_time, thousands};
use crate::app::command::{Command, Commands};
use crate::app::fonts;
use crate::app::state::{AppState, task};
use auditlens_core::row_index::SortKey;

/// Column titles, sort keys and preferred widths. The first run scales the
/// widths down to the space there is, so the last column (IP) is not cut
/// off at the default window size; widths a person sets are kept in egui
/// memory (persisted by eframe).
const COLUMNS: [(&str, SortKey, f32); 9] = [
    ("Time (UTC)", SortKey::Time, 160.0),
    ("Actor", SortKey::Actor, 150.0),
    ("Actor type", SortKey::ActorType, 70.0),
    ("Action", SortKey::Action, 70.0),
    ("Resource type", SortKey::ResourceType, 110.0),
    ("Resource", SortKey::Resource, 130.0),
    ("Project", SortKey::Project, 110.0),
    ("Organization", SortKey::Org, 90.0),
    ("IP", SortKey::Ip, 100.0),
];
const FLAG_COLUMN: f32 = 16.0;
const ROW_HEIGHT: f32 = 20.0;
/// Rows read beyond the visible ones, above and below.
const READ_AHEAD: usize = 40;

/// Widget state: the rows on screen last frame, and the last scroll
/// request honoured.
#[derive(Default)]
pub struct TablePanel {
    visible: Range<usize>,
    scrolled: u64,
}

impl TablePanel {
    /// Rows that fit on screen (for PgUp/PgDn).
    pub fn page(&self) -> usize {
        self.visible.len().max(10)
    }

    /// Rows drawn in the last frame (partly visible ones included).
    pub fn visible_rows(&self) -> usize {
        self.visible.len()
    }

    /// The display rows drawn in the last frame.
    pub fn visible(&self) -> Range<usize> {
        self.visible.clone()
    }

    /// The seqs whose rows the next frame will draw: last frame's visible
    /// rows (or the row being scrolled to) and some around them.
    pub fn wanted(&self, s: &AppState) -> Vec<u64> {
        let Some(ix) = s.index() else {
            return Vec::new();
        };
        let n = s.view.len();
        let range = match s.scroll_to_row {
            Some((id, r)) if id != self.scrolled => {
                r.saturating_sub(READ_AHEAD)..(r + READ_AHEAD).min(n)
            }
            _ => {
                let start = self.visible.start.saturating_sub(READ_AHEAD);
                let end = (self.visible.end + READ_AHEAD).min(n);
                start..end.max(start + 2 * READ_AHEAD).min(n)
            }
        };
        s.view[range.start.min(n)..range.end]
            .iter()
            .map(|&p| ix.seq(p as usize))
            .collect()
    }

    pub fn ui(&mut self, ui: &mut egui::Ui, s: &AppState, cmds: &mut Commands) {
        let Some(ix) = s.index() else {
            ui.centered_and_justified(|ui| {
                if s.doc.is_some() {
                    ui.spinner();
                } else {
                    ui.label("Open an archive (.sqlite) or a platform export (JSON, JSONL, CSV).");
                }
            });
            return;
        };
        let filtering = s.tasks.running(task::FILTER).last();
        ui.horizontal(|ui| {
            if ix.complete {
                ui.label(
                    RichText::new(format!(
                        "{} of {} entries",
                        thousands(s.view.len() as u64),
                        thousands(ix.len() as u64)
                    ))
                    .strong(),
                );
            } else {
                ui.spinner();
                ui.label(
                    RichText::new(format!(
                        "{} entries; showing {} of them while the index loads (filters and sorting follow)",
                        thousands(ix.total),
                        thousands(ix.len() as u64)
                    ))
                    .strong(),
                );
            }
            if let Some(n) = s.search_waits {
                ui.label(format!(
                    "(search not applied: {})",
                    super::filters::search_waits_words(n).to_lowercase()
                ));
            }
            if let Some(j) = filtering {
                ui.spinner();
                let (_, done, total) = j.snapshot();
                ui.label(format!(
                    "filtering… {}/{} (until it is done, the rows below are the last answer)",
                    thousands(done),
                    thousands(total)
                ));
            }
        });
        if let Some(r) = &s.restrict {
            ui.horizontal(|ui| {
                ui.label(RichText::new(format!("Showing only: {}", r.label)).strong());
                if ui.small_button("Show all").clicked() {
                    cmds.push(Command::ShowAll);
                }
            });
        }
        if ix.complete && s.view.is_empty() && filtering.is_none() && !ix.is_empty() {
            nothing_matches(ui, ix.len(), cmds);
            self.visible = 0..0;
            return;
        }
        self.table(ui, s, cmds);
    }

    fn table(&mut self, ui: &mut egui::Ui, s: &AppState, cmds: &mut Commands) {
        let Some(ix) = s.index() else { return };
        let n = s.view.len();
        let spacing = ui.spacing().item_spacing.x;
        let wanted: f32 = COLUMNS.iter().map(|c| c.2 + spacing).sum::<f32>() + FLAG_COLUMN;
        let scale = (ui.available_width() / wanted).clamp(0.5, 1.0);
        let mut table = TableBuilder::new(ui)
            .id_salt("entries")
            .striped(true)
            .resizable(true)
            .sense(Sense::click())
            .cell_layout(Layout::left_to_right(Align::Center))
            .column(Column::exact(FLAG_COLUMN))
            .auto_shrink([false, false]);
        for (i, (_, _, w)) in COLUMNS.iter().enumerate() {
            let c = if i + 1 == COLUMNS.len() {
                Column::remainder().at_least(60.0)
            } else {
                Column::initial((*w * scale).floor()).at_least(40.0)
            };
            table = table.column(c.clip(true).resizable(true));
        }
        if let Some((id, r)) = s.scroll_to_row
            && id != self.scrolled
        {
            table = table.scroll_to_row(r, Some(Align::Center));
            self.scrolled = id;
        }
        let mut first = usize::MAX;
        let mut last = 0;
        let mut missing = false;
        let local = s.settings.local_time;
        let (sort, desc) = (s.settings.sort, s.settings.sort_desc);
        let findings = s.doc.as_ref().map(|d| &d.finding_seqs);
        let case = s.doc.as_ref().and_then(|d| d.case.as_ref());
        let names = s.investigation.directory.as_deref();
        table
            .header(22.0, |mut header| {
                header.col(|_| {});
                for (name, key, _) in COLUMNS {
                    header.col(|ui| {
                        let name = if local && key == SortKey::Time {
                            "Time (local)"
                        } else {
                            name
                        };
                        if column_header(ui, name, sort == key, desc) {
                            cmds.push(Command::Sort(key));
                        }
                    });
                }
            })
            .body(|body| {
                body.rows(ROW_HEIGHT, n, |mut row| {
                    let i = row.index();
                    first = first.min(i);
                    last = last.max(i + 1);
                    row.set_selected(s.selected_row == Some(i));
                    let seq = ix.seq(s.view[i] as usize);
                    let flagged = findings.is_some_and(|f| f.contains(&seq));
                    let starred = case.and_then(|c| c.mark(seq)).is_some_and(|m| m.bookmarked);
                    row.col(|ui| flags(ui, starred, flagged));
                    match s.rows.get(seq) {
                        Some(t) => {
                            row.col(|ui| cell(ui, &format_time(t.time_ms, local)));
                            for (k, c) in t.cells().into_iter().enumerate() {
                                match names.filter(|_| NAMED_CELLS.contains(&k)) {
                                    Some(d) => row.col(|ui| cell(ui, &named(d, c))),
                                    None => row.col(|ui| cell(ui, c)),
                                };
                            }
                        }
                        None => {
                            missing = true;
                            for _ in 0..COLUMNS.len() {
                                row.col(|ui| cell(ui, "…"));
                            }
                        }
                    }
                    if row.response().clicked() {
                        cmds.push(Command::ClickRow(i));
                    }
                });
            });
        if first <= last {
            self.visible = first..last;
        }
        if missing && !s.tasks.is_running(task::READ_ROWS) {
            // Newly visible rows: the next frame's logic reads them (a read
            // that runs repaints when it ends).
            ui.ctx().request_repaint();
        }
    }
}

/// The table area when the filters leave nothing: say so, and offer the way back.
fn nothing_matches(ui: &mut egui::Ui, total: usize, cmds: &mut Commands) {
    ui.add_space(24.0);
    ui.vertical_centered(|ui| {
        ui.label(RichText::new("No entries match these filters.").heading());
        ui.label(format!(
            "None of the {} entries passes the search, time range, facets and restriction set now.",
            thousands(total as u64)
        ));
        ui.add_space(8.0);
        if ui.button("Clear all filters").clicked() {
            cmds.push(Command::ClearFilters);
        }
    });
}

/// The cells (of [`crate::app::rows::RowText::cells`]) that may hold a
/// bare id a directory names: the actor and the project.
const NAMED_CELLS: [usize; 2] = [0, 5];

/// A directory's name beside a bare id, escaped like every cell (names are
/// untrusted text); anything else as it is.
fn named(d: &auditlens_core::directory::Directory, text: &str) -> String {
    match d.name(text) {
        Some(_) => auditlens_core::safe_text::shown(
            &d.readable(text, text),
            auditlens_core::safe_text::CELL_CHARS,
        )
        .into_owned(),
        None => text.to_string(),
    }
}

fn cell(ui: &mut egui::Ui, text: &str) {
    // Escaped when read (RowText); here only what no font draws.
    let text = fonts::drawable(ui, text, &egui::FontFamily::Proportional);
    ui.add(egui::Label::new(text).selectable(false).truncate());
}

/// The bookmark dot and the finding mark of a row.
fn flags(ui: &mut egui::Ui, starred: bool, flagged: bool) {
    if starred {
        let (r, resp) = ui.allocate_exact_size(egui::vec2(8.0, 8.0), Sense::hover());
        ui.painter()
            .circle_filled(r.center(), 3.5, super::timeline::BOOKMARK_COLOR);
        resp.on_hover_text("bookmarked");
    }
    if flagged {
        ui.add(
            egui::Label::new(
                RichText::new("!")
                    .strong()
                    .color(Color32::from_rgb(230, 80, 60)),
            )
            .selectable(false),
        )
        .on_hover_text("verification found a problem with this entry");
    }
}

/// A sortable column's header; true when clicked.
fn column_header(ui: &mut egui::Ui, name: &str, sorted: bool, desc: bool) -> bool {
    let b = egui::Button::new(RichText::new(name).strong())
        .frame(false)
        .truncate();
    let hover = match (sorted, desc) {
        (true, false) => "Sorted ascending; click for descending",
        (true, true) => "Sorted descending; click for ascending",
        _ => "Sort by this column",
    };
    let clicked = ui.add(b).on_hover_text(hover).clicked();
    if sorted {
        // A drawn triangle: the default fonts have no arrow glyphs.
        let (rect, _) = ui.allocate_exact_size(egui::vec2(9.0, 9.0), Sense::hover());
        let c = rect.center();
        let (t, b) = (c.y - 3.5, c.y + 3.5);
        let pts = if desc {
            vec![
                egui::pos2(c.x - 4.0, t),
                egui::pos2(c.x + 4.0, t),
                egui::pos2(c.x, b),
            ]
        } else {
            vec![
                egui::pos2(c.x - 4.0, b),
                egui::pos2(c.x + 4.0, b),
                egui::pos2(c.x, t),
            ]
        };
        let color = ui.visuals().strong_text_color();
        ui.painter()
            .add(egui::Shape::convex_polygon(pts, color, egui::Stroke::NONE));
    }
    clicked
}
