//! `OpenAiEmbedder`: text-embedding-3-small vectors for search and reuse.

use async_trait::async_trait;
use gaia_core::{Embedder, Result};
use serde::{Deserialize, Serialize};

use crate::http::{self, HttpProvider, ProviderSettings};

/// The embedding model.
pub const EMBEDDING_MODEL: &str = "text-embedding-3-small";
/// Its vector length.
pub const EMBEDDING_DIMENSIONS: usize = 1536;
/// Most texts in one request (the API takes up to 2048).
const MAX_BATCH_ITEMS: usize = 2048;
/// Most characters in one request: a conservative bound under the API's
/// 300,000 tokens per request (a token is about four characters).
const MAX_BATCH_CHARS: usize = 600_000;

/// Embeds texts with OpenAI's `text-embedding-3-small` (1536 dimensions),
/// in batches; vectors are normalized to unit length, and blank texts get
/// the zero vector without a call (the API refuses empty input).
pub struct OpenAiEmbedder {
    http: HttpProvider,
}

impl OpenAiEmbedder {
    /// The embedder reaching `settings.base_url` with `settings.api_key`.
    pub fn new(settings: &ProviderSettings) -> Result<Self> {
        Ok(Self {
            http: super::connection(settings)?,
        })
    }

    async fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let body = EmbeddingsRequest {
            model: EMBEDDING_MODEL,
            input: texts,
            encoding_format: "float",
        };
        let request = self.http.post("/embeddings").json(&body);
        let response: EmbeddingsResponse = self.http.send_json(request).await?;
        let mut vectors = vec![Vec::new(); texts.len()];
        for (position, item) in response.data.into_iter().enumerate() {
            let field = format!("data[{position}]");
            let slot = vectors
                .get_mut(item.index)
                .ok_or_else(|| http::bad_shape(super::NAME, &field, "has an index out of range"))?;
            if item.embedding.len() != EMBEDDING_DIMENSIONS {
                return Err(http::bad_shape(
                    super::NAME,
                    &format!("{field}.embedding"),
                    format_args!(
                        "has {} dimensions, not {EMBEDDING_DIMENSIONS}",
                        item.embedding.len()
                    ),
                ));
            }
            *slot = normalized(item.embedding);
        }
        if let Some(missing) = vectors.iter().position(Vec::is_empty) {
            return Err(http::bad_shape(
                super::NAME,
                "data",
                format_args!("has no embedding for input {missing}"),
            ));
        }
        Ok(vectors)
    }
}

#[async_trait]
impl Embedder for OpenAiEmbedder {
    fn model(&self) -> &str {
        EMBEDDING_MODEL
    }

    fn dimensions(&self) -> usize {
        EMBEDDING_DIMENSIONS
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let mut vectors = vec![vec![0.0; EMBEDDING_DIMENSIONS]; texts.len()];
        let wanted: Vec<(usize, &str)> = texts
            .iter()
            .enumerate()
            .filter(|(_, text)| !text.trim().is_empty())
            .map(|(i, text)| (i, text.as_str()))
            .collect();
        for batch in batches(&wanted) {
            let inputs: Vec<&str> = batch.iter().map(|(_, text)| *text).collect();
            let embedded = self.embed_batch(&inputs).await?;
            for ((slot, _), vector) in batch.iter().zip(embedded) {
                vectors[*slot] = vector;
            }
        }
        Ok(vectors)
    }
}

/// Splits texts into requests under the item and size limits.
fn batches<'a>(texts: &'a [(usize, &'a str)]) -> Vec<&'a [(usize, &'a str)]> {
    let mut batches = Vec::new();
    let mut start = 0;
    let mut chars = 0;
    for (i, (_, text)) in texts.iter().enumerate() {
        let full = i - start == MAX_BATCH_ITEMS || (chars + text.len() > MAX_BATCH_CHARS);
        if full && i > start {
            batches.push(&texts[start..i]);
            start = i;
            chars = 0;
        }
        chars += text.len();
    }
    if start < texts.len() {
        batches.push(&texts[start..]);
    }
    batches
}

fn normalized(mut vector: Vec<f32>) -> Vec<f32> {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
    vector
}

#[derive(Debug, Serialize)]
struct EmbeddingsRequest<'a> {
    model: &'static str,
    input: &'a [&'a str],
    encoding_format: &'static str,
}

#[derive(Debug, Deserialize)]
struct EmbeddingsResponse {
    data: Vec<EmbeddingItem>,
}

#[derive(Debug, Deserialize)]
struct EmbeddingItem {
    index: usize,
    embedding: Vec<f32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_both_limits() {
        let long = "x".repeat(MAX_BATCH_CHARS / 2 + 1);
        let texts: Vec<(usize, &str)> = (0..3).map(|i| (i, long.as_str())).collect();
        let sizes: Vec<usize> = batches(&texts).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [1, 1, 1]);
        let many: Vec<(usize, &str)> = (0..MAX_BATCH_ITEMS + 5).map(|i| (i, "a")).collect();
        let sizes: Vec<usize> = batches(&many).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [MAX_BATCH_ITEMS, 5]);
        assert!(batches(&[]).is_empty());
    }

    #[test]
    fn vectors_are_normalized() {
        let v = normalized(vec![3.0, 4.0]);
        assert_eq!(v, [0.6, 0.8]);
        assert_eq!(normalized(vec![0.0, 0.0]), [0.0, 0.0]);
    }
}
