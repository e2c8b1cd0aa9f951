//! The panels of the window, one small type each.

use eframe::egui;
use egui::{Align, Color32, Layout, RichText, Sense, TextEdit};
use egui_extras::{Column, TableBuilder};

use crate::app::state::{AppState, TimePreset, UNSEALED_LABEL, VerifyState, entry_json};
use auditlens_core::diff::Change;
use auditlens_core::export::ExportFormat;
use auditlens_core::row_index::SortKey;
use auditlens_core::verify::Status;

/// 1234567 → "1,234,567".
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn format_time(ms: i64, local: bool) -> String {
    let Some(t) = chrono::DateTime::from_timestamp_millis(ms) else {
        return ms.to_string();
    };
    if local {
        t.with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M:%S%.3f %:z")
            .to_string()
    } else {
        t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
    }
}

fn change_color(c: Change, dark: bool) -> Color32 {
    match (c, dark) {
        (Change::Changed, true) => Color32::from_rgb(90, 75, 20),
        (Change::Added, true) => Color32::from_rgb(25, 80, 35),
        (Change::Removed, true) => Color32::from_rgb(100, 35, 35),
        (Change::Changed, false) => Color32::from_rgb(255, 236, 170),
        (Change::Added, false) => Color32::from_rgb(200, 240, 200),
        (Change::Removed, false) => Color32::from_rgb(255, 205, 205),
    }
}

/// Open…, recent files, export, checkpoint, theme and time zone.
#[derive(Default)]
pub struct TopBar;

impl TopBar {
    pub fn ui(&mut self, ui: &mut egui::Ui, s: &mut AppState) {
        ui.horizontal(|ui| {
            ui.strong("auditlens");
            ui.separator();
            if ui.button("Open…").on_hover_text("Ctrl+O").clicked() {
                open_dialog(s);
            }
            let recent = s.settings.recent.clone();
            ui.add_enabled_ui(!recent.is_empty(), |ui| {
                ui.menu_button("Recent", |ui| {
                    for p in recent {
                        if ui.button(p.display().to_string()).clicked() {
                            s.open(p);
                            ui.close();
                        }
                    }
                });
            });
            let has_doc = s.doc.as_ref().is_some_and(|d| d.index_complete());
            if ui
                .add_enabled(has_doc, egui::Button::new("Export…"))
                .on_hover_text("Ctrl+E")
                .clicked()
            {
                s.export.open = true;
            }
            let sealed = s
                .doc
                .as_ref()
                .is_some_and(|d| !d.unsealed && d.format.is_some());
            if ui
                .add_enabled(sealed, egui::Button::new("Load checkpoint…"))
                .on_hover_text("Verify against a checkpoint stored elsewhere")
                .clicked()
            {
                match s.dialogs.pick_open() {
                    Some(p) => s.load_checkpoint(&p),
                    None => s.open_ui = Some(String::new()),
                }
            }
            let sealed_archive = s.doc.as_ref().is_some_and(|d| {
                !d.unsealed && d.format == Some(auditlens_core::source::Format::Archive)
            });
            if ui
                .add_enabled(sealed_archive, egui::Button::new("Report…"))
                .on_hover_text(
                    "The auditor report: one HTML page (and a JSON twin) with the file's hash, \
                     verification, checkpoint, filter, pattern hits and bookmarks",
                )
                .clicked()
            {
                let out = s.dialogs.pick_save("report.html").or_else(|| {
                    s.doc.as_ref().map(|d| {
                        let mut p = d.path.as_os_str().to_owned();
                        p.push(".report.html");
                        std::path::PathBuf::from(p)
                    })
                });
                if let Some(out) = out {
                    s.start_report(out);
                }
            }
            if ui
                .add_enabled(has_doc, egui::Button::new("Add verifier key…"))
                .on_hover_text(
                    "A KEY.pub from `auditlens keygen`: checks who signed the checkpoint",
                )
                .clicked()
            {
                match s.dialogs.pick_open() {
                    Some(p) => s.add_verifier_key(&p),
                    None => s.open_ui = Some(String::new()),
                }
            }
            if s.doc
                .as_ref()
                .is_some_and(|d| d.unsealed && d.index.is_some())
                && ui.button("Save as sealed archive…").clicked()
            {
                match s.dialogs.pick_save("archive.sqlite") {
                    Some(p) => s.save_sealed(&p),
                    None => s.error = Some("no file dialog is available on this system".into()),
                }
            }
            ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                let theme = if s.settings.dark {
                    "Light theme"
                } else {
                    "Dark theme"
                };
                if ui.button(theme).clicked() {
                    s.settings.dark = !s.settings.dark;
                }
                let tz = if s.settings.local_time {
                    "Local time"
                } else {
                    "UTC"
                };
                if ui
                    .button(tz)
                    .on_hover_text("Show times in UTC or local time")
                    .clicked()
                {
                    s.settings.local_time = !s.settings.local_time;
                }
            });
        });
    }
}

/// Asks the system dialog for a file, or shows the path field.
pub fn open_dialog(s: &mut AppState) {
    match s.dialogs.pick_open() {
        Some(p) => s.open(p),
        None => s.open_ui = Some(s.open_ui.clone().unwrap_or_default()),
    }
}

/// The verification banner and the findings list.
#[derive(Default)]
pub struct Banner {
    pub show_findings: bool,
}

impl Banner {
    pub fn ui(&mut self, ui: &mut egui::Ui, s: &mut AppState) {
        let Some(doc) = &s.doc else {
            ui.label("No file open. Open an archive or an export (Ctrl+O), or drop a file here.");
            return;
        };
        let mut cancel = false;
        let mut jump = None;
        if !doc.index_complete() {
            let (phase, done, total) = doc.load_job.snapshot();
            ui.horizontal(|ui| {
                ui.spinner();
                let frac = if total > 0 {
                    done as f32 / total as f32
                } else {
                    0.0
                };
                if doc.index.is_some() {
                    ui.label(format!("Loading the index (filters, sorting) — {phase}"));
                } else {
                    ui.label(format!("Opening {} — {phase}", doc.path.display()));
                }
                ui.add(
                    egui::ProgressBar::new(frac)
                        .desired_width(200.0)
                        .show_percentage(),
                );
            });
        }
        if let Some(job) = &doc.search_job {
            let (_, done, total) = job.snapshot();
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(
                    "Indexing text for search (until it is ready, a search reads the records)",
                );
                let frac = if total > 0 {
                    done as f32 / total as f32
                } else {
                    0.0
                };
                ui.add(
                    egui::ProgressBar::new(frac)
                        .desired_width(200.0)
                        .show_percentage(),
                );
            });
        }
        match &doc.verify {
            VerifyState::Running(job) => {
                let (phase, done, total) = job.snapshot();
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label(format!("Verifying… {phase}"));
                    let frac = if total > 0 {
                        done as f32 / total as f32
                    } else {
                        0.0
                    };
                    ui.add(
                        egui::ProgressBar::new(frac)
                            .desired_width(240.0)
                            .show_percentage(),
                    );
                    if ui.button("Cancel").clicked() {
                        cancel = true;
                    }
                });
            }
            VerifyState::Unsealed => {
                banner_frame(ui, Color32::from_rgb(120, 100, 20), |ui| {
                    ui.label(
                        RichText::new(UNSEALED_LABEL.to_string())
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
                    ui.label("Verification was cancelled.");
                    if ui.button("Verify again").clicked() {
                        jump = Some(None);
                    }
                });
            }
            VerifyState::Failed(m) => {
                banner_frame(ui, Color32::from_rgb(130, 40, 40), |ui| {
                    ui.label(RichText::new(format!("Could not verify: {m}")).color(Color32::WHITE));
                });
            }
            VerifyState::Done(r) => {
                let secs = r.elapsed.as_secs_f64();
                let checkpoint = match &r.checkpoint {
                    None => "no checkpoint loaded".to_string(),
                    Some(auditlens_core::verify::CheckpointStatus::Matches { size, added }) => {
                        format!(
                            "checkpoint matches ({} entries, {} added since)",
                            thousands(*size),
                            thousands(*added)
                        )
                    }
                    Some(auditlens_core::verify::CheckpointStatus::Fails) => {
                        "checkpoint FAILS".to_string()
                    }
                    Some(auditlens_core::verify::CheckpointStatus::NotCovered) => {
                        "checkpoint not covered".to_string()
                    }
                    Some(auditlens_core::verify::CheckpointStatus::Proven { size, entries }) => {
                        format!(
                            "subset: {} entries proven against the checkpoint of archive {} (size {})",
                            thousands(*entries),
                            r.archive_id.map(|a| a.to_string()).unwrap_or_default(),
                            thousands(*size)
                        )
                    }
                };
                let checkpoint = match &doc.anchor {
                    Some(a) => format!("{checkpoint} · {}", anchor_label(a)),
                    None => checkpoint,
                };
                if r.status() == Status::Intact {
                    let head = r.head.map(|h| h.to_hex()).unwrap_or_default();
                    let warn = if r.warnings() > 0 {
                        format!(" · {} warnings", r.warnings())
                    } else {
                        String::new()
                    };
                    banner_frame(ui, Color32::from_rgb(30, 110, 50), |ui| {
                        ui.label(
                            RichText::new(format!(
                                "Intact — {} entries · head {}… · {checkpoint} · verified in {secs:.2} s{warn}",
                                thousands(r.entries),
                                &head[..head.len().min(16)]
                            ))
                            .strong()
                            .color(Color32::WHITE),
                        );
                    });
                } else {
                    banner_frame(ui, Color32::from_rgb(150, 30, 30), |ui| {
                        ui.horizontal(|ui| {
                            ui.label(
                                RichText::new(format!(
                                    "Tampered — {} findings ({} problems, {} warnings) · {checkpoint}",
                                    thousands(r.problems() + r.warnings()),
                                    thousands(r.problems()),
                                    thousands(r.warnings())
                                ))
                                .strong()
                                .color(Color32::WHITE),
                            );
                        });
                    });
                }
                if !r.findings.is_empty() {
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
                                        let at = f
                                            .seq
                                            .map(|s| format!("entry {s}"))
                                            .unwrap_or_else(|| "archive".into());
                                        let color = if f.kind.is_warning() {
                                            Color32::from_rgb(200, 150, 40)
                                        } else {
                                            Color32::from_rgb(220, 70, 70)
                                        };
                                        let text = RichText::new(format!(
                                            "{at} · {} · {}",
                                            f.kind.as_str(),
                                            f.message
                                        ));
                                        let resp = ui.add(
                                            egui::Button::new(text.color(color))
                                                .frame(false)
                                                .sense(Sense::click()),
                                        );
                                        if let Some(seq) = f.seq
                                            && resp.on_hover_text("Show this entry").clicked()
                                        {
                                            jump = Some(Some(seq));
                                        }
                                    }
                                });
                        });
                }
            }
        }
        if cancel {
            s.cancel_verify();
        }
        match jump {
            Some(Some(seq)) => s.select_seq(seq),
            Some(None) => s.start_verify(),
            None => {}
        }
    }
}

/// The checkpoint's origin, size, signers and whether their signatures
/// verify against the loaded verifier keys.
fn anchor_label(a: &auditlens_core::verify::AnchorInfo) -> String {
    let signed = match &a.check {
        _ if a.signers.is_empty() => "unsigned".to_string(),
        None => format!(
            "signed by {} (not checked: add its verifier key)",
            a.signers.join(", ")
        ),
        Some(c) if c.accepted() => format!("signature by {} verified", c.verified.join(", ")),
        Some(c) if !c.failed.is_empty() => {
            format!("signature by {} DOES NOT VERIFY", c.failed.join(", "))
        }
        Some(_) => format!("signed by {}, NOT by any loaded key", a.signers.join(", ")),
    };
    format!(
        "{} size {}, {signed}",
        a.checkpoint.origin(),
        thousands(a.checkpoint.size)
    )
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

/// Search, time range and facet lists.
#[derive(Default)]
pub struct FilterPanel;

impl FilterPanel {
    pub fn ui(&mut self, ui: &mut egui::Ui, s: &mut AppState) {
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show(ui, |ui| {
                crate::app::investigate::patterns_ui(ui, s);
                ui.add_space(4.0);
                ui.heading("Filter");
                let l = ui.label("Search");
                let r = ui.add(
                    TextEdit::singleline(&mut s.filter.search)
                        .hint_text("ids, names, email, IP, before/after…")
                        .desired_width(f32::INFINITY),
                );
                let r = r.labelled_by(l.id);
                if s.focus_search {
                    r.request_focus();
                    s.focus_search = false;
                }
                let l = ui.label("Actor (id, email or key name)");
                ui.add(TextEdit::singleline(&mut s.filter.actor).desired_width(f32::INFINITY))
                    .labelled_by(l.id);
                ui.add_space(6.0);
                ui.label("Time (relative to the newest entry)");
                ui.horizontal_wrapped(|ui| {
                    for p in [
                        TimePreset::All,
                        TimePreset::Day,
                        TimePreset::Week,
                        TimePreset::Month,
                        TimePreset::Custom,
                    ] {
                        ui.selectable_value(&mut s.filter.preset, p, p.label());
                    }
                });
                if s.filter.preset == TimePreset::Custom {
                    let l = ui.label("From (UTC, ISO 8601)");
                    ui.add(
                        TextEdit::singleline(&mut s.filter.from).hint_text("2025-03-01T00:00:00Z"),
                    )
                    .labelled_by(l.id);
                    let l = ui.label("To (exclusive)");
                    ui.add(
                        TextEdit::singleline(&mut s.filter.to).hint_text("2025-04-01T00:00:00Z"),
                    )
                    .labelled_by(l.id);
                }
                if let Some(e) = &s.filter_error {
                    ui.colored_label(Color32::from_rgb(220, 70, 70), e);
                }
                let Some(ix) = s.index().cloned() else { return };
                if !ix.complete {
                    ui.add_space(6.0);
                    ui.weak(
                        "Lists of projects, actions and types appear when the index is loaded.",
                    );
                    return;
                }
                ui.add_space(6.0);
                let current = s.filter.actor_type.clone();
                let label = current.clone().unwrap_or_else(|| "Any".into());
                ui.horizontal(|ui| {
                    egui::ComboBox::from_label("Actor type")
                        .selected_text(label)
                        .show_ui(ui, |ui| {
                            ui.selectable_value(&mut s.filter.actor_type, None, "Any");
                            for (i, v) in ix.actor_types.values.iter().enumerate() {
                                if let Some(v) = v {
                                    let n = ix.counts.actor_types[i];
                                    ui.selectable_value(
                                        &mut s.filter.actor_type,
                                        Some(v.to_string()),
                                        format!("{v} ({})", thousands(n)),
                                    );
                                }
                            }
                        });
                });
                let name = |v: &str| ix.project_names.get(v).cloned();
                facet(
                    ui,
                    "Projects",
                    &ix.projects.values,
                    &ix.counts.projects,
                    &mut s.filter.projects,
                    |v| name(v).unwrap_or_else(|| v.to_string()),
                    |v| name(v).map(|_| format!("project id {v}")),
                );
                facet(
                    ui,
                    "Actions",
                    &ix.actions.values,
                    &ix.counts.actions,
                    &mut s.filter.actions,
                    |v| v.to_string(),
                    |_| None,
                );
                facet(
                    ui,
                    "Resource types",
                    &ix.resource_types.values,
                    &ix.counts.resource_types,
                    &mut s.filter.resource_types,
                    |v| auditlens_core::catalog::display_name(v).to_string(),
                    |v| Some(format!("{v} (internal name)")),
                );
                ui.add_space(8.0);
                if ui.button("Clear filters").clicked() {
                    s.filter = Default::default();
                }
            });
    }
}

fn facet(
    ui: &mut egui::Ui,
    title: &str,
    values: &[Option<Box<str>>],
    counts: &[u64],
    chosen: &mut std::collections::BTreeSet<String>,
    show: impl Fn(&str) -> String,
    hover: impl Fn(&str) -> Option<String>,
) {
    let mut items: Vec<(String, String, u64)> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.as_ref().map(|v| (v.to_string(), show(v), counts[i])))
        .collect();
    items.sort_by_key(|a| a.1.to_lowercase());
    let header = if chosen.is_empty() {
        title.to_string()
    } else {
        format!("{title} ({} chosen)", chosen.len())
    };
    egui::CollapsingHeader::new(header)
        .id_salt(title)
        .default_open(items.len() <= 12)
        .show(ui, |ui| {
            for (value, label, n) in items.into_iter().take(500) {
                let mut on = chosen.contains(&value);
                let mut r = ui.checkbox(&mut on, format!("{label} ({})", thousands(n)));
                if let Some(h) = hover(&value) {
                    r = r.on_hover_text(h);
                }
                if r.changed() {
                    if on {
                        chosen.insert(value);
                    } else {
                        chosen.remove(&value);
                    }
                }
            }
        });
}

/// Column titles, sort keys and preferred widths. The first run scales the
/// widths down to the space there is, so the last column (IP) is not cut
/// off at the default window size; widths a person sets are kept in egui
/// memory (persisted by eframe).
const COLUMNS: [(&str, Option<SortKey>, f32); 9] = [
    ("Time (UTC)", Some(SortKey::Time), 160.0),
    ("Actor", Some(SortKey::Actor), 150.0),
    ("Actor type", Some(SortKey::ActorType), 70.0),
    ("Action", Some(SortKey::Action), 70.0),
    ("Resource type", Some(SortKey::ResourceType), 110.0),
    ("Resource", Some(SortKey::Resource), 130.0),
    ("Project", Some(SortKey::Project), 110.0),
    ("Organization", Some(SortKey::Org), 90.0),
    ("IP", Some(SortKey::Ip), 100.0),
];
const FLAG_COLUMN: f32 = 16.0;

/// The virtualised table of the filtered entries.
#[derive(Default)]
pub struct TablePanel {
    visible: std::ops::Range<usize>,
}

impl TablePanel {
    pub fn ui(&mut self, ui: &mut egui::Ui, s: &mut AppState) {
        let Some(ix) = s.index().cloned() else {
            ui.centered_and_justified(|ui| {
                if s.doc.is_some() {
                    ui.spinner();
                } else {
                    ui.label("Open an archive (.sqlite) or a platform export (JSON, JSONL, CSV).");
                }
            });
            return;
        };
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
            if let Some(j) = &s.view_job {
                ui.spinner();
                let (_, done, total) = j.snapshot();
                ui.label(format!(
                    "filtering… {}/{}",
                    thousands(done),
                    thousands(total)
                ));
            }
        });
        let n = s.view.len();
        // Rows around last frame's visible range are read before drawing.
        let pad = 40;
        let start = self.visible.start.saturating_sub(pad);
        let end = (self.visible.end + pad).min(n);
        let want = match s.scroll_to_row {
            Some(r) => r.saturating_sub(pad)..(r + pad).min(n),
            None => start..end.max(start + 80).min(n),
        };
        s.fetch_rows(want);
        let row_h = 20.0;
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
        if let Some(r) = s.scroll_to_row.take() {
            table = table.scroll_to_row(r, Some(Align::Center));
        }
        let mut clicked = None;
        let mut sort_click = None;
        let mut first = usize::MAX;
        let mut last = 0;
        let local = s.settings.local_time;
        let (sort, desc) = (s.settings.sort, s.settings.sort_desc);
        let rows = &s.rows;
        let view = &s.view;
        let findings = s.doc.as_ref().map(|d| &d.finding_seqs);
        let case = s.doc.as_ref().and_then(|d| d.case.as_ref());
        let selected = s.selected_row;
        table
            .header(22.0, |mut header| {
                header.col(|_| {});
                for (name, key, _) in COLUMNS {
                    header.col(|ui| {
                        let name = if local && key == Some(SortKey::Time) {
                            "Time (local)"
                        } else {
                            name
                        };
                        match key {
                            Some(k) => {
                                let b = egui::Button::new(RichText::new(name).strong())
                                    .frame(false)
                                    .truncate();
                                let hover = match (sort == k, desc) {
                                    (true, false) => "Sorted ascending; click for descending",
                                    (true, true) => "Sorted descending; click for ascending",
                                    _ => "Sort by this column",
                                };
                                if ui.add(b).on_hover_text(hover).clicked() {
                                    sort_click = Some(k);
                                }
                                if sort == k {
                                    // A drawn triangle: the default fonts have no arrow glyphs.
                                    let (rect, _) = ui
                                        .allocate_exact_size(egui::vec2(9.0, 9.0), Sense::hover());
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
                                    ui.painter().add(egui::Shape::convex_polygon(
                                        pts,
                                        color,
                                        egui::Stroke::NONE,
                                    ));
                                }
                            }
                            None => {
                                ui.strong(name);
                            }
                        }
                    });
                }
            })
            .body(|body| {
                body.rows(row_h, n, |mut row| {
                    let i = row.index();
                    first = first.min(i);
                    last = last.max(i + 1);
                    row.set_selected(selected == Some(i));
                    let seq = ix.seq(view[i] as usize);
                    let flagged = findings.is_some_and(|f| f.contains(&seq));
                    let starred = case.and_then(|c| c.mark(seq)).is_some_and(|m| m.bookmarked);
                    row.col(|ui| {
                        if starred {
                            let (r, resp) =
                                ui.allocate_exact_size(egui::vec2(8.0, 8.0), Sense::hover());
                            ui.painter().circle_filled(
                                r.center(),
                                3.5,
                                crate::app::investigate::BOOKMARK_COLOR,
                            );
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
                    });
                    match rows.get(&seq) {
                        Some(t) => {
                            let cells = [
                                format_time(t.time_ms, local),
                                t.actor.clone(),
                                t.actor_type.clone(),
                                t.action.clone(),
                                t.resource_type.clone(),
                                t.resource.clone(),
                                t.project.clone(),
                                t.org.clone(),
                                t.ip.clone(),
                            ];
                            for c in cells {
                                row.col(|ui| {
                                    ui.add(egui::Label::new(c).selectable(false).truncate());
                                });
                            }
                        }
                        None => {
                            for _ in 0..COLUMNS.len() {
                                row.col(|ui| {
                                    ui.add(egui::Label::new("…").selectable(false));
                                });
                            }
                        }
                    }
                    if row.response().clicked() {
                        clicked = Some(i);
                    }
                });
            });
        if first <= last {
            let range = first..last;
            if range != self.visible {
                self.visible = range.clone();
            }
            if s.view[range.start.min(n)..range.end.min(n)]
                .iter()
                .any(|&p| !s.rows.contains_key(&ix.seq(p as usize)))
            {
                s.fetch_rows(range);
                ui.ctx().request_repaint();
            }
        }
        if let Some(i) = clicked {
            s.selected_row = Some(i);
            s.selected = s.seq_at(i);
        }
        if let Some(k) = sort_click {
            if s.settings.sort == k {
                s.settings.sort_desc = !s.settings.sort_desc;
            } else {
                s.settings.sort = k;
                s.settings.sort_desc = false;
            }
        }
    }

    /// Rows that fit on screen (for PgUp/PgDn).
    pub fn page(&self) -> usize {
        self.visible.len().max(10)
    }
}

/// Every field of the selected entry, with before/after and their diff.
#[derive(Default)]
pub struct DetailPane;

impl DetailPane {
    pub fn ui(&mut self, ui: &mut egui::Ui, s: &mut AppState) {
        let local = s.settings.local_time;
        let dark = s.settings.dark;
        let findings: Vec<String> = match (&s.doc, s.selected) {
            (Some(d), Some(seq)) => match &d.verify {
                VerifyState::Done(r) => r
                    .findings
                    .iter()
                    .filter(|f| f.seq == Some(seq))
                    .map(|f| format!("{}: {}", f.kind.as_str(), f.message))
                    .collect(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        let selected = s.detail().and_then(|d| {
            let st = d.result.as_ref().ok()?;
            Some((d.seq, st.entry.id.clone(), st.entry.actor.key().to_string()))
        });
        if let Some((seq, id, key)) = &selected {
            crate::app::investigate::case_notes_ui(
                ui,
                s,
                *seq,
                id,
                (!key.is_empty()).then_some(key.as_str()),
            );
            ui.separator();
        }
        let Some(d) = s.detail() else {
            ui.centered_and_justified(|ui| ui.label("Select an entry to see all its fields."));
            return;
        };
        let st = match &d.result {
            Ok(st) => st,
            Err(e) => {
                ui.colored_label(
                    Color32::from_rgb(220, 70, 70),
                    format!("Cannot read entry {}: {e}", d.seq),
                );
                return;
            }
        };
        let e = &st.entry;
        let mut copy = None;
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .id_salt("detail")
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    let title = format!(
                        "{} · {} {}",
                        auditlens_core::catalog::display_name(&e.resource_type),
                        e.action,
                        e.resource_label()
                    );
                    ui.heading(
                        auditlens_core::safe_text::shown(
                            &title,
                            auditlens_core::safe_text::CELL_CHARS,
                        )
                        .as_ref(),
                    );
                    if ui.button("Copy entry").clicked() {
                        copy = Some(entry_json(st));
                    }
                });
                for f in &findings {
                    ui.colored_label(Color32::from_rgb(230, 80, 60), format!("Finding: {f}"));
                }
                let a = &e.actor;
                let time = |t: auditlens_core::time::Timestamp| {
                    format!("{} ({})", format_time(t.0, local), t)
                };
                let fields: Vec<(&str, Option<String>)> = vec![
                    ("Entry id", Some(e.id.clone())),
                    ("Time", Some(time(e.time))),
                    ("Updated at", e.updated_at.map(time)),
                    ("Action", Some(e.action.clone())),
                    (
                        "Resource type",
                        Some(format!(
                            "{} ({})",
                            auditlens_core::catalog::display_name(&e.resource_type),
                            e.resource_type
                        )),
                    ),
                    ("Resource id", Some(e.resource_id.clone())),
                    ("Resource name", e.resource_name.clone()),
                    (
                        "Actor type",
                        a.actor_type.as_ref().map(|t| t.display_name().to_string()),
                    ),
                    ("User id", a.user_id.clone()),
                    ("Email", a.email.clone()),
                    ("Org role", a.org_role.clone()),
                    ("Project role", a.project_role.clone()),
                    ("Auth method", a.auth_method.clone()),
                    ("API key id", a.api_key_id.clone()),
                    ("API key name", a.api_key_name.clone()),
                    (
                        "API key scope",
                        a.api_key_scope.clone().map(|sc| match &a.api_key_scope_id {
                            Some(id) => format!("{sc} {id}"),
                            None => sc,
                        }),
                    ),
                    ("API key created", a.api_key_created_at.map(time)),
                    ("API key created by", a.api_key_created_by.clone()),
                    ("Organization", name_id(&e.org_name, &e.org_id)),
                    ("Project", name_id(&e.project_name, &e.project_id)),
                    ("IP address", e.ip_address.clone()),
                    ("User agent", e.user_agent.clone()),
                    (
                        "Extra fields",
                        (!e.extra.is_empty()).then(|| {
                            auditlens_core::json::Json::Object(e.extra.clone()).to_canonical()
                        }),
                    ),
                    ("Seq", Some(st.seq.to_string())),
                    ("Leaf hash", Some(st.leaf_hash.to_hex())),
                    ("Chain hash", Some(st.chain_hash.to_hex())),
                ];
                egui::Grid::new("fields")
                    .num_columns(2)
                    .striped(true)
                    .show(ui, |ui| {
                        for (k, v) in fields {
                            if let Some(v) = v {
                                ui.label(RichText::new(k).weak());
                                let v = auditlens_core::safe_text::shown(
                                    &v,
                                    auditlens_core::safe_text::FIELD_CHARS,
                                );
                                ui.add(
                                    egui::Label::new(RichText::new(v.as_ref()).monospace()).wrap(),
                                );
                                ui.end_row();
                            }
                        }
                    });
                if !d.diff.is_empty() {
                    ui.add_space(6.0);
                    ui.strong(format!("Changes ({})", d.diff.len()));
                    for item in &d.diff {
                        let text = item.text();
                        ui.label(
                            RichText::new(
                                auditlens_core::safe_text::shown(
                                    &text,
                                    auditlens_core::safe_text::FIELD_CHARS,
                                )
                                .as_ref(),
                            )
                            .monospace()
                            .background_color(change_color(item.change, dark)),
                        );
                    }
                }
                if e.before.is_some() || e.after.is_some() {
                    ui.add_space(6.0);
                    ui.columns(2, |cols| {
                        for (col, (title, state, before)) in cols
                            .iter_mut()
                            .zip([("Before", &e.before, true), ("After", &e.after, false)])
                        {
                            col.horizontal(|ui| {
                                ui.strong(title);
                                if let Some(v) = state
                                    && ui.small_button("Copy").clicked()
                                {
                                    copy = Some(v.to_pretty());
                                }
                            });
                            match state {
                                None => {
                                    col.label(RichText::new("(none)").weak());
                                }
                                Some(v) => {
                                    for line in auditlens_core::diff::lines(v, &d.diff, before) {
                                        // Wrapped labels drop leading spaces, so the
                                        // indentation of nested values is space before.
                                        let body = line.text.trim_start_matches(' ');
                                        let pad = (line.text.len() - body.len()) as f32;
                                        let body = auditlens_core::safe_text::shown(
                                            body,
                                            auditlens_core::safe_text::FIELD_CHARS,
                                        );
                                        let mut t = RichText::new(body.as_ref()).monospace();
                                        if let Some(m) = line.mark {
                                            t = t.background_color(change_color(m, dark));
                                        }
                                        let char_width =
                                            egui::TextStyle::Monospace.resolve(col.style()).size
                                                * 0.6;
                                        col.horizontal_top(|ui| {
                                            ui.spacing_mut().item_spacing.x = 0.0;
                                            ui.add_space(pad * char_width);
                                            ui.add(egui::Label::new(t).wrap());
                                        });
                                    }
                                }
                            }
                        }
                    });
                }
            });
        if let Some(text) = copy {
            ui.ctx().copy_text(text);
        }
    }
}

fn name_id(name: &Option<String>, id: &Option<String>) -> Option<String> {
    match (name, id) {
        (Some(n), Some(i)) => Some(format!("{n} ({i})")),
        (Some(n), None) => Some(n.clone()),
        (None, Some(i)) => Some(i.clone()),
        (None, None) => None,
    }
}

/// Path, file hash, entry count, read-only.
#[derive(Default)]
pub struct StatusBar;

impl StatusBar {
    pub fn ui(&mut self, ui: &mut egui::Ui, s: &mut AppState) {
        ui.horizontal(|ui| {
            let Some(doc) = &s.doc else {
                ui.label("Ready");
                return;
            };
            ui.label(doc.path.display().to_string());
            ui.separator();
            match &doc.sha256 {
                Some(h) => {
                    ui.label(
                        RichText::new(format!("SHA-256 {}…{}", &h[..12], &h[h.len() - 6..]))
                            .monospace(),
                    )
                    .on_hover_text(h.clone());
                    if ui
                        .small_button("Copy")
                        .on_hover_text("Copy the file's SHA-256")
                        .clicked()
                    {
                        ui.ctx().copy_text(h.clone());
                    }
                }
                None => {
                    ui.label("SHA-256 …");
                }
            }
            ui.separator();
            if let Some(ix) = &doc.index {
                ui.label(format!("{} entries", thousands(ix.total)));
                ui.separator();
            }
            if let Some(f) = doc.format {
                ui.label(f.name());
                ui.separator();
            }
            ui.label(if doc.unsealed {
                "read-only · temporary archive"
            } else {
                "read-only"
            });
            if let Some(n) = &s.notice {
                ui.separator();
                ui.label(n);
            }
        });
    }
}

/// The export window: format, destination, progress, cancel.
#[derive(Default)]
pub struct ExportWindow;

impl ExportWindow {
    pub fn ui(&mut self, ctx: &egui::Context, s: &mut AppState) {
        if !s.export.open {
            return;
        }
        let mut open = true;
        egui::Window::new("Export").open(&mut open).collapsible(false).resizable(false).show(ctx, |ui| {
            ui.label(format!("Exports the {} entries shown, with their seq and hashes, so the file can be verified.", thousands(s.view.len() as u64)));
            let mut fmt = s.export.format.unwrap_or(ExportFormat::Json);
            ui.horizontal(|ui| {
                ui.label("Format");
                ui.radio_value(&mut fmt, ExportFormat::Json, "JSON");
                ui.radio_value(&mut fmt, ExportFormat::Ndjson, "NDJSON");
                ui.radio_value(&mut fmt, ExportFormat::Csv, "CSV");
            });
            s.export.format = Some(fmt);
            ui.horizontal(|ui| {
                let l = ui.label("Save to");
                ui.add(TextEdit::singleline(&mut s.export.path).desired_width(320.0)).labelled_by(l.id);
                if ui.button("Browse…").clicked()
                    && let Some(p) = s.dialogs.pick_save(&format!("export.{}", fmt.extension()))
                {
                    s.export.path = p.display().to_string();
                }
            });
            match &s.export.job {
                Some(job) => {
                    let (phase, done, total) = job.snapshot();
                    ui.horizontal(|ui| {
                        ui.spinner();
                        let frac = if total > 0 { done as f32 / total as f32 } else { 0.0 };
                        ui.label(phase);
                        ui.add(egui::ProgressBar::new(frac).desired_width(200.0));
                        if ui.button("Cancel").clicked() {
                            job.cancel();
                        }
                    });
                }
                None => {
                    let path = s.export.path.trim().to_string();
                    if ui.add_enabled(!path.is_empty(), egui::Button::new("Export")).clicked() {
                        s.start_export(path.into(), fmt);
                    }
                }
            }
            match &s.export.result {
                Some(Ok(r)) => {
                    ui.colored_label(
                        Color32::from_rgb(60, 160, 80),
                        format!("Exported {} entries to {}", thousands(r.entries), r.path.display()),
                    );
                }
                Some(Err(e)) => {
                    ui.colored_label(Color32::from_rgb(220, 70, 70), e);
                }
                None => {}
            }
        });
        if !open {
            s.export.open = false;
        }
    }
}

/// The typed-path fallback when no file dialog is available.
#[derive(Default)]
pub struct OpenWindow;

impl OpenWindow {
    pub fn ui(&mut self, ctx: &egui::Context, s: &mut AppState) {
        let Some(mut text) = s.open_ui.take() else {
            return;
        };
        let mut keep = true;
        let mut go = false;
        egui::Window::new("Open file")
            .collapsible(false)
            .show(ctx, |ui| {
                ui.label(
                    "No file dialog is available here; type the path of an archive or export.",
                );
                ui.horizontal(|ui| {
                    let l = ui.label("Path");
                    let r = ui
                        .add(TextEdit::singleline(&mut text).desired_width(360.0))
                        .labelled_by(l.id);
                    if r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                        go = true;
                    }
                });
                ui.horizontal(|ui| {
                    if ui.button("Open").clicked() {
                        go = true;
                    }
                    if ui.button("Cancel").clicked() {
                        keep = false;
                    }
                });
            });
        if go && !text.trim().is_empty() {
            s.open_any(std::path::PathBuf::from(text.trim()));
            return;
        }
        if keep {
            s.open_ui = Some(text);
        }
    }
}

/// A modal error message.
pub fn error_modal(ctx: &egui::Context, s: &mut AppState) {
    let Some(msg) = s.error.clone() else { return };
    let modal = egui::Modal::new(egui::Id::unique("auditlens-error")).show(ctx, |ui| {
        ui.set_max_width(480.0);
        ui.heading("Cannot do that");
        ui.label(msg);
        ui.add_space(8.0);
        ui.button("OK").clicked()
    });
    if modal.inner || modal.should_close() {
        s.error = None;
    }
}
