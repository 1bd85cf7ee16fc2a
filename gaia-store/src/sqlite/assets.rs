//! Asset records.

use async_trait::async_trait;
use gaia_core::{
    Asset, AssetFilter, AssetId, AssetSource, AssetStore, ClientId, DeletedAsset, Error,
    InsertedAsset, JobId, Lineage, Page, PageRequest, Result, StoredEmbedding, UsageRecord,
    UsageSummary,
};
use rusqlite::{Connection, params};

use super::rows::{
    asset_columns, asset_columns_of, asset_from_row, client_id, get, to_json, to_sql_integer,
};
use super::{Failure, Query, Sql, SqliteStore, all_rows, first_row, parse_cursor, scalar};

const INSERT_ASSET: &str = "INSERT INTO assets (id, client_id, campaign_id, type, name, mime, \
     size_bytes, sha256, source, cost_micros, tags, metadata, media, job_id, output_index, \
     created_at, parent_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// The client's earliest uploaded asset with these bytes.
pub(super) const FIND_UPLOADED: &str = concat!(
    "SELECT ",
    asset_columns!(),
    " FROM assets WHERE client_id = ? AND sha256 = ? ",
    "AND json_extract(source, '$.kind') = 'uploaded' ORDER BY seq LIMIT 1"
);

/// Ancestors by walking `parent_id` up, nearest first (depth-bounded
/// against a cycle that a hand-edited database could hold).
const ANCESTORS: &str = concat!(
    "WITH RECURSIVE up (id, parent_id, depth) AS (",
    "SELECT id, parent_id, 0 FROM assets WHERE id = ?1 ",
    "UNION ALL SELECT a.id, a.parent_id, up.depth + 1 FROM assets a ",
    "JOIN up ON a.id = up.parent_id WHERE up.depth < 64) ",
    "SELECT ",
    asset_columns_of!("assets"),
    " FROM up JOIN assets ON assets.id = up.id WHERE up.depth > 0 ORDER BY up.depth"
);

/// Descendants by walking the `assets_by_parent` index down, nearest
/// generation first, then oldest first.
const DESCENDANTS: &str = concat!(
    "WITH RECURSIVE down (id, depth) AS (",
    "SELECT ?1, 0 ",
    "UNION ALL SELECT a.id, down.depth + 1 FROM assets a ",
    "JOIN down ON a.parent_id = down.id WHERE down.depth < 64) ",
    "SELECT ",
    asset_columns_of!("assets"),
    " FROM down JOIN assets ON assets.id = down.id WHERE down.depth > 0 ",
    "ORDER BY down.depth, assets.seq"
);

/// Inserts an asset row; `output` is the job that generated it and the
/// output's position, unique per job.
pub(super) fn insert_asset(
    connection: &Connection,
    asset: &Asset,
    output: Option<(JobId, usize)>,
) -> Sql<()> {
    let output_index = output
        .map(|(_, index)| i64::try_from(index))
        .transpose()
        .map_err(|_| Error::invalid("assets", "too many outputs"))?;
    let inserted = connection.prepare_cached(INSERT_ASSET)?.execute(params![
        asset.id.to_string(),
        asset.client_id.as_str(),
        asset.campaign_id.as_deref(),
        asset.kind().as_str(),
        asset.name.as_deref(),
        &asset.mime,
        to_sql_integer(asset.size_bytes, "size_bytes")?,
        &asset.sha256,
        to_json(&asset.source, "the asset source")?,
        asset.cost_micros.micros(),
        to_json(&asset.tags, "the asset tags")?,
        to_json(&asset.metadata, "the asset metadata")?,
        to_json(&asset.media, "the asset media")?,
        output.map(|(job_id, _)| job_id.to_string()),
        output_index,
        asset.created_at.millis(),
        parent_of(asset).map(|id| id.to_string()),
    ]);
    match inserted {
        Ok(_) => Ok(()),
        Err(error) => Err(insert_error(asset, output, error)),
    }
}

fn parent_of(asset: &Asset) -> Option<AssetId> {
    match &asset.source {
        AssetSource::Derived { parent_id, .. } => Some(*parent_id),
        _ => None,
    }
}

/// A unique violation is a `conflict`: the asset id is taken, or the job
/// already stored this output (it must never yield an output twice).
fn insert_error(asset: &Asset, output: Option<(JobId, usize)>, error: rusqlite::Error) -> Failure {
    let unique = matches!(
        &error,
        rusqlite::Error::SqliteFailure(e, _)
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    );
    match output {
        _ if !unique => Failure::Sql(error),
        Some((job_id, index)) if error.to_string().contains("output_index") => {
            Error::Conflict(format!("job {job_id} already stored its output {index}")).into()
        }
        _ => Error::Conflict(format!("asset {} already exists", asset.id)).into(),
    }
}

#[async_trait]
impl AssetStore for SqliteStore {
    async fn asset(&self, id: AssetId) -> Result<Option<Asset>> {
        self.read(&format!("read asset {id}"), move |connection| {
            first_row(
                connection,
                concat!("SELECT ", asset_columns!(), " FROM assets WHERE id = ?"),
                [id.to_string()],
                asset_from_row,
            )
        })
        .await
    }

    async fn list_assets(&self, filter: &AssetFilter, page: &PageRequest) -> Result<Page<Asset>> {
        let limit = page.limit()?;
        let after = parse_cursor(page.cursor.as_deref())?;
        let mut query = Query::new(concat!("SELECT seq, ", asset_columns!(), " FROM assets"));
        if let Some(client_id) = &filter.client_id {
            query.filter("client_id = ?", client_id.to_string());
        }
        if let Some(campaign_id) = &filter.campaign_id {
            query.filter("campaign_id = ?", campaign_id.clone());
        }
        if let Some(kind) = filter.kind {
            query.filter("type = ?", kind.as_str().to_owned());
        }
        if let Some(tag) = &filter.tag {
            query.filter(
                "EXISTS (SELECT 1 FROM json_each(assets.tags) WHERE json_each.value = ?)",
                tag.clone(),
            );
        }
        if let Some(seq) = after {
            query.filter("seq < ?", seq);
        }
        self.list("list assets", query, limit, asset_from_row).await
    }

    async fn delete_asset(&self, id: AssetId) -> Result<Option<DeletedAsset>> {
        self.write(&format!("delete asset {id}"), move |connection| {
            let deleted = first_row(
                connection,
                "DELETE FROM assets WHERE id = ? RETURNING sha256, client_id",
                [id.to_string()],
                |row| Ok((get::<String>(row, "sha256")?, client_id(row, "client_id")?)),
            )?;
            let Some((sha256, owner)) = deleted else {
                return Ok(None);
            };
            let shared: bool = scalar(
                connection,
                "SELECT EXISTS (SELECT 1 FROM assets WHERE sha256 = ?)",
                [&sha256],
            )?;
            Ok(Some(DeletedAsset {
                client_id: owner,
                sha256,
                orphaned: !shared,
            }))
        })
        .await
    }

    async fn insert_uploaded_asset(&self, asset: &Asset, dedup: bool) -> Result<InsertedAsset> {
        let action = format!("import asset {}", asset.id);
        let asset = asset.clone();
        self.write(&action, move |connection| {
            if dedup {
                let earlier = first_row(
                    connection,
                    FIND_UPLOADED,
                    params![asset.client_id.as_str(), &asset.sha256],
                    asset_from_row,
                )?;
                if let Some(earlier) = earlier {
                    return Ok(InsertedAsset {
                        asset: earlier,
                        existing: true,
                    });
                }
            }
            insert_asset(connection, &asset, None)?;
            Ok(InsertedAsset {
                asset,
                existing: false,
            })
        })
        .await
    }

    async fn lineage(&self, id: AssetId) -> Result<Option<Lineage>> {
        self.read(
            &format!("read the lineage of asset {id}"),
            move |connection| {
                let id = id.to_string();
                let asset = first_row(
                    connection,
                    concat!("SELECT ", asset_columns!(), " FROM assets WHERE id = ?"),
                    [&id],
                    asset_from_row,
                )?;
                let Some(asset) = asset else {
                    return Ok(None);
                };
                Ok(Some(Lineage {
                    asset,
                    ancestors: all_rows(connection, ANCESTORS, [&id], asset_from_row)?,
                    descendants: all_rows(connection, DESCENDANTS, [&id], asset_from_row)?,
                }))
            },
        )
        .await
    }

    async fn put_embeddings(&self, model: &str, embeddings: &[(AssetId, Vec<f32>)]) -> Result<()> {
        self.write_embeddings(model, embeddings).await
    }

    async fn client_embeddings(
        &self,
        client_id: &ClientId,
        model: &str,
    ) -> Result<Vec<StoredEmbedding>> {
        self.read_embeddings(client_id, model).await
    }

    async fn record_usage(&self, records: &[UsageRecord]) -> Result<()> {
        self.write_usage(records).await
    }

    async fn usage_summary(&self, id: AssetId) -> Result<UsageSummary> {
        self.summarize_usage(id).await
    }
}
