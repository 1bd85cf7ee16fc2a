//! Embedding vectors (little-endian `f32` blobs) and asset usage.

use gaia_core::{
    AssetId, AssetKind, ClientId, ClientUsage, Error, Money, Result, StoredEmbedding, UsageCount,
    UsageKind, UsageRecord, UsageSummary, embed,
};
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use super::rows::{client_id, get, money, optional_timestamp, timestamp};

/// Rows per `INSERT` of usage records (7 variables each, well under SQLite's limit).
const USAGE_PER_INSERT: usize = 100;

impl SqliteStore {
    pub(super) async fn write_embeddings(
        &self,
        model: &str,
        embeddings: &[(AssetId, Vec<f32>)],
    ) -> Result<()> {
        if embeddings.is_empty() {
            return Ok(());
        }
        let action = "store embeddings";
        let mut tx = self.begin_write(action).await?;
        for (asset_id, vector) in embeddings {
            // INSERT … SELECT: an asset deleted meanwhile gets no vector.
            sqlx::query(
                "INSERT INTO embeddings (asset_id, model, vector) \
                 SELECT id, ?, ? FROM assets WHERE id = ? \
                 ON CONFLICT (asset_id, model) DO UPDATE SET vector = excluded.vector",
            )
            .bind(model)
            .bind(embed::to_le_bytes(vector))
            .bind(asset_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(self.failed(action))?;
        }
        self.commit(tx, action).await
    }

    pub(super) async fn read_embeddings(
        &self,
        client: &ClientId,
        model: &str,
    ) -> Result<Vec<StoredEmbedding>> {
        let rows = sqlx::query(
            "SELECT a.id, a.campaign_id, a.type, e.vector FROM assets a \
             JOIN embeddings e ON e.asset_id = a.id AND e.model = ? \
             WHERE a.client_id = ? ORDER BY a.seq",
        )
        .bind(model)
        .bind(client.as_str())
        .fetch_all(&self.reader)
        .await
        .map_err(self.failed(&format!("read the embeddings of {client}")))?;
        rows.iter().map(embedding_from_row).collect()
    }

    pub(super) async fn write_usage(&self, records: &[UsageRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let action = "record asset usage";
        let mut tx = self.begin_write(action).await?;
        for chunk in records.chunks(USAGE_PER_INSERT) {
            let mut query = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO usage (asset_id, client_id, campaign_id, kind, at) \
                 SELECT assets.id, used.client_id, assets.campaign_id, used.kind, used.at \
                 FROM (",
            );
            let mut first = true;
            for record in chunk {
                query.push(if first {
                    "SELECT "
                } else {
                    " UNION ALL SELECT "
                });
                first = false;
                query
                    .push_bind(record.asset_id.to_string())
                    .push(" AS asset_id, ")
                    .push_bind(record.client_id.as_str())
                    .push(" AS client_id, ")
                    .push_bind(record.kind.as_str())
                    .push(" AS kind, ")
                    .push_bind(record.at.millis())
                    .push(" AS at");
            }
            // Joined with assets: records of assets deleted meanwhile are dropped.
            query.push(") AS used JOIN assets ON assets.id = used.asset_id");
            query
                .build()
                .execute(&mut *tx)
                .await
                .map_err(self.failed(action))?;
        }
        self.commit(tx, action).await
    }

    pub(super) async fn summarize_usage(&self, asset_id: AssetId) -> Result<UsageSummary> {
        let action = format!("summarize the usage of asset {asset_id}");
        let id = asset_id.to_string();
        let by_kind = sqlx::query(
            "SELECT kind, COUNT(*) AS count FROM usage WHERE asset_id = ? GROUP BY kind",
        )
        .bind(&id)
        .fetch_all(&self.reader)
        .await
        .map_err(self.failed(&action))?;
        let by_client = sqlx::query(
            "SELECT client_id, COUNT(*) AS count, MAX(at) AS last_used_at FROM usage \
             WHERE asset_id = ? GROUP BY client_id ORDER BY count DESC, client_id",
        )
        .bind(&id)
        .fetch_all(&self.reader)
        .await
        .map_err(self.failed(&action))?;
        let totals = sqlx::query(
            "SELECT COUNT(*) AS total, MAX(at) AS last_used_at, \
             COALESCE(SUM(saved_micros), 0) AS saved_micros FROM usage WHERE asset_id = ?",
        )
        .bind(&id)
        .fetch_one(&self.reader)
        .await
        .map_err(self.failed(&action))?;
        Ok(UsageSummary {
            total: count(&totals, "total")?,
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
    pub(super) async fn sum_savings(&self, query: &gaia_core::CostQuery) -> Result<Money> {
        let mut sql = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "SELECT COALESCE(SUM(saved_micros), 0) FROM usage WHERE kind = 'reuse'",
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
            .fetch_one(&self.reader)
            .await
            .map_err(self.failed("sum the money reuse saved"))?;
        Ok(Money::from_micros(saved))
    }
}

fn count(row: &SqliteRow, column: &str) -> Result<u64> {
    Ok(u64::try_from(get::<i64>(row, column)?).unwrap_or(0))
}

/// Every kind, 0 when it has no rows.
fn kind_counts(rows: &[SqliteRow]) -> Result<Vec<UsageCount>> {
    let mut counts: Vec<UsageCount> = UsageKind::ALL
        .into_iter()
        .map(|kind| UsageCount { kind, count: 0 })
        .collect();
    for row in rows {
        let name: String = get(row, "kind")?;
        let kind = UsageKind::parse(&name)
            .ok_or_else(|| Error::Internal(format!("usage row with unknown kind {name:?}")))?;
        if let Some(entry) = counts.iter_mut().find(|c| c.kind == kind) {
            entry.count = count(row, "count")?;
        }
    }
    Ok(counts)
}

fn client_usage_from_row(row: &SqliteRow) -> Result<ClientUsage> {
    Ok(ClientUsage {
        client_id: client_id(row, "client_id")?,
        count: count(row, "count")?,
        last_used_at: timestamp(row, "last_used_at")?,
    })
}

fn embedding_from_row(row: &SqliteRow) -> Result<StoredEmbedding> {
    let id: String = get(row, "id")?;
    let kind: String = get(row, "type")?;
    let blob: Vec<u8> = get(row, "vector")?;
    let corrupt = |what: &str| Error::Internal(format!("embedding of asset {id}: {what}"));
    Ok(StoredEmbedding {
        asset_id: AssetId::parse(&id).map_err(|_| corrupt("bad id"))?,
        campaign_id: get(row, "campaign_id")?,
        kind: AssetKind::parse(&kind).ok_or_else(|| corrupt("unknown type"))?,
        vector: embed::from_le_bytes(&blob).ok_or_else(|| corrupt("blob length"))?,
    })
}
