//! The `auditlens` binary: the viewer when run without a command, the CLI otherwise.

mod cli;

use clap::Parser;

fn main() {
    let args = cli::Cli::parse();
    let code = match args.command {
        Some(command) => cli::run(command),
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
