//! The ClickHouse sink: keyed upserts stamped with the epoch.
//!
//! ```text
//!  OutputBatch ─► encode.rs: per epoch and key one row (new row, or tombstone of the old),
//!                 version = epoch, deleted = 0/1, RowBinary
//!        │ buffered per output until `batch_rows` rows or `batch_ms` after the first
//!        ▼ flush: INSERT INTO <db>.<output> (...) FORMAT RowBinary   (lz4, retried)
//!        ▼ then  INSERT INTO <db>.chainflow_progress (output, upper_epoch, finalized, ...)
//! ```
//!
//! Tables are `ReplacingMergeTree(version)` ordered by the output's key, so the newest
//! version of a key wins whatever order inserts arrive in: re-sending a batch after a failed
//! or interrupted insert changes nothing, and a retraction is an insert (a tombstone), never
//! an `ALTER` mutation. The `<output>_current` views (`FINAL`, tombstones filtered) show
//! exactly the current state.
//!
//! Progress is written after the data: a committed `upper_epoch` means every update below
//! it is in the table. A new run continues the epochs above every version already written
//! ([`ClickHouseSink::next_epoch`]), so rows of a new run always supersede older ones.
//!
//! The outputs of one flush are inserted concurrently, each retried on its own; several
//! sinks (workers) may insert into the same tables at once for the same reason. Each worker
//! of a run opens its own sink for the keys that hash to it ([`ClickHouseConfig::writer`],
//! see [`crate::sinks::writers`]), with progress rows keyed `<output>#<w>/<n>`.
//!
//! ## Restart after a crash (kill -9 at any point)
//!
//! A crash can leave rows without their progress, half an insert, or rows derived from
//! blocks that were orphaned while chainflow was down. On start, `chainflow run`:
//! 1. waits until no insert of the dead process is still running on the server
//!    ([`ClickHouseSink::settle`]) and takes epochs above every stored version;
//! 2. reads the progress ([`StoredState::progress`]): the safe block per chain is the lowest
//!    finalized height any output recorded (never above what had been fed before that
//!    commit), widened back to the first block of its minute (the widest time bucket of the
//!    outputs); the RPC source starts there;
//! 3. the dataflows rebuild their state from that block while [`Reconcile`](super::reconcile)
//!    holds their output back; when the source has caught up with the head it found at start,
//!    the sink's current rows from the safe block on ([`StoredState::current`], read from the
//!    `_current` views) are compared with the rebuilt ones and one batch writes only the
//!    difference: a new row per changed or new key, a tombstone per vanished key.
//!
//! Rows below the safe block derive only from final blocks and are never touched; every row
//! that may be stale is above it and compared. A crash during the catch-up commits nothing
//! and the next start does the same again. The mechanism lives in
//! [`crate::sinks::reconcile`]; `tests/it/clickhouse_crash.rs` kills the binary at random
//! points of a reorg storm and checks the views against the node.

pub mod encode;
pub mod migrate;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use clickhouse::Client;
use serde::{Deserialize, Serialize};

use self::encode::{WeiEncoding, column_list, decode_rows, encode_row, rows_to_write};
use super::delivery::{Delivery, DeliveryDefaults};
use super::reconcile::{Progress, StoredState, covered_sql};
use super::writers::{self, Writer};
use super::{OutputBatch, Result, Sink, SinkError};
use crate::engine::dataflow::{OutputSpec, RowValues};
use crate::model::{ChainId, Epoch};

/// `[sinks.clickhouse]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickHouseConfig {
    /// HTTP URL of the server.
    pub url: String,
    /// Database (created by `chainflow migrate`).
    pub database: String,
    /// User.
    pub user: String,
    /// Password variable, batching and retries: keys of this table too.
    #[serde(flatten)]
    pub delivery: Delivery<ClickHouseConfig>,
    /// Outputs written here; empty means all.
    pub outputs: Vec<String>,
    /// The share of the keys this sink instance writes (set by the engine per worker).
    #[serde(skip)]
    pub writer: Writer,
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        ClickHouseConfig {
            url: "http://127.0.0.1:8123".into(),
            database: "chainflow".into(),
            user: "default".into(),
            delivery: Delivery::default(),
            outputs: Vec::new(),
            writer: Writer::default(),
        }
    }
}

impl DeliveryDefaults for ClickHouseConfig {
    const PASSWORD_ENV: &'static str = "CHAINFLOW_CLICKHOUSE_PASSWORD";
    /// ClickHouse prefers large, infrequent inserts.
    const BATCH_ROWS: usize = 100_000;
    /// Keeps a block queryable within a second of the node at a few inserts per second.
    const BATCH_MS: u64 = 500;
    const ATTEMPTS: u32 = 8;
}

impl ClickHouseConfig {
    /// A client for this server (validation off: ClickHouse 18.16 lacks what the crate's
    /// validation reads). Statements name the database explicitly, so the client works
    /// before `chainflow migrate` has created it.
    pub fn client(&self) -> Client {
        let mut client = Client::default()
            .with_url(&self.url)
            .with_user(&self.user)
            .with_validation(false);
        if let Ok(password) = std::env::var(&self.delivery.password_env) {
            client = client.with_password(password);
        }
        client
    }
}

fn is_retryable(err: &clickhouse::error::Error) -> bool {
    use clickhouse::error::Error as E;
    match err {
        E::Network(_) | E::TimedOut => true,
        // Server-side overload and too-many-parts answers pass; schema errors do not.
        E::BadResponse(msg) => {
            let m = msg.to_lowercase();
            m.contains("too many parts")
                || m.contains("timeout")
                || m.contains("memory limit")
                || m.contains("code: 202")
        }
        _ => false,
    }
}

#[derive(Default)]
struct Pending {
    spec: Option<OutputSpec>,
    rows: usize,
    data: Vec<u8>,
    upper: Option<Epoch>,
    finalized: BTreeMap<ChainId, u64>,
}

/// Writes outputs to ClickHouse tables made by `chainflow migrate`.
pub struct ClickHouseSink {
    config: ClickHouseConfig,
    client: Client,
    rt: tokio::runtime::Runtime,
    pending: BTreeMap<&'static str, Pending>,
    first_pending: Option<Instant>,
    rows_buffered: usize,
    rows_written: u64,
    inserts: u64,
    wei: WeiEncoding,
}

impl ClickHouseSink {
    /// Connects (checking the server answers).
    pub fn open(config: ClickHouseConfig) -> Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| fatal("*", e.to_string()))?;
        let client = config.client();
        // The server may still be starting: retry with backoff, then give up with a clear error.
        let attempts = config.delivery.attempts.max(1);
        let mut delay = Duration::from_millis(100);
        let mut attempt = 1;
        let server = loop {
            match rt.block_on(migrate::server_version(&client)) {
                Ok(v) => break v,
                Err(e) if attempt < attempts => {
                    tracing::warn!(url = %config.url, attempt, error = %e, ?delay, "clickhouse not reachable, retrying");
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(10));
                    attempt += 1;
                }
                Err(e) => {
                    return Err(fatal(
                        "*",
                        format!(
                            "cannot reach ClickHouse at {} after {attempt} attempts: {e}",
                            config.url
                        ),
                    ));
                }
            }
        };
        let wei = if server.has_uint128() {
            WeiEncoding::UInt128
        } else {
            WeiEncoding::Decimal
        };
        Ok(ClickHouseSink {
            config,
            client,
            rt,
            pending: BTreeMap::new(),
            first_pending: None,
            rows_buffered: 0,
            rows_written: 0,
            inserts: 0,
            wei,
        })
    }

    /// The first epoch a new run may use: above every version in the tables of `outputs` and
    /// every committed progress.
    pub fn next_epoch(&self, outputs: &[OutputSpec]) -> Result<Epoch> {
        let mut next = 1;
        for spec in outputs {
            let sql = format!(
                "SELECT max(version) FROM {}.{}",
                self.config.database, spec.name
            );
            let max: u64 = self
                .rt
                .block_on(self.client.query(&sql).fetch_one())
                .map_err(|e| fatal(spec.name, format!("cannot read versions: {e}")))?;
            next = next.max(max + 1);
        }
        let sql = format!(
            "SELECT max(upper_epoch) FROM {}.chainflow_progress",
            self.config.database
        );
        let upper: u64 = self
            .rt
            .block_on(self.client.query(&sql).fetch_one())
            .map_err(|e| fatal("*", format!("cannot read progress: {e}")))?;
        Ok(next.max(upper))
    }

    /// Waits (up to `limit`) until no insert into this database is running on the server: an
    /// insert of a killed process may still be landing, and a restart must read what it left.
    pub fn settle(&self, limit: Duration) -> Result<()> {
        let db = &self.config.database;
        let sql = format!(
            "SELECT count() FROM system.processes WHERE query LIKE 'INSERT INTO {db}.%' AND query NOT LIKE '%system.processes%'"
        );
        let started = Instant::now();
        loop {
            let running: u64 = self
                .rt
                .block_on(self.client.query(&sql).fetch_one())
                .map_err(|e| fatal("*", format!("cannot read system.processes: {e}")))?;
            if running == 0 {
                return Ok(());
            }
            if started.elapsed() >= limit {
                tracing::warn!(running, "inserts of an earlier run still running; going on");
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn fetch_bytes(&self, output: &str, sql: &str) -> Result<bytes::Bytes> {
        self.rt
            .block_on(async {
                let mut cursor = self.client.query(sql).fetch_bytes("RowBinary")?;
                cursor.collect().await
            })
            .map_err(|e| fatal(output, format!("cannot read back: {e}")))
    }

    /// Rows written so far and inserts made.
    pub fn written(&self) -> (u64, u64) {
        (self.rows_written, self.inserts)
    }

    /// Runs `inserts` (output, statement, RowBinary data) concurrently, each retried on
    /// its own; returns once all are durable, or the first error for good.
    fn insert_all(&mut self, inserts: Vec<(&str, String, bytes::Bytes)>) -> Result<()> {
        let n = inserts.len() as u64;
        let client = &self.client;
        let (attempts, db) = (
            self.config.delivery.attempts.max(1),
            self.config.database.as_str(),
        );
        let jobs = inserts
            .into_iter()
            .map(|(output, sql, data)| insert_one(client, db, attempts, output, sql, data));
        self.rt.block_on(futures_util::future::try_join_all(jobs))?;
        self.inserts += n;
        Ok(())
    }
}

/// One insert with retries and backoff on retryable errors.
async fn insert_one(
    client: &Client,
    db: &str,
    attempts: u32,
    output: &str,
    sql: String,
    data: bytes::Bytes,
) -> Result<()> {
    let mut delay = Duration::from_millis(100);
    for attempt in 1..=attempts {
        let result: std::result::Result<(), clickhouse::error::Error> = async {
            let mut insert = client.insert_formatted_with(sql.clone());
            insert.send(data.clone()).await?;
            insert.end().await
        }
        .await;
        match result {
            Ok(()) => return Ok(()),
            Err(e) if is_retryable(&e) && attempt < attempts => {
                tracing::warn!(output, attempt, error = %e, ?delay, "clickhouse insert failed, retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            Err(e) => {
                return Err(fatal(
                    output,
                    format!("insert into {db}.{output} failed after {attempt} attempt(s): {e}"),
                ));
            }
        }
    }
    Err(fatal(output, "no attempt made".into()))
}

fn fatal(output: &str, reason: String) -> SinkError {
    SinkError::Fatal {
        sink: "clickhouse".into(),
        output: output.into(),
        reason,
    }
}

/// Encodes a progress row (output, upper_epoch, finalized JSON, committed_at) in RowBinary.
fn progress_row(output: &str, upper: Epoch, finalized: &BTreeMap<ChainId, u64>, out: &mut Vec<u8>) {
    encode::string(output, out);
    out.extend_from_slice(&upper.to_le_bytes());
    encode::string(&serde_json::to_string(finalized).unwrap_or_default(), out);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0);
    out.extend_from_slice(&now.to_le_bytes());
}

impl StoredState for ClickHouseSink {
    fn progress(&mut self) -> Result<BTreeMap<String, Progress>> {
        #[derive(clickhouse::Row, Deserialize)]
        struct ProgressRow {
            output: String,
            upper_epoch: u64,
            finalized: String,
        }
        let sql = format!(
            "SELECT output, max(upper_epoch), argMax(finalized, upper_epoch) FROM {}.chainflow_progress GROUP BY output",
            self.config.database
        );
        let rows = self
            .rt
            .block_on(self.client.query(&sql).fetch_all::<ProgressRow>())
            .map_err(|e| fatal("*", format!("cannot read progress: {e}")))?;
        let read = rows
            .into_iter()
            .map(|row| (row.output, row.upper_epoch, row.finalized))
            .collect();
        writers::resolve("chainflow_progress", read, self.config.writer)
            .map_err(|e| fatal("chainflow_progress", e))
    }

    fn writer(&self) -> Writer {
        self.config.writer
    }

    fn lowest(&mut self, spec: &OutputSpec, chain: ChainId) -> Result<Option<u64>> {
        let Some(column) = spec.position.column() else {
            return Ok(None);
        };
        let chain_filter = if spec.columns.iter().any(|c| c.name == "chain_id") {
            format!("chain_id = {chain}")
        } else {
            "1".into()
        };
        let to_number = format!("toUInt64(min({column}))");
        let sql = format!(
            "SELECT count(), {to_number} FROM {}.{}_current WHERE {chain_filter}",
            self.config.database, spec.name
        );
        let (count, low): (u64, u64) = self
            .rt
            .block_on(self.client.query(&sql).fetch_one())
            .map_err(|e| fatal(spec.name, format!("cannot read the lowest row: {e}")))?;
        Ok((count > 0).then_some(low))
    }

    fn current(
        &mut self,
        spec: &OutputSpec,
        from: &BTreeMap<ChainId, u64>,
    ) -> Result<Vec<RowValues>> {
        let columns: Vec<&str> = spec.columns.iter().map(|c| c.name).collect();
        let sql = format!(
            "SELECT {} FROM {}.{}_current WHERE {}",
            columns.join(", "),
            self.config.database,
            spec.name,
            covered_sql(spec, from, "toDateTime", "1", "0")
        );
        let bytes = self.fetch_bytes(spec.name, &sql)?;
        decode_rows(spec, self.wei, &bytes).map_err(|e| fatal(spec.name, e.to_string()))
    }
}

impl Sink for ClickHouseSink {
    fn name(&self) -> &str {
        "clickhouse"
    }

    fn accepts(&self, output: &str) -> bool {
        self.config.outputs.is_empty() || self.config.outputs.iter().any(|o| o == output)
    }

    fn commit(&mut self, batch: &OutputBatch) -> Result<()> {
        let spec = batch.output;
        let pending = self.pending.entry(spec.name).or_default();
        pending.spec = Some(spec);
        for (row, version, deleted) in rows_to_write(&spec, &batch.updates) {
            encode_row(&spec, row, version, deleted, self.wei, &mut pending.data)
                .map_err(|e| fatal(spec.name, e.to_string()))?;
            pending.rows += 1;
            self.rows_buffered += 1;
        }
        pending.upper = Some(batch.upper);
        pending.finalized = (*batch.finalized).clone();
        self.first_pending.get_or_insert_with(Instant::now);
        if self.rows_buffered >= self.config.delivery.batch_rows {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.first_pending.is_none() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let db = self.config.database.clone();
        // The outputs' inserts run concurrently (the newest version of a key wins whatever
        // order they land in); progress follows once every one of them is durable.
        let mut inserts = Vec::new();
        let mut rows = 0u64;
        let mut progress = Vec::new();
        let mut progress_rows = 0;
        for (name, p) in pending {
            if let (Some(spec), true) = (p.spec, p.rows > 0) {
                let sql = format!(
                    "INSERT INTO {db}.{name} ({}) FORMAT RowBinary",
                    column_list(&spec)
                );
                inserts.push((name, sql, bytes::Bytes::from(p.data)));
                rows += p.rows as u64;
            }
            if let Some(upper) = p.upper {
                let key = self.config.writer.progress_key(name);
                progress_row(&key, upper, &p.finalized, &mut progress);
                progress_rows += 1;
            }
        }
        if !inserts.is_empty() {
            self.insert_all(inserts)?;
            self.rows_written += rows;
        }
        if progress_rows > 0 {
            let sql = format!(
                "INSERT INTO {db}.chainflow_progress (output, upper_epoch, finalized, committed_at) FORMAT RowBinary"
            );
            self.insert_all(vec![(
                "chainflow_progress",
                sql,
                bytes::Bytes::from(progress),
            )])?;
        }
        self.first_pending = None;
        self.rows_buffered = 0;
        Ok(())
    }

    fn flush_deadline(&self) -> Option<Instant> {
        self.first_pending
            .map(|t| t + Duration::from_millis(self.config.delivery.batch_ms))
    }
}
