//! What every bench shares: environment knobs, a sink that drops everything, an anvil node,
//! a devnet chain, percentiles and the services' URLs. Included by each bench with
//! `#[path = "common/mod.rs"] mod common;` (each bench is its own crate, and not every bench
//! uses every piece).
#![allow(dead_code)]

use chainflow::sinks::{OutputBatch, Sink};

/// Where the services listen (shared with the tests).
#[path = "../../tests/it/support/services.rs"]
pub mod services;

/// The binary's allocator (see `src/main.rs`), so in-process runs measure what it does.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The unsigned integer in environment variable `name`, or `default`.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `p`th percentile (nearest rank) of the `sorted` durations; zero for none.
pub fn percentile(sorted: &[std::time::Duration], p: f64) -> std::time::Duration {
    if sorted.is_empty() {
        return std::time::Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank - 1]
}

/// The blocks of a devnet chain of chain id `chain_id` without reorgs: `blocks` blocks of
/// 20 transactions on average, seed 2026.
pub fn devnet_chain(blocks: u64, chain_id: u64) -> Vec<chainflow::model::Block> {
    use chainflow::sources::devnet::{Devnet, DevnetConfig};
    let config = DevnetConfig {
        seed: 2026,
        chain_id,
        block_time_ms: 0,
        max_blocks: Some(blocks),
        txs_per_block: 20,
        reorg_rate: 0.0,
        ..DevnetConfig::default()
    };
    Devnet::new(config)
        .unwrap()
        .flat_map(|e| e.unwrap().event.new_blocks().to_vec())
        .collect()
}

/// timely's configuration of `workers` threads in this process.
pub fn workers_config(workers: usize) -> timely::Config {
    if workers == 1 {
        timely::Config::thread()
    } else {
        timely::Config::process(workers)
    }
}

/// Drops every batch.
pub struct NullSink;

impl Sink for NullSink {
    fn name(&self) -> &str {
        "null"
    }
    fn commit(&mut self, _batch: &OutputBatch) -> chainflow::sinks::Result<()> {
        Ok(())
    }
}

/// The anvil binary: `ANVIL`, else the one `make services` installs.
pub fn anvil_bin() -> std::path::PathBuf {
    std::env::var_os("ANVIL")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/tools/bin/anvil").into())
}

/// A running anvil without automatic mining, on a free loopback port; killed on drop.
pub struct Anvil {
    child: std::process::Child,
    /// Its port.
    pub port: u16,
}

impl Anvil {
    /// Starts anvil with `args` after the host, port and `--no-mining --hardfork prague`,
    /// and waits until it listens.
    pub fn start(args: &[&str]) -> Anvil {
        use std::process::{Command, Stdio};
        use std::time::{Duration, Instant};
        let mut last = String::new();
        // The probed port may be taken before anvil binds it: retry on another.
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .unwrap()
                .port();
            let mut child = Command::new(anvil_bin())
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--no-mining", "--hardfork", "prague"])
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {}: {e}", anvil_bin().display()));
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Some(status) = child.try_wait().unwrap() {
                    last = format!("anvil exited early: {status}");
                    break;
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Anvil { child, port };
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    last = "anvil did not listen within 30 s".into();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("anvil did not start: {last}");
    }
}

impl Anvil {
    /// Its JSON-RPC URL over HTTP.
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its JSON-RPC URL over websocket.
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
