//! Test support: a real anvil node ([`anvil`]) and an independent oracle that reads the
//! node's canonical chain over plain JSON-RPC ([`node_oracle`]).

#![allow(dead_code)]

pub mod anvil;
pub mod clickhouse;
pub mod nats;
pub mod node_oracle;
pub mod pg_cluster;
pub mod postgres;
pub mod rows;
pub mod services;
pub mod spec;
pub mod taiko_node;

/// Polls `check` until it says `Ok`; after `secs` seconds, panics with its last complaint.
pub fn wait_until(secs: u64, mut check: impl FnMut() -> Result<(), String>) {
    let started = std::time::Instant::now();
    loop {
        match check() {
            Ok(()) => return,
            Err(why) => assert!(
                started.elapsed() < std::time::Duration::from_secs(secs),
                "{why}"
            ),
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Runs `chainflow run --max-blocks <blocks> --fast --quiet` over the devnet, with `args`
/// after and the variables `env` set, to its end.
pub fn devnet_run(blocks: u64, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_chainflow"))
        .args([
            "run",
            "--max-blocks",
            &blocks.to_string(),
            "--fast",
            "--quiet",
        ])
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// Asserts that a command succeeded, with its standard error in the failure.
pub fn assert_success(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes a timely hostfile of `processes` free loopback ports at `path`.
pub fn loopback_hosts(path: &std::path::Path, processes: usize) {
    let lines: String = (0..processes)
        .map(|_| format!("127.0.0.1:{}\n", free_port()))
        .collect();
    std::fs::write(path, lines).unwrap();
}

/// A child process killed when dropped: also when a check fails, so none is left running.
pub struct KillOnDrop(pub std::process::Child);

impl std::ops::Deref for KillOnDrop {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
