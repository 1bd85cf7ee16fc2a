//! Generates a seamless texture offline and writes it next to the program.
//!
//! `cargo run --example generate_texture -- "lava rock" 512`
#![allow(clippy::print_stdout)]

use gaia::prelude::*;

#[tokio::main]
async fn main() -> gaia::Result<()> {
    let mut args = std::env::args().skip(1);
    let prompt = args
        .next()
        .unwrap_or_else(|| "mossy cobblestone".to_owned());
    let size: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(512);

    let engine = Engine::open(EngineConfig::at(".gaia")).await?;
    let request = Request::new(
        ClientId::new("example")?,
        ImageSpec::new(prompt)
            .size(size, size)
            .tileable(true)
            .seed(7),
    );
    let asset = engine.generate(request).await?;
    let bytes = engine.read_bytes(asset.id).await?;
    let path = asset.file_name();
    std::fs::write(&path, &bytes)
        .map_err(|e| gaia::Error::storage(format!("cannot write {path}"), e))?;
    println!(
        "{} -> {path} ({} bytes, cost {})",
        asset.id,
        bytes.len(),
        asset.cost_micros
    );
    engine.close().await
}
