//! The Postgres store against the conformance suite (every case SQLite
//! runs), plus what is particular to Postgres: migrations shared by
//! processes, several stores (as several processes would) on one queue,
//! budgets and provider slots checked across them, and `LISTEN/NOTIFY`
//! wake-ups.
//!
//! Each test works in a schema of its own on the server named by
//! `GAIA_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`);
//! without a server the tests pass after printing that they were skipped,
//! unless `GAIA_REQUIRE_SERVICES=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use gaia_core::{
    AttemptStart, AttemptStarted, Budget, BudgetPeriod, ClientId, CostStore, Error, JobStore,
    Money, Store, Timestamp,
};
use gaia_store::PostgresStore;
use gaia_store::conformance::{self, T0};
use gaia_store::testing::ScratchSchema;
use sqlx::Connection;

/// A store in a fresh schema, and the schema (dropped with it).
async fn fresh_store() -> Option<(Arc<dyn Store>, ScratchSchema)> {
    let schema = ScratchSchema::create().await?;
    let store = PostgresStore::open(&schema.url()).await.unwrap();
    Some((Arc::new(store), schema))
}

/// The fixture of a conformance case, or — spliced into the generated test
/// body — the end of the test when no server answers (`return` leaves the
/// test function itself).
macro_rules! postgres_or_skip {
    () => {
        match fresh_store().await {
            Some(fixture) => std::future::ready(fixture),
            None => return Ok(()),
        }
    };
}

gaia_store::store_conformance_tests!(postgres_or_skip!());

/// A submit's claim starts the planned attempt in its own transaction, as on
/// SQLite.
#[tokio::test]
async fn a_submits_claim_starts_the_planned_attempt() {
    let Some((store, _schema)) = fresh_store().await else {
        return;
    };
    conformance::a_planned_attempt_starts_with_the_claim(store)
        .await
        .unwrap();
}

/// Two stores on one schema: what two worker processes hold.
async fn two_stores(schema: &ScratchSchema) -> (PostgresStore, PostgresStore) {
    let first = PostgresStore::open(&schema.url()).await.unwrap();
    let second = PostgresStore::open(&schema.url()).await.unwrap();
    (first, second)
}

fn lease() -> Timestamp {
    Timestamp::from_millis(T0.millis() + 30_000)
}

#[tokio::test]
async fn migrations_create_the_tables_once_for_concurrent_opens() {
    let Some(schema) = ScratchSchema::create().await else {
        return;
    };
    let url = schema.url();
    let opens = (0..4).map(|_| PostgresStore::open(&url));
    for store in futures::future::join_all(opens).await {
        assert_eq!(store.unwrap().next_due().await.unwrap(), None);
    }
    let mut conn = sqlx::PgConnection::connect(&schema.url()).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::TEXT FROM information_schema.tables WHERE table_schema = $1",
    )
    .bind(schema.name())
    .fetch_all(&mut conn)
    .await
    .unwrap();
    for table in [
        "assets",
        "blob_chunks",
        "blobs",
        "budgets",
        "cost_ledger",
        "embeddings",
        "job_logs",
        "jobs",
        "usage",
    ] {
        assert!(tables.iter().any(|t| t == table), "{table}: {tables:?}");
    }
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .unwrap()
        .count();
    assert_eq!(applied as usize, migrations, "each migration applied once");
}

#[tokio::test]
async fn reopening_keeps_the_records() {
    let Some(schema) = ScratchSchema::create().await else {
        return;
    };
    let store = PostgresStore::open(&schema.url()).await.unwrap();
    let job = conformance::new_job("c", 0).unwrap();
    store.insert_jobs(vec![job.clone()]).await.unwrap();
    store.close().await;
    let again = PostgresStore::open(&schema.url()).await.unwrap();
    assert_eq!(again.job(job.job.id).await.unwrap(), Some(job.job));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_of_several_processes_claim_each_job_once() {
    let Some(schema) = ScratchSchema::create().await else {
        return;
    };
    let (first, second) = two_stores(&schema).await;
    let jobs: Vec<_> = (0..200)
        .map(|_| conformance::new_job("c", 0).unwrap())
        .collect();
    first.insert_jobs(jobs).await.unwrap();
    let drain = |store: PostgresStore, worker: String| async move {
        let mut claimed = Vec::new();
        while let Some(job) = store.claim_job(&worker, T0, lease()).await.unwrap() {
            claimed.push(job.job.id);
        }
        claimed
    };
    let mut tasks = Vec::new();
    for n in 0..6 {
        let store = if n % 2 == 0 { &first } else { &second };
        tasks.push(tokio::spawn(drain(store.clone(), format!("w{n}"))));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!((all.len(), unique.len()), (200, 200));
}

/// Reservations made at once through two stores (two processes) never pass
/// the limit together: the client's advisory lock serializes the checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budgets_hold_across_stores() {
    let Some(schema) = ScratchSchema::create().await else {
        return;
    };
    let (first, second) = two_stores(&schema).await;
    first
        .set_budget(&Budget {
            client_id: ClientId::new("c").unwrap(),
            campaign_id: None,
            period: BudgetPeriod::Total,
            limit_micros: Money::from_micros(100),
        })
        .await
        .unwrap();
    let jobs: Vec<_> = (0..40)
        .map(|_| conformance::new_job("c", 0).unwrap())
        .collect();
    first.insert_jobs(jobs).await.unwrap();
    let mut tasks = Vec::new();
    for n in 0..40 {
        let store = if n % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let worker = format!("w{n}");
        let claimed = store
            .claim_job(&worker, T0, lease())
            .await
            .unwrap()
            .unwrap();
        tasks.push(tokio::spawn(async move {
            let attempt = AttemptStart {
                provider: "mock".to_owned(),
                model: "m1".to_owned(),
                estimate: Money::from_micros(10),
                reserve: Money::from_micros(10),
                now: T0,
                max_in_flight: None,
            };
            store.start_attempt(claimed.job.id, &worker, &attempt).await
        }));
    }
    let (mut reserved, mut refused) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(Some(AttemptStarted::Started)) => reserved += 1,
            Err(Error::BudgetExceeded(_)) => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((reserved, refused), (10, 30));
}

/// Call slots of a provider are counted across stores: with a limit of 3,
/// three of twenty simultaneous attempts start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_slots_hold_across_stores() {
    let Some(schema) = ScratchSchema::create().await else {
        return;
    };
    let (first, second) = two_stores(&schema).await;
    let jobs: Vec<_> = (0..20)
        .map(|_| conformance::new_job("c", 0).unwrap())
        .collect();
    first.insert_jobs(jobs).await.unwrap();
    let mut tasks = Vec::new();
    for n in 0..20 {
        let store = if n % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let worker = format!("w{n}");
        let claimed = store
            .claim_job(&worker, T0, lease())
            .await
            .unwrap()
            .unwrap();
        tasks.push(tokio::spawn(async move {
            let attempt = AttemptStart {
                provider: "mock".to_owned(),
                model: "m1".to_owned(),
                estimate: Money::ZERO,
                reserve: Money::ZERO,
                now: T0,
                max_in_flight: Some(3),
            };
            store.start_attempt(claimed.job.id, &worker, &attempt).await
        }));
    }
    let mut started = 0;
    for task in tasks {
        if task.await.unwrap().unwrap() == Some(AttemptStarted::Started) {
            started += 1;
        }
    }
    assert_eq!(started, 3);
}

/// A submit through one store wakes the listener of another at once.
#[tokio::test]
async fn submits_notify_listeners_of_other_stores() {
    let Some(schema) = ScratchSchema::create().await else {
        return;
    };
    let (submitter, worker) = two_stores(&schema).await;
    let mut wakeups = worker
        .queue_wakeups()
        .await
        .unwrap()
        .expect("a wake-up stream");
    submitter
        .insert_jobs(vec![conformance::new_job("c", 0).unwrap()])
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), wakeups.next())
        .await
        .expect("woken within 5 s")
        .expect("the stream goes on");

    // A release makes a job claimable again: it notifies too.
    let claimed = worker.claim_job("w", T0, lease()).await.unwrap().unwrap();
    worker.release_job(claimed.job.id, "w", T0).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), wakeups.next())
        .await
        .expect("woken by the release")
        .expect("the stream goes on");

    worker.close().await;
    let ended = tokio::time::timeout(Duration::from_secs(5), wakeups.next())
        .await
        .expect("the stream ends when its store closes");
    assert_eq!(ended, None);
}

/// Concurrent submits of one idempotency key through two stores yield one job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_holds_across_stores() {
    let Some(schema) = ScratchSchema::create().await else {
        return;
    };
    let (first, second) = two_stores(&schema).await;
    let mut request = conformance::image_request("c", "moss").unwrap();
    request.idempotency_key = Some("once".to_owned());
    let mut tasks = Vec::new();
    for n in 0..10 {
        let store = if n % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let new = conformance::job_for(request.clone());
        tasks.push(tokio::spawn(
            async move { store.insert_jobs(vec![new]).await },
        ));
    }
    let mut ids = HashSet::new();
    for task in tasks {
        let inserted = task.await.unwrap().unwrap();
        ids.insert(inserted[0].job.id);
    }
    assert_eq!(ids.len(), 1);
}

#[tokio::test]
async fn bad_urls_are_invalid_and_never_echo_a_password() {
    let error = PostgresStore::open("sqlite://x.db").await.unwrap_err();
    assert!(matches!(error, Error::InvalidRequest { ref field, .. } if field == "database"));
    // Nothing listens on port 1: the error names the server, not the password.
    let error = PostgresStore::open("postgres://u:hunter2@127.0.0.1:1/gaia")
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(message.contains("127.0.0.1:1"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

/// `max_connections` in the URL caps what one store opens: with 2, the
/// wake-up listener and one connection serve 20 concurrent calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_caps_the_pool() {
    let Some(schema) = ScratchSchema::create().await else {
        return;
    };
    let app = format!("gaia-cap-{}", schema.name());
    let url = format!("{}&application_name={app}&max_connections=2", schema.url());
    let store = PostgresStore::open(&url).await.unwrap();
    let _wakeups = store.queue_wakeups().await.unwrap();
    let jobs: Vec<_> = (0..20)
        .map(|_| conformance::new_job("c", 0).unwrap())
        .collect();
    store.insert_jobs(jobs).await.unwrap();
    let claims = (0..20).map(|n| {
        let store = store.clone();
        async move { store.claim_job(&format!("w{n}"), T0, lease()).await }
    });
    let counting = async {
        let mut admin = sqlx::PgConnection::connect(&gaia_store::testing::postgres_url())
            .await
            .unwrap();
        let mut most = 0_i64;
        for _ in 0..20 {
            let open: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1",
            )
            .bind(&app)
            .fetch_one(&mut admin)
            .await
            .unwrap();
            most = most.max(open);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        most
    };
    let (claimed, most) = tokio::join!(futures::future::join_all(claims), counting);
    assert!(
        claimed.iter().all(|c| matches!(c, Ok(Some(_)))),
        "{claimed:?}"
    );
    assert!((1..=2).contains(&most), "{most} connections open");
    store.close().await;
}
