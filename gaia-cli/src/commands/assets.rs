//! `gaia assets`.

use gaia::{
    AssetFilter, Error, ImportRequest, ImportSource, Operation, PageRequest, Result, SearchFilter,
    UpscaleMode,
};

use super::generate::{IMAGE_FORMATS, export, parse_format, write_asset};
use super::{Context, asset_id};
use crate::args::{AssetsArgs, AssetsCommand, DeriveArgs, OpArg, UpscaleModeArg};
use crate::output::Output;

pub async fn run(context: &Context, args: AssetsArgs, out: &Output) -> Result<()> {
    // A derivation runs as a job: it needs a worker slot unless only queued.
    let workers = match &args.command {
        AssetsCommand::Derive(derive) if !derive.no_wait => 1,
        _ => 0,
    };
    let engine = context.open(workers).await?;
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
        AssetsCommand::Show { id } => {
            let id = asset_id(&id)?;
            let asset = engine.asset(id).await?;
            let usage = engine.asset_usage(id).await?;
            let lineage = engine.lineage(id).await?;
            out.asset_detail(&asset, &usage, &lineage);
        }
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
        AssetsCommand::Import {
            files,
            campaign,
            tags,
            name,
            no_dedup,
        } => {
            let mut request = ImportRequest::new(context.client.clone());
            request.campaign_id = campaign;
            request.tags = tags;
            request.name = name;
            request.dedup = !no_dedup;
            let mut imported = Vec::with_capacity(files.len());
            for file in files {
                let inserted = engine
                    .import(request.clone(), ImportSource::Path(file.clone()))
                    .await
                    .map_err(|e| name_file(e, &file))?;
                imported.push(inserted);
            }
            out.imported(&imported);
        }
        AssetsCommand::Derive(args) => derive(engine, args, out).await?,
        AssetsCommand::Search {
            query,
            campaign,
            kind,
            limit,
        } => {
            let filter = SearchFilter {
                client_id: context.client.clone(),
                campaign_id: campaign,
                kind: kind.map(|k| k.kind()),
            };
            out.search_results(&engine.search_assets(&query, &filter, limit).await?);
        }
        AssetsCommand::Lineage { id } => out.lineage(&engine.lineage(asset_id(&id)?).await?),
        AssetsCommand::Url { id, ttl } => {
            let url = engine.asset_url(asset_id(&id)?, ttl).await?;
            out.download_url(&url, gaia::Timestamp::now().plus(ttl));
        }
    }
    Ok(())
}

/// Says which file of several an import error is about.
fn name_file(error: Error, file: &std::path::Path) -> Error {
    match error {
        Error::InvalidRequest { field, message } => {
            Error::invalid(field, format!("{}: {message}", file.display()))
        }
        other => other,
    }
}

async fn derive(engine: &gaia::Engine, args: DeriveArgs, out: &Output) -> Result<()> {
    let operation = operation(&args)?;
    let job = engine.derive(asset_id(&args.id)?, operation).await?;
    if args.no_wait {
        out.job(&job);
        return Ok(());
    }
    let job = engine.wait(job.id).await?;
    let asset = engine.first_asset(&job).await?;
    match &args.out {
        Some(dir) => {
            let path = export(engine, &asset, dir).await?;
            out.exported(&asset, &path);
        }
        None => out.asset(&asset),
    }
    Ok(())
}

fn operation(args: &DeriveArgs) -> Result<Operation> {
    let required = |value: Option<u32>, flag: &str| {
        value.ok_or_else(|| Error::invalid(flag, "is required by --op resize"))
    };
    Ok(match args.op {
        OpArg::Resize => Operation::Resize {
            width: required(args.width, "--width")?,
            height: required(args.height, "--height")?,
        },
        OpArg::Convert => Operation::Convert {
            format: parse_format(
                args.format
                    .as_deref()
                    .ok_or_else(|| Error::invalid("--format", "is required by --op convert"))?,
                IMAGE_FORMATS,
            )?,
            quality: args.quality,
        },
        OpArg::Thumbnail => Operation::Thumbnail { size: args.size },
        OpArg::NormalMap => Operation::NormalMap {
            strength: args.strength,
        },
        OpArg::Waveform => Operation::Waveform {
            points: args.points,
            render: args.render,
        },
        OpArg::MeshStats => Operation::MeshStats {},
        OpArg::Edit => Operation::Edit {
            prompt: prompt(args, "edit")?,
            mask_id: args.mask.as_deref().map(asset_id).transpose()?,
        },
        OpArg::Upscale => Operation::Upscale {
            prompt: args.prompt.clone(),
            mode: match args.mode {
                UpscaleModeArg::Fast => UpscaleMode::Fast,
                UpscaleModeArg::Conservative => UpscaleMode::Conservative,
                UpscaleModeArg::Creative => UpscaleMode::Creative,
            },
        },
        OpArg::Retexture => Operation::Retexture {
            prompt: prompt(args, "retexture")?,
            enable_pbr: args.pbr,
        },
        OpArg::ImageTo3d => Operation::ImageTo3d {
            texture: !args.no_texture,
            enable_pbr: args.pbr,
        },
    })
}

/// The `--prompt` an operation needs.
fn prompt(args: &DeriveArgs, op: &str) -> Result<String> {
    args.prompt
        .clone()
        .ok_or_else(|| Error::invalid("--prompt", format!("is required by --op {op}")))
}
