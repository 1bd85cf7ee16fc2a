//! `gaia assets`.

use gaia::{AssetFilter, PageRequest, Result};

use super::generate::{export, write_asset};
use super::{Context, asset_id};
use crate::args::{AssetsArgs, AssetsCommand};
use crate::output::Output;

pub async fn run(context: &Context, args: AssetsArgs, out: &Output) -> Result<()> {
    let engine = context.open(0).await?;
    let result = dispatch(context, &engine, args.command, out).await;
    engine.close().await?;
    result
}

async fn dispatch(
    context: &Context,
    engine: &gaia::Engine,
    command: AssetsCommand,
    out: &Output,
) -> Result<()> {
    match command {
        AssetsCommand::List {
            kind,
            campaign,
            tag,
            page,
        } => {
            let filter = AssetFilter {
                client_id: Some(context.client.clone()),
                campaign_id: campaign,
                kind: kind.map(|k| k.kind()),
                tag,
            };
            let page = engine
                .assets(
                    &filter,
                    &PageRequest {
                        cursor: page.cursor,
                        limit: Some(page.limit),
                    },
                )
                .await?;
            out.assets(&page);
        }
        AssetsCommand::Show { id } => out.asset(&engine.asset(asset_id(&id)?).await?),
        AssetsCommand::Export { id, out: target } => {
            let asset = engine.asset(asset_id(&id)?).await?;
            let path = if target.is_dir() {
                export(engine, &asset, &target).await?
            } else {
                write_asset(engine, &asset, &target).await?;
                target
            };
            out.exported(&asset, &path);
        }
        AssetsCommand::Delete { id } => {
            engine.delete_asset(asset_id(&id)?).await?;
            out.deleted("asset", &id);
        }
    }
    Ok(())
}
