//! `gaia jobs prune` and `gaia assets url` end to end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

fn gaia(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gaia"))
        .args(args)
        .current_dir(dir)
        .env_remove("GAIA_CLIENT_ID")
        .env_remove("GAIA_DATABASE_URL")
        .env_remove("GAIA_BLOBS_URL")
        .env_remove("GAIA_PATH")
        .env_remove("GAIA_CONFIG")
        .output()
        .unwrap()
}

fn json(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn prune_deletes_old_finished_jobs_and_keeps_their_assets() {
    let dir = tempfile::tempdir().unwrap();
    let made = json(&gaia(
        dir.path(),
        &["generate", "image", "moss", "--size", "32x32", "--json"],
    ));
    let asset_id = made["assets"][0]["asset"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let kept = json(&gaia(
        dir.path(),
        &["jobs", "prune", "--older-than", "1d", "--json"],
    ));
    assert_eq!(kept, serde_json::json!({ "pruned": 0 }));
    let pruned = json(&gaia(
        dir.path(),
        &["jobs", "prune", "--older-than", "0s", "--json"],
    ));
    assert_eq!(pruned, serde_json::json!({ "pruned": 1 }));

    let jobs = json(&gaia(dir.path(), &["jobs", "list", "--json"]));
    assert_eq!(jobs["items"].as_array().unwrap().len(), 0);
    let asset = json(&gaia(dir.path(), &["assets", "show", &asset_id, "--json"]));
    assert!(
        asset.to_string().contains(&asset_id),
        "the asset went: {asset}"
    );

    let text = gaia(dir.path(), &["jobs", "prune", "--older-than", "0s"]);
    assert_eq!(
        String::from_utf8_lossy(&text.stdout),
        "pruned 0 finished jobs\n"
    );
    let refused = gaia(dir.path(), &["jobs", "prune", "--older-than", "3w"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("s, m, h or d"));
}

#[test]
fn file_blobs_have_no_download_urls() {
    let dir = tempfile::tempdir().unwrap();
    let made = json(&gaia(
        dir.path(),
        &["generate", "image", "moss", "--size", "32x32", "--json"],
    ));
    let asset_id = made["assets"][0]["asset"]["id"].as_str().unwrap();
    let refused = gaia(dir.path(), &["assets", "url", asset_id, "--ttl", "10m"]);
    assert_eq!(refused.status.code(), Some(1), "not invalid_request");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("error[invalid_request]") && stderr.contains("blobs"),
        "{stderr}"
    );
}
