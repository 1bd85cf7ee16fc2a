//! Search benchmark: exact cosine over 100,000 in-memory vectors, the way
//! `Engine::search_assets` answers once a client's vectors are loaded.
//!
//! Run: `cargo bench --bench search`. Prints the median and p95 query time
//! (embedding the query included) for an unfiltered and a filtered search.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use gaia::{AssetId, AssetKind, HashedEmbedder, VectorFilter, VectorIndex};

const ASSETS: usize = 100_000;
const QUERIES: usize = 200;
const K: usize = 10;

const WORDS: [&str; 40] = [
    "mossy",
    "cracked",
    "golden",
    "rusty",
    "frozen",
    "burning",
    "ancient",
    "polished",
    "muddy",
    "glowing",
    "stone",
    "wooden",
    "iron",
    "marble",
    "crystal",
    "brick",
    "copper",
    "bone",
    "sand",
    "glass",
    "wall",
    "door",
    "floor",
    "sword",
    "shield",
    "barrel",
    "bridge",
    "tower",
    "chest",
    "lantern",
    "laser",
    "explosion",
    "footstep",
    "wind",
    "rain",
    "forest",
    "castle",
    "dungeon",
    "desert",
    "ocean",
];

/// A deterministic pseudo-random text of four words for row `i`.
fn text(i: usize) -> String {
    let mut state = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..4)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            WORDS[(state % WORDS.len() as u64) as usize]
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() {
    let embedder = HashedEmbedder::new();
    let started = Instant::now();
    let mut index = VectorIndex::new(HashedEmbedder::DIMENSIONS);
    for i in 0..ASSETS {
        let kind = if i % 4 == 0 {
            AssetKind::Audio
        } else {
            AssetKind::Image
        };
        let campaign = (i % 10 == 0).then_some("c1");
        index.insert(
            AssetId::new(),
            campaign,
            kind,
            &embedder.embed_one(&text(i)),
        );
    }
    println!(
        "built an index of {} vectors ({} dimensions) in {:.2?}",
        index.len(),
        HashedEmbedder::DIMENSIONS,
        started.elapsed()
    );
    let filters = [
        ("unfiltered", VectorFilter::default()),
        (
            "type=image",
            VectorFilter {
                campaign_id: None,
                kind: Some(AssetKind::Image),
            },
        ),
        (
            "campaign=c1",
            VectorFilter {
                campaign_id: Some("c1"),
                kind: None,
            },
        ),
    ];
    for (label, filter) in &filters {
        let mut times: Vec<Duration> = (0..QUERIES)
            .map(|q| {
                let query = text(ASSETS + q);
                let start = Instant::now();
                let vector = embedder.embed_one(&query);
                let hits = index.search(&vector, filter, K, f32::NEG_INFINITY);
                let elapsed = start.elapsed();
                assert_eq!(hits.len(), K);
                elapsed
            })
            .collect();
        times.sort();
        println!(
            "search {label:12} over {ASSETS} assets, k={K}: median {:.2?}, p95 {:.2?}",
            times[QUERIES / 2],
            times[QUERIES * 95 / 100]
        );
    }
}
