//! The `chainflow` binary: parse the command line, start logging, run.

use std::process::ExitCode;

/// mimalloc: blocks are allocated on the feeder's thread and freed on the workers'; with the
/// system allocator those cross-thread frees contend, and 2 workers ran 1.13x of 1 where they
/// run 1.66-1.84x with mimalloc (`benches/scale.rs`).
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
