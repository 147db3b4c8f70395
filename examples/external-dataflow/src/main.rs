//! `my-chainflow`: the whole chainflow command line with the `full_blocks` dataflow added.
//!
//! `cargo run -p chainflow-external-dataflow -- list`, or
//! `cargo run -p chainflow-external-dataflow -- run --max-blocks 100 --fast`.

use std::process::ExitCode;

use chainflow_external_dataflow::FullBlocks;

fn main() -> ExitCode {
    chainflow::telemetry::init();
    match chainflow::cli::main_with(std::env::args().collect(), vec![&FullBlocks]) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
