//! Reuse: an existing asset answers a request instead of a paid generation.
//! `exact` takes the assets of an identical earlier request; `similar` takes
//! the client's assets of the same kind (and campaign) whose embedding is
//! close enough to the prompt. Either way the job records the estimate of
//! the generation that did not happen as money saved.

use super::Shared;
use super::search::SearchFilter;
use crate::asset::AssetSource;
use crate::error::Result;
use crate::id::{AssetId, JobId};
use crate::job::Job;
use crate::money::Money;
use crate::request::{Request, Reuse, Spec};
use crate::store::Completion;
use crate::timestamp::Timestamp;

/// The completion of a job that reuse answers, or `None` to generate.
pub(crate) async fn find(shared: &Shared, job: &Job) -> Result<Option<Completion>> {
    let found = match job.request.reuse {
        Reuse::Never => None,
        Reuse::Exact => exact(shared, job).await?,
        Reuse::Similar(min_score) => similar(shared, &job.request, min_score).await?,
    };
    let Some((reused_assets, reused_from)) = found else {
        return Ok(None);
    };
    tracing::info!(job_id = %job.id, assets = reused_assets.len(), "answered by reuse");
    Ok(Some(Completion {
        embeddings: None,
        job_id: job.id,
        assets: Vec::new(),
        reused_assets,
        reused_from,
        saved_micros: avoided_cost(shared, &job.request),
        cost: None,
        at: Timestamp::now(),
    }))
}

type Found = Option<(Vec<AssetId>, Option<JobId>)>;

async fn exact(shared: &Shared, job: &Job) -> Result<Found> {
    let digest = job.request.generation_digest();
    Ok(shared
        .store
        .find_reusable(&job.request.client_id, &digest)
        .await?
        .map(|earlier| (earlier.asset_ids.clone(), Some(earlier.id))))
}

/// The `count` best assets of the request's client, kind and campaign
/// scoring at least `min_score` against the prompt; all or nothing.
async fn similar(shared: &Shared, request: &Request, min_score: f64) -> Result<Found> {
    if matches!(request.spec, Spec::Derive(_)) {
        return Ok(None);
    }
    let filter = SearchFilter {
        client_id: request.client_id.clone(),
        campaign_id: request.campaign_id.clone(),
        kind: Some(request.spec.kind()),
    };
    let count = usize::from(request.spec.count());
    let hits = shared
        .search
        .nearest(
            shared,
            request.spec.prompt(),
            &filter,
            count,
            min_score as f32,
        )
        .await?;
    if hits.len() < count {
        return Ok(None);
    }
    let mut reused_from = None;
    for (index, (asset_id, _)) in hits.iter().enumerate() {
        // The index may hold a row another process deleted.
        let Some(asset) = shared.store.asset(*asset_id).await? else {
            return Ok(None);
        };
        if index == 0
            && let AssetSource::Generated { job_id, .. } = asset.source
        {
            reused_from = Some(job_id);
        }
    }
    Ok(Some((
        hits.into_iter().map(|(id, _)| id).collect(),
        reused_from,
    )))
}

/// What the generation would have cost: the first route candidate's
/// estimate (zero when no provider could make it any more).
fn avoided_cost(shared: &Shared, request: &Request) -> Money {
    let Ok(candidates) = shared.router().candidates(request) else {
        return Money::ZERO;
    };
    candidates
        .first()
        .and_then(|c| c.provider.estimate(&c.model, &request.spec).ok())
        .unwrap_or(Money::ZERO)
}
