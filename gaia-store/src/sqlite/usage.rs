//! Embedding vectors (little-endian `f32` blobs) and asset usage.

use gaia_core::{
    AssetId, AssetKind, ClientId, ClientUsage, Embeddings, Error, Money, Result, StoredEmbedding,
    UsageCount, UsageKind, UsageRecord, UsageSummary, embed,
};
use rusqlite::types::Value;
use rusqlite::{Connection, Row, params};

use super::rows::{client_id, get, money, optional_timestamp, timestamp};
use super::{Query, Sql, SqliteStore, all_rows, first_row, scalar};

/// Stores vectors (replacing a model's earlier vector of the same asset);
/// an asset deleted meanwhile gets none.
pub(super) fn insert_embeddings(connection: &Connection, embeddings: &Embeddings) -> Sql<()> {
    let mut insert = connection.prepare_cached(
        "INSERT INTO embeddings (asset_id, model, vector) \
         SELECT id, ?, ? FROM assets WHERE id = ? \
         ON CONFLICT (asset_id, model) DO UPDATE SET vector = excluded.vector",
    )?;
    for (asset_id, vector) in &embeddings.vectors {
        insert.execute(params![
            embeddings.model,
            embed::to_le_bytes(vector),
            asset_id.to_string()
        ])?;
    }
    Ok(())
}

/// Rows per `INSERT` of usage records (4 variables each, well under SQLite's limit).
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
        let embeddings = Embeddings {
            model: model.to_owned(),
            vectors: embeddings.to_vec(),
        };
        let rows = embeddings.vectors.len();
        self.write_rows("store embeddings", rows, move |connection| {
            insert_embeddings(connection, &embeddings)
        })
        .await
    }

    pub(super) async fn read_embeddings(
        &self,
        client: &ClientId,
        model: &str,
    ) -> Result<Vec<StoredEmbedding>> {
        let params = (model.to_owned(), client.to_string());
        self.read(
            &format!("read the embeddings of {client}"),
            move |connection| {
                all_rows(
                    connection,
                    "SELECT a.id, a.campaign_id, a.type, e.vector FROM assets a \
                 JOIN embeddings e ON e.asset_id = a.id AND e.model = ? \
                 WHERE a.client_id = ? ORDER BY a.seq",
                    params,
                    embedding_from_row,
                )
            },
        )
        .await
    }

    pub(super) async fn write_usage(&self, records: &[UsageRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let inserts: Vec<Query> = records.chunks(USAGE_PER_INSERT).map(usage_insert).collect();
        self.write("record asset usage", move |connection| {
            for insert in &inserts {
                insert.execute(connection)?;
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn summarize_usage(&self, asset_id: AssetId) -> Result<UsageSummary> {
        let action = format!("summarize the usage of asset {asset_id}");
        let id = asset_id.to_string();
        self.read(&action, move |connection| {
            let by_kind = all_rows(
                connection,
                "SELECT kind, COUNT(*) AS count FROM usage WHERE asset_id = ? GROUP BY kind",
                [&id],
                |row| Ok((get::<String>(row, "kind")?, count(row, "count")?)),
            )?;
            let by_client = all_rows(
                connection,
                "SELECT client_id, COUNT(*) AS count, MAX(at) AS last_used_at FROM usage \
                 WHERE asset_id = ? GROUP BY client_id ORDER BY count DESC, client_id",
                [&id],
                client_usage_from_row,
            )?;
            let totals = first_row(
                connection,
                "SELECT COUNT(*) AS total, MAX(at) AS last_used_at, \
                 COALESCE(SUM(saved_micros), 0) AS saved_micros FROM usage WHERE asset_id = ?",
                [&id],
                |row| {
                    Ok((
                        count(row, "total")?,
                        optional_timestamp(row, "last_used_at")?,
                        money(row, "saved_micros")?,
                    ))
                },
            )?;
            let (total, last_used_at, saved_micros) = totals.unwrap_or((0, None, Money::ZERO));
            Ok(UsageSummary {
                total,
                by_kind: kind_counts(by_kind)?,
                by_client,
                last_used_at,
                saved_micros,
            })
        })
        .await
    }

    /// Money reuse saved, over a cost query's client, campaign and time range.
    pub(super) async fn sum_savings(&self, query: &gaia_core::CostQuery) -> Result<Money> {
        let mut sql = Query::filtered(
            "SELECT COALESCE(SUM(saved_micros), 0) FROM usage WHERE kind = 'reuse'",
        );
        if let Some(client_id) = &query.client_id {
            sql.filter("client_id = ?", client_id.to_string());
        }
        if let Some(campaign_id) = &query.campaign_id {
            sql.filter("campaign_id = ?", campaign_id.clone());
        }
        if let Some(since) = query.since {
            sql.filter("at >= ?", since.millis());
        }
        if let Some(until) = query.until {
            sql.filter("at < ?", until.millis());
        }
        let saved: i64 = self
            .read("sum the money reuse saved", move |connection| {
                scalar(connection, &sql.sql, sql.params())
            })
            .await?;
        Ok(Money::from_micros(saved))
    }
}

/// One `INSERT` of usage records, joined with assets: records of assets
/// deleted meanwhile are dropped.
fn usage_insert(records: &[UsageRecord]) -> Query {
    let mut insert = Query::new(
        "INSERT INTO usage (asset_id, client_id, campaign_id, kind, at) \
         SELECT assets.id, used.client_id, assets.campaign_id, used.kind, used.at FROM (",
    );
    for (n, record) in records.iter().enumerate() {
        insert.push(
            if n == 0 {
                "SELECT "
            } else {
                " UNION ALL SELECT "
            },
            [],
        );
        insert.push(
            "? AS asset_id, ? AS client_id, ? AS kind, ? AS at",
            [
                Value::from(record.asset_id.to_string()),
                Value::from(record.client_id.to_string()),
                Value::from(record.kind.as_str().to_owned()),
                Value::from(record.at.millis()),
            ],
        );
    }
    insert.push(") AS used JOIN assets ON assets.id = used.asset_id", []);
    insert
}

fn count(row: &Row<'_>, column: &str) -> Result<u64> {
    Ok(u64::try_from(get::<i64>(row, column)?).unwrap_or(0))
}

/// Every kind, 0 when it has no rows.
fn kind_counts(rows: Vec<(String, u64)>) -> Result<Vec<UsageCount>> {
    let mut counts: Vec<UsageCount> = UsageKind::ALL
        .into_iter()
        .map(|kind| UsageCount { kind, count: 0 })
        .collect();
    for (name, count) in rows {
        let kind = UsageKind::parse(&name)
            .ok_or_else(|| Error::Internal(format!("usage row with unknown kind {name:?}")))?;
        if let Some(entry) = counts.iter_mut().find(|c| c.kind == kind) {
            entry.count = count;
        }
    }
    Ok(counts)
}

fn client_usage_from_row(row: &Row<'_>) -> Result<ClientUsage> {
    Ok(ClientUsage {
        client_id: client_id(row, "client_id")?,
        count: count(row, "count")?,
        last_used_at: timestamp(row, "last_used_at")?,
    })
}

fn embedding_from_row(row: &Row<'_>) -> Result<StoredEmbedding> {
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
