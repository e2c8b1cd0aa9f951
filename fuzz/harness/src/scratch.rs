//! Where the targets write their inputs: the readers take paths, not bytes.
//!
//! One directory per process (in /dev/shm when there is one, so the inputs
//! written on every iteration never touch the disk), removed at exit, with one
//! subdirectory per thread: `cargo test` replays several targets at once in
//! one process, and two targets must never write over each other's input.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

static PROCESS_DIR: OnceLock<PathBuf> = OnceLock::new();

extern "C" fn remove_process_dir() {
    if let Some(d) = PROCESS_DIR.get() {
        let _ = std::fs::remove_dir_all(d);
    }
}

fn process_dir() -> &'static Path {
    PROCESS_DIR.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("auditlens-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the fuzz scratch directory");
        // SAFETY: registers a plain `extern "C" fn` that only removes a directory.
        unsafe {
            libc::atexit(remove_process_dir);
        }
        dir
    })
}

thread_local! {
    static THREAD_DIR: PathBuf = {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = process_dir().join(format!("t{}", NEXT.fetch_add(1, Ordering::Relaxed)));
        std::fs::create_dir_all(&dir).expect("create the thread's fuzz scratch directory");
        dir
    };
}

/// This thread's scratch directory.
pub fn scratch_dir() -> PathBuf {
    THREAD_DIR.with(PathBuf::clone)
}

/// Writes `data` to `name` in this thread's scratch directory (the same path
/// on every iteration) and returns its path.
pub fn write_input(name: &str, data: &[u8]) -> PathBuf {
    let path = scratch_dir().join(name);
    std::fs::write(&path, data).expect("write the fuzz input");
    path
}
