//! Derived assets as jobs: `Engine::derive` queues a `derive` spec; a worker
//! runs the local operation on the blocking pool at no cost and stores the
//! output with `source: derived`.

use std::sync::Arc;

use super::pipeline::Begin;
use super::{Engine, Shared};
use crate::asset::{Asset, AssetSource, Media};
use crate::derive::{self, DeriveSpec, Operation};
use crate::error::{Error, Result};
use crate::id::AssetId;
use crate::job::Job;
use crate::money::Money;
use crate::provider::GenerateContext;
use crate::request::{Request, Spec};
use crate::store::{AttemptStart, ClaimedJob, Completion, Lineage};
use crate::timestamp::Timestamp;
use crate::verify;

/// What derived jobs record as their provider (their model is the operation).
pub const LOCAL_PROVIDER: &str = "local";

impl Engine {
    /// Queues a derivation of an asset; the new asset belongs to the
    /// parent's client and campaign and carries its tags.
    pub async fn derive(&self, parent_id: AssetId, operation: Operation) -> Result<Job> {
        let parent = self.asset(parent_id).await?;
        let mut request = Request::new(
            parent.client_id.clone(),
            Spec::Derive(DeriveSpec::new(parent_id, operation)),
        );
        request.campaign_id = parent.campaign_id.clone();
        request.tags = parent.tags.clone();
        self.submit(request).await
    }

    /// An asset's ancestors and descendants through derivations.
    pub async fn lineage(&self, asset_id: AssetId) -> Result<Lineage> {
        self.check_open()?;
        self.shared
            .store
            .lineage(asset_id)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "asset",
                id: asset_id.to_string(),
            })
    }

    /// Checks at submit that a request's input assets (a derivation's
    /// parent and mask, a video's reference image) exist, belong to the
    /// requesting client and are of the kinds they need to be.
    pub(crate) async fn check_inputs(&self, request: &Request) -> Result<()> {
        super::inputs::resolve(&self.shared, request).await?;
        if let Spec::Derive(spec) = &request.spec {
            derive::check_available(&spec.operation)?;
        }
        Ok(())
    }
}

/// The parent asset of a derivation, checked.
pub(crate) async fn parent_of(
    shared: &Shared,
    request: &Request,
    spec: &DeriveSpec,
) -> Result<Asset> {
    let not_found = || {
        Error::invalid(
            "spec.parent_id",
            format!("asset {} does not exist for this client", spec.parent_id),
        )
    };
    let parent = shared
        .store
        .asset(spec.parent_id)
        .await?
        .ok_or_else(not_found)?;
    if parent.client_id != request.client_id {
        return Err(not_found());
    }
    let wanted = spec.operation.input_kind();
    if parent.kind() != wanted {
        return Err(Error::invalid(
            "spec.parent_id",
            format!(
                "{} needs a {wanted} asset, not {}",
                spec.operation.name(),
                parent.kind()
            ),
        ));
    }
    Ok(parent)
}

/// Runs a derivation job's attempt; `Ok(None)` when the job is no longer ours.
pub(crate) async fn run(
    shared: &Arc<Shared>,
    claimed: &ClaimedJob,
    spec: &DeriveSpec,
) -> Result<Option<Completion>> {
    let job = &claimed.job;
    let parent = parent_of(shared, &job.request, spec).await?;
    let start = AttemptStart {
        provider: LOCAL_PROVIDER.to_owned(),
        model: spec.operation.name().to_owned(),
        estimate: Money::ZERO,
        reserve: Money::ZERO,
        now: Timestamp::now(),
        max_in_flight: None,
    };
    match super::pipeline::begin_attempt(shared, claimed, &start).await? {
        Begin::Started => {}
        Begin::Lost | Begin::ProviderFull => return Ok(None),
    }
    let asset = make_derived(shared, job, spec, &parent).await?;
    Ok(Some(Completion {
        embeddings: None,
        job_id: job.id,
        assets: vec![asset],
        reused_assets: Vec::new(),
        reused_from: None,
        saved_micros: Money::ZERO,
        cost: None,
        at: Timestamp::now(),
    }))
}

/// Applies the operation to the parent's bytes, verifies and stores the output.
async fn make_derived(
    shared: &Shared,
    job: &Job,
    spec: &DeriveSpec,
    parent: &Asset,
) -> Result<Asset> {
    let bytes = shared.blobs.read(&parent.sha256).await?;
    let operation = spec.operation.clone();
    let parent_media = parent.media.clone();
    let output =
        tokio::task::spawn_blocking(move || derive::apply(&operation, &parent_media, &bytes))
            .await
            .map_err(|e| Error::Internal(format!("derivation task failed: {e}")))??;
    let cx = GenerateContext::detached(shared.staging_dir.clone());
    let staged = cx.stage_bytes(&output.bytes).await?;
    let media = match output.media {
        Some(media) => media,
        None => {
            let kind = spec.operation.output_kind();
            let tileable = keeps_tiling(&spec.operation, &parent.media);
            verify::inspect_staged(&staged, kind, tileable).await?
        }
    };
    let size_bytes = staged.size();
    let sha256 = staged.sha256().to_owned();
    shared.blobs.put(staged).await?;
    let mut metadata = job.request.metadata.clone();
    metadata.insert(
        "operation".to_owned(),
        serde_json::Value::Object(spec.operation.parameters()),
    );
    metadata.extend(output.metadata);
    Ok(Asset {
        id: AssetId::new(),
        client_id: job.request.client_id.clone(),
        campaign_id: job.request.campaign_id.clone(),
        name: Some(derived_name(parent, &spec.operation)),
        mime: media.mime().to_owned(),
        size_bytes,
        sha256,
        source: AssetSource::Derived {
            parent_id: parent.id,
            operation: spec.operation.name().to_owned(),
        },
        cost_micros: Money::ZERO,
        tags: job.request.tags.clone(),
        metadata,
        created_at: Timestamp::now(),
        media,
    })
}

/// A resized, converted or filtered texture still tiles if its parent did;
/// a thumbnail is for display, not tiling.
fn keeps_tiling(operation: &Operation, parent: &Media) -> bool {
    let parent_tiles = matches!(parent, Media::Image { tileable: true, .. });
    parent_tiles
        && matches!(
            operation,
            Operation::Resize { .. } | Operation::Convert { .. } | Operation::NormalMap { .. }
        )
}

/// `mossy-cobblestone-thumbnail`, or the parent's id when it has no name.
pub(crate) fn derived_name(parent: &Asset, operation: &Operation) -> String {
    let stem = parent.name.clone().unwrap_or_else(|| parent.id.to_string());
    format!("{stem}-{}", operation.name().replace('_', "-"))
}
