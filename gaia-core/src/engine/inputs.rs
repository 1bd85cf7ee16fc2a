//! The existing assets a provider call works from — a remote derivation's
//! parent and mask, a video's reference image — checked at submit and
//! copied to staging files for the call.

use tokio::io::AsyncWriteExt;

use super::Shared;
use crate::asset::{Asset, AssetKind};
use crate::derive::Operation;
use crate::error::{Error, Result};
use crate::id::AssetId;
use crate::provider::{CallInput, InputRole, staging_file};
use crate::request::{Request, Spec};

/// A call's inputs; their files are removed when this is dropped.
pub(crate) struct Inputs {
    pub(crate) calls: Vec<CallInput>,
    _files: Vec<tempfile::TempPath>,
}

/// The request's input assets, each checked: it exists, belongs to the
/// requesting client and is of the kind its role needs.
pub(crate) async fn resolve(shared: &Shared, request: &Request) -> Result<Vec<(InputRole, Asset)>> {
    let mut inputs = Vec::new();
    match &request.spec {
        Spec::Derive(derive) => {
            let parent = super::derive::parent_of(shared, request, derive).await?;
            inputs.push((InputRole::Parent, parent));
            if let Operation::Edit {
                mask_id: Some(mask_id),
                ..
            } = &derive.operation
            {
                let mask = owned_asset(shared, request, *mask_id, "spec.operation.mask_id").await?;
                inputs.push((
                    InputRole::Mask,
                    of_kind(mask, AssetKind::Image, "spec.operation.mask_id")?,
                ));
            }
        }
        Spec::Video(video) => {
            if let Some(reference) = video.reference_asset_id {
                let field = "spec.reference_asset_id";
                let asset = owned_asset(shared, request, reference, field).await?;
                inputs.push((
                    InputRole::Reference,
                    of_kind(asset, AssetKind::Image, field)?,
                ));
            }
        }
        _ => {}
    }
    Ok(inputs)
}

/// Whether a request of this spec may name input assets (those
/// [`resolve`] checks).
pub(crate) fn takes_inputs(spec: &Spec) -> bool {
    match spec {
        Spec::Derive(_) => true,
        Spec::Video(video) => video.reference_asset_id.is_some(),
        _ => false,
    }
}

/// Resolves the request's inputs and copies each one's bytes to a staging
/// file the provider can read (or upload) while the call runs.
pub(crate) async fn materialize(shared: &Shared, request: &Request) -> Result<Inputs> {
    let mut calls = Vec::new();
    let mut files = Vec::new();
    for (role, asset) in resolve(shared, request).await? {
        let file = copy_to_staging(shared, &asset).await?;
        calls.push(CallInput {
            role,
            asset,
            path: file.to_path_buf(),
        });
        files.push(file);
    }
    Ok(Inputs {
        calls,
        _files: files,
    })
}

async fn copy_to_staging(shared: &Shared, asset: &Asset) -> Result<tempfile::TempPath> {
    let staging_error = |e: std::io::Error| Error::Storage {
        message: format!(
            "cannot copy asset {} to the staging folder {}",
            asset.id,
            shared.staging_dir.display()
        ),
        cause: Some(Box::new(e)),
    };
    let (file, path) = staging_file(&shared.staging_dir, "input-")?.into_parts();
    let mut file = tokio::fs::File::from_std(file);
    let mut reader = shared.blobs.open(&asset.sha256).await?;
    tokio::io::copy(&mut reader, &mut file)
        .await
        .map_err(staging_error)?;
    file.flush().await.map_err(staging_error)?;
    Ok(path)
}

/// An asset of the request's client; another client's asset is reported as
/// missing, so ids of other clients cannot be probed.
async fn owned_asset(
    shared: &Shared,
    request: &Request,
    id: AssetId,
    field: &str,
) -> Result<Asset> {
    match shared.store.asset(id).await? {
        Some(asset) if asset.client_id == request.client_id => Ok(asset),
        _ => Err(Error::invalid(
            field,
            format!("asset {id} does not exist for this client"),
        )),
    }
}

fn of_kind(asset: Asset, kind: AssetKind, field: &str) -> Result<Asset> {
    if asset.kind() == kind {
        Ok(asset)
    } else {
        Err(Error::invalid(
            field,
            format!("needs a {kind} asset, not {}", asset.kind()),
        ))
    }
}
