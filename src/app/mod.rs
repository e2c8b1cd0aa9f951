//! The desktop viewer (eframe/egui). It calls the core for everything that
//! reads, verifies, filters or exports; it only lays out and schedules.
//!
//! The shape follows egui's demo app and rerun's viewer:
//! - [`settings`]: what is persisted between runs, apart from runtime state;
//! - [`state`]: the runtime (domain) state: document, view, selection;
//! - [`tasks`]: the one background-task runner (typed results, one channel);
//! - [`command`]: panels draw from the state and emit commands, applied
//!   once per frame in [`eframe::App::logic`], where finished tasks are
//!   taken in too; [`eframe::App::ui`] only draws;
//! - [`panels`]: one small type per panel, holding its widget state.

pub mod command;
pub mod dialogs;
pub mod document;
pub mod filter_form;
pub mod fonts;
pub mod histogram;
pub mod panels;
pub mod query;
pub mod rows;
pub mod settings;
pub mod state;
pub mod tasks;
pub mod text_index;

use std::path::PathBuf;

pub use eframe::egui;
use egui::{Key, Modifiers};

use command::{Command, Commands};
pub use dialogs::{FileDialogs, NoDialogs, SystemDialogs};
pub use settings::Settings;
pub use state::AppState;

/// Widget state: one value per panel.
#[derive(Default)]
pub struct Panels {
    pub top: panels::TopBar,
    pub banner: panels::Banner,
    pub filters: panels::FilterPanel,
    pub table: panels::TablePanel,
    pub detail: panels::DetailPane,
    pub timeline: panels::Timeline,
    pub actor: panels::ActorSummary,
    pub status: panels::StatusBar,
    pub export: panels::ExportWindow,
    pub open: panels::OpenWindow,
    pub error: panels::ErrorModal,
    pub history: panels::HistoryWindow,
}

/// The whole window: the state, the panels, the dialogs, and the commands
/// of the frame being drawn.
pub struct Viewer {
    pub state: AppState,
    pub panels: Panels,
    dialogs: Box<dyn FileDialogs>,
    commands: Commands,
    applied_dark: Option<bool>,
}

impl Viewer {
    pub fn new(settings: Settings, dialogs: Box<dyn FileDialogs>) -> Self {
        Viewer {
            state: AppState::new(settings),
            panels: Panels::default(),
            dialogs,
            commands: Commands::default(),
            applied_dark: None,
        }
    }

    /// The viewer as eframe starts it: settings from eframe's storage, and
    /// the file given on the command line.
    pub fn from_creation(
        cc: &eframe::CreationContext<'_>,
        dialogs: Box<dyn FileDialogs>,
        path: Option<PathBuf>,
    ) -> Self {
        let settings: Settings = cc
            .storage
            .and_then(|s| eframe::get_value(s, settings::SETTINGS_KEY))
            .unwrap_or_default();
        fonts::install_bundled(&cc.egui_ctx);
        fonts::install_system_fonts(&cc.egui_ctx);
        let mut viewer = Viewer::new(settings, dialogs);
        viewer.state.tasks.set_repaint(&cc.egui_ctx);
        if let Some(p) = path {
            viewer.state.open(p);
        }
        viewer
    }

    /// Once per frame, before drawing: takes in finished tasks, input and
    /// the commands the panels gave last frame, then brings the view and
    /// the rows to show up to date.
    pub fn logic(&mut self, ctx: &egui::Context) {
        self.state.tasks.set_repaint(ctx);
        if self.applied_dark != Some(self.state.settings.dark) {
            ctx.set_theme(if self.state.settings.dark {
                egui::Theme::Dark
            } else {
                egui::Theme::Light
            });
            self.applied_dark = Some(self.state.settings.dark);
        }
        let done = self.state.tasks.finished();
        self.state.on_finished(done);
        self.input(ctx);
        for c in self.commands.take() {
            self.apply(c);
        }
        self.state.refresh_view();
        if let Some(b) = self.panels.timeline.buckets() {
            self.state.count_timeline(b);
        }
        let wanted = self.panels.table.wanted(&self.state);
        self.state.read_shown(&wanted);
        if self.state.busy() {
            // Progress bars move while work runs.
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
    }

    /// Draws one frame into `ui` (the whole window); panels emit commands.
    pub fn draw(&mut self, ui: &mut egui::Ui) {
        let s = &self.state;
        let p = &mut self.panels;
        let cmds = &mut self.commands;
        egui::Panel::top("top_bar").show(ui, |ui| p.top.ui(ui, s, cmds));
        egui::Panel::top("banner").show(ui, |ui| {
            ui.add_space(2.0);
            p.banner.ui(ui, s, cmds);
            ui.add_space(2.0);
        });
        egui::Panel::bottom("status_bar").show(ui, |ui| p.status.ui(ui, s));
        if s.doc.is_some() {
            egui::Panel::left("filters")
                .resizable(true)
                .default_size(250.0)
                .min_size(180.0)
                .show(ui, |ui| p.filters.ui(ui, s, cmds));
        }
        // With nothing selected the table gets the room; a selected entry
        // opens its detail below it.
        if s.doc.is_some() && s.selected.is_some() {
            egui::Panel::bottom("detail")
                .resizable(true)
                .default_size(300.0)
                .min_size(80.0)
                .show(ui, |ui| p.detail.ui(ui, s, cmds));
        }
        egui::CentralPanel::default().show(ui, |ui| {
            p.timeline.ui(ui, s, cmds);
            p.actor.ui(ui, s, cmds);
            p.table.ui(ui, s, cmds);
        });
        p.export.ui(ui, s, cmds);
        p.open.ui(ui, cmds);
        p.history.ui(ui, s, cmds);
        p.error.ui(ui, s, cmds);
        if !cmds.is_empty() {
            // Applied in the next frame's logic: make sure it comes.
            ui.ctx().request_repaint();
        }
    }

    /// Applies a command: dialogs and windows here, the rest in the state.
    fn apply(&mut self, c: Command) {
        let s = &mut self.state;
        match c {
            Command::PickOpen => match self.dialogs.pick_open() {
                Some(p) => s.open(p),
                None => self.panels.open.show(),
            },
            Command::PickCheckpoint => match self.dialogs.pick_open() {
                Some(p) => s.load_checkpoint(&p),
                None => self.panels.open.show(),
            },
            Command::PickTickets => match self.dialogs.pick_open() {
                Some(path) => s.load_tickets(&path, Default::default()),
                None => {
                    s.notice = Some(
                        "no file dialog here: type the ticket file's path under \
                         Change tickets (left panel)"
                            .into(),
                    )
                }
            },
            Command::PickVerifierKey => match self.dialogs.pick_open() {
                Some(p) => s.add_verifier_key(&p),
                None => self.panels.open.show(),
            },
            Command::PickSealedArchive => match self.dialogs.pick_save("archive.sqlite") {
                Some(p) => s.save_sealed(&p),
                None => s.error = Some("no file dialog is available on this system".into()),
            },
            Command::PickReport => {
                // Only a file the dialog chose may be replaced (it asked first).
                let out = match self.dialogs.pick_save("report.html") {
                    Some(p) => Some((p, true)),
                    None => s
                        .doc
                        .as_ref()
                        .map(|d| (auditlens_core::audit_report::default_path(&d.path), false)),
                };
                if let Some((out, from_dialog)) = out {
                    s.start_report(out, from_dialog);
                }
            }
            Command::PickExportPath => {
                let e = &mut self.panels.export;
                if let Some(p) = self
                    .dialogs
                    .pick_save(&format!("export.{}", e.format.extension()))
                {
                    e.path = p.display().to_string();
                    e.dialog_path = Some(e.path.clone());
                }
            }
            Command::PickDirectory => {
                if let Some(p) = self.dialogs.pick_open() {
                    s.load_directory(Some(p));
                } else {
                    s.error = Some(
                        "no file dialog is available on this system: the viewer reads the names \
                         remembered in ARCHIVE.directory.json when it opens ARCHIVE (the CLI's \
                         --directory takes a file too)"
                            .into(),
                    );
                }
            }
            Command::ShowExportWindow => {
                if s.doc.as_ref().is_some_and(|d| d.index_complete()) {
                    self.panels.export.open = true;
                }
            }
            Command::Open(_) | Command::OpenAny(_) => {
                self.panels.open.close();
                s.apply(c);
            }
            c => s.apply(c),
        }
    }

    /// Dropped files and the keyboard (shortcuts, moving the selection).
    fn input(&mut self, ctx: &egui::Context) {
        let dropped = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .find(|p| !p.as_os_str().is_empty())
        });
        if let Some(p) = dropped {
            self.commands.push(Command::OpenAny(p));
        }
        let cmd = |k: Key| ctx.input_mut(|i| i.consume_key(Modifiers::COMMAND, k));
        if cmd(Key::O) {
            self.commands.push(Command::PickOpen);
        }
        if cmd(Key::F) {
            self.panels.filters.focus_search = true;
        }
        if cmd(Key::E) {
            self.commands.push(Command::ShowExportWindow);
        }
        if ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Escape)) {
            self.escape();
        }
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        let copy = ctx.input(|i| i.events.iter().any(|e| matches!(e, egui::Event::Copy)));
        if copy && let Some(json) = self.state.selected_json() {
            ctx.copy_text(json);
        }
        let n = self.state.view.len();
        if n == 0 {
            return;
        }
        let page = self.panels.table.page();
        let cur = self.state.selected_row;
        let key = |k: Key| ctx.input_mut(|i| i.consume_key(Modifiers::NONE, k));
        let target = if key(Key::ArrowDown) {
            Some(cur.map_or(0, |r| r + 1))
        } else if key(Key::ArrowUp) {
            Some(cur.map_or(0, |r| r.saturating_sub(1)))
        } else if key(Key::PageDown) {
            Some(cur.map_or(0, |r| r + page))
        } else if key(Key::PageUp) {
            Some(cur.map_or(0, |r| r.saturating_sub(page)))
        } else if key(Key::Home) {
            Some(0)
        } else if key(Key::End) {
            Some(n - 1)
        } else {
            None
        };
        if let Some(t) = target {
            self.commands.push(Command::SelectRow(t));
        }
    }

    /// Esc: clears the search, else closes the open windows, else deselects.
    fn escape(&mut self) {
        let s = &self.state;
        let c = if !s.filter.search.is_empty() {
            Command::ClearSearch
        } else if self.panels.export.open || self.panels.open.is_open() {
            self.panels.export.open = false;
            self.panels.open.close();
            return;
        } else {
            Command::Deselect
        };
        self.commands.push(c);
    }
}

impl eframe::App for Viewer {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        Viewer::logic(self, ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.draw(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, settings::SETTINGS_KEY, &self.state.settings);
    }

    /// Stops the background work before the process ends, so that a task
    /// writing a file (the search sidecar, an export) removes what it
    /// staged beside its destination.
    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.state.tasks.shutdown(tasks::SHUTDOWN_WAIT);
    }
}

/// A 64×64 icon drawn in code: a shield with a chain link.
fn icon() -> egui::IconData {
    let n = 64usize;
    let mut rgba = vec![0u8; n * n * 4];
    for y in 0..n {
        for x in 0..n {
            let (fx, fy) = (x as f32 - 31.5, y as f32 - 28.0);
            let inside =
                fy < 0.0 && fx.abs() < 26.0 || fy >= 0.0 && fx.abs() + fy * 0.9 < 26.0 && fy < 32.0;
            let ring = |cx: f32| {
                let d = ((x as f32 - cx).powi(2) + (y as f32 - 26.0).powi(2)).sqrt();
                (7.0..11.0).contains(&d)
            };
            let px = &mut rgba[(y * n + x) * 4..(y * n + x) * 4 + 4];
            if inside && y > 4 {
                px.copy_from_slice(if ring(24.0) || ring(39.0) {
                    &[245, 245, 245, 255]
                } else {
                    &[32, 110, 190, 255]
                });
            }
        }
    }
    egui::IconData {
        rgba,
        width: n as u32,
        height: n as u32,
    }
}

/// Opens the viewer window, optionally with a file. Returns when the window closes.
pub fn run(path: Option<PathBuf>) -> Result<(), String> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("auditlens")
            .with_app_id("auditlens")
            .with_inner_size([1280.0, 820.0])
            .with_min_inner_size([640.0, 400.0])
            .with_drag_and_drop(true)
            .with_icon(icon()),
        persist_window: true,
        // fonts::install_system_fonts adds them (the one path, also in tests)
        system_font_fallback: false,
        ..Default::default()
    };
    eframe::run_native(
        "auditlens",
        options,
        Box::new(move |cc| {
            Ok(Box::new(Viewer::from_creation(
                cc,
                Box::new(SystemDialogs),
                path,
            )))
        }),
    )
    .map_err(|e| format!("cannot open the window: {e}"))
}
