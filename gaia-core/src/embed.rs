//! Text embeddings for semantic search and similar reuse.
//!
//! An [`Embedder`] turns text into a fixed-size, L2-normalized vector, so
//! that the dot product of two vectors is their cosine similarity. The
//! built-in [`HashedEmbedder`] needs no model weights; remote embedders
//! (OpenAI, …) implement the same trait.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;

use crate::asset::AssetKind;
use crate::id::AssetId;

use crate::error::Result;

/// Turns texts into normalized vectors.
#[async_trait]
pub trait Embedder: Send + Sync + 'static {
    /// The model name stored beside each vector: vectors of different models
    /// are never compared.
    fn model(&self) -> &str;

    /// The length of every vector.
    fn dimensions(&self) -> usize;

    /// One unit-length vector per text, in order (a text without features
    /// gets the zero vector).
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>>;
}

/// The built-in local embedder: hashed word, word-pair and character
/// trigram features in a fixed-size vector (the "hashing trick"), signed so
/// that collisions cancel rather than pile up, then normalized.
///
/// It knows spelling, not meaning: "stone wall" finds "stone walls" and
/// "wall of stone", not "masonry". Deterministic across runs and machines.
#[derive(Debug, Clone)]
pub struct HashedEmbedder {
    dimensions: usize,
}

impl HashedEmbedder {
    /// The model name of 256-dimension vectors.
    pub const MODEL: &'static str = "gaia-hashed-ngrams-v1";
    /// The default vector length.
    pub const DIMENSIONS: usize = 256;

    /// The default embedder.
    pub fn new() -> Self {
        Self {
            dimensions: Self::DIMENSIONS,
        }
    }

    /// The vector of one text, computed synchronously.
    pub fn embed_one(&self, text: &str) -> Vec<f32> {
        let mut vector = vec![0.0f32; self.dimensions];
        let words = words(text);
        for word in &words {
            self.add(&mut vector, &["w:", word], 1.0);
            let padded: Vec<char> = format!(" {word} ").chars().collect();
            for gram in padded.windows(3) {
                let gram: String = gram.iter().collect();
                self.add(&mut vector, &["c:", &gram], 0.5);
            }
        }
        for pair in words.windows(2) {
            self.add(&mut vector, &["p:", &pair[0], " ", &pair[1]], 0.7);
        }
        normalize(&mut vector);
        vector
    }

    /// Adds `weight` at the feature's hashed slot with the hash's sign.
    fn add(&self, vector: &mut [f32], feature: &[&str], weight: f32) {
        let hash = fnv1a(feature);
        let slot = (hash >> 1) as usize % self.dimensions;
        let sign = if hash & 1 == 0 { 1.0 } else { -1.0 };
        vector[slot] += sign * weight;
    }
}

impl Default for HashedEmbedder {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Embedder for HashedEmbedder {
    fn model(&self) -> &str {
        Self::MODEL
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        Ok(texts.iter().map(|t| self.embed_one(t)).collect())
    }
}

/// 64-bit FNV-1a over the parts: fast, and the same on every machine
/// (std's hasher is randomly seeded per process).
fn fnv1a(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in parts.iter().flat_map(|p| p.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    // Mix the high bits down: FNV's low bits alone cluster for short keys.
    hash ^ (hash >> 29)
}

/// Lowercased alphanumeric words, a trailing plural `s` dropped so that
/// "walls" and "wall" share their word feature.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let w = w.to_lowercase();
            match w.strip_suffix('s') {
                Some(stem) if stem.chars().count() >= 3 && !stem.ends_with('s') => stem.to_owned(),
                _ => w,
            }
        })
        .collect()
}

/// Scales a vector to unit length (the zero vector stays zero).
pub fn normalize(vector: &mut [f32]) {
    let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|v| *v /= norm);
    }
}

/// The dot product (cosine similarity of unit vectors).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Chunks of 8 independent sums let the compiler vectorize the loop.
    let mut sums = [0.0f32; 8];
    let chunks = a.chunks_exact(8).zip(b.chunks_exact(8));
    for (x, y) in chunks {
        for i in 0..8 {
            sums[i] += x[i] * y[i];
        }
    }
    let tail = a.len() - a.len() % 8;
    let rest: f32 = a[tail..]
        .iter()
        .zip(&b[tail.min(b.len())..])
        .map(|(x, y)| x * y)
        .sum();
    sums.iter().sum::<f32>() + rest
}

/// The text an asset is embedded from: its prompt, name and tags.
pub fn asset_text(prompt: Option<&str>, name: Option<&str>, tags: &[String]) -> String {
    let mut parts: Vec<&str> = Vec::new();
    parts.extend(prompt);
    // Names are often slugs of the prompt (`mossy-cobblestone`); words split on `-` anyway.
    parts.extend(name);
    parts.extend(tags.iter().map(String::as_str));
    parts.join(" ")
}

/// Little-endian `f32`s, the stored form of a vector.
pub fn to_le_bytes(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A vector from its stored form; `None` when the length is not a multiple of 4.
pub fn from_le_bytes(bytes: &[u8]) -> Option<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

/// Narrows a vector search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VectorFilter<'a> {
    /// Only this campaign.
    pub campaign_id: Option<&'a str>,
    /// Only this type.
    pub kind: Option<AssetKind>,
}

/// Vectors of one client's assets in memory, searched by exact cosine.
///
/// Rows live in parallel arrays (one flat `f32` buffer for the vectors) so a
/// query is one linear pass over contiguous memory; removal swaps the last
/// row into the hole.
#[derive(Debug, Clone)]
pub struct VectorIndex {
    dimensions: usize,
    ids: Vec<AssetId>,
    campaigns: Vec<Option<Arc<str>>>,
    kinds: Vec<AssetKind>,
    vectors: Vec<f32>,
    positions: HashMap<AssetId, usize>,
}

impl VectorIndex {
    /// An empty index of `dimensions`-long vectors.
    pub fn new(dimensions: usize) -> Self {
        Self {
            dimensions,
            ids: Vec::new(),
            campaigns: Vec::new(),
            kinds: Vec::new(),
            vectors: Vec::new(),
            positions: HashMap::new(),
        }
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Adds or replaces an asset's vector; a vector of the wrong length is ignored.
    pub fn insert(
        &mut self,
        asset_id: AssetId,
        campaign_id: Option<&str>,
        kind: AssetKind,
        vector: &[f32],
    ) {
        if vector.len() != self.dimensions {
            return;
        }
        self.remove(asset_id);
        self.positions.insert(asset_id, self.ids.len());
        self.ids.push(asset_id);
        self.campaigns.push(campaign_id.map(Arc::from));
        self.kinds.push(kind);
        self.vectors.extend_from_slice(vector);
    }

    /// Removes an asset's vector, if present.
    pub fn remove(&mut self, asset_id: AssetId) {
        let Some(row) = self.positions.remove(&asset_id) else {
            return;
        };
        let last = self.ids.len() - 1;
        self.ids.swap_remove(row);
        self.campaigns.swap_remove(row);
        self.kinds.swap_remove(row);
        let d = self.dimensions;
        if row != last {
            self.vectors.copy_within(last * d..(last + 1) * d, row * d);
            self.positions.insert(self.ids[row], row);
        }
        self.vectors.truncate(last * d);
    }

    /// The `k` best rows passing `filter` with a score of at least
    /// `min_score`, best first (ties: earlier insertion first).
    pub fn search(
        &self,
        query: &[f32],
        filter: &VectorFilter<'_>,
        k: usize,
        min_score: f32,
    ) -> Vec<(AssetId, f32)> {
        if k == 0 || query.len() != self.dimensions {
            return Vec::new();
        }
        let mut best: BinaryHeap<Reverse<Scored>> = BinaryHeap::with_capacity(k + 1);
        for (row, vector) in self.vectors.chunks_exact(self.dimensions).enumerate() {
            if !self.passes(row, filter) {
                continue;
            }
            let score = dot(query, vector);
            if score < min_score {
                continue;
            }
            if best.len() == k && best.peek().is_some_and(|Reverse(w)| w.score >= score) {
                continue;
            }
            best.push(Reverse(Scored { score, row }));
            if best.len() > k {
                best.pop();
            }
        }
        let mut found: Vec<Scored> = best.into_iter().map(|Reverse(s)| s).collect();
        found.sort_by(|a, b| b.cmp(a));
        found
            .into_iter()
            .map(|s| (self.ids[s.row], s.score))
            .collect()
    }

    fn passes(&self, row: usize, filter: &VectorFilter<'_>) -> bool {
        filter.kind.is_none_or(|kind| self.kinds[row] == kind)
            && filter
                .campaign_id
                .is_none_or(|c| self.campaigns[row].as_deref() == Some(c))
    }
}

/// A score and its row; ordered by score, then lower rows first.
#[derive(Debug, Clone, Copy)]
struct Scored {
    score: f32,
    row: usize,
}

impl PartialEq for Scored {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for Scored {}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scored {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.row.cmp(&self.row))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &str, b: &str) -> f32 {
        let e = HashedEmbedder::new();
        dot(&e.embed_one(a), &e.embed_one(b))
    }

    #[test]
    fn vectors_are_unit_length_and_deterministic() {
        let e = HashedEmbedder::new();
        let v = e.embed_one("Mossy cobblestone");
        assert_eq!(v.len(), HashedEmbedder::DIMENSIONS);
        assert!((dot(&v, &v) - 1.0).abs() < 1e-5);
        assert_eq!(v, e.embed_one("mossy  COBBLESTONE!"));
        assert!(e.embed_one("  ").iter().all(|x| *x == 0.0));
    }

    #[test]
    fn shared_words_score_higher_than_unrelated_text() {
        let near = cosine("stone wall", "old stone walls");
        let far = cosine("stone wall", "laser gun sound effect");
        assert!(near > 0.5, "{near}");
        assert!(far < 0.3, "{far}");
        assert!(near > far);
    }

    #[test]
    fn index_finds_the_best_rows_and_survives_removal() {
        let e = HashedEmbedder::new();
        let mut index = VectorIndex::new(HashedEmbedder::DIMENSIONS);
        let texts = ["stone wall", "wooden door", "laser gun", "stone floor"];
        let ids: Vec<AssetId> = texts.iter().map(|_| AssetId::new()).collect();
        for (i, (id, text)) in ids.iter().zip(texts).enumerate() {
            let kind = if i == 2 {
                AssetKind::Audio
            } else {
                AssetKind::Image
            };
            let campaign = (i == 3).then_some("floors");
            index.insert(*id, campaign, kind, &e.embed_one(text));
        }
        let query = e.embed_one("stone wall");
        let hits = index.search(&query, &VectorFilter::default(), 2, -1.0);
        assert_eq!(
            hits.iter().map(|h| h.0).collect::<Vec<_>>(),
            vec![ids[0], ids[3]]
        );
        let floors = VectorFilter {
            campaign_id: Some("floors"),
            kind: None,
        };
        assert_eq!(index.search(&query, &floors, 5, -1.0).len(), 1);
        let audio = VectorFilter {
            campaign_id: None,
            kind: Some(AssetKind::Audio),
        };
        assert_eq!(index.search(&query, &audio, 5, -1.0)[0].0, ids[2]);
        assert!(index.search(&query, &audio, 5, 0.9).is_empty());
        index.remove(ids[0]);
        assert_eq!(index.len(), 3);
        let hits = index.search(&query, &VectorFilter::default(), 1, -1.0);
        assert_eq!(hits[0].0, ids[3]);
        let door = index.search(
            &e.embed_one("wooden door"),
            &VectorFilter::default(),
            1,
            -1.0,
        );
        assert_eq!(door[0].0, ids[1]);
    }

    #[test]
    fn blobs_round_trip() {
        let v = vec![1.5f32, -0.25, 0.0];
        assert_eq!(from_le_bytes(&to_le_bytes(&v)), Some(v));
        assert_eq!(from_le_bytes(&[1, 2, 3]), None);
    }
}
