//! A real anvil node for tests: started on a free 127.0.0.1 port, killed on drop, driven over
//! plain JSON-RPC (a minimal HTTP/1.1 client on `std::net::TcpStream`, no extra crates).
//!
//! Findings (anvil 1.7.1):
//! - `--no-mining` leaves sent transactions in the pool until [`Anvil::mine`]
//!   (`anvil_mine(n, interval)`, which spaces timestamps by `interval` seconds).
//! - Blob transactions work offline through `eth_sendTransaction` from an unlocked dev
//!   account: `type: 0x3`, `blobVersionedHashes`, and the sidecar FLATTENED into the request
//!   (`blobs`, `commitments`, `proofs` at the top level; alloy's `TransactionRequest` has
//!   `#[serde(flatten)] sidecar`; a nested `"sidecar": {..}` is silently ignored and the
//!   request fails with "Failed to decode transaction"). The all-zero blob has the KZG
//!   commitment and proof `0xc0 || 0^47` (the point at infinity), so no KZG library is needed.
//! - `anvil_reorg` takes `[depth, [[txRequest, blockOffset], ...]]`; the new branch has `depth`
//!   blocks, offset 0 is the first of them. The new blocks carry the timestamp of the fork
//!   point (not increasing).
//! - `--state FILE` + SIGTERM dumps the chain on exit and reloads it on start: block hashes,
//!   headers, transactions and receipts are preserved. Without `--preserve-historical-states`
//!   only the head's state is queryable afterwards (e.g. `eth_getBalance` at an old block
//!   fails with `BlockOutOfRangeError`); with it, historical states are kept too. The pool of
//!   pending transactions is not part of the dump.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Versioned hash of the all-zero blob: `0x01 || sha256(commitment)[1..]` with the
/// commitment `0xc0 || 0^47`.
pub const ZERO_BLOB_VERSIONED_HASH: &str =
    "0x010657f37554c781402a22917dee2f75def7ab966d7b770905398eba3c444014";

/// Address where [`Anvil::ensure_log_contract`] installs the LOG1 contract.
pub const LOG_CONTRACT: &str = "0x00000000000000000000000000000000000c0ffe";

/// Topic0 the LOG1 contract emits.
pub const LOG_TOPIC: &str = "0x00000000000000000000000000000000000000000000000000000000deadbeef";

/// Runtime code: `CALLDATACOPY(0, 0, CALLDATASIZE); LOG1(0, CALLDATASIZE, 0xdeadbeef); STOP`.
const LOG_RUNTIME: &str = "36600060003763deadbeef366000a100";

/// Init code returning [`LOG_RUNTIME`]: `CODECOPY(0, 12, 16); RETURN(0, 16)`.
const LOG_INIT: &str = "6010600c60003960106000f3";

/// Dev accounts anvil creates (`--accounts`): 0 receives, 1.. send.
pub const DEV_ACCOUNTS: usize = 20;

/// Path of the anvil binary: `$ANVIL` or `tools/bin/anvil` in the repository.
pub fn anvil_bin() -> PathBuf {
    std::env::var_os("ANVIL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tools/bin/anvil")))
}

/// Options of a node.
#[derive(Clone, Debug)]
pub struct AnvilOpts {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// `Some(s)`: interval mining every `s` seconds; `None`: `--no-mining`.
    pub block_time: Option<u64>,
    /// `--hardfork` (Prague: blob transactions with target 6, max 9 blobs per block).
    pub hardfork: &'static str,
    /// `Some(x)`: start from a generated genesis (`--init`) whose excess blob gas is `x`, so
    /// the blob base fee is above its minimum of 1 wei.
    pub genesis_excess_blob_gas: Option<u64>,
    /// Keep a state file (`--state` + `--preserve-historical-states`) so that
    /// [`Anvil::restart_same_port`] can bring the chain back.
    pub persistent: bool,
    /// `Some(t)`: the genesis block's timestamp (`--timestamp t`), for chains that start in
    /// the past.
    pub genesis_timestamp: Option<u64>,
}

impl Default for AnvilOpts {
    fn default() -> Self {
        AnvilOpts {
            chain_id: 31337,
            block_time: None,
            hardfork: "prague",
            genesis_excess_blob_gas: None,
            persistent: false,
            genesis_timestamp: None,
        }
    }
}

/// A running anvil process; killed (and waited for) on drop.
pub struct Anvil {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    child: Option<Child>,
    state_file: Option<PathBuf>,
    opts: AnvilOpts,
    dir: tempfile::TempDir,
    accounts: Vec<String>,
}

/// A kind of transaction [`Anvil::send`] can send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxKind {
    /// Type 0, `gasPrice`.
    Legacy,
    /// Type 1, `gasPrice` and an access list.
    AccessList,
    /// Type 2, `maxFeePerGas` / `maxPriorityFeePerGas`.
    DynamicFee,
    /// Type 3 with this many zero blobs (1..=6).
    Blob(u8),
    /// Type 2 call of the LOG1 contract (one log per call).
    LogCall,
    /// Type 2 contract creation (no `to`).
    Deploy,
}

impl Anvil {
    /// Starts anvil with the default options (`--no-mining`, chain 31337, Prague).
    pub fn start() -> Anvil {
        Anvil::with(AnvilOpts::default())
    }

    /// Starts anvil with `opts` on a free port.
    pub fn with(opts: AnvilOpts) -> Anvil {
        let mut last_err = String::new();
        // the probed port may be taken before anvil binds it: retry on another
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let state_file = opts.persistent.then(|| dir.path().join("state.json"));
            let mut a = Anvil {
                port: free_port(),
                child: None,
                state_file,
                opts: opts.clone(),
                dir,
                accounts: Vec::new(),
            };
            match a.spawn() {
                Ok(()) => {
                    let accounts = a.rpc("eth_accounts", json!([]));
                    a.accounts = accounts
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_str().unwrap().to_owned())
                        .collect();
                    assert_eq!(a.accounts.len(), DEV_ACCOUNTS, "dev accounts");
                    return a;
                }
                Err(e) => last_err = e,
            }
        }
        panic!("anvil did not start: {last_err}");
    }

    fn args(&self) -> Vec<String> {
        let mut args = vec![
            "--host".to_owned(),
            "127.0.0.1".to_owned(),
            "--port".to_owned(),
            self.port.to_string(),
            "--hardfork".to_owned(),
            self.opts.hardfork.to_owned(),
            "--chain-id".to_owned(),
            self.opts.chain_id.to_string(),
            "--accounts".to_owned(),
            DEV_ACCOUNTS.to_string(),
        ];
        if std::env::var_os("ANVIL_VERBOSE").is_none() {
            args.push("--quiet".to_owned());
        }
        match self.opts.block_time {
            Some(s) => args.extend(["--block-time".to_owned(), s.to_string()]),
            None => args.push("--no-mining".to_owned()),
        }
        if let Some(excess) = self.opts.genesis_excess_blob_gas {
            let path = self.dir.path().join("genesis.json");
            std::fs::write(&path, genesis(self.opts.chain_id, excess).to_string()).unwrap();
            args.extend(["--init".to_owned(), path.display().to_string()]);
        }
        if let Some(t) = self.opts.genesis_timestamp {
            args.extend(["--timestamp".to_owned(), t.to_string()]);
        }
        if let Some(state) = &self.state_file {
            args.extend([
                "--state".to_owned(),
                state.display().to_string(),
                "--preserve-historical-states".to_owned(),
            ]);
        }
        args
    }

    /// Spawns the process and waits until it answers `eth_chainId`.
    fn spawn(&mut self) -> Result<(), String> {
        let child = Command::new(anvil_bin())
            .args(self.args())
            .stdin(Stdio::null())
            .stdout(log_stdio())
            .stderr(log_stdio())
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", anvil_bin().display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                return Err(format!("anvil exited early: {status}"));
            }
            if let Ok(v) = self.try_rpc("eth_chainId", json!([]))
                && let Ok(id) = v
            {
                assert_eq!(hex_u64(&id), self.opts.chain_id, "chain id");
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("anvil did not answer eth_chainId within 30 s".to_owned());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `ws://127.0.0.1:PORT` (anvil serves both on one port).
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.opts.chain_id
    }

    /// The unlocked dev accounts (`eth_accounts`).
    pub fn accounts(&self) -> &[String] {
        &self.accounts
    }

    /// The state file, when started with `persistent`.
    pub fn state_file(&self) -> Option<&PathBuf> {
        self.state_file.as_ref()
    }

    /// Stops anvil (SIGTERM, so it dumps its state) and starts it again on the same port with
    /// that state. Needs `persistent`.
    pub fn restart_same_port(&mut self) {
        assert!(
            self.state_file.is_some(),
            "restart needs AnvilOpts::persistent"
        );
        self.stop_gracefully();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.spawn() {
                Ok(()) => return,
                // the port can linger for a moment after the old process exits
                Err(e) if Instant::now() < deadline => {
                    eprintln!("anvil restart retry: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("anvil restart failed: {e}"),
            }
        }
    }

    /// Sends SIGTERM and waits for the exit (the state is written on exit); kills after 10 s.
    fn stop_gracefully(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("anvil did not exit within 10 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// One JSON-RPC call; `Ok(Err(error))` is an error response, `Err` a transport failure.
    pub fn try_rpc(&self, method: &str, params: Value) -> std::io::Result<Result<Value, Value>> {
        rpc_at(self.port, method, params)
    }

    /// One JSON-RPC call; panics on a transport failure or an error response.
    pub fn rpc(&self, method: &str, params: Value) -> Value {
        match self.try_rpc(method, params) {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => panic!("{method}: error response {e}"),
            Err(e) => panic!("{method}: transport error {e}"),
        }
    }

    /// Mines `n` blocks, 12 seconds apart (`anvil_mine(n, 12)`).
    pub fn mine(&self, n: u64) {
        self.mine_with_interval(n, 12);
    }

    /// Mines `n` blocks `interval` seconds apart.
    pub fn mine_with_interval(&self, n: u64, interval: u64) {
        self.rpc("anvil_mine", json!([hex(n), hex(interval)]));
    }

    /// Pending plus queued transactions in the pool.
    pub fn pool_len(&self) -> u64 {
        let s = self.rpc("txpool_status", json!([]));
        hex_u64(&s["pending"]) + hex_u64(&s["queued"])
    }

    /// Mines blocks until the pool is empty (at most `max` blocks); returns how many.
    pub fn mine_until_empty(&self, max: u64) -> u64 {
        let mut mined = 0;
        while self.pool_len() > 0 {
            assert!(mined < max, "pool not empty after {max} blocks");
            self.mine(1);
            mined += 1;
        }
        mined
    }

    /// Number of the head block.
    pub fn head_number(&self) -> u64 {
        hex_u64(&self.rpc("eth_blockNumber", json!([])))
    }

    /// `eth_getBlockByNumber(n, full)`; panics if the block does not exist.
    pub fn block(&self, n: u64, full: bool) -> Value {
        let b = self.rpc("eth_getBlockByNumber", json!([hex(n), full]));
        assert!(!b.is_null(), "block {n} not found");
        b
    }

    /// Hash of block `n`.
    pub fn block_hash(&self, n: u64) -> String {
        self.block(n, false)["hash"].as_str().unwrap().to_owned()
    }

    /// `evm_snapshot`: an id for [`Anvil::revert`].
    pub fn snapshot(&self) -> Value {
        self.rpc("evm_snapshot", json!([]))
    }

    /// `evm_revert(id)`; panics unless anvil reports success.
    pub fn revert(&self, id: Value) {
        assert_eq!(self.rpc("evm_revert", json!([id])), json!(true));
    }

    /// `anvil_reorg(depth, [[tx, offset], ...])`: replaces the last `depth` blocks with a new
    /// branch of `depth` blocks in which each `tx` lands in the block `offset` after the fork
    /// point (0 = first new block).
    pub fn reorg(&self, depth: u64, txs: &[(Value, u64)]) {
        let pairs: Vec<Value> = txs.iter().map(|(tx, off)| json!([tx, off])).collect();
        self.rpc("anvil_reorg", json!([depth, pairs]));
    }

    /// Base fee of the head block.
    pub fn head_base_fee(&self) -> u128 {
        hex_u128(&self.rpc("eth_getBlockByNumber", json!(["latest", false]))["baseFeePerGas"])
    }

    /// Installs the LOG1 contract at [`LOG_CONTRACT`] (`anvil_setCode`, no block needed).
    pub fn ensure_log_contract(&self) {
        self.rpc(
            "anvil_setCode",
            json!([LOG_CONTRACT, format!("0x{LOG_RUNTIME}")]),
        );
    }

    /// A transaction request of `kind` from dev account `from` (`1..DEV_ACCOUNTS`) paying `tip` wei per
    /// gas above twice the head base fee in its fee cap (the effective tip is `tip` for
    /// dynamic-fee and blob transactions, `gasPrice - baseFee` for legacy and access-list).
    pub fn tx_request(&self, kind: TxKind, from: usize, tip: u128, salt: u64) -> Value {
        let from = &self.accounts[from];
        let to = &self.accounts[0];
        let cap = self.head_base_fee() * 2 + tip;
        match kind {
            TxKind::Legacy => json!({
                "from": from, "to": to, "value": hex(salt + 1), "gas": hex(21_000),
                "type": "0x0", "gasPrice": hex128(cap),
            }),
            TxKind::AccessList => json!({
                "from": from, "to": to, "value": hex(salt + 1), "gas": hex(40_000),
                "type": "0x1", "gasPrice": hex128(cap),
                "accessList": [{"address": LOG_CONTRACT, "storageKeys": [
                    format!("0x{:064x}", salt)]}],
            }),
            TxKind::DynamicFee => json!({
                "from": from, "to": to, "value": hex(salt + 1), "gas": hex(21_000),
                "type": "0x2", "maxFeePerGas": hex128(cap),
                "maxPriorityFeePerGas": hex128(tip),
            }),
            TxKind::LogCall => json!({
                "from": from, "to": LOG_CONTRACT, "gas": hex(60_000),
                "type": "0x2", "maxFeePerGas": hex128(cap),
                "maxPriorityFeePerGas": hex128(tip),
                "input": format!("0x{salt:016x}"),
            }),
            TxKind::Deploy => json!({
                "from": from, "gas": hex(200_000),
                "type": "0x2", "maxFeePerGas": hex128(cap),
                "maxPriorityFeePerGas": hex128(tip),
                "input": format!("0x{LOG_INIT}{LOG_RUNTIME}"),
            }),
            TxKind::Blob(n) => {
                let n = usize::from(n.clamp(1, 6));
                let blob = format!("0x{}", "00".repeat(131_072));
                let point = format!("0xc0{}", "00".repeat(47));
                let blob_fee = hex_u128(&self.rpc("eth_blobBaseFee", json!([])));
                json!({
                    "from": from, "to": to, "value": hex(salt + 1), "gas": hex(21_000),
                    "type": "0x3", "maxFeePerGas": hex128(cap),
                    "maxPriorityFeePerGas": hex128(tip),
                    "maxFeePerBlobGas": hex128(blob_fee * 4 + 1_000),
                    "blobVersionedHashes": vec![ZERO_BLOB_VERSIONED_HASH; n],
                    "blobs": vec![blob; n],
                    "commitments": vec![point.clone(); n],
                    "proofs": vec![point; n],
                })
            }
        }
    }

    /// Sends a transaction of `kind` (see [`Anvil::tx_request`]); returns its hash.
    pub fn send(&self, kind: TxKind, from: usize, tip: u128, salt: u64) -> String {
        if kind == TxKind::LogCall || kind == TxKind::AccessList {
            self.ensure_log_contract();
        }
        let tx = self.tx_request(kind, from, tip, salt);
        self.rpc("eth_sendTransaction", json!([tx]))
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Sends `count` transactions, a deterministic mix (by `seed`) of every [`TxKind`] from
    /// dev accounts `1..DEV_ACCOUNTS` in turn, with tips between 0 and 5 gwei; with
    /// `count >= 6` every kind occurs. At most 6 blobs in all, so one Prague block (max 9)
    /// holds them. Returns the kinds and hashes in sending order.
    ///
    /// A sender's later transactions never pay a higher tip than its earlier ones: anvil
    /// 1.7.1's miner was seen to DROP (not keep in the pool) a sender's nonce-n+1 transaction
    /// that paid more than its pending nonce-n transaction, in a mix with blob transactions.
    pub fn send_mix(&self, seed: u64, count: usize) -> Vec<(TxKind, String)> {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let kinds = [
            TxKind::Legacy,
            TxKind::AccessList,
            TxKind::DynamicFee,
            TxKind::Blob(1),
            TxKind::LogCall,
            TxKind::Deploy,
        ];
        let start = rng.below(kinds.len() as u64) as usize;
        let mut blobs_left = 6u8;
        let mut last_tip: Vec<Option<u128>> = vec![None; DEV_ACCOUNTS];
        let mut out = Vec::with_capacity(count);
        for i in 0..count {
            let mut kind = if i < kinds.len() {
                kinds[(start + i) % kinds.len()]
            } else {
                kinds[rng.below(kinds.len() as u64) as usize]
            };
            if let TxKind::Blob(_) = kind {
                let n = (1 + rng.below(2) as u8).min(blobs_left);
                blobs_left -= n;
                kind = if n == 0 {
                    TxKind::DynamicFee
                } else {
                    TxKind::Blob(n)
                };
            }
            let from = 1 + (i % (DEV_ACCOUNTS - 1));
            let mut tip = u128::from(rng.below(5_000)) * 1_000_000;
            if let Some(prev) = last_tip[from] {
                tip = tip.min(prev);
            }
            last_tip[from] = Some(tip);
            let salt = rng.next();
            out.push((kind, self.send(kind, from, tip, salt)));
        }
        out
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// anvil's output: inherited with `ANVIL_VERBOSE` set (then without `--quiet`), else dropped.
fn log_stdio() -> Stdio {
    if std::env::var_os("ANVIL_VERBOSE").is_some() {
        Stdio::inherit()
    } else {
        Stdio::null()
    }
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A genesis for `--init` with all forks through Prague at time 0 and the given excess blob
/// gas. anvil still funds its dev accounts.
fn genesis(chain_id: u64, excess_blob_gas: u64) -> Value {
    json!({
        "config": {
            "chainId": chain_id, "homesteadBlock": 0, "eip150Block": 0, "eip155Block": 0,
            "eip158Block": 0, "byzantiumBlock": 0, "constantinopleBlock": 0,
            "petersburgBlock": 0, "istanbulBlock": 0, "berlinBlock": 0, "londonBlock": 0,
            "mergeNetsplitBlock": 0, "terminalTotalDifficulty": 0, "shanghaiTime": 0,
            "cancunTime": 0, "pragueTime": 0
        },
        "nonce": "0x0", "timestamp": hex(1_700_000_000), "extraData": "0x",
        "gasLimit": hex(30_000_000), "difficulty": "0x0", "baseFeePerGas": hex(1_000_000_000),
        "excessBlobGas": hex(excess_blob_gas), "blobGasUsed": "0x0", "alloc": {}
    })
}

/// One JSON-RPC call over HTTP/1.1 to 127.0.0.1:`port`.
pub fn rpc_at(port: u16, method: &str, params: Value) -> std::io::Result<Result<Value, Value>> {
    rpc_addr(&format!("127.0.0.1:{port}"), method, params)
}

/// One JSON-RPC call to an `http://host:port[/path]` URL; panics on a transport failure or an
/// error response.
pub fn rpc_url(url: &str, method: &str, params: Value) -> Value {
    let rest = url.strip_prefix("http://").expect("http:// URL");
    let addr = rest.split('/').next().unwrap_or(rest);
    match rpc_addr(addr, method, params) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => panic!("{method}: error response {e}"),
        Err(e) => panic!("{method}: transport error {e}"),
    }
}

/// One JSON-RPC call over HTTP/1.1 (`Connection: close`) to `addr` (`host:port`).
fn rpc_addr(addr: &str, method: &str, params: Value) -> std::io::Result<Result<Value, Value>> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    s.write_all(body.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_owned());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let mut payload = raw[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        payload = dechunk(&payload).ok_or_else(|| bad("bad chunked body"))?;
    }
    let v: Value = serde_json::from_slice(&payload)
        .map_err(|e| bad(&format!("{e}: {}", String::from_utf8_lossy(&payload))))?;
    Ok(match v.get("error") {
        Some(e) => Err(e.clone()),
        None => Ok(v.get("result").cloned().unwrap_or(Value::Null)),
    })
}

/// Decodes an HTTP/1.1 chunked body.
pub fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let size_str = std::str::from_utf8(&b[..eol]).ok()?;
        let size = usize::from_str_radix(size_str.split(';').next()?.trim(), 16).ok()?;
        b = &b[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

/// `0x`-hex of `n`.
pub fn hex(n: u64) -> String {
    format!("{n:#x}")
}

/// `0x`-hex of `n`.
pub fn hex128(n: u128) -> String {
    format!("{n:#x}")
}

/// Parses a `0x`-hex quantity (panics on anything else).
pub fn hex_u64(v: &Value) -> u64 {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("not a hex string: {v}"));
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}

/// Parses a `0x`-hex quantity (panics on anything else).
pub fn hex_u128(v: &Value) -> u128 {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("not a hex string: {v}"));
    u128::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}

/// xorshift64*: deterministic mixes.
pub struct Rng(pub u64);

impl Rng {
    /// Next value.
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
