//! Opens the viewer: `cargo run --example viewer -- [FILE]`.
fn main() {
    let path = std::env::args_os().nth(1).map(std::path::PathBuf::from);
    if let Err(e) = auditlens::app::run(path) {
        eprintln!("auditlens: {e}");
        std::process::exit(2);
    }
}
