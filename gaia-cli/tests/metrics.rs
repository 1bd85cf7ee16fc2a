//! `gaia worker --metrics`: a real worker process runs a job queued by
//! another process, and its `/metrics` page counts it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Longest the worker may take to run the job and refresh its gauges.
const PATIENCE: Duration = Duration::from_secs(60);

fn gaia(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gaia"));
    command
        .current_dir(dir)
        .env_remove("GAIA_CLIENT_ID")
        .env_remove("GAIA_DATABASE_URL")
        .env_remove("GAIA_BLOBS_URL")
        .env_remove("GAIA_PATH")
        .env_remove("GAIA_CONFIG")
        .env_remove("GAIA_NATS_URL");
    command
}

/// A loopback port free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The body of `GET /metrics`, or `None` while nothing answers.
fn scrape(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}

/// The value of the sample whose name and labels are exactly `series`.
fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// Stops the worker with SIGTERM, as a service manager would.
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

#[cfg(unix)]
#[test]
fn the_worker_serves_job_provider_and_money_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let worker = gaia(dir.path())
        .args(["worker", "--workers", "1", "--metrics"])
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _worker = Worker(worker);
    let queued = gaia(dir.path())
        .args(["generate", "image", "moss", "--size", "32x32"])
        .args(["--provider", "procedural", "--no-wait", "--json"])
        .output()
        .unwrap();
    assert!(
        queued.status.success(),
        "{}",
        String::from_utf8_lossy(&queued.stderr)
    );

    let started = Instant::now();
    let page = loop {
        let page = scrape(port).unwrap_or_default();
        if sample(&page, r#"gaia_jobs{status="succeeded"}"#) == Some(1.0) {
            break page;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the job never showed as succeeded:\n{page}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };

    for (series, value) in [
        (r#"gaia_jobs{status="queued"}"#, 0.0),
        (r#"gaia_jobs{status="running"}"#, 0.0),
        (r#"gaia_jobs{status="failed"}"#, 0.0),
        ("gaia_queue_depth", 0.0),
        (r#"gaia_provider_calls_total{provider="procedural"}"#, 1.0),
        (r#"gaia_spent_micros_total{provider="procedural"}"#, 0.0),
        ("gaia_claim_latency_seconds_count", 1.0),
    ] {
        assert_eq!(sample(&page, series), Some(value), "{series} in\n{page}");
    }
    assert!(
        !page.contains("gaia_provider_errors_total"),
        "an error was counted:\n{page}"
    );
    assert!(page.contains("# TYPE gaia_claim_latency_seconds histogram"));
    assert!(page.contains("# HELP gaia_jobs Jobs in the store per status"));
}
