//! The desktop viewer (eframe/egui). It calls the core for everything that
//! reads, verifies, filters or exports; it only lays out and schedules.

pub mod fonts;
pub mod investigate;
pub mod panels;
pub mod state;

use std::path::PathBuf;

pub use eframe::egui;
use egui::{Key, Modifiers, RichText};

pub use state::{AppState, FileDialogs, NoDialogs, Settings, SystemDialogs};

const SETTINGS_KEY: &str = "auditlens-settings";

/// The whole window: state plus one value per panel.
pub struct Viewer {
    pub state: AppState,
    top: panels::TopBar,
    banner: panels::Banner,
    filters: panels::FilterPanel,
    table: panels::TablePanel,
    detail: panels::DetailPane,
    timeline: investigate::Timeline,
    status: panels::StatusBar,
    export: panels::ExportWindow,
    open: panels::OpenWindow,
    applied_dark: Option<bool>,
}

impl Viewer {
    pub fn new(settings: Settings, dialogs: Box<dyn FileDialogs>) -> Self {
        Viewer {
            state: AppState::new(settings, dialogs),
            top: Default::default(),
            banner: Default::default(),
            filters: Default::default(),
            table: Default::default(),
            detail: Default::default(),
            timeline: Default::default(),
            status: Default::default(),
            export: Default::default(),
            open: Default::default(),
            applied_dark: None,
        }
    }

    /// Draws one frame into `ui` (the whole window).
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        fonts::install_bundled(&ctx);
        if self.state.ctx.is_none() {
            self.state.ctx = Some(ctx.clone());
        }
        if self.applied_dark != Some(self.state.settings.dark) {
            ctx.set_theme(if self.state.settings.dark {
                egui::Theme::Dark
            } else {
                egui::Theme::Light
            });
            self.applied_dark = Some(self.state.settings.dark);
        }
        self.state.poll();
        self.handle_drop(&ctx);
        self.handle_keys(&ctx);
        self.state.refresh_view();

        let s = &mut self.state;
        egui::Panel::top("top_bar").show(ui, |ui| self.top.ui(ui, s));
        egui::Panel::top("banner").show(ui, |ui| {
            ui.add_space(2.0);
            self.banner.ui(ui, s);
            ui.add_space(2.0);
        });
        egui::Panel::bottom("status_bar").show(ui, |ui| self.status.ui(ui, s));
        if s.doc.is_some() {
            egui::Panel::left("filters")
                .resizable(true)
                .default_size(250.0)
                .min_size(180.0)
                .show(ui, |ui| self.filters.ui(ui, s));
            egui::Panel::bottom("detail")
                .resizable(true)
                .default_size(270.0)
                .min_size(80.0)
                .show(ui, |ui| self.detail.ui(ui, s));
        }
        egui::CentralPanel::default().show(ui, |ui| {
            self.timeline.ui(ui, s);
            investigate::actor_summary_ui(ui, s);
            if let Some(r) = s.restrict.clone() {
                ui.horizontal(|ui| {
                    ui.label(RichText::new(format!("Showing only: {}", r.label)).strong());
                    if ui.small_button("Show all").clicked() {
                        s.set_restriction(None);
                    }
                });
            }
            self.table.ui(ui, s)
        });
        self.export.ui(&ctx, s);
        self.open.ui(&ctx, s);
        panels::error_modal(&ctx, s);

        if let Some(doc) = &mut s.doc
            && doc.first_frame.is_none()
            && doc.index.is_some()
        {
            doc.first_frame = Some(doc.open_time.elapsed());
        }
        if s.busy() {
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
    }

    fn handle_drop(&mut self, ctx: &egui::Context) {
        let dropped = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .find(|p| !p.as_os_str().is_empty())
        });
        if let Some(p) = dropped {
            self.state.open_any(p);
        }
    }

    fn handle_keys(&mut self, ctx: &egui::Context) {
        let s = &mut self.state;
        let cmd = |k: Key| ctx.input_mut(|i| i.consume_key(Modifiers::COMMAND, k));
        if cmd(Key::O) {
            panels::open_dialog(s);
        }
        if cmd(Key::F) {
            s.focus_search = true;
        }
        if cmd(Key::E) && s.doc.as_ref().is_some_and(|d| d.index_complete()) {
            s.export.open = true;
        }
        if ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Escape)) {
            if !s.filter.search.is_empty() {
                s.filter.search.clear();
            } else {
                s.export.open = false;
                s.open_ui = None;
            }
        }
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        let copy = ctx.input(|i| i.events.iter().any(|e| matches!(e, egui::Event::Copy)));
        if copy && let Some(json) = s.selected_json() {
            ctx.copy_text(json);
        }
        let n = s.view.len();
        if n == 0 {
            return;
        }
        let page = self.table.page();
        let cur = s.selected_row;
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
            s.select_row(t);
        }
    }
}

struct App {
    viewer: Viewer,
}

impl eframe::App for App {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.viewer.ui(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, SETTINGS_KEY, &self.viewer.state.settings);
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
            let settings: Settings = cc
                .storage
                .and_then(|s| eframe::get_value(s, SETTINGS_KEY))
                .unwrap_or_default();
            fonts::install_system_fonts(&cc.egui_ctx);
            let mut viewer = Viewer::new(settings, Box::new(SystemDialogs));
            viewer.state.ctx = Some(cc.egui_ctx.clone());
            if let Some(p) = path {
                viewer.state.open(p);
            }
            Ok(Box::new(App { viewer }))
        }),
    )
    .map_err(|e| format!("cannot open the window: {e}"))
}
