//! Which Replicate models Gaia knows, how their ids are read, what they cost
//! and what input they take.
//!
//! Prices (replicate.com/pricing, harvested 2026-10-07, see
//! `shared/providers.md` §4.6): official models are billed per output;
//! community models per second of `metrics.predict_time` on their hardware.
//! A model run by id that Gaia does not know is priced at the H100 rate, the
//! highest single-GPU rate, so that budgets are never under-reserved (the
//! API does not say which hardware a model ran on).

use std::time::Duration;

use gaia_core::{AssetKind, Error, Money, PriceRule, Result, Spec};

/// Replicate's hardware and its price per second, in micro-dollars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hardware {
    /// CPU (`cpu`): $0.000100/s.
    Cpu,
    /// Nvidia T4 (`gpu-t4`): $0.000225/s.
    T4,
    /// Nvidia L40S (`gpu-l40s`): $0.000975/s.
    L40s,
    /// Nvidia A100 80 GB (`gpu-a100-large`): $0.001400/s.
    A100Large,
    /// Nvidia H100 (`gpu-h100`): $0.001525/s.
    H100,
}

impl Hardware {
    /// Replicate's name for it.
    pub fn sku(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::T4 => "gpu-t4",
            Self::L40s => "gpu-l40s",
            Self::A100Large => "gpu-a100-large",
            Self::H100 => "gpu-h100",
        }
    }

    /// Micro-dollars per second of `predict_time`.
    pub fn micros_per_second(self) -> u64 {
        match self {
            Self::Cpu => 100,
            Self::T4 => 225,
            Self::L40s => 975,
            Self::A100Large => 1_400,
            Self::H100 => 1_525,
        }
    }

    /// The cost of `seconds` of `predict_time`, rounded up once to a whole
    /// micro-dollar (the seconds are counted in microseconds first).
    pub fn cost_of(self, seconds: f64) -> Money {
        let microseconds = (seconds.max(0.0) * 1e6).ceil() as u64;
        Money::per_million(microseconds, self.micros_per_second())
    }
}

/// How a model is billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Billing {
    /// A fixed price per output produced (official models).
    PerOutput(Money),
    /// Per second of `predict_time` on this hardware (community models).
    PerSecond(Hardware),
}

impl Billing {
    /// The rule shown by `gaia providers`.
    pub fn price_rule(self) -> PriceRule {
        match self {
            Self::PerOutput(micros) => PriceRule::PerOutput { micros },
            Self::PerSecond(hardware) => PriceRule::PerMillionUnits {
                unit: format!("second of predict_time on {}", hardware.sku()),
                micros_per_million: hardware.micros_per_second() * 1_000_000,
            },
        }
    }

    /// What a finished prediction cost: its outputs for a per-output model,
    /// its `predict_time` for a time-billed one (`None` when Replicate did
    /// not report it).
    pub fn cost(self, outputs: usize, predict_time: Option<f64>) -> Option<Money> {
        match self {
            Self::PerOutput(price) => Some(price.times(u32::try_from(outputs).unwrap_or(u32::MAX))),
            Self::PerSecond(hardware) => predict_time.map(|s| hardware.cost_of(s)),
        }
    }
}

/// The input a model takes (Replicate models each define their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputStyle {
    /// `black-forest-labs/flux-schnell`: `aspect_ratio`, `num_outputs`,
    /// `output_format`.
    FluxSchnell,
    /// `meta/musicgen`: `duration`, `model_version`, `output_format`.
    MusicGen,
    /// `minimax/video-01`: `prompt_optimizer`, `first_frame_image`.
    MinimaxVideo,
    /// Any other model: `prompt`, `seed`, and `width`/`height`,
    /// `num_outputs` or `duration` where the spec has them.
    Generic,
}

/// A model Gaia can run on Replicate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicateModel {
    /// The id routes use (`owner/name`, maybe `:version`).
    pub id: String,
    /// Where predictions are created.
    pub target: Target,
    /// What it makes.
    pub kind: AssetKind,
    /// How it is billed.
    pub billing: Billing,
    /// The input it takes.
    pub input: InputStyle,
    /// Most outputs one prediction makes.
    pub max_outputs: u8,
}

/// The curated image model.
pub const FLUX_SCHNELL: &str = "black-forest-labs/flux-schnell";
/// The curated music model.
pub const MUSICGEN: &str = "meta/musicgen";
/// The curated video model.
pub const MINIMAX_VIDEO: &str = "minimax/video-01";
/// The `meta/musicgen` version Gaia runs (a community model needs one).
pub const MUSICGEN_VERSION: &str =
    "671ac645ce5e552cc63a54a2bbff63fcf798043055d2dac5fc9e36a837eedcfb";
/// Hardware assumed for a model Gaia does not know.
pub const OPEN_MODEL_HARDWARE: Hardware = Hardware::H100;
/// `predict_time` assumed, for the estimate, of a model Gaia does not know.
pub const OPEN_MODEL_EXPECTED_SECONDS: u64 = 60;

/// The curated models with their one-line descriptions.
pub fn curated() -> Vec<(ReplicateModel, &'static str)> {
    vec![
        (
            ReplicateModel {
                id: FLUX_SCHNELL.into(),
                target: Target::Official {
                    owner: "black-forest-labs".into(),
                    name: "flux-schnell".into(),
                },
                kind: AssetKind::Image,
                billing: Billing::PerOutput(Money::from_micros(3_000)),
                input: InputStyle::FluxSchnell,
                max_outputs: 4,
            },
            "FLUX.1 [schnell]: fast text-to-image, size by nearest aspect ratio (~1 MP), \
             up to 4 per call; $0.003 per image",
        ),
        (
            ReplicateModel {
                id: MUSICGEN.into(),
                target: Target::Version(MUSICGEN_VERSION.into()),
                kind: AssetKind::Audio,
                billing: Billing::PerSecond(Hardware::A100Large),
                input: InputStyle::MusicGen,
                max_outputs: 1,
            },
            "MusicGen stereo-large: music from a prompt, up to 30 s (WAV or MP3); \
             billed per second of A100 80GB time",
        ),
        (
            ReplicateModel {
                id: MINIMAX_VIDEO.into(),
                target: Target::Official {
                    owner: "minimax".into(),
                    name: "video-01".into(),
                },
                kind: AssetKind::Video,
                billing: Billing::PerOutput(Money::from_micros(500_000)),
                input: InputStyle::MinimaxVideo,
                max_outputs: 1,
            },
            "MiniMax video-01 (Hailuo): 6-second 720p video from a prompt and an optional \
             first-frame image (MP4); $0.50 per video",
        ),
    ]
}

/// Where a prediction is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `POST /models/{owner}/{name}/predictions` (an official model, no version).
    Official {
        /// The model's owner.
        owner: String,
        /// The model's name.
        name: String,
    },
    /// `POST /predictions` with `version` (a 64-hex version id).
    Version(String),
}

impl Target {
    /// Reads a model id: `owner/name`, `owner/name:version` or a bare
    /// 64-hex version id; `invalid_request` naming `route` otherwise.
    pub fn parse(id: &str) -> Result<Self> {
        let invalid = || {
            Error::invalid(
                "route",
                format!(
                    "{id:?} is not a Replicate model: expected owner/name, \
                     owner/name:version or a 64-hex version id"
                ),
            )
        };
        if is_version(id) {
            return Ok(Self::Version(id.to_owned()));
        }
        let (model, version) = match id.split_once(':') {
            Some((model, version)) => (model, Some(version)),
            None => (id, None),
        };
        let (owner, name) = model.split_once('/').ok_or_else(invalid)?;
        if !is_name(owner) || !is_name(name) {
            return Err(invalid());
        }
        match version {
            Some(version) if is_version(version) => Ok(Self::Version(version.to_owned())),
            Some(_) => Err(invalid()),
            None => Ok(Self::Official {
                owner: owner.to_owned(),
                name: name.to_owned(),
            }),
        }
    }
}

/// An owner or model name: 1–100 of `[A-Za-z0-9._-]`, not starting with a dot.
fn is_name(part: &str) -> bool {
    (1..=100).contains(&part.len())
        && !part.starts_with('.')
        && part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn is_version(part: &str) -> bool {
    part.len() == 64 && part.chars().all(|c| c.is_ascii_hexdigit())
}

impl ReplicateModel {
    /// A model Gaia was not declared with, run by id for `kind`.
    pub fn open(id: &str, kind: AssetKind) -> Result<Self> {
        Ok(Self {
            id: id.to_owned(),
            target: Target::parse(id)?,
            kind,
            billing: Billing::PerSecond(OPEN_MODEL_HARDWARE),
            input: InputStyle::Generic,
            max_outputs: 4,
        })
    }

    /// How long one prediction is expected to compute, for the estimate of
    /// a time-billed model and for the progress of a model that prints none.
    pub fn expected_time(&self, spec: &Spec) -> Duration {
        match (self.input, spec) {
            // MusicGen stereo-large takes about 4 s of A100 time per second
            // of music, plus loading.
            (InputStyle::MusicGen, Spec::Audio(audio)) => {
                Duration::from_secs_f64(10.0 + 4.0 * music_seconds(audio.duration_s) as f64)
            }
            (InputStyle::FluxSchnell, _) => Duration::from_secs(3),
            (InputStyle::MinimaxVideo, _) => Duration::from_secs(240),
            _ => Duration::from_secs(OPEN_MODEL_EXPECTED_SECONDS),
        }
    }

    /// The price of `spec` before the call.
    pub fn estimate(&self, spec: &Spec) -> Money {
        match self.billing {
            Billing::PerOutput(price) => price.times(u32::from(spec.count())),
            Billing::PerSecond(hardware) => {
                hardware.cost_of(self.expected_time(spec).as_secs_f64())
            }
        }
    }
}

/// MusicGen's default length when the spec gives none.
pub const MUSIC_DEFAULT_SECONDS: u32 = 8;
/// The longest music Gaia asks MusicGen for.
pub const MUSIC_MAX_SECONDS: f64 = 30.0;

/// Whole seconds of music to ask for (MusicGen takes an integer).
pub fn music_seconds(duration: Option<f64>) -> u32 {
    duration.map_or(MUSIC_DEFAULT_SECONDS, |d| d.ceil().max(1.0) as u32)
}

/// FLUX's aspect ratios, as width:height.
const FLUX_RATIOS: [(u32, u32); 11] = [
    (1, 1),
    (16, 9),
    (21, 9),
    (3, 2),
    (2, 3),
    (4, 5),
    (5, 4),
    (3, 4),
    (4, 3),
    (9, 16),
    (9, 21),
];

/// The FLUX aspect ratio nearest to `width`×`height` (`"16:9"`).
pub fn nearest_aspect_ratio(width: u32, height: u32) -> String {
    let wanted = (f64::from(width.max(1)) / f64::from(height.max(1))).ln();
    let distance = |(w, h): (u32, u32)| (wanted - (f64::from(w) / f64::from(h)).ln()).abs();
    let (w, h) = FLUX_RATIOS
        .into_iter()
        .min_by(|a, b| distance(*a).total_cmp(&distance(*b)))
        .unwrap_or((1, 1));
    format!("{w}:{h}")
}

#[cfg(test)]
mod tests {
    use gaia_core::{AudioMode, AudioSpec, ImageSpec, VideoSpec};

    use super::*;

    fn model(id: &str) -> ReplicateModel {
        curated()
            .into_iter()
            .map(|(m, _)| m)
            .find(|m| m.id == id)
            .unwrap_or_else(|| panic!("{id} is not curated"))
    }

    fn music(duration: Option<f64>) -> Spec {
        let mut spec = AudioSpec::new("drums");
        spec.mode = AudioMode::Music;
        spec.duration_s = duration;
        spec.into()
    }

    #[test]
    fn hardware_rates_match_the_price_list() {
        let table = [
            (Hardware::Cpu, "cpu", 100),
            (Hardware::T4, "gpu-t4", 225),
            (Hardware::L40s, "gpu-l40s", 975),
            (Hardware::A100Large, "gpu-a100-large", 1_400),
            (Hardware::H100, "gpu-h100", 1_525),
        ];
        for (hardware, sku, rate) in table {
            assert_eq!((hardware.sku(), hardware.micros_per_second()), (sku, rate));
        }
    }

    #[test]
    fn predict_time_is_priced_and_rounded_up_once() {
        assert_eq!(Hardware::T4.cost_of(1.0).micros(), 225);
        // 2.5 s on an A100: 3,500 µ$ exactly.
        assert_eq!(Hardware::A100Large.cost_of(2.5).micros(), 3_500);
        // 0.001 s on a T4: 0.225 µ$ rounds up to 1.
        assert_eq!(Hardware::T4.cost_of(0.001).micros(), 1);
        assert_eq!(Hardware::H100.cost_of(0.0).micros(), 0);
        assert_eq!(Hardware::H100.cost_of(-3.0).micros(), 0);
    }

    #[test]
    fn every_curated_model_has_a_pinned_price() {
        let image = Spec::from(ImageSpec::new("moss").count(3));
        let video = Spec::from(VideoSpec {
            prompt: "waves".into(),
            seed: None,
            count: 1,
            width: None,
            height: None,
            duration_s: None,
            format: None,
            reference_asset_id: None,
        });
        let table: [(&str, &Spec, PriceRule, i64); 4] = [
            (
                FLUX_SCHNELL,
                &image,
                PriceRule::PerOutput {
                    micros: Money::from_micros(3_000),
                },
                9_000,
            ),
            (
                MUSICGEN,
                &music(None),
                PriceRule::PerMillionUnits {
                    unit: "second of predict_time on gpu-a100-large".into(),
                    micros_per_million: 1_400_000_000,
                },
                // (10 + 4 × 8) s × 1,400 µ$/s.
                58_800,
            ),
            (
                MUSICGEN,
                &music(Some(29.5)),
                Billing::PerSecond(Hardware::A100Large).price_rule(),
                // (10 + 4 × 30) s × 1,400 µ$/s.
                182_000,
            ),
            (
                MINIMAX_VIDEO,
                &video,
                PriceRule::PerOutput {
                    micros: Money::from_micros(500_000),
                },
                500_000,
            ),
        ];
        for (id, spec, rule, micros) in table {
            let model = model(id);
            assert_eq!(model.billing.price_rule(), rule, "{id}");
            assert_eq!(model.estimate(spec).micros(), micros, "{id}");
        }
        let open = ReplicateModel::open("someone/upscaler", AssetKind::Image)
            .unwrap_or_else(|e| panic!("{e}"));
        // 60 s at the H100 rate.
        assert_eq!(open.estimate(&image).micros(), 91_500);
    }

    #[test]
    fn costs_come_from_outputs_or_predict_time() {
        assert_eq!(
            model(FLUX_SCHNELL).billing.cost(2, Some(1.3)),
            Some(Money::from_micros(6_000))
        );
        assert_eq!(
            model(MUSICGEN).billing.cost(1, Some(31.25)),
            Some(Money::from_micros(43_750))
        );
        assert_eq!(model(MUSICGEN).billing.cost(1, None), None);
    }

    #[test]
    fn model_ids_are_parsed_or_refused_naming_the_route() {
        let version = "a".repeat(64);
        assert_eq!(
            Target::parse("owner/name-1.5_x").ok(),
            Some(Target::Official {
                owner: "owner".into(),
                name: "name-1.5_x".into()
            })
        );
        assert_eq!(
            Target::parse(&format!("owner/name:{version}")).ok(),
            Some(Target::Version(version.clone()))
        );
        assert_eq!(
            Target::parse(&version).ok(),
            Some(Target::Version(version.clone()))
        );
        for bad in [
            "",
            "name",
            "/name",
            "owner/",
            "a/b/c",
            "owner/na me",
            "owner/.hidden",
            "owner/name:v1",
            "owner/name:",
            &format!("owner/name:{}", "g".repeat(64)),
        ] {
            match Target::parse(bad) {
                Err(Error::InvalidRequest { field, .. }) => assert_eq!(field, "route", "{bad}"),
                other => panic!("{bad:?} parsed as {other:?}"),
            }
        }
    }

    #[test]
    fn sizes_map_to_the_nearest_flux_ratio() {
        assert_eq!(nearest_aspect_ratio(1024, 1024), "1:1");
        assert_eq!(nearest_aspect_ratio(1920, 1080), "16:9");
        assert_eq!(nearest_aspect_ratio(1080, 1920), "9:16");
        assert_eq!(nearest_aspect_ratio(1200, 800), "3:2");
        assert_eq!(nearest_aspect_ratio(4000, 1000), "21:9");
        assert_eq!(nearest_aspect_ratio(0, 0), "1:1");
    }

    #[test]
    fn music_lengths_are_whole_seconds() {
        assert_eq!(music_seconds(None), 8);
        assert_eq!(music_seconds(Some(2.2)), 3);
        assert_eq!(music_seconds(Some(0.1)), 1);
    }
}
