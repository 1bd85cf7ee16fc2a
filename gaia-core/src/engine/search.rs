//! Semantic search and similar reuse: each client's vectors, loaded once
//! from the store into memory and kept current as assets come and go.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use super::{Engine, Shared, lock};
use crate::asset::{Asset, AssetKind, AssetSource};
use crate::embed::{self, Embedder, VectorFilter, VectorIndex};
use crate::error::{Error, Result};
use crate::id::{AssetId, ClientId};
use crate::store::Embeddings;

/// Most results one search returns.
pub const MAX_SEARCH_RESULTS: usize = 1_000;

/// What a search looks through: one client's assets, optionally narrowed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchFilter {
    /// The client whose assets are searched (search never crosses clients).
    pub client_id: ClientId,
    /// Only this campaign.
    #[serde(default)]
    pub campaign_id: Option<String>,
    /// Only this type.
    #[serde(default, rename = "type")]
    pub kind: Option<AssetKind>,
}

impl SearchFilter {
    /// All of a client's assets.
    pub fn client(client_id: ClientId) -> Self {
        Self {
            client_id,
            campaign_id: None,
            kind: None,
        }
    }
}

/// An asset and how well it matches a query (cosine similarity, -1 to 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredAsset {
    /// The similarity.
    pub score: f32,
    /// The asset.
    pub asset: Asset,
}

/// One client's vectors; `RwLock` so that searches run side by side.
type ClientVectors = Arc<RwLock<VectorIndex>>;

/// The in-memory vectors of every client searched so far.
pub(crate) struct SearchIndex {
    pub(crate) embedder: Arc<dyn Embedder>,
    clients: std::sync::Mutex<HashMap<ClientId, ClientVectors>>,
    /// Held while a client's vectors load and while new ones are added, so
    /// a vector stored during a load is either in the loaded rows or added
    /// after them, never lost between the two.
    loading: Arc<tokio::sync::Mutex<()>>,
}

/// Vectors of new assets, made before the assets are stored and stored
/// with them (in their job's transaction, or right after an import), then
/// added to the clients in memory.
pub(crate) struct NewVectors {
    pub(crate) embeddings: Embeddings,
    /// Held from before the vectors are stored until they are in memory
    /// when some belong to a client not in memory: a load meanwhile could
    /// read the store before they are in it, and then never see them.
    loads_wait: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl SearchIndex {
    pub(crate) fn new(embedder: Arc<dyn Embedder>) -> Self {
        Self {
            embedder,
            clients: std::sync::Mutex::new(HashMap::new()),
            loading: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    fn loaded(&self, client_id: &ClientId) -> Option<ClientVectors> {
        lock(&self.clients).get(client_id).cloned()
    }

    /// A client's vectors, read from the store on first use only.
    async fn client_vectors(&self, shared: &Shared, client_id: &ClientId) -> Result<ClientVectors> {
        if let Some(vectors) = self.loaded(client_id) {
            return Ok(vectors);
        }
        let _loading = self.loading.lock().await;
        if let Some(vectors) = self.loaded(client_id) {
            return Ok(vectors);
        }
        let rows = shared
            .store
            .client_embeddings(client_id, self.embedder.model())
            .await?;
        let mut index = VectorIndex::new(self.embedder.dimensions());
        for row in &rows {
            index.insert(
                row.asset_id,
                row.campaign_id.as_deref(),
                row.kind,
                &row.vector,
            );
        }
        let vectors = Arc::new(RwLock::new(index));
        lock(&self.clients).insert(client_id.clone(), vectors.clone());
        Ok(vectors)
    }

    /// Embeds the query and returns the best `k` asset ids with their scores.
    pub(crate) async fn nearest(
        &self,
        shared: &Shared,
        query: &str,
        filter: &SearchFilter,
        k: usize,
        min_score: f32,
    ) -> Result<Vec<(AssetId, f32)>> {
        let query = self.embed_text(query).await?;
        let vectors = self.client_vectors(shared, &filter.client_id).await?;
        let narrowed = VectorFilter {
            campaign_id: filter.campaign_id.as_deref(),
            kind: filter.kind,
        };
        let index = vectors.read().unwrap_or_else(|p| p.into_inner());
        Ok(index.search(&query, &narrowed, k, min_score))
    }

    async fn embed_text(&self, text: &str) -> Result<Vec<f32>> {
        self.embedder
            .embed(&[text.to_owned()])
            .await?
            .pop()
            .ok_or_else(|| Error::Internal("the embedder returned no vector".into()))
    }

    /// Embeds new imported assets, stores the vectors, and adds them to
    /// the clients in memory.
    pub(crate) async fn add_assets(&self, shared: &Shared, assets: &[Asset]) -> Result<()> {
        let Some(new) = self.embed_new(assets).await? else {
            return Ok(());
        };
        let embeddings = &new.embeddings;
        shared
            .store
            .put_embeddings(&embeddings.model, &embeddings.vectors)
            .await?;
        self.add_stored(assets, new);
        Ok(())
    }

    /// Embeds new generated or imported assets (derived ones are not search
    /// results of their own), to be stored with them; `None` when there is
    /// nothing to embed.
    pub(crate) async fn embed_new(&self, assets: &[Asset]) -> Result<Option<NewVectors>> {
        let assets: Vec<&Asset> = assets.iter().filter(|a| is_searchable(a)).collect();
        if assets.is_empty() {
            return Ok(None);
        }
        let texts: Vec<String> = assets.iter().map(|a| text_of(a)).collect();
        let vectors = self.embedder.embed(&texts).await?;
        let loading = Arc::clone(&self.loading).lock_owned().await;
        let all_in_memory = assets.iter().all(|a| self.loaded(&a.client_id).is_some());
        Ok(Some(NewVectors {
            embeddings: Embeddings {
                model: self.embedder.model().to_owned(),
                vectors: assets.iter().map(|a| a.id).zip(vectors).collect(),
            },
            // A loaded client stays loaded: its vectors are added after.
            loads_wait: (!all_in_memory).then_some(loading),
        }))
    }

    /// Adds stored vectors of new assets to the clients in memory, then lets
    /// loads waiting for them go on.
    pub(crate) fn add_stored(&self, assets: &[Asset], new: NewVectors) {
        for (asset_id, vector) in &new.embeddings.vectors {
            let Some(asset) = assets.iter().find(|a| a.id == *asset_id) else {
                continue;
            };
            if let Some(client) = self.loaded(&asset.client_id) {
                let mut index = client.write().unwrap_or_else(|p| p.into_inner());
                index.insert(asset.id, asset.campaign_id.as_deref(), asset.kind(), vector);
            }
        }
        drop(new.loads_wait);
    }

    /// Forgets a deleted asset.
    pub(crate) fn remove(&self, client_id: &ClientId, asset_id: AssetId) {
        if let Some(client) = self.loaded(client_id) {
            client
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(asset_id);
        }
    }
}

/// Derived assets are found through their parents.
fn is_searchable(asset: &Asset) -> bool {
    !matches!(asset.source, AssetSource::Derived { .. })
}

/// What an asset is embedded from: its prompt (when generated), name and tags.
fn text_of(asset: &Asset) -> String {
    let prompt = match &asset.source {
        AssetSource::Generated { prompt, .. } => Some(prompt.as_str()),
        _ => None,
    };
    embed::asset_text(prompt, asset.name.as_deref(), &asset.tags)
}

impl Engine {
    /// The `k` assets of the filter's client that best match `query`, best
    /// first, each with its cosine score. Exact search over the client's
    /// vectors in memory (loaded from the store on the first search).
    pub async fn search_assets(
        &self,
        query: &str,
        filter: &SearchFilter,
        k: usize,
    ) -> Result<Vec<ScoredAsset>> {
        self.check_open()?;
        if query.trim().is_empty() {
            return Err(Error::invalid("query", "is empty"));
        }
        if k == 0 || k > MAX_SEARCH_RESULTS {
            return Err(Error::invalid(
                "k",
                format!("{k} is not within 1-{MAX_SEARCH_RESULTS}"),
            ));
        }
        let shared = &self.shared;
        let hits = shared
            .search
            .nearest(shared, query, filter, k, f32::NEG_INFINITY)
            .await?;
        let mut found = Vec::with_capacity(hits.len());
        for (asset_id, score) in hits {
            // A row deleted by another process is skipped, not an error.
            if let Some(asset) = shared.store.asset(asset_id).await? {
                found.push(ScoredAsset { score, asset });
            }
        }
        Ok(found)
    }
}
