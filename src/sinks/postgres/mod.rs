//! The PostgreSQL / TimescaleDB sink: keyed upserts and deletes with progress in the same
//! transaction.
//!
//! ```text
//!  OutputBatch ─► per epoch and key one row (the new row, or a delete of the old), the
//!                 latest epoch of a key wins while buffered (until `batch_rows` or `batch_ms`)
//!        ▼ flush, ONE transaction:
//!            COPY cf_stage_<output> FROM STDIN        (text format, per output)
//!            DELETE FROM <output> USING cf_stage_<output> ... (every staged key)
//!            INSERT INTO <output> SELECT ... FROM cf_stage_<output> WHERE NOT cf_deleted
//!            INSERT INTO chainflow_progress ... ON CONFLICT (output) DO UPDATE   (upper, finalized;
//!                                    the key is `<output>#<w>/<n>` for writer w of n workers)
//!          COMMIT
//! ```
//!
//! The staging tables are session temporaries (`ON COMMIT DELETE ROWS`); the bulk path is
//! COPY plus two set statements per output, never a statement per row. Data and progress
//! commit together, so after any crash the tables hold exactly the ranges the progress says.
//! A deterministic replay of epochs already committed (NATS ingress) is skipped by epoch:
//! nothing is applied twice. A restart over JSON-RPC rebuilds and reconciles like the
//! ClickHouse sink ([`crate::sinks::reconcile`]), through [`StoredState`].
//!
//! Each worker of a run opens its own sink for the keys that hash to it
//! ([`PostgresConfig::writer`], see [`crate::sinks::writers`]): its own connection,
//! transactions and progress rows.
//!
//! With the `timescaledb` extension the tables are hypertables with compression of chunks
//! older than finality (see `migrations/timescale/`); otherwise plain tables. The sink logs
//! which mode it runs in when it opens.

pub mod encode;
pub mod migrate;

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};
use serde::{Deserialize, Serialize};

use self::encode::{column_list, decode_row, encode_row, select_list};
use self::migrate::{
    Mode, TimescaleSetting, check_identifier, check_schema, enter_schema, schema_mode,
};
use super::delivery::{Delivery, DeliveryDefaults};
use super::reconcile::{Progress, StoredState, covered_sql};
use super::{OutputBatch, Result, Sink, SinkError};
use crate::engine::dataflow::{ColumnType, OutputSpec, RowValues, Value};
use crate::engine::keys::key_positions;
use crate::model::{ChainId, Epoch};
use crate::sinks::writers::{self, Writer};

/// `[sinks.postgres]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresConfig {
    /// Connection string (`postgres://user@host:port/db` or `host=... user=...`).
    pub url: String,
    /// Schema holding the tables (created by `chainflow migrate`).
    pub schema: String,
    /// Use TimescaleDB: `auto` (when created in the database, or installed and preloaded),
    /// `off`, `require` (see [`migrate`]).
    pub timescale: TimescaleSetting,
    /// Password variable, batching and retries: keys of this table too.
    #[serde(flatten)]
    pub delivery: Delivery<PostgresConfig>,
    /// Outputs written here; empty means all.
    pub outputs: Vec<String>,
    /// The share of the keys this sink instance writes (set by the engine per worker).
    #[serde(skip)]
    pub writer: Writer,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        PostgresConfig {
            url: "postgres://postgres@127.0.0.1:5432/postgres".into(),
            schema: "chainflow".into(),
            timescale: TimescaleSetting::Auto,
            delivery: Delivery::default(),
            outputs: Vec::new(),
            writer: Writer::default(),
        }
    }
}

impl DeliveryDefaults for PostgresConfig {
    const PASSWORD_ENV: &'static str = "CHAINFLOW_POSTGRES_PASSWORD";
    const BATCH_ROWS: usize = 50_000;
    const BATCH_MS: u64 = 200;
    const ATTEMPTS: u32 = 8;
}

impl PostgresConfig {
    /// Connects once (no retries), with the password from the environment when set.
    pub fn connect(&self) -> std::result::Result<Client, postgres::Error> {
        let mut config: postgres::Config = self.url.parse()?;
        if let Ok(password) = std::env::var(&self.delivery.password_env) {
            config.password(password);
        }
        config.application_name("chainflow");
        config.connect(NoTls)
    }

    /// The URL without its password, for messages.
    pub fn redacted(&self) -> String {
        crate::telemetry::redact(&self.url)
    }
}

/// Whether an error may go away on retry (a lost connection, a restart, contention).
fn is_retryable(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(code) => {
            let c = code.code();
            c.starts_with("08") // connection exception
                || c == "40001" // serialization failure
                || c == "40P01" // deadlock
                || c.starts_with("57P") // admin shutdown, crash shutdown, cannot connect now
                || c == "53300" // too many connections
        }
        // No SQLSTATE: an I/O error on the socket.
        None => e.as_db_error().is_none(),
    }
}

fn fatal(output: &str, reason: String) -> SinkError {
    SinkError::Fatal {
        sink: "postgres".into(),
        output: output.into(),
        reason,
    }
}

fn describe(e: &postgres::Error) -> String {
    e.as_db_error()
        .map(|d| format!("{} ({})", d.message(), d.code().code()))
        .unwrap_or_else(|| e.to_string())
}

/// One output's rows waiting for the next flush: per key the latest row and whether it is a
/// delete.
struct Pending {
    spec: OutputSpec,
    rows: BTreeMap<Vec<Value>, Entry>,
    upper: Option<Epoch>,
    finalized: BTreeMap<ChainId, u64>,
}

/// The latest state of one key in the buffer.
struct Entry {
    /// The COPY text line of the row (the old row for a delete), with its version.
    line: String,
    /// The key is deleted.
    deleted: bool,
    /// The key had no row before this buffer (its first update here was an insert): its row
    /// can be COPied straight into the table, and a fresh key deleted again writes nothing.
    fresh: bool,
}

/// Writes outputs to PostgreSQL tables made by `chainflow migrate`.
pub struct PostgresSink {
    config: PostgresConfig,
    client: Client,
    specs: Vec<OutputSpec>,
    mode: Mode,
    pending: BTreeMap<&'static str, Pending>,
    first_pending: Option<Instant>,
    rows_buffered: usize,
    /// Committed upper epoch per output, read at open: older epochs are not applied again.
    committed: BTreeMap<String, Epoch>,
    rows_written: u64,
    transactions: u64,
}

impl PostgresSink {
    /// Connects (retrying while the server is unreachable), checks the tables of `specs`
    /// and prepares the session.
    pub fn open(config: PostgresConfig, specs: &[OutputSpec]) -> Result<Self> {
        check_identifier(&config.schema).map_err(|e| fatal("*", e.to_string()))?;
        let mut client = connect_with_retries(&config)?;
        check_schema(&mut client, &config.schema, specs).map_err(|e| fatal("*", e.to_string()))?;
        prepare(&mut client, &config.schema, specs)?;
        let mode =
            schema_mode(&mut client, config.timescale).map_err(|e| fatal("*", e.to_string()))?;
        if config.timescale == TimescaleSetting::Require && !mode.is_timescale() {
            return Err(fatal(
                "*",
                format!(
                    "timescale = \"require\" but schema {} has {mode}",
                    config.schema
                ),
            ));
        }
        tracing::info!(url = %config.redacted(), schema = %config.schema, mode = %mode, "writing to PostgreSQL");
        let mut sink = PostgresSink {
            config,
            client,
            specs: specs.to_vec(),
            mode,
            pending: BTreeMap::new(),
            first_pending: None,
            rows_buffered: 0,
            committed: BTreeMap::new(),
            rows_written: 0,
            transactions: 0,
        };
        sink.committed = sink
            .progress()?
            .into_iter()
            .map(|(o, p)| (o, p.upper_epoch))
            .collect();
        Ok(sink)
    }

    /// The mode the sink runs in.
    pub fn mode(&self) -> &Mode {
        &self.mode
    }

    /// Rows written and transactions committed so far.
    pub fn written(&self) -> (u64, u64) {
        (self.rows_written, self.transactions)
    }

    /// The first epoch a new run may use: above every stored version and committed progress.
    pub fn next_epoch(&mut self) -> Result<Epoch> {
        let mut next: u64 = 1;
        for spec in self.specs.clone() {
            let row = self
                .client
                .query_one(
                    &format!("SELECT COALESCE(max(version), 0) FROM {}", spec.name),
                    &[],
                )
                .map_err(|e| fatal(spec.name, describe(&e)))?;
            next = next.max(row.get::<_, i64>(0) as u64 + 1);
        }
        let row = self
            .client
            .query_one(
                "SELECT COALESCE(max(upper_epoch), 0) FROM chainflow_progress",
                &[],
            )
            .map_err(|e| fatal("chainflow_progress", describe(&e)))?;
        Ok(next.max(row.get::<_, i64>(0) as u64))
    }

    /// Applies everything buffered in one transaction (data of every output, then progress).
    /// Rows of keys new to the table are COPied straight into it; changes and deletes go
    /// through the staging table. With `stage_all` every row is staged (the fallback when a
    /// key assumed new is already there).
    fn apply(&mut self, stage_all: bool) -> std::result::Result<u64, Failure> {
        let mut tx = self
            .client
            .transaction()
            .map_err(|e| Failure::db("BEGIN", &e))?;
        let mut rows = 0u64;
        for (name, p) in &self.pending {
            if p.rows.is_empty() {
                continue;
            }
            let spec = p.spec;
            let list = column_list(&spec);
            let mut direct = String::new();
            let mut staged = String::new();
            for e in p.rows.values() {
                if e.fresh && !stage_all {
                    if !e.deleted {
                        direct.push_str(&e.line);
                        rows += 1;
                    }
                    continue;
                }
                staged.push_str(&e.line[..e.line.len() - 1]);
                staged.push_str(if e.deleted { "\tt\n" } else { "\tf\n" });
                rows += 1;
            }
            if !staged.is_empty() {
                let copy = format!(
                    "COPY cf_stage_{name} ({list}, version, cf_deleted) FROM STDIN WITH (FORMAT text)"
                );
                copy_in(&mut tx, &copy, &staged)?;
                let on: Vec<String> = spec.key.iter().map(|k| format!("t.{k} = s.{k}")).collect();
                let delete = format!(
                    "DELETE FROM {name} t USING cf_stage_{name} s WHERE {}",
                    on.join(" AND ")
                );
                tx.batch_execute(&delete)
                    .map_err(|e| Failure::db(&delete, &e))?;
                let insert = format!(
                    "INSERT INTO {name} ({list}, version) SELECT {list}, version FROM cf_stage_{name} WHERE NOT cf_deleted"
                );
                tx.batch_execute(&insert)
                    .map_err(|e| Failure::db(&insert, &e))?;
            }
            if !direct.is_empty() {
                let copy = format!("COPY {name} ({list}, version) FROM STDIN WITH (FORMAT text)");
                copy_in(&mut tx, &copy, &direct)?;
            }
        }
        for (name, p) in &self.pending {
            let Some(upper) = p.upper else { continue };
            let key = self.config.writer.progress_key(name);
            let finalized = serde_json::to_string(&p.finalized).unwrap_or_else(|_| "{}".into());
            tx.execute(
                "INSERT INTO chainflow_progress (output, upper_epoch, finalized, committed_at)
                 VALUES ($1, $2, $3::text::jsonb, now())
                 ON CONFLICT (output) DO UPDATE SET upper_epoch = EXCLUDED.upper_epoch,
                     finalized = EXCLUDED.finalized, committed_at = EXCLUDED.committed_at",
                &[&key, &(upper as i64), &finalized],
            )
            .map_err(|e| Failure::db("progress", &e))?;
        }
        tx.commit().map_err(|e| Failure::db("COMMIT", &e))?;
        Ok(rows)
    }
}

/// Why a transaction failed.
struct Failure {
    statement: String,
    reason: String,
    retryable: bool,
    /// A row of a key assumed new was already in the table (SQLSTATE 23505).
    duplicate: bool,
}

impl Failure {
    fn db(statement: &str, e: &postgres::Error) -> Self {
        Failure {
            statement: statement.to_string(),
            reason: describe(e),
            retryable: is_retryable(e),
            duplicate: e.code().is_some_and(|c| c.code() == "23505"),
        }
    }
}

/// `COPY ... FROM STDIN` of `text` inside `tx`.
fn copy_in(
    tx: &mut postgres::Transaction<'_>,
    copy: &str,
    text: &str,
) -> std::result::Result<(), Failure> {
    let mut writer = tx.copy_in(copy).map_err(|e| Failure::db(copy, &e))?;
    writer.write_all(text.as_bytes()).map_err(|io| Failure {
        statement: copy.to_string(),
        reason: io.to_string(),
        retryable: true,
        duplicate: false,
    })?;
    writer.finish().map_err(|e| Failure::db(copy, &e))?;
    Ok(())
}

fn connect_with_retries(config: &PostgresConfig) -> Result<Client> {
    let attempts = config.delivery.attempts.max(1);
    let mut delay = Duration::from_millis(100);
    let mut attempt = 1;
    loop {
        match config.connect() {
            Ok(c) => return Ok(c),
            Err(e) if attempt < attempts && (is_retryable(&e) || e.as_db_error().is_none()) => {
                tracing::warn!(url = %config.redacted(), attempt, error = %describe(&e), ?delay, "postgres not reachable, retrying");
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(10));
                attempt += 1;
            }
            Err(e) => {
                return Err(fatal(
                    "*",
                    format!(
                        "cannot connect to PostgreSQL at {} after {attempt} attempt(s): {}",
                        config.redacted(),
                        describe(&e)
                    ),
                ));
            }
        }
    }
}

/// Enters the schema and creates the session's staging tables.
fn prepare(client: &mut Client, schema: &str, specs: &[OutputSpec]) -> Result<()> {
    enter_schema(client, schema, None).map_err(|e| fatal("*", e.to_string()))?;
    for spec in specs {
        let name = spec.name;
        let sql = format!(
            "DROP TABLE IF EXISTS pg_temp.cf_stage_{name};
             CREATE TEMP TABLE cf_stage_{name} (LIKE {name}) ON COMMIT DELETE ROWS;
             ALTER TABLE cf_stage_{name} ADD COLUMN cf_deleted BOOLEAN NOT NULL DEFAULT false"
        );
        client.batch_execute(&sql).map_err(|e| {
            fatal(
                name,
                format!("cannot create the staging table: {}", describe(&e)),
            )
        })?;
    }
    Ok(())
}

impl StoredState for PostgresSink {
    fn progress(&mut self) -> Result<BTreeMap<String, Progress>> {
        let rows = self
            .client
            .query(
                "SELECT output, upper_epoch, finalized::text FROM chainflow_progress",
                &[],
            )
            .map_err(|e| fatal("chainflow_progress", describe(&e)))?;
        let read = rows
            .into_iter()
            .map(|row| (row.get(0), row.get::<_, i64>(1) as u64, row.get(2)))
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
        let ty = spec
            .columns
            .iter()
            .find(|c| c.name == column)
            .map_or(ColumnType::U64, |c| c.ty);
        let filter = if spec.columns.iter().any(|c| c.name == "chain_id") {
            format!("chain_id = {chain}")
        } else {
            "true".into()
        };
        let min = match ty {
            ColumnType::Timestamp => format!("extract(epoch from min({column}))::bigint"),
            _ => format!("min({column})::bigint"),
        };
        let row = self
            .client
            .query_one(
                &format!("SELECT {min} FROM {} WHERE {filter}", spec.name),
                &[],
            )
            .map_err(|e| fatal(spec.name, describe(&e)))?;
        Ok(row.get::<_, Option<i64>>(0).map(|v| v as u64))
    }

    fn current(
        &mut self,
        spec: &OutputSpec,
        from: &BTreeMap<ChainId, u64>,
    ) -> Result<Vec<RowValues>> {
        let sql = format!(
            "SELECT {} FROM {} WHERE {}",
            select_list(spec),
            spec.name,
            covered_sql(spec, from, "to_timestamp", "true", "false")
        );
        let rows = self
            .client
            .query(&sql, &[])
            .map_err(|e| fatal(spec.name, describe(&e)))?;
        rows.iter()
            .map(|r| {
                let texts: Vec<String> = (0..spec.columns.len()).map(|i| r.get(i)).collect();
                decode_row(spec, &texts).map_err(|e| fatal(spec.name, e))
            })
            .collect()
    }
}

impl Sink for PostgresSink {
    fn name(&self) -> &str {
        "postgres"
    }

    fn accepts(&self, output: &str) -> bool {
        self.config.outputs.is_empty() || self.config.outputs.iter().any(|o| o == output)
    }

    fn commit(&mut self, batch: &OutputBatch) -> Result<()> {
        let spec = batch.output;
        // Epochs already committed (a deterministic replay after a restart) are skipped.
        let done = self.committed.get(spec.name).copied().unwrap_or(0);
        if batch.upper <= done {
            return Ok(());
        }
        let keys = key_positions(&spec);
        let pending = self.pending.entry(spec.name).or_insert_with(|| Pending {
            spec,
            rows: BTreeMap::new(),
            upper: None,
            finalized: BTreeMap::new(),
        });
        // Per epoch and key: the old and the new row (an insert, a delete or a change).
        type Slot<'a> = (Option<&'a RowValues>, Option<&'a RowValues>);
        let mut slots: BTreeMap<(Epoch, Vec<&Value>), Slot<'_>> = BTreeMap::new();
        for (row, epoch, diff) in &batch.updates {
            if *epoch < done {
                continue;
            }
            let key = keys.iter().filter_map(|&i| row.get(i)).collect();
            let slot = slots.entry((*epoch, key)).or_default();
            if *diff > 0 {
                slot.1 = Some(row);
            } else {
                slot.0 = Some(row);
            }
        }
        for ((epoch, key), (old, new)) in slots {
            let (row, deleted) = match (old, new) {
                (_, Some(new)) => (new, false),
                (Some(old), None) => (old, true),
                (None, None) => continue,
            };
            let mut line = String::with_capacity(200);
            encode_row(&spec, row, epoch, &mut line)
                .map_err(|e| fatal(spec.name, e.to_string()))?;
            let key: Vec<Value> = key.into_iter().cloned().collect();
            match pending.rows.entry(key) {
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(Entry {
                        line,
                        deleted,
                        fresh: old.is_none(),
                    });
                    self.rows_buffered += 1;
                }
                std::collections::btree_map::Entry::Occupied(mut o) => {
                    let e = o.get_mut();
                    e.line = line;
                    e.deleted = deleted;
                }
            }
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
        let attempts = self.config.delivery.attempts.max(1);
        let mut delay = Duration::from_millis(100);
        let mut attempt = 1;
        let mut stage_all = false;
        let rows = loop {
            match self.apply(stage_all) {
                Ok(rows) => break rows,
                Err(f) if f.duplicate && !stage_all => {
                    // A key taken for new is in the table (rows of an earlier run): stage all.
                    tracing::debug!(statement = %f.statement, "key already present; staging every row");
                    stage_all = true;
                }
                Err(f) if f.retryable && attempt < attempts => {
                    tracing::warn!(attempt, statement = %f.statement, error = %f.reason, ?delay, "postgres transaction failed, retrying");
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(10));
                    attempt += 1;
                    // A new session: the old one (and its staging tables) may be gone.
                    if let Ok(mut client) = self.config.connect()
                        && prepare(&mut client, &self.config.schema, &self.specs).is_ok()
                    {
                        self.client = client;
                    }
                }
                Err(f) => {
                    return Err(fatal(
                        "*",
                        format!(
                            "transaction failed after {attempt} attempt(s) at `{}`: {}",
                            f.statement, f.reason
                        ),
                    ));
                }
            }
        };
        for (name, p) in std::mem::take(&mut self.pending) {
            if let Some(upper) = p.upper {
                self.committed.insert(name.to_string(), upper);
            }
        }
        self.rows_written += rows;
        self.transactions += 1;
        self.first_pending = None;
        self.rows_buffered = 0;
        Ok(())
    }

    fn flush_deadline(&self) -> Option<Instant> {
        self.first_pending
            .map(|t| t + Duration::from_millis(self.config.delivery.batch_ms))
    }
}
