//! Imports: a host's own file becomes a verified asset (`source: uploaded`).

use std::path::PathBuf;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use super::Engine;
use crate::asset::{Asset, AssetSource};
use crate::error::{Error, Result};
use crate::event::EventKind;
use crate::id::{AssetId, ClientId};
use crate::money::Money;
use crate::provider::{GenerateContext, StagedOutput};
use crate::store::InsertedAsset;
use crate::timestamp::Timestamp;
use crate::verify;

/// Chunk size when streaming a file into staging.
const CHUNK: usize = 64 * 1024;

/// What an import records about the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// The tenant that will own the asset.
    pub client_id: ClientId,
    /// An optional campaign.
    #[serde(default)]
    pub campaign_id: Option<String>,
    /// A display name (default: the file's stem, when importing a path).
    #[serde(default)]
    pub name: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Free JSON.
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Return the client's earlier import of the same bytes instead of a
    /// new asset (default true).
    #[serde(default = "default_dedup")]
    pub dedup: bool,
}

fn default_dedup() -> bool {
    true
}

impl ImportRequest {
    /// An import for a client with defaults (deduplicated, no campaign).
    pub fn new(client_id: ClientId) -> Self {
        Self {
            client_id,
            campaign_id: None,
            name: None,
            tags: Vec::new(),
            metadata: serde_json::Map::new(),
            dedup: true,
        }
    }

    fn validate(&self) -> Result<()> {
        if let Some(campaign) = &self.campaign_id {
            ClientId::new(campaign.clone()).map_err(|_| {
                Error::invalid("campaign_id", "must be 1-128 characters of [A-Za-z0-9._-]")
            })?;
        }
        if let Some(name) = &self.name
            && (name.trim().is_empty() || name.len() > 256)
        {
            return Err(Error::invalid("name", "must be 1-256 bytes and not blank"));
        }
        for (i, tag) in self.tags.iter().enumerate() {
            if tag.trim().is_empty() || tag.len() > 128 {
                return Err(Error::invalid(
                    format!("tags[{i}]"),
                    "must be 1-128 bytes and not blank",
                ));
            }
        }
        Ok(())
    }
}

/// Where the bytes of an import come from.
#[derive(Debug, Clone)]
pub enum ImportSource {
    /// A file, streamed (never read whole into memory).
    Path(PathBuf),
    /// Bytes already in memory.
    Bytes(Bytes),
}

impl Engine {
    /// Imports a file or bytes as an asset of `request.client_id`: staged,
    /// verified (its type detected from the bytes; bytes that are no asset
    /// are `invalid_request` naming `file`), stored, embedded for search.
    /// With `dedup` (the default), importing the same bytes again for the
    /// same client returns the first import (`existing: true`).
    pub async fn import(
        &self,
        request: ImportRequest,
        source: ImportSource,
    ) -> Result<InsertedAsset> {
        self.check_open()?;
        request.validate()?;
        let name = request.name.clone().or_else(|| default_name(&source));
        let staged = self.stage_import(source).await?;
        let media = verify::detect_staged(&staged).await.map_err(|e| match e {
            Error::InvalidOutput(message) => Error::invalid("file", message),
            other => other,
        })?;
        let asset = Asset {
            id: AssetId::new(),
            client_id: request.client_id,
            campaign_id: request.campaign_id,
            name,
            mime: media.mime().to_owned(),
            size_bytes: staged.size(),
            sha256: staged.sha256().to_owned(),
            source: AssetSource::Uploaded,
            cost_micros: Money::ZERO,
            tags: request.tags,
            metadata: request.metadata,
            created_at: Timestamp::now(),
            media,
        };
        self.shared.blobs.put(staged).await?;
        let inserted = self
            .shared
            .store
            .insert_uploaded_asset(&asset, request.dedup)
            .await?;
        if !inserted.existing {
            self.shared.events.emit(
                None,
                EventKind::AssetCreated {
                    asset_id: inserted.asset.id,
                    client_id: inserted.asset.client_id.clone(),
                },
            );
            self.index_new_assets(std::slice::from_ref(&inserted.asset))
                .await;
        }
        Ok(inserted)
    }

    async fn stage_import(&self, source: ImportSource) -> Result<StagedOutput> {
        let cx = GenerateContext::detached(self.shared.staging_dir.clone());
        match source {
            ImportSource::Bytes(bytes) => cx.stage_bytes(&bytes).await,
            ImportSource::Path(path) => {
                let mut file = tokio::fs::File::open(&path).await.map_err(|e| {
                    Error::invalid("file", format!("cannot open {}: {e}", path.display()))
                })?;
                let mut staging = cx.stage().await?;
                let mut buffer = vec![0u8; CHUNK];
                loop {
                    let read = file.read(&mut buffer).await.map_err(|e| {
                        Error::invalid("file", format!("cannot read {}: {e}", path.display()))
                    })?;
                    if read == 0 {
                        break;
                    }
                    staging.write(&buffer[..read]).await?;
                }
                staging.finish().await
            }
        }
    }
}

/// A file's stem as the asset's name.
fn default_name(source: &ImportSource) -> Option<String> {
    match source {
        ImportSource::Path(path) => path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .filter(|stem| !stem.trim().is_empty()),
        ImportSource::Bytes(_) => None,
    }
}
