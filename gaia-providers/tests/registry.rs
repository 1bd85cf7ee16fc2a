//! Which providers a configuration and an environment enable.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use gaia_core::EngineConfig;

fn names(config: &EngineConfig, env: &HashMap<&str, &str>) -> Vec<String> {
    let lookup = |name: &str| env.get(name).map(|value| (*value).to_owned());
    gaia_providers::from_config_with_env(config, &lookup)
        .iter()
        .map(|provider| provider.name().to_owned())
        .collect()
}

#[test]
fn every_remote_provider_registers_from_its_key() {
    let keys = HashMap::from([
        ("OPENAI_API_KEY", "sk-test"),
        ("STABILITY_API_KEY", "sk-test"),
        ("REPLICATE_API_TOKEN", "r8-test"),
        ("MESHY_API_KEY", "msy-test"),
        ("FAL_KEY", "fal-test"),
        ("ELEVENLABS_API_KEY", "el-test"),
    ]);
    let mut found = names(&EngineConfig::default(), &keys);
    assert_eq!(
        found.pop().as_deref(),
        Some("procedural"),
        "procedural comes last"
    );
    found.sort();
    assert_eq!(
        found,
        [
            "elevenlabs",
            "fal",
            "meshy",
            "openai",
            "replicate",
            "stability"
        ]
    );
}

#[test]
fn without_keys_only_the_offline_provider_runs() {
    assert_eq!(
        names(&EngineConfig::default(), &HashMap::new()),
        ["procedural"]
    );
    let blank = HashMap::from([("OPENAI_API_KEY", "  ")]);
    assert_eq!(
        names(&EngineConfig::default(), &blank),
        ["procedural"],
        "a blank key is no key"
    );
}

#[test]
fn a_disabled_provider_stays_out_even_with_a_key() {
    let config =
        EngineConfig::from_json(r#"{"providers": {"openai": {"enabled": false}}}"#).unwrap();
    let keys = HashMap::from([("OPENAI_API_KEY", "sk-test")]);
    assert_eq!(names(&config, &keys), ["procedural"]);
}
