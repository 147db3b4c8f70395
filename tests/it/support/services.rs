//! Where the services of the tests and benches listen: the first set of the environment
//! variables given, else what `make services` found (a `KEY=value` line of `.services/env`),
//! else the default. The benches include this file too (`benches/common/mod.rs`).

/// The first non-empty of the variables `vars`, else `key` in `.services/env`, else
/// `default()`.
pub fn service_url(vars: &[&str], key: &str, default: impl FnOnce() -> String) -> String {
    if let Some(url) = vars
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|url| !url.is_empty())
    {
        return url;
    }
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".services/env");
    std::fs::read_to_string(file)
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                .map(|s| s.trim().to_string())
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(default)
}
