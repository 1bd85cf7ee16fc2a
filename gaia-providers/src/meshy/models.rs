//! Meshy's models in Gaia and their prices in credits
//! (docs.meshy.ai/api/pricing, snapshot 2026-08-24; `shared/providers.md` §5.5).
//!
//! Meshy bills credits; a credit is taken as $0.02 (the Pro plan: 1,000
//! credits for about $20 a month — Meshy's API documentation states no
//! dollar price, so this is the one figure to revisit).

use gaia_core::{AssetKind, Detail, ModelInfo, Money, Operation, PriceRule, Spec};

/// Micro-dollars per Meshy credit ($0.02).
pub const MICROS_PER_CREDIT: i64 = 20_000;

/// The Meshy AI model Gaia asks for (pinned so that prices stay known).
pub const AI_MODEL: &str = "meshy-6";

/// Text to 3D with textures: a preview, then a refine with PBR maps.
pub const TEXT_TO_3D: &str = "meshy-6";
/// Text to 3D, the untextured mesh only.
pub const TEXT_TO_3D_PREVIEW: &str = "meshy-6-preview";
/// Image to 3D (the derived operation `image_to_3d`).
pub const IMAGE_TO_3D: &str = "meshy-6-image-to-3d";
/// New textures on an existing model (the derived operation `retexture`).
pub const RETEXTURE: &str = "meshy-retexture";

/// Credits of a text-to-3D preview with meshy-6.
pub const PREVIEW_CREDITS: u32 = 20;
/// Credits of a refine (2K textures).
pub const REFINE_CREDITS: u32 = 10;
/// Credits of a textured image-to-3D task with meshy-6.
pub const IMAGE_TO_3D_TEXTURED_CREDITS: u32 = 30;
/// Credits of an untextured image-to-3D task with meshy-6.
pub const IMAGE_TO_3D_UNTEXTURED_CREDITS: u32 = 20;
/// Credits of a retexture task.
pub const RETEXTURE_CREDITS: u32 = 10;

/// The dollar price of `credits`.
pub fn credits_to_money(credits: u32) -> Money {
    Money::from_micros(i64::from(credits) * MICROS_PER_CREDIT)
}

/// The models Meshy offers through Gaia.
pub fn catalog() -> Vec<ModelInfo> {
    let per = |credits| PriceRule::PerOutput {
        micros: credits_to_money(credits),
    };
    vec![
        ModelInfo::new(
            TEXT_TO_3D,
            AssetKind::Model,
            per(PREVIEW_CREDITS + REFINE_CREDITS),
            "Meshy 6 text to 3D, textured: a preview mesh, then a refine with PBR \
             textures (GLB, FBX, OBJ or USDZ); 30 credits",
        ),
        ModelInfo::new(
            TEXT_TO_3D_PREVIEW,
            AssetKind::Model,
            per(PREVIEW_CREDITS),
            "Meshy 6 text to 3D, untextured mesh only (GLB, FBX, OBJ or USDZ); 20 credits",
        ),
        ModelInfo::new(
            IMAGE_TO_3D,
            AssetKind::Model,
            PriceRule::Table {
                note: "30 credits textured, 20 untextured ($0.02 per credit)".into(),
            },
            "Meshy 6 image to 3D from an image asset, optionally textured with PBR maps",
        )
        .performing("image_to_3d"),
        ModelInfo::new(
            RETEXTURE,
            AssetKind::Model,
            per(RETEXTURE_CREDITS),
            "Meshy retexture: new textures on a model asset from a prompt, optionally \
             with PBR maps; 10 credits",
        )
        .performing("retexture"),
    ]
}

/// The credits a spec costs on `model`, before the call (`None` for a model
/// Meshy does not offer).
pub fn credits_for(model: &str, spec: &Spec) -> Option<u32> {
    match (model, spec) {
        (TEXT_TO_3D, _) => Some(PREVIEW_CREDITS + REFINE_CREDITS),
        (TEXT_TO_3D_PREVIEW, _) => Some(PREVIEW_CREDITS),
        (IMAGE_TO_3D, Spec::Derive(derive)) => match derive.operation {
            Operation::ImageTo3d { texture: false, .. } => Some(IMAGE_TO_3D_UNTEXTURED_CREDITS),
            _ => Some(IMAGE_TO_3D_TEXTURED_CREDITS),
        },
        (IMAGE_TO_3D, _) => Some(IMAGE_TO_3D_TEXTURED_CREDITS),
        (RETEXTURE, _) => Some(RETEXTURE_CREDITS),
        _ => None,
    }
}

/// The polygon budget a detail tier asks Meshy for (remeshing on); `None`
/// leaves Meshy's own topology.
pub fn target_polycount(detail: Option<Detail>) -> Option<u32> {
    detail.map(|detail| match detail {
        Detail::Low => 5_000,
        Detail::Medium => 30_000,
        Detail::High => 100_000,
    })
}

#[cfg(test)]
mod tests {
    use gaia_core::{AssetId, DeriveSpec, ModelSpec};

    use super::*;

    fn model_spec() -> Spec {
        ModelSpec {
            prompt: "a barrel".into(),
            seed: None,
            count: 1,
            format: None,
            detail: None,
        }
        .into()
    }

    fn derive(operation: Operation) -> Spec {
        Spec::Derive(DeriveSpec::new(AssetId::new(), operation))
    }

    #[test]
    fn every_model_has_a_pinned_price() {
        let textured = derive(Operation::ImageTo3d {
            texture: true,
            enable_pbr: true,
        });
        let bare = derive(Operation::ImageTo3d {
            texture: false,
            enable_pbr: false,
        });
        let retexture = derive(Operation::Retexture {
            prompt: "rusty".into(),
            enable_pbr: false,
        });
        let table = [
            (TEXT_TO_3D, &model_spec(), 30, 600_000),
            (TEXT_TO_3D_PREVIEW, &model_spec(), 20, 400_000),
            (IMAGE_TO_3D, &textured, 30, 600_000),
            (IMAGE_TO_3D, &bare, 20, 400_000),
            (RETEXTURE, &retexture, 10, 200_000),
        ];
        for (model, spec, credits, micros) in table {
            assert_eq!(credits_for(model, spec), Some(credits), "{model}");
            assert_eq!(credits_to_money(credits).micros(), micros, "{model}");
        }
        assert_eq!(credits_for("meshy-9", &model_spec()), None);
    }

    #[test]
    fn the_catalog_prices_match_the_credit_table() {
        let catalog = catalog();
        let rule = |id: &str| catalog.iter().find(|m| m.id == id).map(|m| m.price.clone());
        assert_eq!(
            rule(TEXT_TO_3D),
            Some(PriceRule::PerOutput {
                micros: Money::from_micros(600_000)
            })
        );
        assert_eq!(
            rule(RETEXTURE),
            Some(PriceRule::PerOutput {
                micros: Money::from_micros(200_000)
            })
        );
        let operations: Vec<_> = catalog.iter().map(|m| m.operation.as_deref()).collect();
        assert_eq!(
            operations,
            [None, None, Some("image_to_3d"), Some("retexture")]
        );
        assert!(catalog.iter().all(|m| m.kind == AssetKind::Model));
    }

    #[test]
    fn detail_sets_the_polygon_budget() {
        assert_eq!(target_polycount(None), None);
        assert_eq!(target_polycount(Some(Detail::Low)), Some(5_000));
        assert_eq!(target_polycount(Some(Detail::High)), Some(100_000));
    }
}
