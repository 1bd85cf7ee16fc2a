//! fal models in Gaia, their inputs and their prices (fal.ai model pages and
//! LiteLLM's price data; `shared/providers.md` §7 and §10). fal bills only
//! successful outputs: images per megapixel of output (1024 × 1024 px, each
//! image rounded up to whole megapixels, as fal's model pages say: a
//! 1024² image costs the listed price), video per second.

use gaia_core::{AssetKind, Money, PriceRule};

/// FLUX.1 \[schnell\]: $0.003 per megapixel.
pub const FLUX_SCHNELL: &str = "fal-ai/flux/schnell";
/// FLUX.1 \[dev\]: $0.025 per megapixel.
pub const FLUX_DEV: &str = "fal-ai/flux/dev";
/// Kling 2.5 Turbo Pro text to video: $0.07 per second.
pub const KLING_VIDEO: &str = "fal-ai/kling-video/v2.5-turbo/pro/text-to-video";
/// The image-to-video endpoint the Kling model uses when a reference image
/// is given (same price).
pub const KLING_IMAGE_TO_VIDEO: &str = "fal-ai/kling-video/v2.5-turbo/pro/image-to-video";

/// fal's megapixel, in pixels.
const MEGAPIXEL: u64 = 1024 * 1024;

/// How a fal model is billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Billing {
    /// Micro-dollars per megapixel (1024 × 1024 px) of each output image,
    /// rounded up per image.
    PerMegapixel(u64),
    /// Micro-dollars per second of output video.
    PerVideoSecond(u64),
}

impl Billing {
    /// The rule shown by `gaia providers`.
    pub fn price_rule(self) -> PriceRule {
        match self {
            Self::PerMegapixel(micros) => PriceRule::PerMillionUnits {
                unit: "output megapixel (1024×1024 px, rounded up per image)".into(),
                micros_per_million: micros * 1_000_000,
            },
            Self::PerVideoSecond(micros) => PriceRule::PerMillionUnits {
                unit: "second of video".into(),
                micros_per_million: micros * 1_000_000,
            },
        }
    }

    /// The price of images of these sizes, each in whole megapixels (`0`
    /// for a video model).
    pub fn images(self, sizes: &[(u32, u32)]) -> Money {
        match self {
            Self::PerMegapixel(micros) => {
                let megapixels: u64 = sizes
                    .iter()
                    .map(|&(w, h)| (u64::from(w) * u64::from(h)).div_ceil(MEGAPIXEL))
                    .sum();
                let micros = micros.saturating_mul(megapixels);
                Money::from_micros(i64::try_from(micros).unwrap_or(i64::MAX))
            }
            Self::PerVideoSecond(_) => Money::ZERO,
        }
    }

    /// The price of `seconds` of video (`0` for an image model).
    pub fn video(self, seconds: u32) -> Money {
        match self {
            Self::PerVideoSecond(micros) => {
                Money::from_micros(i64::try_from(micros).unwrap_or(i64::MAX)).times(seconds)
            }
            Self::PerMegapixel(_) => Money::ZERO,
        }
    }
}

/// A model Gaia runs on fal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FalModel {
    /// The endpoint id (`fal-ai/flux/dev`).
    pub id: &'static str,
    /// What it makes.
    pub kind: AssetKind,
    /// How it is billed.
    pub billing: Billing,
    /// Most outputs one request makes.
    pub max_outputs: u8,
    /// The endpoint used instead when a reference image is given.
    pub with_reference: Option<&'static str>,
    /// One line for `gaia providers`.
    pub description: &'static str,
}

/// The models fal offers through Gaia.
pub const CATALOG: [FalModel; 3] = [
    FalModel {
        id: FLUX_SCHNELL,
        kind: AssetKind::Image,
        billing: Billing::PerMegapixel(3_000),
        max_outputs: 4,
        with_reference: None,
        description: "FLUX.1 [schnell] on fal: fast text to image at any size 256-2048 px, \
                      up to 4 per call; $0.003 per megapixel",
    },
    FalModel {
        id: FLUX_DEV,
        kind: AssetKind::Image,
        billing: Billing::PerMegapixel(25_000),
        max_outputs: 4,
        with_reference: None,
        description: "FLUX.1 [dev] on fal: text to image at any size 256-2048 px, \
                      up to 4 per call; $0.025 per megapixel",
    },
    FalModel {
        id: KLING_VIDEO,
        kind: AssetKind::Video,
        billing: Billing::PerVideoSecond(70_000),
        max_outputs: 1,
        with_reference: Some(KLING_IMAGE_TO_VIDEO),
        description: "Kling 2.5 Turbo Pro on fal: 5 or 10 s video (16:9, 9:16 or 1:1) from a \
                      prompt, or from a reference image; $0.07 per second",
    },
];

/// The model with this id.
pub fn find(id: &str) -> Option<&'static FalModel> {
    CATALOG.iter().find(|model| model.id == id)
}

/// Smallest and largest image side the FLUX endpoints are asked for.
pub const IMAGE_SIDES: std::ops::RangeInclusive<u32> = 256..=2048;

/// The video lengths Kling makes, in seconds.
pub const VIDEO_SECONDS: [u32; 2] = [5, 10];

/// Kling's aspect ratios as width:height.
const VIDEO_RATIOS: [(u32, u32); 3] = [(16, 9), (9, 16), (1, 1)];

/// The Kling aspect ratio nearest to `width`×`height` (16:9 when absent).
pub fn video_aspect_ratio(width: Option<u32>, height: Option<u32>) -> String {
    let (Some(width), Some(height)) = (width, height) else {
        return "16:9".into();
    };
    let wanted = (f64::from(width.max(1)) / f64::from(height.max(1))).ln();
    let distance = |(w, h): (u32, u32)| (wanted - (f64::from(w) / f64::from(h)).ln()).abs();
    let (w, h) = VIDEO_RATIOS
        .into_iter()
        .min_by(|a, b| distance(*a).total_cmp(&distance(*b)))
        .unwrap_or((16, 9));
    format!("{w}:{h}")
}

/// The app id of an endpoint: the owner and the app, without the endpoint
/// path (`fal-ai/flux/dev` → `fal-ai/flux`). Status, result and cancel URLs
/// use it.
pub fn app_id(endpoint: &str) -> &str {
    match endpoint.match_indices('/').nth(1) {
        Some((second_slash, _)) => &endpoint[..second_slash],
        None => endpoint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_model_has_a_pinned_price() {
        let schnell = find(FLUX_SCHNELL).map(|m| m.billing);
        let dev = find(FLUX_DEV).map(|m| m.billing);
        let kling = find(KLING_VIDEO).map(|m| m.billing);
        assert_eq!(
            schnell.map(Billing::price_rule),
            Some(PriceRule::PerMillionUnits {
                unit: "output megapixel (1024×1024 px, rounded up per image)".into(),
                micros_per_million: 3_000_000_000
            })
        );
        // 1024² is fal's megapixel: the listed price exactly.
        let square = [(1024, 1024)];
        assert_eq!(schnell.map(|b| b.images(&square).micros()), Some(3_000));
        assert_eq!(dev.map(|b| b.images(&square).micros()), Some(25_000));
        // Each image rounds up to whole megapixels: 512² and 1024×768 are
        // one each, 1536×1024 (1.5 MP) is two.
        let pair = [(512, 512), (512, 512)];
        assert_eq!(dev.map(|b| b.images(&pair).micros()), Some(50_000));
        assert_eq!(dev.map(|b| b.images(&[(1024, 768)]).micros()), Some(25_000));
        assert_eq!(
            dev.map(|b| b.images(&[(1536, 1024)]).micros()),
            Some(50_000)
        );
        assert_eq!(kling.map(|b| b.video(5).micros()), Some(350_000));
        assert_eq!(kling.map(|b| b.video(10).micros()), Some(700_000));
        assert_eq!(
            kling.map(Billing::price_rule),
            Some(PriceRule::PerMillionUnits {
                unit: "second of video".into(),
                micros_per_million: 70_000_000_000
            })
        );
        assert_eq!(kling.map(|b| b.images(&square)), Some(Money::ZERO));
        assert_eq!(dev.map(|b| b.video(5)), Some(Money::ZERO));
    }

    #[test]
    fn app_ids_drop_the_endpoint_path() {
        assert_eq!(app_id("fal-ai/flux/dev"), "fal-ai/flux");
        assert_eq!(app_id(KLING_VIDEO), "fal-ai/kling-video");
        assert_eq!(app_id("fal-ai/fast-sdxl"), "fal-ai/fast-sdxl");
    }

    #[test]
    fn video_sizes_map_to_kling_ratios() {
        assert_eq!(video_aspect_ratio(None, None), "16:9");
        assert_eq!(video_aspect_ratio(Some(720), Some(1280)), "9:16");
        assert_eq!(video_aspect_ratio(Some(800), Some(700)), "1:1");
    }
}
