//! `gaia worker --metrics ADDR`: the engine's metrics (`gaia::metrics`) in
//! the Prometheus text format at `http://ADDR/metrics`.

use std::net::SocketAddr;
use std::time::Duration;

use gaia::{Engine, Error, Result};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

/// How often the job gauges are read from the store (one aggregate query).
pub const REFRESH_EVERY: Duration = Duration::from_secs(5);

/// Histogram buckets of the claim latency, in seconds.
const CLAIM_LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
];

/// Installs the process-wide Prometheus recorder and its HTTP listener on
/// `addr` (bound before this returns, so a taken port is an error here).
pub fn serve(addr: SocketAddr) -> Result<()> {
    let refused = |e: metrics_exporter_prometheus::BuildError| {
        Error::invalid("--metrics", format!("cannot serve metrics on {addr}: {e}"))
    };
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets_for_metric(
            Matcher::Full(gaia::metrics::CLAIM_LATENCY.to_owned()),
            CLAIM_LATENCY_BUCKETS,
        )
        .map_err(refused)?
        .install()
        .map_err(refused)?;
    gaia::metrics::describe();
    Ok(())
}

/// Refreshes the job gauges every [`REFRESH_EVERY`] until the engine closes.
pub async fn refresh_job_gauges(engine: Engine) {
    while !engine.is_closed() {
        if let Err(e) = engine.refresh_job_metrics().await {
            if engine.is_closed() {
                return;
            }
            tracing::warn!(error = %e, "cannot refresh the job metrics");
        }
        tokio::time::sleep(REFRESH_EVERY).await;
    }
}
