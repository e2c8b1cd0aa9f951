//! The `auditlens` binary: the viewer when run without a command, the CLI otherwise.

mod cli;

use clap::Parser;

fn main() {
    let args = cli::Cli::parse();
    let code = match args.command {
        Some(command) => {
            restore_sigpipe();
            cli::run(command)
        }
        None => match open_viewer(args.file) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("auditlens: {e}");
                2
            }
        },
    };
    std::process::exit(code);
}

fn open_viewer(file: Option<std::path::PathBuf>) -> Result<(), String> {
    auditlens::app::run(file)
}

/// Rust ignores SIGPIPE, so a command whose reader went away (`auditlens
/// scan A | head`) would panic at its next `println!`. A command-line tool
/// should end quietly instead, as `grep` does: restore the default action.
/// Outputs are written to a temporary file and renamed, so an export cut
/// short this way leaves nothing half-written in place.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called once at the start of main, before any thread exists;
    // SIG_DFL is a valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
