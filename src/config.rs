//! The TOML configuration, with environment overrides.
//!
//! Every section and key is optional; defaults work on a laptop. Unknown keys are rejected
//! with the key's path named. An environment variable `CHAINFLOW_<SECTION>__<KEY>` (double
//! underscore between levels, case-insensitive) overrides a key: for example
//! `CHAINFLOW_DEVNET__SEED=7` or `CHAINFLOW_SINKS__JSONL__PATH=out.jsonl`. Its value is read
//! as a TOML value when it parses as one (`7`, `true`, `0.5`, `"text"`), else as a string.
//!
//! ```
//! let config = chainflow::config::Config::from_toml_str("[devnet]\nseed = 7\n", std::iter::empty())?;
//! assert_eq!(config.devnet.seed, 7);
//! # Ok::<(), chainflow::config::ConfigError>(())
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engine::EngineSettings;
use crate::engine::dataflow::Dataflow;
use crate::sources::devnet::DevnetConfig;
use crate::sources::rpc::ChainConfig;

/// Errors of the configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file '{path}': {reason}")]
    Read {
        /// Path of the file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The text is not valid TOML.
    #[error("config is not valid TOML: {0}")]
    Syntax(String),
    /// A key is unknown or its value has the wrong type.
    #[error("config key '{key}': {reason}")]
    Key {
        /// Dotted path of the key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A value is out of range or inconsistent with another.
    #[error("config key '{key}' is invalid: {reason}")]
    Invalid {
        /// Dotted path of the key.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// The whole configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Engine settings.
    pub engine: EngineSettings,
    /// The built-in devnet source (used when no chain is configured).
    pub devnet: DevnetConfig,
    /// Chains followed through JSON-RPC nodes (`[[chains]]`); when any is given the devnet is
    /// not used.
    pub chains: Vec<ChainConfig>,
    /// Sinks.
    pub sinks: SinksConfig,
    /// Which dataflows run.
    pub dataflows: DataflowsConfig,
    /// Per output, the sinks it goes to (`gas_fees_blocks = ["clickhouse", "postgres"]`);
    /// an output not listed goes to every sink that takes it (see each sink's `outputs`).
    pub outputs: std::collections::BTreeMap<String, Vec<String>>,
    /// NATS JetStream ingress (`[nats]`); when set, `run` reads chain events from the stream
    /// instead of the chains or the devnet (or `--nats URL`).
    pub nats: Option<crate::sources::nats::NatsConfig>,
    /// The rollup devnet (`[rollup_devnet]`): when set (and no chain or NATS is), `run`
    /// generates an L1 and a Taiko L2 with the protocol's events instead of the devnet, and
    /// the taiko dataflow without settings of its own follows the generated chains and
    /// contracts.
    pub rollup_devnet: Option<crate::sources::rollup_devnet::RollupDevnetConfig>,
}

/// The sink names `[outputs]` may list.
pub const SINK_NAMES: &[&str] = &["console", "jsonl", "clickhouse", "postgres", "nats"];

impl Config {
    /// Whether output `output` goes to the sink named `sink` by `[outputs]` (`None`: the
    /// output is not listed there, the sink's own filter decides).
    pub fn routes(&self, output: &str, sink: &str) -> Option<bool> {
        self.outputs
            .get(output)
            .map(|sinks| sinks.iter().any(|s| s == sink))
    }
}

/// `[sinks]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SinksConfig {
    /// The live console view.
    pub console: ConsoleConfig,
    /// The JSONL file sink; off unless a path is given.
    pub jsonl: Option<JsonlConfig>,
    /// The ClickHouse sink; off unless configured (or `--clickhouse URL`).
    pub clickhouse: Option<crate::sinks::clickhouse::ClickHouseConfig>,
    /// The PostgreSQL / TimescaleDB sink; off unless configured (or `--postgres URL`).
    pub postgres: Option<crate::sinks::postgres::PostgresConfig>,
    /// The NATS JetStream egress of output changes; off unless configured (or `--egress URL`).
    pub nats: Option<crate::sinks::nats::EgressConfig>,
}

/// `[sinks.console]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Whether the console view runs.
    pub enabled: bool,
    /// Update lines printed per batch at most.
    pub max_lines_per_batch: usize,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            enabled: true,
            max_lines_per_batch: 12,
        }
    }
}

/// `[sinks.jsonl]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonlConfig {
    /// File to write (truncated at start).
    pub path: PathBuf,
}

/// `[dataflows]`: which run, and each one's own settings (`[dataflows.<name>]`, parsed by the
/// dataflow itself).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DataflowsConfig {
    /// Names of the dataflows to run (see `chainflow list`).
    pub enabled: Vec<String>,
    /// Per dataflow name, its settings table.
    #[serde(flatten)]
    pub settings: std::collections::BTreeMap<String, toml::Value>,
}

impl Default for DataflowsConfig {
    fn default() -> Self {
        DataflowsConfig {
            enabled: crate::dataflows::registry()
                .iter()
                .filter(|d| d.enabled_by_default())
                .map(|d| d.name().to_string())
                .collect(),
            settings: std::collections::BTreeMap::new(),
        }
    }
}

impl DataflowsConfig {
    /// The settings of dataflow `name` (an empty table when it has none).
    pub fn settings_of(&self, name: &str) -> toml::Table {
        match self.settings.get(name) {
            Some(toml::Value::Table(t)) => t.clone(),
            _ => toml::Table::new(),
        }
    }

    /// The dataflows to run, each with its settings.
    pub fn configured(&self) -> Result<Vec<&'static dyn Dataflow>, ConfigError> {
        self.enabled
            .iter()
            .map(
                |name| match crate::dataflows::configured(name, &self.settings_of(name)) {
                    Some(Ok(df)) => Ok(df),
                    Some(Err(e)) => Err(ConfigError::Key {
                        key: format!(
                            "dataflows.{}{}",
                            e.dataflow,
                            if e.key.is_empty() {
                                String::new()
                            } else {
                                format!(".{}", e.key)
                            }
                        ),
                        reason: e.reason,
                    }),
                    None => Err(unknown_dataflow("dataflows.enabled", name)),
                },
            )
            .collect()
    }
}

fn unknown_dataflow(key: &str, name: &str) -> ConfigError {
    let known: Vec<_> = crate::dataflows::registry()
        .iter()
        .map(|d| d.name())
        .collect();
    ConfigError::Invalid {
        key: key.into(),
        reason: format!("unknown dataflow '{name}', known: {}", known.join(", ")),
    }
}

/// Prefix of override variables.
pub const ENV_PREFIX: &str = "CHAINFLOW_";

impl Config {
    /// Reads `path` (or only defaults when `None`), then applies overrides from the process
    /// environment, then validates.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p).map_err(|e| ConfigError::Read {
                path: p.to_path_buf(),
                reason: e.to_string(),
            })?,
            None => String::new(),
        };
        Config::from_toml_str(&text, std::env::vars())
    }

    /// Parses `text`, applies the overrides among `env` and validates.
    pub fn from_toml_str<I>(text: &str, env: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::Syntax(e.to_string()))?;
        // A dataflow's settings live under [dataflows.<name>].
        if let Some(name) = table
            .keys()
            .find(|k| crate::dataflows::find(k).is_some() && k.as_str() != "dataflows")
        {
            return Err(ConfigError::Key {
                key: name.clone(),
                reason: format!(
                    "a dataflow's settings go under [dataflows.{name}] (and [dataflows.{name}.<table>])"
                ),
            });
        }
        for (name, value) in env {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if !rest.contains("__") {
                continue;
            }
            let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
            set_path(&mut table, &path, parse_env_value(&value)).map_err(|reason| {
                ConfigError::Key {
                    key: path.join("."),
                    reason: format!("cannot apply {name}: {reason}"),
                }
            })?;
        }
        let config: Config =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
                let key = e.path().to_string();
                ConfigError::Key {
                    key,
                    reason: e.into_inner().message().to_string(),
                }
            })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values that types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.devnet
            .validate()
            .map_err(|(key, reason)| ConfigError::Invalid { key, reason })?;
        if let Some(rollup) = &self.rollup_devnet {
            rollup
                .validate()
                .map_err(|(key, reason)| ConfigError::Invalid { key, reason })?;
        }
        for (i, chain) in self.chains.iter().enumerate() {
            chain
                .validate(i)
                .map_err(|(key, reason)| ConfigError::Invalid { key, reason })?;
        }
        if self.nats.is_some() && !self.chains.is_empty() {
            return Err(ConfigError::Invalid {
                key: "nats".into(),
                reason: "NATS ingress and [[chains]] are exclusive: publish the chains with `chainflow publish-heads` and let `run` read the stream".into(),
            });
        }
        for name in &self.dataflows.enabled {
            if crate::dataflows::find(name).is_none() {
                return Err(unknown_dataflow("dataflows.enabled", name));
            }
        }
        for (name, value) in &self.dataflows.settings {
            let key = format!("dataflows.{name}");
            if crate::dataflows::find(name).is_none() {
                return Err(unknown_dataflow(&key, name));
            }
            if !value.is_table() {
                return Err(ConfigError::Invalid {
                    key,
                    reason: "must be a table of the dataflow's settings".into(),
                });
            }
        }
        // Each dataflow checks its own settings.
        for name in self.dataflows.settings.keys() {
            if let Some(Err(e)) =
                crate::dataflows::configured(name, &self.dataflows.settings_of(name))
            {
                return Err(ConfigError::Key {
                    key: format!(
                        "dataflows.{}{}",
                        e.dataflow,
                        if e.key.is_empty() {
                            String::new()
                        } else {
                            format!(".{}", e.key)
                        }
                    ),
                    reason: e.reason,
                });
            }
        }
        let outputs: Vec<&str> = crate::dataflows::registry()
            .iter()
            .flat_map(|d| d.outputs())
            .map(|o| o.name)
            .collect();
        for (output, sinks) in &self.outputs {
            if !outputs.contains(&output.as_str()) {
                return Err(ConfigError::Invalid {
                    key: format!("outputs.{output}"),
                    reason: format!("unknown output, known: {}", outputs.join(", ")),
                });
            }
            if let Some(bad) = sinks.iter().find(|s| !SINK_NAMES.contains(&s.as_str())) {
                return Err(ConfigError::Invalid {
                    key: format!("outputs.{output}"),
                    reason: format!("unknown sink '{bad}', known: {}", SINK_NAMES.join(", ")),
                });
            }
        }
        if let Some(pg) = &self.sinks.postgres
            && let Err(e) = crate::sinks::postgres::migrate::check_identifier(&pg.schema)
        {
            return Err(ConfigError::Invalid {
                key: "sinks.postgres.schema".into(),
                reason: e.to_string(),
            });
        }
        if self.engine.blocks_per_epoch == 0 {
            return Err(ConfigError::Invalid {
                key: "engine.blocks_per_epoch".into(),
                reason: "must be at least 1".into(),
            });
        }
        if self.engine.channel_capacity == 0 {
            return Err(ConfigError::Invalid {
                key: "engine.channel_capacity".into(),
                reason: "must be at least 1".into(),
            });
        }
        if self.engine.max_inflight_epochs == 0 {
            return Err(ConfigError::Invalid {
                key: "engine.max_inflight_epochs".into(),
                reason: "must be at least 1".into(),
            });
        }
        Ok(())
    }
}

fn parse_env_value(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_string())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    match path {
        [] => Err("empty key".into()),
        [last] => {
            table.insert(last.clone(), value);
            Ok(())
        }
        [first, rest @ ..] => {
            let entry = table
                .entry(first.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(t) => set_path(t, rest, value),
                _ => Err(format!("'{first}' is not a table")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_str(text, std::iter::empty())
    }

    #[test]
    fn empty_config_gives_defaults() {
        assert_eq!(parse("").unwrap(), Config::default());
    }

    #[test]
    fn unknown_key_is_named() {
        let err = parse("[devnet]\nseeed = 1\n").unwrap_err().to_string();
        assert!(
            err.contains("devnet.seeed") || err.contains("seeed"),
            "{err}"
        );
        assert!(err.contains("unknown field"), "{err}");
        let err = parse("[nope]\n").unwrap_err().to_string();
        assert!(err.contains("nope"), "{err}");
    }

    #[test]
    fn bad_value_is_named() {
        let err = parse("[devnet]\nseed = \"x\"\n").unwrap_err().to_string();
        assert!(err.contains("devnet.seed"), "{err}");
        let err = parse("[devnet]\nreorg_rate = 2.0\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("devnet.reorg_rate"), "{err}");
        let err = parse("[dataflows]\nenabled = [\"gas_feez\"]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("gas_feez"), "{err}");
        let err = parse("[devnet\n").unwrap_err().to_string();
        assert!(err.contains("TOML"), "{err}");
    }

    #[test]
    fn dataflow_settings_are_the_dataflows_own() {
        let c = parse("[dataflows]\nenabled = [\"taiko\"]\n[dataflows.taiko]\nl1_chain_id = 5\n")
            .unwrap();
        let dfs = c.dataflows.configured().unwrap();
        assert_eq!(dfs.len(), 1);
        // The dataflow names its own bad key.
        let err = parse("[dataflows.taiko]\nl1_chain_idd = 5\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("dataflows.taiko.l1_chain_idd"), "{err}");
        // A dataflow without settings refuses them.
        let err = parse("[dataflows.gas_fees]\nx = 1\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("dataflows.gas_fees.x") && err.contains("no settings"),
            "{err}"
        );
        let err = parse("[dataflows.nope]\nx = 1\n").unwrap_err().to_string();
        assert!(err.contains("unknown dataflow 'nope'"), "{err}");
        // The old place says where the settings went.
        let err = parse("[taiko]\nl1_chain_id = 5\n").unwrap_err().to_string();
        assert!(err.contains("[dataflows.taiko]"), "{err}");
        // Environment overrides reach them.
        let env = vec![(
            "CHAINFLOW_DATAFLOWS__TAIKO__L2_CHAIN_ID".to_string(),
            "7".to_string(),
        )];
        let c = Config::from_toml_str("", env).unwrap();
        assert_eq!(
            c.dataflows.settings_of("taiko")["l2_chain_id"].as_integer(),
            Some(7)
        );
    }

    #[test]
    fn the_sinks_delivery_keys_sit_in_their_tables() {
        let c =
            parse("[sinks.clickhouse]\nbatch_ms = 100\n[sinks.postgres]\nattempts = 2\n").unwrap();
        let (ch, pg) = (c.sinks.clickhouse.unwrap(), c.sinks.postgres.unwrap());
        assert_eq!(
            (ch.delivery.batch_ms, ch.delivery.batch_rows),
            (100, 100_000)
        );
        assert_eq!((pg.delivery.attempts, pg.delivery.batch_ms), (2, 200));
        let env = vec![(
            "CHAINFLOW_SINKS__POSTGRES__BATCH_ROWS".to_string(),
            "5".to_string(),
        )];
        let c = Config::from_toml_str("[sinks.postgres]\n", env).unwrap();
        assert_eq!(c.sinks.postgres.unwrap().delivery.batch_rows, 5);
        let err = parse("[sinks.postgres]\nbatch_msx = 1\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("sinks.postgres") && err.contains("batch_msx"),
            "{err}"
        );
        let err = parse("[sinks.clickhouse]\nbatch_ms = \"soon\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("sinks.clickhouse") && err.contains("batch_ms"),
            "{err}"
        );
    }

    #[test]
    fn env_overrides_apply_and_unknown_env_keys_fail() {
        let env = vec![
            ("CHAINFLOW_DEVNET__SEED".to_string(), "9".to_string()),
            (
                "CHAINFLOW_SINKS__JSONL__PATH".to_string(),
                "out.jsonl".to_string(),
            ),
            (
                "CHAINFLOW_LOG".to_string(),
                "ignored: no double underscore".to_string(),
            ),
        ];
        let c = Config::from_toml_str("[devnet]\nseed = 1\n", env).unwrap();
        assert_eq!(c.devnet.seed, 9);
        assert_eq!(c.sinks.jsonl.unwrap().path, PathBuf::from("out.jsonl"));
        let env = vec![("CHAINFLOW_DEVNET__SEEDS".to_string(), "9".to_string())];
        let err = Config::from_toml_str("", env).unwrap_err().to_string();
        assert!(err.contains("devnet.seeds"), "{err}");
    }
}
