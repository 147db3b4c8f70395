//! `chainflow migrate`: the ClickHouse and PostgreSQL migrations, then the tables of every
//! registered output that no migration creates, from its spec, then a check of every
//! output's table.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::config::Config;
use crate::sinks::clickhouse::migrate;
use crate::sinks::postgres::migrate as pgmigrate;

/// Arguments of `migrate`.
#[derive(Debug, Default, clap::Args)]
pub struct MigrateArgs {
    /// TOML config file (its `[sinks.clickhouse]` and `[sinks.postgres]` are used).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// ClickHouse HTTP URL (overrides the config).
    #[arg(long, value_name = "URL")]
    pub clickhouse: Option<String>,
    /// Database (overrides the config).
    #[arg(long)]
    pub database: Option<String>,
    /// PostgreSQL connection string: migrate it too (or only it, without --clickhouse).
    #[arg(long, value_name = "URL")]
    pub postgres: Option<String>,
    /// PostgreSQL schema (overrides the config).
    #[arg(long)]
    pub schema: Option<String>,
}

pub(super) fn migrate(args: MigrateArgs) -> Result<()> {
    let config = Config::load(args.config.as_deref())?;
    let specs: Vec<_> = crate::dataflows::registry()
        .iter()
        .flat_map(|d| d.outputs())
        .collect();
    let want_pg = args.postgres.is_some() || config.sinks.postgres.is_some();
    let want_ch = args.clickhouse.is_some() || config.sinks.clickhouse.is_some() || !want_pg;
    if want_ch {
        let mut ch = config.sinks.clickhouse.clone().unwrap_or_default();
        if let Some(url) = args.clickhouse {
            ch.url = url;
        }
        if let Some(db) = args.database {
            ch.database = db;
        }
        let client = ch.client();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let applied = runtime.block_on(migrate::migrate(&client, &ch.database))?;
        let created =
            runtime.block_on(migrate::create_from_specs(&client, &ch.database, &specs))?;
        runtime.block_on(migrate::check_schema(&client, &ch.database, &specs))?;
        let what = if applied.is_empty() {
            "up to date".to_string()
        } else {
            format!("applied migrations {applied:?}")
        };
        println!(
            "clickhouse {} database {}: {what}{}",
            ch.url,
            ch.database,
            from_specs(&created)
        );
    }
    if want_pg {
        let mut pg = config.sinks.postgres.clone().unwrap_or_default();
        if let Some(url) = args.postgres {
            pg.url = url;
        }
        if let Some(schema) = args.schema {
            pg.schema = schema;
        }
        let mut client = pg
            .connect()
            .with_context(|| format!("cannot connect to PostgreSQL at {}", pg.redacted()))?;
        let reconnect = || pg.connect();
        let (applied, mode) =
            pgmigrate::migrate(&mut client, &reconnect, &pg.schema, pg.timescale)?;
        let created = pgmigrate::create_from_specs(&mut client, &pg.schema, &mode, &specs)?;
        pgmigrate::check_schema(&mut client, &pg.schema, &specs)?;
        let what = if applied.is_empty() {
            "up to date".to_string()
        } else {
            format!("applied migrations {applied:?}")
        };
        println!(
            "postgres {} schema {}: {what}{}; {mode}",
            pg.redacted(),
            pg.schema,
            from_specs(&created)
        );
    }
    Ok(())
}

/// The part of `migrate`'s report naming the tables created from output specs (nothing when
/// none was).
fn from_specs(created: &[String]) -> String {
    if created.is_empty() {
        String::new()
    } else {
        format!("; created from output specs: {}", created.join(", "))
    }
}
