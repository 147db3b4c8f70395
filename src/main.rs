//! The `chainflow` binary: parse the command line, start logging, run.

use std::process::ExitCode;

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
