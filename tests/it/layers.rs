//! The layers point one way (ARCHITECTURE.md section 9):
//!
//! ```text
//!  model, telemetry             leaves
//!  abi  (model)                 protocol ABIs shared by a generator and a dataflow
//!  nats (model, telemetry)      JetStream conventions shared by ingress and egress
//!  engine (model, telemetry)    owns the contracts: Dataflow, Row, Sink, OutputBatch, SourceEvent
//!  sources (engine, abi, nats, model, telemetry)      never sinks or dataflows
//!  dataflows (engine, abi, model)                     never sources or sinks
//!  sinks (engine, nats, model, telemetry)             never sources or dataflows
//!  cli, config, lib.rs, main.rs: wire a run together, may use anything
//!  testing: the oracle check of a dataflow (runs the engine with a memory sink)
//! ```
//!
//! Every `crate::<module>` path in the code of a module (its `use` lines and inline paths,
//! outside comments and outside its `#[cfg(test)]` part: tests may reach anything) must name
//! its own layer or one it may use.

use std::path::{Path, PathBuf};

/// Each layer and the layers it may use besides itself.
const ALLOWED: &[(&str, &[&str])] = &[
    ("model", &[]),
    ("telemetry", &[]),
    ("abi", &["model"]),
    ("nats", &["model", "telemetry"]),
    ("engine", &["model", "telemetry"]),
    ("sources", &["engine", "abi", "nats", "model", "telemetry"]),
    ("dataflows", &["engine", "abi", "model"]),
    ("sinks", &["engine", "nats", "model", "telemetry"]),
];

/// The layers that may use every other (they wire a run together).
const TOP: &[&str] = &["cli", "config", "lib", "main", "testing"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The layer of a file: its first folder below `src/`, its stem for a file there, or
/// `dataflows` for the analysts' folder.
fn layer_of(root: &Path, file: &Path) -> String {
    if file.starts_with(root.join("dataflows")) {
        return "dataflows".into();
    }
    let rel = file.strip_prefix(root.join("src")).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// The code of `text` without comments and without the items marked `#[cfg(test)]` (the
/// item after the attribute, to its closing brace or semicolon).
fn code(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    // Inside a test item: the brace depth reached so far and whether it opened.
    let mut skipping: Option<(i64, bool)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some((depth, opened)) = skipping.as_mut() {
            for c in line.chars() {
                match c {
                    '{' => {
                        *depth += 1;
                        *opened = true;
                    }
                    '}' => *depth -= 1,
                    _ => {}
                }
            }
            let ended = (*opened && *depth <= 0) || (!*opened && trimmed.ends_with(';'));
            if ended {
                skipping = None;
            }
            continue;
        }
        if trimmed.starts_with("#[cfg(test)]") {
            skipping = Some((0, false));
            continue;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        let line = match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        };
        out.push((i + 1, line.to_string()));
    }
    out
}

/// The modules named by `crate::<module>` in `line`.
fn crate_paths(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().last();
        rest = &rest[at + "crate::".len()..];
        // `chainflow_crate::` or `other_crate::` are not this crate.
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            found.push(name);
        }
    }
    found
}

#[test]
fn the_layers_point_one_way() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    rust_files(&root.join("dataflows"), &mut files);
    files.sort();
    let mut wrong = Vec::new();
    let mut checked = 0;
    for file in &files {
        let layer = layer_of(root, file);
        if TOP.contains(&layer.as_str()) {
            continue;
        }
        let Some((_, allowed)) = ALLOWED.iter().find(|(l, _)| *l == layer) else {
            wrong.push(format!(
                "{}: layer '{layer}' is not in the list of layers (add it to tests/it/layers.rs)",
                file.display()
            ));
            continue;
        };
        checked += 1;
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in code(&text) {
            for target in crate_paths(&line) {
                if target != layer && !allowed.contains(&target.as_str()) {
                    wrong.push(format!(
                        "{}:{n}: {layer} uses crate::{target}: {}",
                        file.strip_prefix(root).unwrap().display(),
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(checked > 50, "only {checked} files checked");
    assert!(
        wrong.is_empty(),
        "{} uses against the layers:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn the_check_sees_a_forbidden_use() {
    let text = "use crate::engine::sink::Sink;\nuse crate::sources::devnet::Devnet;\n// crate::cli in a comment\n#[cfg(test)]\nmod tests {\n    fn f() {\n        crate::dataflows::registry();\n    }\n}\n#[cfg(test)]\nuse crate::config;\nfn after() { crate::sinks::memory(); }\n";
    let paths: Vec<String> = code(text)
        .iter()
        .flat_map(|(_, l)| crate_paths(l))
        .collect();
    assert_eq!(paths, vec!["engine", "sources", "sinks"]);
    assert!(crate_paths("x = other_crate::thing;").is_empty());
}
