//! Semantic search, similar reuse and usage records through the engine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::atomic::Ordering;

use gaia::prelude::*;
use gaia::{CostQuery, Reuse, SearchFilter, UsageKind};
use support::*;

const ADJECTIVES: [&str; 10] = [
    "mossy", "cracked", "golden", "rusty", "frozen", "burning", "ancient", "polished", "muddy",
    "glowing",
];
const MATERIALS: [&str; 10] = [
    "stone", "wooden", "iron", "marble", "crystal", "brick", "copper", "bone", "sand", "glass",
];
const OBJECTS: [&str; 10] = [
    "wall", "door", "floor", "sword", "shield", "barrel", "bridge", "tower", "chest", "lantern",
];

/// The 1,000 distinct three-word names of the vocabulary.
fn names() -> Vec<String> {
    let mut names = Vec::with_capacity(1_000);
    for adjective in ADJECTIVES {
        for material in MATERIALS {
            for object in OBJECTS {
                names.push(format!("{adjective} {material} {object}"));
            }
        }
    }
    names
}

#[tokio::test]
async fn a_query_finds_its_own_asset_first_among_a_thousand() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(dir.path(), 0, vec![]).await;
    let names = names();
    let mut ids = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let asset = import_png(&engine, distinct_png(2, 2, i as u32), name, &[]).await;
        ids.push(asset.id);
    }
    let everything = SearchFilter::client(client());
    for probe in [0, 1, 137, 500, 999] {
        let hits = engine
            .search_assets(&names[probe], &everything, 5)
            .await
            .unwrap();
        assert_eq!(hits.len(), 5);
        assert_eq!(hits[0].asset.id, ids[probe], "query {:?}", names[probe]);
        assert!(hits[0].score > hits[1].score, "{:?}", names[probe]);
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
    }
    // Word order and plurals do not hide an asset.
    let hits = engine
        .search_assets("walls of cracked stone", &everything, 1)
        .await
        .unwrap();
    assert_eq!(hits[0].asset.name.as_deref(), Some("cracked stone wall"));

    // A fresh engine loads the stored vectors and answers the same.
    engine.close().await.unwrap();
    let reopened = engine_with(dir.path(), 0, vec![]).await;
    let hits = reopened
        .search_assets(&names[42], &everything, 1)
        .await
        .unwrap();
    assert_eq!(hits[0].asset.id, ids[42]);
    reopened.close().await.unwrap();
}

#[tokio::test]
async fn search_sees_only_the_clients_assets_narrowed_by_campaign_and_type() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(dir.path(), 0, vec![]).await;
    let mine = import_png(&engine, distinct_png(2, 2, 1), "stone wall", &[]).await;
    let mut theirs = gaia::ImportRequest::new(ClientId::new("other").unwrap());
    theirs.name = Some("stone wall".into());
    engine
        .import(
            theirs,
            gaia::ImportSource::Bytes(distinct_png(2, 2, 2).into()),
        )
        .await
        .unwrap();
    let mut in_campaign = gaia::ImportRequest::new(client());
    in_campaign.name = Some("stone floor".into());
    in_campaign.campaign_id = Some("dungeon".into());
    let dungeon = engine
        .import(
            in_campaign,
            gaia::ImportSource::Bytes(distinct_png(2, 2, 3).into()),
        )
        .await
        .unwrap()
        .asset;

    let all = engine
        .search_assets("stone wall", &SearchFilter::client(client()), 10)
        .await
        .unwrap();
    let ids: Vec<_> = all.iter().map(|h| h.asset.id).collect();
    assert_eq!(ids, vec![mine.id, dungeon.id]);
    let campaign = SearchFilter {
        campaign_id: Some("dungeon".into()),
        ..SearchFilter::client(client())
    };
    let hits = engine
        .search_assets("stone wall", &campaign, 10)
        .await
        .unwrap();
    assert_eq!(
        hits.iter().map(|h| h.asset.id).collect::<Vec<_>>(),
        vec![dungeon.id]
    );
    let audio = SearchFilter {
        kind: Some(AssetKind::Audio),
        ..SearchFilter::client(client())
    };
    assert!(
        engine
            .search_assets("stone wall", &audio, 10)
            .await
            .unwrap()
            .is_empty()
    );

    engine.delete_asset(mine.id).await.unwrap();
    let after = engine
        .search_assets("stone wall", &SearchFilter::client(client()), 10)
        .await
        .unwrap();
    assert_eq!(
        after.iter().map(|h| h.asset.id).collect::<Vec<_>>(),
        vec![dungeon.id]
    );
    assert!(
        engine
            .search_assets(" ", &SearchFilter::client(client()), 1)
            .await
            .is_err()
    );
    assert!(
        engine
            .search_assets("x", &SearchFilter::client(client()), 0)
            .await
            .is_err()
    );
    engine.close().await.unwrap();
}

#[tokio::test]
async fn similar_reuse_charges_nothing_and_records_the_saving() {
    let dir = tempfile::tempdir().unwrap();
    let paid = Scripted::new("paid", Money::from_micros(40_000), vec![]);
    let engine = engine_with(dir.path(), 1, vec![paid.clone()]).await;
    let first = engine
        .generate(image_request("mossy stone wall"))
        .await
        .unwrap();
    assert_eq!(first.cost_micros, Money::from_micros(40_000));

    let mut similar = image_request("mossy stone walls");
    similar.reuse = Reuse::Similar(0.8);
    let job = engine.submit(similar).await.unwrap();
    let done = engine.wait(job.id).await.unwrap();
    assert_eq!(done.status, JobStatus::Succeeded);
    assert!(done.reused);
    assert_eq!(done.asset_ids, vec![first.id]);
    assert_eq!(done.cost_micros, Money::ZERO);
    let gaia::AssetSource::Generated { job_id, .. } = &first.source else {
        panic!("not generated")
    };
    assert_eq!(done.reused_from, Some(*job_id));
    assert_eq!(
        paid.calls.load(Ordering::SeqCst),
        1,
        "reuse paid no provider"
    );

    let mut unrelated = image_request("laser pistol");
    unrelated.reuse = Reuse::Similar(0.8);
    let fresh = engine.generate(unrelated).await.unwrap();
    assert_ne!(fresh.id, first.id);
    assert_eq!(
        paid.calls.load(Ordering::SeqCst),
        2,
        "nothing similar enough"
    );

    let mut elsewhere = image_request("mossy stone wall");
    elsewhere.client_id = ClientId::new("another-studio").unwrap();
    elsewhere.reuse = Reuse::Similar(0.5);
    let theirs = engine.generate(elsewhere).await.unwrap();
    assert_ne!(theirs.id, first.id, "reuse never crosses clients");
    assert_eq!(paid.calls.load(Ordering::SeqCst), 3);

    let query = CostQuery {
        client_id: Some(client()),
        ..CostQuery::default()
    };
    let report = engine.costs(&query).await.unwrap();
    assert_eq!(report.total_micros, Money::from_micros(80_000));
    assert_eq!(report.saved_micros, Money::from_micros(40_000));
    let usage = engine.asset_usage(first.id).await.unwrap();
    assert_eq!(usage.total, 1);
    assert_eq!(usage.saved_micros, Money::from_micros(40_000));
    assert_eq!(usage.by_client[0].client_id, client());
    engine.close().await.unwrap();
}

#[tokio::test]
async fn reads_and_exports_are_recorded_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(dir.path(), 0, vec![]).await;
    let asset = import_png(&engine, png(4, 4), "crate", &[]).await;
    engine.read_bytes(asset.id).await.unwrap();
    engine.read_bytes(asset.id).await.unwrap();
    let target = dir.path().join("crate.png");
    engine.export_asset(asset.id, &target).await.unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), png(4, 4));
    engine.flush_usage().await;
    let usage = engine.asset_usage(asset.id).await.unwrap();
    let count = |kind| usage.by_kind.iter().find(|k| k.kind == kind).unwrap().count;
    assert_eq!(
        (
            usage.total,
            count(UsageKind::Read),
            count(UsageKind::Export)
        ),
        (3, 2, 1)
    );
    assert_eq!(usage.by_client.len(), 1);

    // Close writes what is still queued.
    engine.read_bytes(asset.id).await.unwrap();
    engine.close().await.unwrap();
    let reopened = engine_with(dir.path(), 0, vec![]).await;
    assert_eq!(reopened.asset_usage(asset.id).await.unwrap().total, 4);
    reopened.close().await.unwrap();
}
