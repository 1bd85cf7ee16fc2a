//! Embedding vectors (little-endian `f32` bytes) and asset usage.

use std::collections::HashMap;

use gaia_core::{
    AssetId, AssetKind, ClientId, ClientUsage, CostQuery, Error, Money, Result, StoredEmbedding,
    UsageCount, UsageKind, UsageRecord, UsageSummary, embed,
};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder};

use super::PostgresStore;
use super::rows::{client_id, get, int8, money, optional_timestamp, timestamp};

/// Stores vectors (replacing a model's earlier vector of the same asset);
/// an asset deleted meanwhile gets none.
pub(super) async fn insert_embeddings(
    executor: impl sqlx::PgExecutor<'_>,
    model: &str,
    embeddings: &[(AssetId, Vec<f32>)],
) -> std::result::Result<(), sqlx::Error> {
    if embeddings.is_empty() {
        return Ok(());
    }
    // One row per asset, the last vector given winning (one statement
    // cannot update a row twice).
    let mut latest: HashMap<AssetId, &[f32]> = HashMap::with_capacity(embeddings.len());
    for (id, vector) in embeddings {
        latest.insert(*id, vector);
    }
    let (ids, vectors): (Vec<String>, Vec<Vec<u8>>) = latest
        .into_iter()
        .map(|(id, vector)| (id.to_string(), embed::to_le_bytes(vector)))
        .unzip();
    sqlx::query(
        "INSERT INTO embeddings (asset_id, model, vector) \
         SELECT assets.id, $1, given.vector \
         FROM UNNEST($2::TEXT[], $3::BYTEA[]) AS given (asset_id, vector) \
         JOIN assets ON assets.id = given.asset_id \
         ON CONFLICT (asset_id, model) DO UPDATE SET vector = excluded.vector",
    )
    .bind(model)
    .bind(ids)
    .bind(vectors)
    .execute(executor)
    .await?;
    Ok(())
}

impl PostgresStore {
    pub(super) async fn write_embeddings(
        &self,
        model: &str,
        embeddings: &[(AssetId, Vec<f32>)],
    ) -> Result<()> {
        insert_embeddings(&self.pool, model, embeddings)
            .await
            .map_err(self.failed("store embeddings"))
    }

    pub(super) async fn read_embeddings(
        &self,
        client: &ClientId,
        model: &str,
    ) -> Result<Vec<StoredEmbedding>> {
        let rows = sqlx::query(
            "SELECT a.id, a.campaign_id, a.type, e.vector FROM assets a \
             JOIN embeddings e ON e.asset_id = a.id AND e.model = $1 \
             WHERE a.client_id = $2 ORDER BY a.seq",
        )
        .bind(model)
        .bind(client.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(self.failed(&format!("read the embeddings of {client}")))?;
        rows.iter().map(embedding_from_row).collect()
    }

    pub(super) async fn write_usage(&self, records: &[UsageRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut ids = Vec::with_capacity(records.len());
        let mut clients = Vec::with_capacity(records.len());
        let mut kinds = Vec::with_capacity(records.len());
        let mut ats = Vec::with_capacity(records.len());
        for record in records {
            ids.push(record.asset_id.to_string());
            clients.push(record.client_id.as_str());
            kinds.push(record.kind.as_str());
            ats.push(record.at.millis());
        }
        // One statement for the batch; joined with assets, so records of
        // assets deleted meanwhile are dropped.
        sqlx::query(
            "INSERT INTO usage (asset_id, client_id, campaign_id, kind, at) \
             SELECT assets.id, used.client_id, assets.campaign_id, used.kind, used.at \
             FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[]) \
                 AS used (asset_id, client_id, kind, at) \
             JOIN assets ON assets.id = used.asset_id",
        )
        .bind(ids)
        .bind(clients)
        .bind(kinds)
        .bind(ats)
        .execute(&self.pool)
        .await
        .map_err(self.failed("record asset usage"))?;
        Ok(())
    }

    pub(super) async fn summarize_usage(&self, asset_id: AssetId) -> Result<UsageSummary> {
        let action = format!("summarize the usage of asset {asset_id}");
        let id = asset_id.to_string();
        let by_kind = sqlx::query(
            "SELECT kind, COUNT(*) AS count FROM usage WHERE asset_id = $1 GROUP BY kind",
        )
        .bind(&id)
        .fetch_all(&self.pool)
        .await
        .map_err(self.failed(&action))?;
        let by_client = sqlx::query(
            "SELECT client_id, COUNT(*) AS count, MAX(at) AS last_used_at FROM usage \
             WHERE asset_id = $1 GROUP BY client_id ORDER BY count DESC, client_id",
        )
        .bind(&id)
        .fetch_all(&self.pool)
        .await
        .map_err(self.failed(&action))?;
        let totals = sqlx::query(
            "SELECT COUNT(*) AS total, MAX(at) AS last_used_at, \
             COALESCE(SUM(saved_micros), 0)::BIGINT AS saved_micros \
             FROM usage WHERE asset_id = $1",
        )
        .bind(&id)
        .fetch_one(&self.pool)
        .await
        .map_err(self.failed(&action))?;
        Ok(UsageSummary {
            total: int8(&totals, "total")?,
            by_kind: kind_counts(&by_kind)?,
            by_client: by_client
                .iter()
                .map(client_usage_from_row)
                .collect::<Result<_>>()?,
            last_used_at: optional_timestamp(&totals, "last_used_at")?,
            saved_micros: money(&totals, "saved_micros")?,
        })
    }

    /// Money reuse saved, over a cost query's client, campaign and time range.
    pub(super) async fn sum_savings(&self, query: &CostQuery) -> Result<Money> {
        let mut sql = QueryBuilder::<Postgres>::new(
            "SELECT COALESCE(SUM(saved_micros), 0)::BIGINT FROM usage WHERE kind = 'reuse'",
        );
        if let Some(client_id) = &query.client_id {
            sql.push(" AND client_id = ").push_bind(client_id.as_str());
        }
        if let Some(campaign_id) = &query.campaign_id {
            sql.push(" AND campaign_id = ")
                .push_bind(campaign_id.as_str());
        }
        if let Some(since) = query.since {
            sql.push(" AND at >= ").push_bind(since.millis());
        }
        if let Some(until) = query.until {
            sql.push(" AND at < ").push_bind(until.millis());
        }
        let saved: i64 = sql
            .build_query_scalar()
            .fetch_one(&self.pool)
            .await
            .map_err(self.failed("sum the money reuse saved"))?;
        Ok(Money::from_micros(saved))
    }
}

/// Every kind, 0 when it has no rows.
fn kind_counts(rows: &[PgRow]) -> Result<Vec<UsageCount>> {
    let mut counts: Vec<UsageCount> = UsageKind::ALL
        .into_iter()
        .map(|kind| UsageCount { kind, count: 0 })
        .collect();
    for row in rows {
        let name: String = get(row, "kind")?;
        let kind = UsageKind::parse(&name)
            .ok_or_else(|| Error::Internal(format!("usage row with unknown kind {name:?}")))?;
        if let Some(entry) = counts.iter_mut().find(|c| c.kind == kind) {
            entry.count = int8(row, "count")?;
        }
    }
    Ok(counts)
}

fn client_usage_from_row(row: &PgRow) -> Result<ClientUsage> {
    Ok(ClientUsage {
        client_id: client_id(row, "client_id")?,
        count: int8(row, "count")?,
        last_used_at: timestamp(row, "last_used_at")?,
    })
}

fn embedding_from_row(row: &PgRow) -> Result<StoredEmbedding> {
    let id: String = get(row, "id")?;
    let kind: String = get(row, "type")?;
    let bytes: Vec<u8> = get(row, "vector")?;
    let corrupt = |what: &str| Error::Internal(format!("embedding of asset {id}: {what}"));
    Ok(StoredEmbedding {
        asset_id: AssetId::parse(&id).map_err(|_| corrupt("bad id"))?,
        campaign_id: get(row, "campaign_id")?,
        kind: AssetKind::parse(&kind).ok_or_else(|| corrupt("unknown type"))?,
        vector: embed::from_le_bytes(&bytes).ok_or_else(|| corrupt("vector length"))?,
    })
}
