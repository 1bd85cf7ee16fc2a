//! Asset records.

use async_trait::async_trait;
use gaia_core::{
    Asset, AssetFilter, AssetId, AssetSource, AssetStore, ClientId, DeletedAsset, Error,
    InsertedAsset, JobId, Lineage, Page, PageRequest, Result, StoredEmbedding, UsageRecord,
    UsageSummary,
};
use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::rows::{
    asset_columns, asset_columns_of, asset_from_row, client_id, get, to_bigint, to_json,
};
use super::{Conditions, PostgresStore, sequenced};
use crate::sqlite::{into_page, parse_cursor};

const INSERT_ASSET: &str = "INSERT INTO assets (id, client_id, campaign_id, type, name, mime, \
     size_bytes, sha256, source, cost_micros, tags, metadata, media, job_id, output_index, \
     created_at, parent_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::JSONB, $10, \
     $11::JSONB, $12::JSONB, $13::JSONB, $14, $15, $16, $17)";

/// The unique constraint that keeps a job from storing an output twice.
const OUTPUT_INDEX_CONSTRAINT: &str = "assets_job_output_index";

/// The client's earliest uploaded asset with these bytes.
const FIND_UPLOADED: &str = concat!(
    "SELECT ",
    asset_columns!(),
    " FROM assets WHERE client_id = $1 AND sha256 = $2 ",
    "AND source ->> 'kind' = 'uploaded' ORDER BY seq LIMIT 1"
);

/// Ancestors by walking `parent_id` up, nearest first (depth-bounded
/// against a cycle that a hand-edited database could hold).
const ANCESTORS: &str = concat!(
    "WITH RECURSIVE up (id, parent_id, depth) AS (",
    "SELECT id, parent_id, 0 FROM assets WHERE id = $1 ",
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
    "SELECT $1::TEXT, 0 ",
    "UNION ALL SELECT a.id, down.depth + 1 FROM assets a ",
    "JOIN down ON a.parent_id = down.id WHERE down.depth < 64) ",
    "SELECT ",
    asset_columns_of!("assets"),
    " FROM down JOIN assets ON assets.id = down.id WHERE down.depth > 0 ",
    "ORDER BY down.depth, assets.seq"
);

/// Inserts an asset row; `output` is the job that generated it and the
/// output's position, unique per job.
pub(super) async fn insert_asset(
    conn: &mut PgConnection,
    asset: &Asset,
    output: Option<(JobId, usize)>,
) -> Result<()> {
    let output_index = output
        .map(|(_, index)| i32::try_from(index))
        .transpose()
        .map_err(|_| Error::invalid("assets", "too many outputs"))?;
    sqlx::query(INSERT_ASSET)
        .bind(asset.id.to_string())
        .bind(asset.client_id.as_str())
        .bind(asset.campaign_id.as_deref())
        .bind(asset.kind().as_str())
        .bind(asset.name.as_deref())
        .bind(&asset.mime)
        .bind(to_bigint(asset.size_bytes, "size_bytes")?)
        .bind(&asset.sha256)
        .bind(to_json(&asset.source, "the asset source")?)
        .bind(asset.cost_micros.micros())
        .bind(to_json(&asset.tags, "the asset tags")?)
        .bind(to_json(&asset.metadata, "the asset metadata")?)
        .bind(to_json(&asset.media, "the asset media")?)
        .bind(output.map(|(job_id, _)| job_id.to_string()))
        .bind(output_index)
        .bind(asset.created_at.millis())
        .bind(parent_of(asset).map(|id| id.to_string()))
        .execute(conn)
        .await
        .map_err(|e| insert_error(asset, output, e))?;
    Ok(())
}

fn parent_of(asset: &Asset) -> Option<AssetId> {
    match &asset.source {
        AssetSource::Derived { parent_id, .. } => Some(*parent_id),
        _ => None,
    }
}

/// A unique violation is a `conflict`: the asset id is taken, or the job
/// already stored this output (it must never yield an output twice).
fn insert_error(asset: &Asset, output: Option<(JobId, usize)>, error: sqlx::Error) -> Error {
    let violated = error
        .as_database_error()
        .filter(|e| e.is_unique_violation())
        .map(|e| e.constraint().unwrap_or_default().to_owned());
    match (violated, output) {
        (None, _) => Error::storage(format!("cannot insert asset {}", asset.id), error),
        (Some(constraint), Some((job_id, index))) if constraint == OUTPUT_INDEX_CONSTRAINT => {
            Error::Conflict(format!("job {job_id} already stored its output {index}"))
        }
        (Some(_), _) => Error::Conflict(format!("asset {} already exists", asset.id)),
    }
}

#[async_trait]
impl AssetStore for PostgresStore {
    async fn asset(&self, id: AssetId) -> Result<Option<Asset>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            asset_columns!(),
            " FROM assets WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(self.failed(&format!("read asset {id}")))?;
        row.as_ref().map(asset_from_row).transpose()
    }

    async fn list_assets(&self, filter: &AssetFilter, page: &PageRequest) -> Result<Page<Asset>> {
        let limit = page.limit()?;
        let after = parse_cursor(page.cursor.as_deref())?;
        let mut query = QueryBuilder::<Postgres>::new(concat!(
            "SELECT seq, ",
            asset_columns!(),
            " FROM assets"
        ));
        let mut conditions = Conditions::new();
        if let Some(client_id) = &filter.client_id {
            conditions
                .next(&mut query)
                .push("client_id = ")
                .push_bind(client_id.as_str());
        }
        if let Some(campaign_id) = &filter.campaign_id {
            conditions
                .next(&mut query)
                .push("campaign_id = ")
                .push_bind(campaign_id.as_str());
        }
        if let Some(kind) = filter.kind {
            conditions
                .next(&mut query)
                .push("type = ")
                .push_bind(kind.as_str());
        }
        if let Some(tag) = &filter.tag {
            // `?` on a JSONB array: one of its strings equals the tag (the
            // GIN index `assets_by_tag` answers it).
            conditions
                .next(&mut query)
                .push("tags ? ")
                .push_bind(tag.as_str());
        }
        if let Some(seq) = after {
            conditions.next(&mut query).push("seq < ").push_bind(seq);
        }
        query
            .push(" ORDER BY seq DESC LIMIT ")
            .push_bind(i64::from(limit) + 1);
        let rows = query
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(self.failed("list assets"))?;
        Ok(into_page(sequenced(&rows, asset_from_row)?, limit))
    }

    async fn delete_asset(&self, id: AssetId) -> Result<Option<DeletedAsset>> {
        let action = format!("delete asset {id}");
        let mut tx = self.begin(&action).await?;
        let row = sqlx::query("DELETE FROM assets WHERE id = $1 RETURNING sha256, client_id")
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(self.failed(&action))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let sha256: String = get(&row, "sha256")?;
        let owner = client_id(&row, "client_id")?;
        let shared: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM assets WHERE sha256 = $1)")
                .bind(&sha256)
                .fetch_one(&mut *tx)
                .await
                .map_err(self.failed(&action))?;
        self.commit(tx, &action).await?;
        Ok(Some(DeletedAsset {
            client_id: owner,
            sha256,
            orphaned: !shared,
        }))
    }

    async fn insert_uploaded_asset(&self, asset: &Asset, dedup: bool) -> Result<InsertedAsset> {
        let action = format!("import asset {}", asset.id);
        let mut tx = self.begin(&action).await?;
        if dedup {
            // Two imports of the same bytes by one client at once would
            // both miss each other's row: serialize them on (client, bytes).
            sqlx::query(
                "SELECT pg_advisory_xact_lock(hashtext('gaia.upload:' || $1 || ':' || $2))",
            )
            .bind(asset.client_id.as_str())
            .bind(&asset.sha256)
            .execute(&mut *tx)
            .await
            .map_err(self.failed(&action))?;
            let row = sqlx::query(FIND_UPLOADED)
                .bind(asset.client_id.as_str())
                .bind(&asset.sha256)
                .fetch_optional(&mut *tx)
                .await
                .map_err(self.failed(&action))?;
            if let Some(row) = row {
                return Ok(InsertedAsset {
                    asset: asset_from_row(&row)?,
                    existing: true,
                });
            }
        }
        insert_asset(&mut tx, asset, None).await?;
        self.commit(tx, &action).await?;
        Ok(InsertedAsset {
            asset: asset.clone(),
            existing: false,
        })
    }

    async fn lineage(&self, id: AssetId) -> Result<Option<Lineage>> {
        let Some(asset) = self.asset(id).await? else {
            return Ok(None);
        };
        let action = format!("read the lineage of asset {id}");
        let mut family = Vec::with_capacity(2);
        for query in [ANCESTORS, DESCENDANTS] {
            let rows = sqlx::query(query)
                .bind(id.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(self.failed(&action))?;
            family.push(
                rows.iter()
                    .map(asset_from_row)
                    .collect::<Result<Vec<_>>>()?,
            );
        }
        let descendants = family.pop().unwrap_or_default();
        let ancestors = family.pop().unwrap_or_default();
        Ok(Some(Lineage {
            asset,
            ancestors,
            descendants,
        }))
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
