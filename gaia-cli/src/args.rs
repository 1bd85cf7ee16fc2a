//! Command-line arguments.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Generate game assets (textures, sounds, models) as durable jobs.
#[derive(Debug, Parser)]
#[command(name = "gaia", version)]
pub struct Cli {
    /// The client (tenant) every command acts for.
    #[arg(long, global = true, env = "GAIA_CLIENT_ID", default_value = "local")]
    pub client: String,
    /// Print JSON (the wire format) instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// The folder holding the default SQLite database and blobs [default:
    /// the config file's `path`, else .gaia].
    #[arg(long, global = true, env = "GAIA_PATH")]
    pub path: Option<PathBuf>,
    /// A database URL (sqlite://…, postgres://…); overrides --path for the database.
    #[arg(long, global = true, env = "GAIA_DATABASE_URL")]
    pub database: Option<String>,
    /// A blob store URL (file://…, s3://…, or db: for the database itself);
    /// overrides --path for the blobs.
    #[arg(long, global = true, env = "GAIA_BLOBS_URL")]
    pub blobs: Option<String>,
    /// An EngineConfig JSON file (provider keys, lease, retries); flags override it.
    #[arg(long, global = true, env = "GAIA_CONFIG")]
    pub config: Option<PathBuf>,
    /// More logging on stderr (-v info, -vv debug); GAIA_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate an asset and wait for it (or queue it with --no-wait).
    Generate(GenerateArgs),
    /// List, inspect, cancel, retry and watch jobs.
    Jobs(JobsArgs),
    /// List, inspect, export and delete assets.
    Assets(AssetsArgs),
    /// Money spent, summed in the database.
    Costs(CostsArgs),
    /// Spending limits.
    Budget(BudgetArgs),
    /// Configured providers, their models and prices.
    Providers,
    /// Run workers only, until interrupted.
    Worker(WorkerArgs),
}

/// Asset kinds a request can ask for.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    /// An image or texture.
    Image,
    /// A sound.
    Audio,
    /// A 3D model.
    Model,
    /// A video.
    Video,
}

/// Kinds of audio.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AudioModeArg {
    /// A sound effect (the default).
    Sfx,
    /// The prompt spoken (a provider with speech: ElevenLabs).
    Speech,
    /// Music (a provider with music: Replicate).
    Music,
}

/// `gaia generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// What to generate.
    pub kind: KindArg,
    /// The prompt.
    pub prompt: String,
    /// Image or video size, WIDTHxHEIGHT.
    #[arg(long)]
    pub size: Option<String>,
    /// A seamless (tileable) texture.
    #[arg(long)]
    pub tileable: bool,
    /// Seed for deterministic providers.
    #[arg(long)]
    pub seed: Option<u32>,
    /// Outputs to make, 1–8.
    #[arg(long, default_value_t = 1)]
    pub count: u8,
    /// Output format (png, jpeg, webp, wav, mp3, glb, …).
    #[arg(long)]
    pub format: Option<String>,
    /// Duration in seconds (audio, video).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Sound effect, speech or music (audio).
    #[arg(long, value_enum)]
    pub mode: Option<AudioModeArg>,
    /// The voice that speaks (audio, mode speech).
    #[arg(long)]
    pub voice: Option<String>,
    /// A sound effect that loops seamlessly (audio).
    #[arg(long = "loop")]
    pub looping: bool,
    /// How closely a sound effect follows the prompt, 0-1 (audio).
    #[arg(long)]
    pub prompt_influence: Option<f64>,
    /// The provider to use (the router chooses when absent).
    #[arg(long)]
    pub provider: Option<String>,
    /// The provider's model.
    #[arg(long, requires = "provider")]
    pub model: Option<String>,
    /// A campaign inside the client.
    #[arg(long)]
    pub campaign: Option<String>,
    /// Tags for the assets (repeatable).
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// The most the job may cost, in micro-dollars.
    #[arg(long, allow_negative_numbers = true)]
    pub max_cost_micros: Option<i64>,
    /// Higher runs first.
    #[arg(long, default_value_t = 0)]
    pub priority: i32,
    /// Answer with an existing asset at no cost: `exact` (an identical
    /// earlier request; the default when the flag has no value) or
    /// `similar:SCORE` (the client's best asset scoring at least SCORE, 0-1).
    #[arg(long, num_args = 0..=1, default_missing_value = "exact", value_name = "exact|similar:SCORE")]
    pub reuse: Option<String>,
    /// An idempotency key: the same key returns the same job.
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Where to write the files.
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
    /// Queue the job and print it without waiting.
    #[arg(long)]
    pub no_wait: bool,
    /// Worker slots while waiting.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
}

/// `gaia jobs`.
#[derive(Debug, Args)]
pub struct JobsArgs {
    /// The jobs command.
    #[command(subcommand)]
    pub command: JobsCommand,
}

/// Listing options shared by `jobs list` and `assets list`.
#[derive(Debug, Args)]
pub struct PageArgs {
    /// Items per page (1–1000).
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    /// The next_cursor of the previous page.
    #[arg(long)]
    pub cursor: Option<String>,
}

/// Jobs subcommands.
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// Jobs of the client, newest first.
    List {
        /// Only this status (queued, running, succeeded, failed, canceled).
        #[arg(long)]
        status: Option<String>,
        /// Only this campaign.
        #[arg(long)]
        campaign: Option<String>,
        /// Only this kind.
        #[arg(long)]
        kind: Option<KindArg>,
        /// Paging.
        #[command(flatten)]
        page: PageArgs,
    },
    /// One job and its log.
    Show {
        /// The job id.
        id: String,
    },
    /// Cancel a queued or running job.
    Cancel {
        /// The job id.
        id: String,
    },
    /// Queue a failed or canceled job again.
    Retry {
        /// The job id.
        id: String,
    },
    /// Run and follow a job until it ends; fails with the job's error
    /// unless it succeeded. With --json, one job object per line as it
    /// changes (JSON Lines).
    Watch {
        /// The job id.
        id: String,
        /// Worker slots while watching.
        #[arg(long, default_value_t = 2)]
        workers: usize,
    },
    /// Counts by status; durations and failure rates by provider.
    Stats,
    /// Delete a finished job and its log (assets and costs stay).
    Delete {
        /// The job id.
        id: String,
    },
    /// Delete every job (of every client) that ended long enough ago, with
    /// its log; assets and costs stay.
    Prune {
        /// How long ago: 30d, 12h, 90m, 45s.
        #[arg(long, value_parser = parse_duration, value_name = "AGE")]
        older_than: Duration,
    },
}

/// `gaia assets`.
#[derive(Debug, Args)]
pub struct AssetsArgs {
    /// The assets command.
    #[command(subcommand)]
    pub command: AssetsCommand,
}

/// Assets subcommands.
#[derive(Debug, Subcommand)]
pub enum AssetsCommand {
    /// Assets of the client, newest first.
    List {
        /// Only this type.
        #[arg(long = "type")]
        kind: Option<KindArg>,
        /// Only this campaign.
        #[arg(long)]
        campaign: Option<String>,
        /// Only assets with this tag.
        #[arg(long)]
        tag: Option<String>,
        /// Paging.
        #[command(flatten)]
        page: PageArgs,
    },
    /// One asset.
    Show {
        /// The asset id.
        id: String,
    },
    /// Write an asset's bytes to a file or folder.
    Export {
        /// The asset id.
        id: String,
        /// A file, or an existing folder to write into.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Delete an asset (its bytes go when no other asset shares them).
    Delete {
        /// The asset id.
        id: String,
    },
    /// Import files as assets of the client (verified; the same bytes twice
    /// return the first import unless --no-dedup).
    Import {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// A campaign inside the client.
        #[arg(long)]
        campaign: Option<String>,
        /// Tags (repeatable).
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// A name (default: each file's stem).
        #[arg(long)]
        name: Option<String>,
        /// Store a new asset even when the client already imported these bytes.
        #[arg(long)]
        no_dedup: bool,
    },
    /// Make a new asset from an existing one: a local operation (free) or one a provider performs (priced).
    Derive(DeriveArgs),
    /// The client's assets that best match a text.
    Search {
        /// What to look for.
        query: String,
        /// Only this campaign.
        #[arg(long)]
        campaign: Option<String>,
        /// Only this type.
        #[arg(long = "type")]
        kind: Option<KindArg>,
        /// Results to return (1-1000).
        #[arg(long, short = 'k', default_value_t = 10)]
        limit: usize,
    },
    /// What an asset was derived from and what was derived from it.
    Lineage {
        /// The asset id.
        id: String,
    },
    /// A URL that downloads an asset without credentials until it expires
    /// (S3 blob stores; file and database stores cannot sign one).
    Url {
        /// The asset id.
        id: String,
        /// How long the URL works: 1h, 30m, 7d (at most 7 days).
        #[arg(long, default_value = "1h", value_parser = parse_duration, value_name = "AGE")]
        ttl: Duration,
    },
}

/// Operations on the command line: local ones, then those a provider performs.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OpArg {
    /// Scale to --width x --height.
    Resize,
    /// Re-encode as --format (png, jpeg, webp), with --quality for JPEG.
    Convert,
    /// Scale down to fit --size.
    Thumbnail,
    /// A normal map from a height texture (--strength).
    NormalMap,
    /// Audio peaks (--points), a PNG with --render.
    Waveform,
    /// Mesh statistics.
    MeshStats,
    /// An image edited by --prompt, only where --mask (an image asset) is transparent if given.
    Edit,
    /// An image upscaled (--mode fast, conservative or creative; --prompt guides creative).
    Upscale,
    /// A model given new textures from --prompt (--pbr for PBR maps).
    Retexture,
    /// A 3D model made from an image (--no-texture, --pbr).
    #[value(name = "image-to-3d")]
    ImageTo3d,
}

/// How much an upscaler may invent.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum UpscaleModeArg {
    /// Quick 4x, keeps the image as it is.
    Fast,
    /// Up to 4K, minimal changes.
    Conservative,
    /// Up to 4K, re-imagining detail.
    Creative,
}

/// `gaia assets derive`.
#[derive(Debug, Args)]
pub struct DeriveArgs {
    /// The asset to start from.
    pub id: String,
    /// The operation.
    #[arg(long, value_enum)]
    pub op: OpArg,
    /// Thumbnail size in pixels.
    #[arg(long, default_value_t = 256)]
    pub size: u32,
    /// Resize width.
    #[arg(long)]
    pub width: Option<u32>,
    /// Resize height.
    #[arg(long)]
    pub height: Option<u32>,
    /// Convert: the new format.
    #[arg(long)]
    pub format: Option<String>,
    /// Convert: JPEG quality 1-100.
    #[arg(long)]
    pub quality: Option<u8>,
    /// Normal map strength.
    #[arg(long, default_value_t = 2.0)]
    pub strength: f64,
    /// Waveform points.
    #[arg(long, default_value_t = 256)]
    pub points: u32,
    /// Waveform: render a PNG.
    #[arg(long)]
    pub render: bool,
    /// Edit, retexture (required) and creative upscale: what to make.
    #[arg(long)]
    pub prompt: Option<String>,
    /// Edit: an image asset whose transparent pixels mark where to edit.
    #[arg(long, value_name = "ASSET_ID")]
    pub mask: Option<String>,
    /// Upscale: how much the upscaler may invent.
    #[arg(long, value_enum, default_value_t = UpscaleModeArg::Fast)]
    pub mode: UpscaleModeArg,
    /// Retexture and image-to-3d: also make metallic, roughness and normal maps.
    #[arg(long)]
    pub pbr: bool,
    /// Image-to-3d: an untextured model.
    #[arg(long)]
    pub no_texture: bool,
    /// Where to write the new file (a folder); nothing is written when absent.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Queue the job and print it without waiting.
    #[arg(long)]
    pub no_wait: bool,
}

/// Cost grouping on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GroupArg {
    /// One total.
    None,
    /// By client.
    Client,
    /// By campaign.
    Campaign,
    /// By provider.
    Provider,
    /// By model.
    Model,
    /// By UTC day.
    Day,
}

/// `gaia costs`.
#[derive(Debug, Args)]
pub struct CostsArgs {
    /// How to group.
    #[arg(long, value_enum, default_value = "provider")]
    pub group_by: GroupArg,
    /// Only this campaign.
    #[arg(long)]
    pub campaign: Option<String>,
    /// From this RFC 3339 time.
    #[arg(long)]
    pub since: Option<String>,
    /// Every client, not only --client.
    #[arg(long)]
    pub all_clients: bool,
}

/// `gaia budget`.
#[derive(Debug, Args)]
pub struct BudgetArgs {
    /// The budget command.
    #[command(subcommand)]
    pub command: BudgetCommand,
}

/// Budget periods on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PeriodArg {
    /// Forever.
    Total,
    /// Per UTC day.
    Day,
    /// Per UTC month.
    Month,
}

/// Budget subcommands.
#[derive(Debug, Subcommand)]
pub enum BudgetCommand {
    /// Create or replace the client's (or a campaign's) budget.
    Set {
        /// The limit in micro-dollars ($1 = 1000000).
        #[arg(long)]
        limit_micros: i64,
        /// The period.
        #[arg(long, value_enum, default_value = "total")]
        period: PeriodArg,
        /// Only this campaign.
        #[arg(long)]
        campaign: Option<String>,
    },
    /// The client's budgets.
    List,
}

/// `gaia worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Worker slots.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Publish every event to this NATS server (nats://HOST:PORT); replaces
    /// the configuration's events.nats.url.
    #[arg(long, env = "GAIA_NATS_URL", value_name = "URL")]
    pub nats: Option<String>,
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9184).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
}

/// Parses an age or a lifetime: a whole number and a unit, `s`, `m`, `h`
/// or `d` (`30d`, `12h`, `90m`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let Some(unit) = text.chars().last() else {
        return Err("a duration needs a number and a unit (30d, 12h, 90m)".to_owned());
    };
    let number = &text[..text.len() - unit.len_utf8()];
    let seconds_per_unit = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => return Err(format!("{text:?} needs a unit: s, m, h or d (30d)")),
    };
    let count: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a whole number followed by s, m, h or d"))?;
    count
        .checked_mul(seconds_per_unit)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(12 * 3_600)));
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for bad in [
            "",
            "d",
            "30",
            "1.5h",
            "-1d",
            "3w",
            "h1",
            "5µ",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
