//! The `gaia` program end to end: real processes on a temporary folder.
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

fn failure(output: &Output) -> (i32, String) {
    assert!(
        !output.status.success(),
        "expected a failure: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    (
        output.status.code().unwrap(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn generates_a_texture_and_lists_exports_and_costs_it() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "generate",
        "image",
        "mossy cobblestone",
        "--size",
        "64x32",
        "--tileable",
        "--seed",
        "7",
        "--out",
        "out/",
        "--json",
    ];
    let result = json(&gaia(dir.path(), &args));
    let asset = &result["assets"][0]["asset"];
    assert_eq!(asset["type"], "image");
    assert_eq!(
        (asset["width"].as_u64(), asset["height"].as_u64()),
        (Some(64), Some(32))
    );
    assert_eq!(asset["tileable"], true);
    assert_eq!(asset["client_id"], "local");
    let file = dir
        .path()
        .join(result["assets"][0]["path"].as_str().unwrap());
    let decoded = image::open(&file).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (64, 32));
    assert!(
        dir.path().join(".gaia/gaia.db").exists(),
        "the default store is .gaia/"
    );

    let id = asset["id"].as_str().unwrap();
    let listed = json(&gaia(dir.path(), &["assets", "list", "--json"]));
    assert_eq!(listed["items"][0]["id"], id);
    assert!(listed["next_cursor"].is_null());
    let shown = json(&gaia(dir.path(), &["assets", "show", id, "--json"]));
    assert_eq!(shown["sha256"], asset["sha256"]);
    let exported = dir.path().join("copy.png");
    json(&gaia(
        dir.path(),
        &[
            "assets",
            "export",
            id,
            "--out",
            exported.to_str().unwrap(),
            "--json",
        ],
    ));
    assert_eq!(
        std::fs::read(&exported).unwrap(),
        std::fs::read(&file).unwrap()
    );

    let jobs = json(&gaia(dir.path(), &["jobs", "list", "--json"]));
    assert_eq!(jobs["items"][0]["status"], "succeeded");
    let stats = json(&gaia(dir.path(), &["jobs", "stats", "--json"]));
    assert!(
        stats["by_status"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["status"] == "succeeded" && s["count"] == 1)
    );
    let costs = json(&gaia(dir.path(), &["costs", "--json"]));
    assert_eq!(costs["total_micros"], 0);
    assert_eq!(costs["entries"], 1);

    // Another client sees nothing.
    let other = json(&gaia(
        dir.path(),
        &["assets", "list", "--client", "someone-else", "--json"],
    ));
    assert!(other["items"].as_array().unwrap().is_empty());
    json(&gaia(dir.path(), &["assets", "delete", id, "--json"]));
    let (code, stderr) = failure(&gaia(dir.path(), &["assets", "show", id]));
    assert!(stderr.contains("error[not_found]"), "{stderr}");
    assert_eq!(code, 2);
}

/// `--loop` makes a seamless sound effect, offline.
#[test]
fn generates_a_looping_sound_effect() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "generate",
        "audio",
        "engine rumble",
        "--loop",
        "--duration",
        "2",
        "--seed",
        "4",
        "--json",
    ];
    let result = json(&gaia(dir.path(), &args));
    let asset = &result["assets"][0]["asset"];
    assert_eq!(asset["type"], "audio");
    assert_eq!(asset["metadata"]["loop"], true);
    let duration = asset["duration_s"].as_f64().unwrap_or_default();
    assert!((duration - 2.0).abs() < 1e-3, "{asset}");
}

#[test]
fn queues_without_waiting_then_watch_runs_it() {
    let dir = tempfile::tempdir().unwrap();
    let job = json(&gaia(
        dir.path(),
        &[
            "generate",
            "image",
            "lava",
            "--size",
            "32x32",
            "--no-wait",
            "--json",
        ],
    ));
    assert_eq!(job["status"], "queued");
    let id = job["id"].as_str().unwrap();
    let watched = gaia(dir.path(), &["jobs", "watch", id, "--json"]);
    assert!(
        watched.status.success(),
        "{}",
        String::from_utf8_lossy(&watched.stderr)
    );
    // JSON Lines: one job per line as it changed, the last one ended.
    let states: Vec<serde_json::Value> = String::from_utf8_lossy(&watched.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(states.last().unwrap()["status"], "succeeded", "{states:?}");
    let shown = json(&gaia(dir.path(), &["jobs", "show", id, "--json"]));
    assert_eq!(shown["job"]["status"], "succeeded");
    assert_eq!(shown["job"]["asset_ids"].as_array().unwrap().len(), 1);

    // A job that did not succeed fails the watch with its error.
    let queued = json(&gaia(
        dir.path(),
        &["generate", "image", "sand", "--no-wait", "--json"],
    ));
    let id = queued["id"].as_str().unwrap();
    json(&gaia(dir.path(), &["jobs", "cancel", id, "--json"]));
    let (_, stderr) = failure(&gaia(dir.path(), &["jobs", "watch", id]));
    assert!(stderr.contains("error[canceled]"), "{stderr}");
}

/// A config file's `path` holds unless `--path` is given.
#[test]
fn the_config_file_chooses_the_store_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gaia.json"), r#"{"path": "studio"}"#).unwrap();
    let config = ["--config", "gaia.json"];
    json(&gaia(
        dir.path(),
        &[&config[..], &["costs", "--json"]].concat(),
    ));
    assert!(dir.path().join("studio").is_dir());
    assert!(!dir.path().join(".gaia").exists());
    let flagged = [&config[..], &["--path", "other", "costs", "--json"]].concat();
    json(&gaia(dir.path(), &flagged));
    assert!(dir.path().join("other").is_dir());
}

#[test]
fn every_failure_exits_non_zero_with_its_code() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["generate", "image", "x", "--size", "12x"],
            "invalid_request",
        ),
        (
            &["generate", "image", "x", "--size", "0x16"],
            "invalid_request",
        ),
        (
            &["generate", "image", "x", "--size", "5000x16"],
            "invalid_request",
        ),
        (&["generate", "image", "   "], "invalid_request"),
        (
            &["generate", "image", "x", "--count", "9"],
            "invalid_request",
        ),
        (
            &["generate", "image", "x", "--provider", "nobody"],
            "invalid_request",
        ),
        (
            &[
                "generate",
                "image",
                "x",
                "--provider",
                "procedural",
                "--model",
                "nope",
            ],
            "invalid_request",
        ),
        (&["generate", "video", "campfire"], "no_provider"),
        (
            &["generate", "image", "x", "--client", "bad id"],
            "invalid_request",
        ),
        (
            &["generate", "image", "x", "--max-cost-micros", "-1"],
            "invalid_request",
        ),
        (
            &["jobs", "show", "019ab3c2-7f10-7a3e-9c41-5d2e8f6a1b20"],
            "not_found",
        ),
        (&["jobs", "show", "not-a-uuid"], "not_found"),
        (&["jobs", "list", "--status", "sleeping"], "invalid_request"),
        (&["jobs", "list", "--limit", "0"], "invalid_request"),
        (&["generate", "image", "x", "--loop"], "invalid_request"),
        (
            &["generate", "model", "x", "--voice", "george"],
            "invalid_request",
        ),
        (
            &["generate", "audio", "x", "--voice", "george"],
            "invalid_request",
        ),
        (
            &["generate", "audio", "x", "--mode", "speech", "--loop"],
            "invalid_request",
        ),
        // Offline, nothing speaks: the procedural provider makes effects only.
        (
            &["generate", "audio", "hello", "--mode", "speech"],
            "no_provider",
        ),
        (
            &["generate", "audio", "coin", "--prompt-influence", "2"],
            "invalid_request",
        ),
    ];
    for (args, code) in cases {
        let (status, stderr) = failure(&gaia(dir.path(), args));
        assert!(
            stderr.contains(&format!("error[{code}]")),
            "{args:?}: {stderr}"
        );
        assert_ne!(status, 0);
    }
    // What the argument parser refuses is `invalid_request` too, with the
    // same exit status, in JSON with --json.
    let (invalid, _) = failure(&gaia(dir.path(), &["jobs", "list", "--limit", "0"]));
    for args in [
        &["generate", "image", "x", "--bogus"][..],
        &["generate", "image", "x", "--seed", "-1"],
        &["jobs"],
    ] {
        let (status, stderr) = failure(&gaia(dir.path(), args));
        assert!(
            stderr.contains("error[invalid_request]"),
            "{args:?}: {stderr}"
        );
        assert_eq!(status, invalid, "{args:?}");
    }
    let (status, stderr) = failure(&gaia(
        dir.path(),
        &["generate", "image", "x", "--bogus", "--json"],
    ));
    let error: serde_json::Value = serde_json::from_str(stderr.trim()).unwrap();
    assert_eq!(error["error"]["code"], "invalid_request", "{stderr}");
    assert_eq!(status, invalid);
    assert!(gaia(dir.path(), &["--help"]).status.success());
    let long = "a".repeat(4_001);
    let (_, stderr) = failure(&gaia(dir.path(), &["generate", "image", &long]));
    assert!(stderr.contains("spec.prompt"), "{stderr}");

    std::fs::write(dir.path().join("blocker"), b"a file").unwrap();
    let (_, stderr) = failure(&gaia(
        dir.path(),
        &["assets", "list", "--path", "blocker/store"],
    ));
    assert!(
        stderr.contains("error[storage_error]") && stderr.contains("blocker"),
        "{stderr}"
    );
}

#[test]
fn budgets_refuse_what_they_cannot_afford() {
    let dir = tempfile::tempdir().unwrap();
    let budget = json(&gaia(
        dir.path(),
        &[
            "budget",
            "set",
            "--limit-micros",
            "5000",
            "--period",
            "day",
            "--json",
        ],
    ));
    assert_eq!(budget[0]["limit_micros"], 5000);
    let listed = json(&gaia(dir.path(), &["budget", "list", "--json"]));
    assert_eq!(listed[0]["period"], "day");
    let providers = json(&gaia(dir.path(), &["providers", "--json"]));
    assert_eq!(providers[0]["name"], "procedural");
}

#[test]
fn provider_operations_need_their_arguments_and_a_provider() {
    let dir = tempfile::tempdir().unwrap();
    let made = json(&gaia(
        dir.path(),
        &[
            "generate",
            "image",
            "oak planks",
            "--size",
            "32x32",
            "--json",
        ],
    ));
    let id = made["assets"][0]["asset"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let (code, stderr) = failure(&gaia(
        dir.path(),
        &["assets", "derive", &id, "--op", "edit"],
    ));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("error[invalid_request]") && stderr.contains("--prompt"),
        "{stderr}"
    );

    // Only the offline provider is configured: nothing can upscale.
    let (code, stderr) = failure(&gaia(
        dir.path(),
        &[
            "assets", "derive", &id, "--op", "upscale", "--mode", "creative",
        ],
    ));
    assert_eq!(code, 5, "{stderr}");
    assert!(
        stderr.contains("error[no_provider]") && stderr.contains("upscale"),
        "{stderr}"
    );

    // A model cannot be retextured from an image.
    let (code, stderr) = failure(&gaia(
        dir.path(),
        &[
            "assets",
            "derive",
            &id,
            "--op",
            "retexture",
            "--prompt",
            "rusty",
        ],
    ));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("spec.parent_id") && stderr.contains("model"),
        "{stderr}"
    );
}
