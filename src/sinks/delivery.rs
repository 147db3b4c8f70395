//! The delivery settings the database sinks share (ClickHouse, PostgreSQL): where the
//! password is, how rows are batched, how often a write is tried. They are keys of the
//! sink's own table (`[sinks.clickhouse] batch_ms = 100`), read into a [`Delivery`] that the
//! sink's config holds with `#[serde(flatten)]`; each sink has its own defaults
//! ([`DeliveryDefaults`]).
//!
//! serde's `flatten` and `deny_unknown_fields` meet like this: the sink's config keeps
//! `deny_unknown_fields`, and serde refuses every key that neither the config nor its
//! flattened [`Delivery`] takes (`unknown field`, at the sink's table). A value of the wrong
//! type reaches [`Delivery`] through serde's buffer, which forgets the key's path, so
//! [`Delivery`] names the key in the error itself (`batch_ms: invalid type ...`).

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// The defaults of a sink's [`Delivery`].
pub trait DeliveryDefaults {
    /// Environment variable holding the password.
    const PASSWORD_ENV: &'static str;
    /// Rows buffered before a flush.
    const BATCH_ROWS: usize;
    /// Milliseconds after the first buffered row by which a flush happens.
    const BATCH_MS: u64;
    /// Attempts per write.
    const ATTEMPTS: u32;
}

/// How a database sink delivers its rows; `S` (the sink's config) gives the defaults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(bound(serialize = ""))]
pub struct Delivery<S> {
    /// Environment variable holding the password (never the password itself).
    pub password_env: String,
    /// Flush once this many rows are buffered.
    pub batch_rows: usize,
    /// Flush at the latest this long after the first buffered row (the latency cap).
    pub batch_ms: u64,
    /// Attempts per write (an insert, a transaction) before the pipeline stops.
    pub attempts: u32,
    #[serde(skip)]
    sink: PhantomData<fn() -> S>,
}

/// The keys of a [`Delivery`], in its sink's table.
const KEYS: &[&str] = &["password_env", "batch_rows", "batch_ms", "attempts"];

impl<S: DeliveryDefaults> Default for Delivery<S> {
    fn default() -> Self {
        Delivery {
            password_env: S::PASSWORD_ENV.into(),
            batch_rows: S::BATCH_ROWS,
            batch_ms: S::BATCH_MS,
            attempts: S::ATTEMPTS,
            sink: PhantomData,
        }
    }
}

impl<'de, S: DeliveryDefaults> Deserialize<'de> for Delivery<S> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Keys<S>(PhantomData<fn() -> S>);

        impl<'de, S: DeliveryDefaults> Visitor<'de> for Keys<S> {
            type Value = Delivery<S>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the delivery keys of a sink")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Delivery<S>, A::Error> {
                fn value<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
                    map: &mut A,
                    key: &str,
                ) -> Result<T, A::Error> {
                    map.next_value()
                        .map_err(|e| de::Error::custom(format_args!("{key}: {e}")))
                }
                let mut delivery = Delivery::<S>::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "password_env" => delivery.password_env = value(&mut map, &key)?,
                        "batch_rows" => delivery.batch_rows = value(&mut map, &key)?,
                        "batch_ms" => delivery.batch_ms = value(&mut map, &key)?,
                        "attempts" => delivery.attempts = value(&mut map, &key)?,
                        _ => return Err(de::Error::unknown_field(&key, KEYS)),
                    }
                }
                Ok(delivery)
            }
        }

        deserializer.deserialize_struct("Delivery", KEYS, Keys(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq, Eq)]
    struct Small;

    impl DeliveryDefaults for Small {
        const PASSWORD_ENV: &'static str = "PW";
        const BATCH_ROWS: usize = 10;
        const BATCH_MS: u64 = 20;
        const ATTEMPTS: u32 = 3;
    }

    #[derive(Debug, PartialEq, Eq, Deserialize)]
    #[serde(deny_unknown_fields, default)]
    struct Sink {
        url: String,
        #[serde(flatten)]
        delivery: Delivery<Small>,
    }

    impl Default for Sink {
        fn default() -> Self {
            Sink {
                url: "u".into(),
                delivery: Delivery::default(),
            }
        }
    }

    fn parse(text: &str) -> Result<Sink, String> {
        let value: toml::Value = toml::from_str(text).map_err(|e| e.to_string())?;
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            format!("{path}: {}", e.into_inner())
        })
    }

    #[test]
    fn the_keys_sit_beside_the_sinks_own_with_its_defaults() {
        let sink = parse("url = \"x\"\nbatch_ms = 7\n").unwrap();
        assert_eq!(sink.url, "x");
        assert_eq!((sink.delivery.batch_ms, sink.delivery.batch_rows), (7, 10));
        assert_eq!(sink.delivery.password_env, "PW");
        assert_eq!(parse("").unwrap(), Sink::default());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused_with_the_key_named() {
        let err = parse("batchms = 7\n").unwrap_err();
        assert!(err.contains("unknown field `batchms`"), "{err}");
        let err = parse("batch_ms = \"soon\"\n").unwrap_err();
        assert!(err.contains("batch_ms: invalid type"), "{err}");
        let err = parse("url = 3\n").unwrap_err();
        assert!(err.starts_with("url: invalid type"), "{err}");
    }
}
