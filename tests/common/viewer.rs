//! The viewer driven as a person would, through egui_kittest: one harness and one wait for every
//! viewer test (each frame runs `App::logic`, then `App::ui`, as eframe does).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use auditlens::app::egui;
use auditlens::app::{FileDialogs, Viewer};
use egui_kittest::Harness;

/// The viewer at `size` with `path` opened, picking files through `dialogs`.
pub fn open(
    path: PathBuf,
    size: egui::Vec2,
    dialogs: impl FileDialogs + 'static,
) -> Harness<'static, Viewer> {
    Harness::builder()
        .with_size(size)
        .build_eframe(move |cc| Viewer::from_creation(cc, Box::new(dialogs), Some(path)))
}

/// Steps the UI until `done` holds (background work finishes), or fails after 60 s.
pub fn wait_for(h: &mut Harness<'_, Viewer>, what: &str, done: impl Fn(&Viewer) -> bool) {
    let start = Instant::now();
    loop {
        h.step();
        if done(h.state()) {
            h.run_steps(2);
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
