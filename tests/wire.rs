//! The wire fixtures in `tests/wire/` round-trip through the Rust types
//! unchanged, so every binding that loads them speaks the same format.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use gaia::{
    Asset, Budget, CostReport, EngineConfig, ErrorCode, Event, ImportRequest, Job, JobError, Page,
    Request, ScoredAsset, UsageSummary,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wire");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// Parses a fixture as `T`, writes it back and compares the JSON values.
fn round_trip<T: Serialize + DeserializeOwned>(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let original: serde_json::Value = serde_json::from_str(&text).unwrap();
    let parsed: T = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
    let written = serde_json::to_value(&parsed).unwrap();
    assert_eq!(
        written,
        original,
        "{} changed in a round trip",
        path.display()
    );
}

#[test]
fn every_fixture_round_trips() {
    let files = fixtures();
    assert!(files.len() >= 25, "fixtures missing: {files:?}");
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        match name.split('_').next().unwrap() {
            "request" => round_trip::<Request>(&path),
            "job" => round_trip::<Job>(&path),
            "asset" => round_trip::<Asset>(&path),
            "event" => round_trip::<Event>(&path),
            "page" => round_trip::<Page<Job>>(&path),
            "budget.json" => round_trip::<Budget>(&path),
            "config.json" => round_trip::<EngineConfig>(&path),
            "error.json" => round_trip::<JobError>(&path),
            "error" => {} // error_codes.json, checked below
            "search" => round_trip::<Vec<ScoredAsset>>(&path),
            "usage" => round_trip::<UsageSummary>(&path),
            "costs" => round_trip::<CostReport>(&path),
            "import" => round_trip::<ImportRequest>(&path),
            other => panic!("fixture {name} has no type for prefix {other:?}"),
        }
    }
}

#[test]
fn every_event_type_has_a_fixture() {
    let names: Vec<String> = fixtures()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for event in [
        "job_queued",
        "job_started",
        "job_progress",
        "job_log",
        "job_succeeded",
        "job_failed",
        "job_canceled",
        "asset_created",
        "cost_recorded",
        "budget_exceeded",
        "events_lost",
    ] {
        assert!(
            names.contains(&format!("event_{event}.json")),
            "no fixture for {event}"
        );
    }
    for kind in ["image", "audio", "video", "model", "document"] {
        assert!(
            names.contains(&format!("asset_{kind}.json")),
            "no fixture for asset {kind}"
        );
    }
    for kind in ["image", "audio", "video", "model", "derive"] {
        assert!(
            names.contains(&format!("request_{kind}.json")),
            "no fixture for request {kind}"
        );
    }
}

#[test]
fn requests_are_valid_and_validated() {
    for path in fixtures()
        .iter()
        .filter(|p| p.to_string_lossy().contains("request_"))
    {
        let text = std::fs::read_to_string(path).unwrap();
        Request::from_json(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

#[test]
fn error_codes_match_the_c_abi_numbers() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wire/error_codes.json");
    let codes: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(codes.len(), ErrorCode::ALL.len());
    for entry in codes {
        let code: ErrorCode = serde_json::from_value(entry["code"].clone()).unwrap();
        assert_eq!(
            i64::from(code.status()),
            entry["status"].as_i64().unwrap(),
            "{code}"
        );
    }
}
