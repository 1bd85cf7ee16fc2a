//! Staging helpers shared by the blob store tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;

use gaia_core::{GenerateContext, StagedContent, StagedOutput};
use tempfile::TempDir;

/// Stages `bytes` as a provider holding them in memory does (small bytes
/// stay in memory).
pub async fn staged(dir: &TempDir, bytes: &[u8]) -> StagedOutput {
    GenerateContext::detached(dir.path().join("staging"))
        .stage_bytes(bytes)
        .await
        .unwrap()
}

/// Stages `bytes` through a staging file, as a streaming provider does.
pub async fn staged_file(dir: &TempDir, bytes: &[u8]) -> StagedOutput {
    let cx = GenerateContext::detached(dir.path().join("staging"));
    let mut file = cx.stage().await.unwrap();
    file.write(bytes).await.unwrap();
    file.finish().await.unwrap()
}

/// Where a staged output's file is; panics for one in memory.
pub fn staged_path(output: &StagedOutput) -> PathBuf {
    match output.content() {
        StagedContent::File(path) => path.to_path_buf(),
        StagedContent::Memory(_) => panic!("staged in memory"),
    }
}
