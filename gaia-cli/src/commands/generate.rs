//! `gaia generate`.

use std::path::{Path, PathBuf};

use futures::StreamExt;
use gaia::prelude::*;
use gaia::{
    AudioFormat, AudioMode, AudioSpec, Error, EventKind, ImageFormat, ModelFormat, ModelSpec,
    Result, Reuse, Route, RouteTarget, VideoFormat, VideoSpec,
};
use indicatif::{ProgressBar, ProgressStyle};

use super::Context;
use crate::args::{AudioModeArg, GenerateArgs, KindArg};
use crate::output::Output;

pub async fn run(context: &Context, args: GenerateArgs, out: &Output) -> Result<()> {
    let request = build_request(context, &args)?;
    let workers = if args.no_wait { 0 } else { args.workers.max(1) };
    let engine = context.open(workers).await?;
    let result = submit_and_follow(&engine, request, &args, out).await;
    engine.close().await?;
    result
}

async fn submit_and_follow(
    engine: &Engine,
    request: Request,
    args: &GenerateArgs,
    out: &Output,
) -> Result<()> {
    // Subscribe before submitting so no progress event is missed.
    let events = engine.events();
    let job = engine.submit(request).await?;
    if args.no_wait {
        out.job(&job);
        return Ok(());
    }
    let bar = progress_bar(out);
    let follow = follow_progress(events, job.id, bar.clone());
    let done = tokio::select! {
        done = engine.wait(job.id) => done,
        () = follow => engine.wait(job.id).await,
        // Ctrl-C stops the job too, rather than leaving it to a later run.
        _ = tokio::signal::ctrl_c() => engine.cancel(job.id).await.and(Err(Error::Canceled)),
    };
    bar.finish_and_clear();
    let done = done?;
    super::ended(engine, &done).await?;
    let mut written = Vec::new();
    for id in &done.asset_ids {
        let asset = engine.asset(*id).await?;
        let path = export(engine, &asset, &args.out).await?;
        written.push((asset, path));
    }
    out.generated(&done, &written);
    Ok(())
}

fn progress_bar(out: &Output) -> ProgressBar {
    if out.is_json() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(100);
    let style = ProgressStyle::with_template("{spinner} {msg:12} [{bar:30}] {pos:>3}%")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message("queued");
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// Moves the bar with the job's events; returns when the stream ends.
async fn follow_progress(mut events: gaia::EventStream, job_id: JobId, bar: ProgressBar) {
    while let Some(event) = events.next().await {
        if event.job_id != Some(job_id) {
            continue;
        }
        match event.kind {
            EventKind::JobStarted {
                provider, attempt, ..
            } => {
                bar.set_message(if attempt > 1 {
                    format!("{provider} #{attempt}")
                } else {
                    provider
                });
                bar.set_position(0);
            }
            EventKind::JobProgress { progress } => bar.set_position(u64::from(progress.value())),
            EventKind::JobLog { message, .. } => bar.println(format!("  {message}")),
            kind if kind.is_terminal() => return,
            _ => {}
        }
    }
    // The stream only ends with the engine; wait for the job instead.
    std::future::pending::<()>().await;
}

/// Writes an asset into `dir` under its file name.
pub async fn export(engine: &Engine, asset: &Asset, dir: &Path) -> Result<PathBuf> {
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| Error::storage(format!("cannot create {}", dir.display()), e))?;
    let path = dir.join(asset.file_name());
    write_asset(engine, asset, &path).await?;
    Ok(path)
}

/// Streams an asset's bytes to `path` (recorded as an export).
pub async fn write_asset(engine: &Engine, asset: &Asset, path: &Path) -> Result<()> {
    engine.export_asset(asset.id, path).await.map(|_| ())
}

/// `--reuse`: `exact`, `never`, or `similar:SCORE`.
fn parse_reuse(text: &str) -> Result<Reuse> {
    match text {
        "exact" => Ok(Reuse::Exact),
        "never" => Ok(Reuse::Never),
        _ => text
            .strip_prefix("similar:")
            .and_then(|score| score.parse::<f64>().ok())
            .map(Reuse::Similar)
            .ok_or_else(|| {
                Error::invalid(
                    "--reuse",
                    format!("{text:?} is not exact, never or similar:SCORE (e.g. similar:0.9)"),
                )
            }),
    }
}

fn build_request(context: &Context, args: &GenerateArgs) -> Result<Request> {
    let mut request = Request::new(context.client.clone(), build_spec(args)?);
    request.campaign_id = args.campaign.clone();
    request.tags = args.tags.clone();
    request.max_cost_micros = args.max_cost_micros;
    request.priority = args.priority;
    request.idempotency_key = args.idempotency_key.clone();
    if let Some(reuse) = &args.reuse {
        request.reuse = parse_reuse(reuse)?;
    }
    if let Some(provider) = &args.provider {
        request.route = Route::Target(RouteTarget::new(provider, args.model.clone()));
    }
    request.validate()?;
    Ok(request)
}

fn build_spec(args: &GenerateArgs) -> Result<Spec> {
    let size = args.size.as_deref().map(parse_size).transpose()?;
    let format = args.format.as_deref();
    if !matches!(args.kind, KindArg::Audio) {
        let audio_only = |flag: &str| Error::invalid(flag, "applies to audio");
        let audio_flags = [
            ("--mode", args.mode.is_some()),
            ("--voice", args.voice.is_some()),
            ("--loop", args.looping),
            ("--prompt-influence", args.prompt_influence.is_some()),
        ];
        if let Some((flag, _)) = audio_flags.iter().find(|(_, given)| *given) {
            return Err(audio_only(flag));
        }
    }
    Ok(match args.kind {
        KindArg::Image => {
            let mut spec = ImageSpec::new(&args.prompt)
                .tileable(args.tileable)
                .count(args.count);
            if let Some((w, h)) = size {
                spec = spec.size(w, h);
            }
            spec.seed = args.seed;
            spec.format = format.map(|f| parse_format(f, IMAGE_FORMATS)).transpose()?;
            Spec::Image(spec)
        }
        KindArg::Audio => {
            let mut spec = AudioSpec::new(&args.prompt);
            spec.seed = args.seed;
            spec.count = args.count;
            spec.duration_s = args.duration;
            spec.mode = match args.mode {
                None | Some(AudioModeArg::Sfx) => AudioMode::Sfx,
                Some(AudioModeArg::Speech) => AudioMode::Speech,
                Some(AudioModeArg::Music) => AudioMode::Music,
            };
            if args.voice.is_some() && spec.mode != AudioMode::Speech {
                return Err(Error::invalid(
                    "--voice",
                    "applies to speech (--mode speech)",
                ));
            }
            spec.voice = args.voice.clone();
            spec.looping = args.looping;
            spec.prompt_influence = args.prompt_influence;
            spec.format = format.map(|f| parse_format(f, AUDIO_FORMATS)).transpose()?;
            Spec::Audio(spec)
        }
        KindArg::Model => Spec::Model(ModelSpec {
            prompt: args.prompt.clone(),
            seed: args.seed,
            count: args.count,
            format: format.map(|f| parse_format(f, MODEL_FORMATS)).transpose()?,
            detail: None,
        }),
        KindArg::Video => Spec::Video(VideoSpec {
            prompt: args.prompt.clone(),
            seed: args.seed,
            count: args.count,
            width: size.map(|s| s.0),
            height: size.map(|s| s.1),
            duration_s: args.duration,
            format: format.map(|f| parse_format(f, VIDEO_FORMATS)).transpose()?,
            reference_asset_id: None,
        }),
    })
}

pub(crate) const IMAGE_FORMATS: &[(&str, ImageFormat)] = &[
    ("png", ImageFormat::Png),
    ("jpeg", ImageFormat::Jpeg),
    ("jpg", ImageFormat::Jpeg),
    ("webp", ImageFormat::Webp),
];
const AUDIO_FORMATS: &[(&str, AudioFormat)] = &[
    ("wav", AudioFormat::Wav),
    ("mp3", AudioFormat::Mp3),
    ("ogg", AudioFormat::Ogg),
    ("flac", AudioFormat::Flac),
];
const MODEL_FORMATS: &[(&str, ModelFormat)] = &[
    ("glb", ModelFormat::Glb),
    ("gltf", ModelFormat::Gltf),
    ("fbx", ModelFormat::Fbx),
    ("obj", ModelFormat::Obj),
    ("usdz", ModelFormat::Usdz),
];
const VIDEO_FORMATS: &[(&str, VideoFormat)] =
    &[("mp4", VideoFormat::Mp4), ("webm", VideoFormat::Webm)];

pub(crate) fn parse_format<F: Copy>(text: &str, known: &[(&str, F)]) -> Result<F> {
    let lower = text.to_ascii_lowercase();
    known
        .iter()
        .find(|(name, _)| *name == lower)
        .map(|(_, f)| *f)
        .ok_or_else(|| {
            let names: Vec<&str> = known.iter().map(|(n, _)| *n).collect();
            Error::invalid(
                "--format",
                format!("{text:?} is not one of {}", names.join(", ")),
            )
        })
}

/// Parses `WIDTHxHEIGHT`.
fn parse_size(text: &str) -> Result<(u32, u32)> {
    let bad = || {
        Error::invalid(
            "--size",
            format!("{text:?} is not WIDTHxHEIGHT (for example 1024x1024)"),
        )
    };
    let (w, h) = text.split_once(['x', 'X']).ok_or_else(bad)?;
    let w: u32 = w.trim().parse().map_err(|_| bad())?;
    let h: u32 = h.trim().parse().map_err(|_| bad())?;
    Ok((w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuse_parses_exact_never_and_similar() {
        assert_eq!(parse_reuse("exact").ok(), Some(Reuse::Exact));
        assert_eq!(parse_reuse("never").ok(), Some(Reuse::Never));
        assert_eq!(parse_reuse("similar:0.9").ok(), Some(Reuse::Similar(0.9)));
        for bad in ["similar", "similar:x", "sometimes"] {
            let err = parse_reuse(bad)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("--reuse"), "{bad}: {err}");
        }
    }

    #[test]
    fn sizes_parse_or_name_the_flag() {
        assert_eq!(parse_size("1024x512").ok(), Some((1024, 512)));
        for bad in ["12x", "x12", "12", "axb", "-1x5"] {
            let err = parse_size(bad)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("--size"), "{bad}: {err}");
        }
    }
}
