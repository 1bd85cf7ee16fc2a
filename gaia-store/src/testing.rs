//! Helpers of the tests that need a Postgres server (this crate's and the
//! facade's). Not part of the API.
//!
//! The server is `GAIA_TEST_POSTGRES_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/test`. When it does not answer, a test
//! is skipped with a message, unless `GAIA_REQUIRE_SERVICES=1` (as in CI),
//! where it fails. Each test works in its own schema, dropped at the end.

use std::time::Duration;

use sqlx::{Connection, Executor, PgConnection};

/// The variable naming the test server.
pub const POSTGRES_URL_VAR: &str = "GAIA_TEST_POSTGRES_URL";

/// The test server when the variable is unset.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// How long a test waits for the server to answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The test server's URL.
pub fn postgres_url() -> String {
    std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

/// Whether missing services fail tests rather than skip them.
pub fn services_required() -> bool {
    std::env::var("GAIA_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// A schema of its own on the test server, dropped (with everything in it)
/// when this value drops.
#[derive(Debug)]
pub struct ScratchSchema {
    server: String,
    name: String,
}

impl ScratchSchema {
    /// Creates `gaia_test_<uuid>` on the test server. `None` (after printing
    /// why) when the server does not answer; panics instead when
    /// `GAIA_REQUIRE_SERVICES=1`.
    pub async fn create() -> Option<Self> {
        let server = postgres_url();
        let mut conn = match connect(&server).await {
            Ok(conn) => conn,
            Err(reason) if services_required() => {
                panic!(
                    "GAIA_REQUIRE_SERVICES=1 but PostgreSQL at {server} is unreachable: {reason}"
                )
            }
            Err(_) => {
                eprintln!("skipped: no PostgreSQL at {server} (set {POSTGRES_URL_VAR})");
                return None;
            }
        };
        let name = format!("gaia_test_{}", uuid::Uuid::now_v7().simple());
        if let Err(e) = conn.execute(&*format!("CREATE SCHEMA {name}")).await {
            panic!("cannot create schema {name} on {server}: {e}");
        }
        let _ = conn.close().await;
        Some(Self { server, name })
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A URL whose connections work in this schema (its `search_path`).
    pub fn url(&self) -> String {
        let separator = if self.server.contains('?') { '&' } else { '?' };
        format!(
            "{}{separator}options[search_path]={}",
            self.server, self.name
        )
    }
}

impl Drop for ScratchSchema {
    /// Drops the schema from a thread of its own (a destructor cannot
    /// await, and may run inside a runtime that must not block on itself).
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async {
                    if let Ok(mut conn) = connect(&server).await {
                        let _ = conn
                            .execute(&*format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                            .await;
                        let _ = conn.close().await;
                    }
                });
            }
        });
        let _ = dropped.join();
    }
}

async fn connect(url: &str) -> Result<PgConnection, String> {
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(url)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {CONNECT_TIMEOUT:?}")),
    }
}
