//! The `chainflow` binary: parse the command line, start logging, run.

use std::process::ExitCode;

/// mimalloc: blocks are allocated on the feeder's thread and freed on the workers'; with the
/// system allocator those cross-thread frees contend and added workers barely help
/// (`benches/scale.rs` measures both; the figures are in CHANGELOG.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    chainflow::telemetry::init();
    match chainflow::cli::main(std::env::args().collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
