//! The `chainflow` command line: `run`, `replay`, `publish-heads`, `migrate` and `list`, one
//! file per command; [`open`] opens the sinks and the source a run writes to and reads from.
//!
//! timely's own flags (`-w/--threads`, `-n/--processes`, `-p/--process`, `-h/--hostfile`)
//! are taken out of the arguments of `run` and `replay` and handed to
//! `timely::Config::from_args`, so the worker count is set exactly as in any timely program:
//! `chainflow run -w 2`.

mod list;
mod migrate;
mod open;
mod progress;
mod publish;
mod replay;
mod run;

use anyhow::Result;
use clap::{Parser, Subcommand};

pub use self::list::list;
pub use self::migrate::MigrateArgs;
pub use self::publish::PublishArgs;
pub use self::replay::ReplayArgs;
pub use self::run::RunArgs;

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    name = "chainflow",
    version,
    about = "Stream processing for blockchain data: a reorg is a retraction"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the dataflows over a source (default: the built-in devnet) until Ctrl-C.
    ///
    /// timely flags pass through: -w N (worker threads), -n N (processes), -p I (process index), -h FILE (hostfile).
    /// Across processes over --rpc process 0 reads the chain and relays its events to the
    /// others (at `[engine] relay`, default the port after the hostfile's highest).
    Run(RunArgs),
    /// List the dataflows, their outputs and columns.
    List,
    /// Apply pending ClickHouse migrations (idempotent) and check the tables.
    Migrate(MigrateArgs),
    /// Follow a chain over JSON-RPC and publish its events to NATS JetStream (resumes from
    /// what the stream holds).
    PublishHeads(PublishArgs),
    /// Replay the blocks FROM..=TO of a node through the dataflows into the configured sinks,
    /// in batches (one epoch per batch); resumable; --follow goes on with the live head.
    ///
    /// timely flags pass through as for `run`. Across processes (`-n`) each process fetches
    /// its share of the range, which must be final (--to at or below the finalized block);
    /// with --follow process 0 then follows the chain on from TO + 1 and relays it to the
    /// others (as for `run`).
    Replay(ReplayArgs),
}

const TIMELY_FLAGS: &[&str] = &[
    "-w",
    "--threads",
    "-n",
    "--processes",
    "-p",
    "--process",
    "-h",
    "--hostfile",
];

/// Splits timely's flags (with their values) out of `args`; returns `(ours, timely's)`.
pub fn split_timely_args(args: &[String]) -> (Vec<String>, Vec<String>) {
    let mut ours = Vec::with_capacity(args.len());
    let mut timely = Vec::new();
    let mut it = args.iter().peekable();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v)),
            _ => (arg.as_str(), None),
        };
        if TIMELY_FLAGS.contains(&flag)
            && (inline.is_some() || it.peek().is_some_and(|v| !v.starts_with('-')))
        {
            timely.push(flag.to_string());
            match inline {
                Some(v) => timely.push(v.to_string()),
                None => timely.extend(it.next().cloned()),
            }
        } else {
            ours.push(arg.clone());
        }
    }
    (ours, timely)
}

/// The `chainflow` command line, with `dataflows` of the calling crate registered after
/// chainflow's own: a crate that depends on chainflow gets every command (`run`, `replay`,
/// `migrate`, `list`, ...) for its dataflows. Their tables come from their output specs
/// (`chainflow migrate`); their settings are their own `[dataflows.<name>]`.
///
/// ```no_run
/// # struct Mine;
/// # impl chainflow::engine::dataflow::Dataflow for Mine {
/// #     fn name(&self) -> &'static str { "mine" }
/// #     fn doc(&self) -> &'static str { "" }
/// #     fn outputs(&self) -> Vec<chainflow::engine::dataflow::OutputSpec> { vec![] }
/// #     fn build<'s>(&self, _: &chainflow::engine::dataflow::Inputs<'s>) -> Vec<chainflow::engine::dataflow::Output<'s>> { vec![] }
/// # }
/// fn main() -> anyhow::Result<()> {
///     chainflow::telemetry::init();
///     chainflow::cli::main_with(std::env::args().collect(), vec![&Mine])
/// }
/// ```
pub fn main_with(
    args: Vec<String>,
    dataflows: Vec<&'static dyn crate::engine::dataflow::Dataflow>,
) -> Result<()> {
    crate::engine::check_dataflows(&dataflows)?;
    crate::dataflows::extend(dataflows).map_err(anyhow::Error::msg)?;
    main(args)
}

/// Runs the command line `args` (program name first).
pub fn main(args: Vec<String>) -> Result<()> {
    let is_run = args.get(1).is_some_and(|a| a == "run" || a == "replay");
    let (ours, timely_args) = if is_run {
        split_timely_args(&args)
    } else {
        (args, Vec::new())
    };
    let cli = match Cli::try_parse_from(&ours) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match cli.command {
        Command::List => {
            print!("{}", list());
            Ok(())
        }
        Command::Run(run_args) => run::run(run_args, timely_args),
        Command::Migrate(args) => migrate::migrate(args),
        Command::PublishHeads(args) => publish::publish_heads(args),
        Command::Replay(args) => replay::replay(args, timely_args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn timely_flags_are_split_out() {
        let (ours, timely) = split_timely_args(&s(&[
            "chainflow",
            "run",
            "-w",
            "2",
            "--max-blocks",
            "5",
            "--process=1",
        ]));
        assert_eq!(ours, s(&["chainflow", "run", "--max-blocks", "5"]));
        assert_eq!(timely, s(&["-w", "2", "--process", "1"]));
    }
}
