//! The shipped example config parses, so it cannot rot.

use chainflow::config::Config;

#[test]
fn example_config_parses_and_matches_defaults() {
    let text = include_str!("../../examples/config.example.toml");
    let config = Config::from_toml_str(text, std::iter::empty())
        .expect("examples/config.example.toml parses");
    // The example documents the defaults: keep them in step.
    assert_eq!(config, Config::default());
}

#[test]
fn example_config_with_a_typo_names_the_key() {
    let text =
        include_str!("../../examples/config.example.toml").replace("reorg_rate", "reorg_rat");
    let err = Config::from_toml_str(&text, std::iter::empty())
        .unwrap_err()
        .to_string();
    assert!(err.contains("reorg_rat"), "{err}");
}

#[test]
fn the_taiko_example_parses_with_two_chains_and_the_taiko_dataflow() {
    let text = include_str!("../../examples/taiko.toml");
    let config =
        Config::from_toml_str(text, std::iter::empty()).expect("examples/taiko.toml parses");
    assert_eq!(config.chains.len(), 2);
    assert_eq!(config.dataflows.enabled, vec!["taiko".to_string()]);
    let taiko: chainflow::dataflows::taiko::TaikoConfig =
        chainflow::engine::dataflow::parse_settings(
            "taiko",
            &config.dataflows.settings_of("taiko"),
        )
        .expect("[dataflows.taiko] parses");
    assert_eq!((taiko.l1_chain_id, taiko.l2_chain_id), (1, 167_000));
    assert_eq!(
        taiko.contracts,
        chainflow::dataflows::taiko::events::Contracts::default()
    );
}
