//! Material palettes chosen from the words of a prompt.
//!
//! Each material pairs a colour gradient with a modest noise character (how
//! rough, ridged or banded it is). The first recognised word of the prompt
//! wins, so "mossy cobblestone" is moss-coloured: in English the leading
//! adjective is usually the visible surface.

use super::noise::{FbmStyle, OctaveShape};

/// An RGB colour.
pub(super) type Rgb = [u8; 3];

/// A colour gradient as `(position in [0, 1], colour)` stops, ascending.
pub(super) type Gradient = &'static [(f32, Rgb)];

/// A surface material recognised from prompt words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Material {
    Moss,
    Grass,
    Stone,
    Lava,
    Water,
    Sand,
    Wood,
    Metal,
    Snow,
    Dirt,
    Brick,
    Marble,
    /// Neutral grey, used when no word is recognised.
    Default,
}

/// Everything the renderer needs to know about a material's appearance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Look {
    /// Colours from the lowest to the highest noise value.
    pub gradient: Gradient,
    /// Noise character.
    pub fbm: FbmStyle,
    /// Tone curve exponent applied to the normalised noise; above 1 pushes
    /// most of the surface towards the dark end (sharper contrast).
    pub gamma: f32,
    /// Number of light/dark bands folded into the noise (0 = none); gives
    /// wood its grain rings.
    pub bands: u32,
}

/// Prompt words (lowercase) and the material each names. Plurals ending in
/// "s" are handled by [`material_of_word`], so only irregular forms appear.
const VOCABULARY: &[(&str, Material)] = &[
    ("moss", Material::Moss),
    ("mossy", Material::Moss),
    ("lichen", Material::Moss),
    ("grass", Material::Grass),
    ("grassy", Material::Grass),
    ("lawn", Material::Grass),
    ("meadow", Material::Grass),
    ("turf", Material::Grass),
    ("stone", Material::Stone),
    ("stony", Material::Stone),
    ("rock", Material::Stone),
    ("rocky", Material::Stone),
    ("cobblestone", Material::Stone),
    ("cobble", Material::Stone),
    ("granite", Material::Stone),
    ("gravel", Material::Stone),
    ("lava", Material::Lava),
    ("magma", Material::Lava),
    ("molten", Material::Lava),
    ("water", Material::Water),
    ("ocean", Material::Water),
    ("sea", Material::Water),
    ("lake", Material::Water),
    ("river", Material::Water),
    ("sand", Material::Sand),
    ("sandy", Material::Sand),
    ("desert", Material::Sand),
    ("dune", Material::Sand),
    ("beach", Material::Sand),
    ("wood", Material::Wood),
    ("wooden", Material::Wood),
    ("bark", Material::Wood),
    ("plank", Material::Wood),
    ("timber", Material::Wood),
    ("metal", Material::Metal),
    ("metallic", Material::Metal),
    ("steel", Material::Metal),
    ("iron", Material::Metal),
    ("chrome", Material::Metal),
    ("snow", Material::Snow),
    ("snowy", Material::Snow),
    ("ice", Material::Snow),
    ("icy", Material::Snow),
    ("frost", Material::Snow),
    ("frozen", Material::Snow),
    ("dirt", Material::Dirt),
    ("mud", Material::Dirt),
    ("muddy", Material::Dirt),
    ("soil", Material::Dirt),
    ("earth", Material::Dirt),
    ("brick", Material::Brick),
    ("marble", Material::Marble),
    ("marbled", Material::Marble),
];

/// The material named by the first recognised word of `prompt`
/// (case-insensitive), or [`Material::Default`].
pub(super) fn material_for_prompt(prompt: &str) -> Material {
    prompt
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .find_map(|word| material_of_word(&word.to_lowercase()))
        .unwrap_or(Material::Default)
}

/// Looks a lowercase word up, retrying without a plural "s" ("rocks").
fn material_of_word(word: &str) -> Option<Material> {
    let lookup = |candidate: &str| {
        VOCABULARY
            .iter()
            .find(|(known, _)| *known == candidate)
            .map(|&(_, material)| material)
    };
    lookup(word).or_else(|| word.strip_suffix('s').and_then(lookup))
}

impl Material {
    /// The gradient and noise character of this material.
    pub(super) fn look(self) -> Look {
        use OctaveShape::{Ridged, Smooth};
        let (gradient, octaves, gain, shape, gamma, bands): (
            Gradient,
            u32,
            f64,
            OctaveShape,
            f32,
            u32,
        ) = match self {
            Self::Moss => (MOSS, 6, 0.55, Smooth, 1.0, 0),
            Self::Grass => (GRASS, 6, 0.6, Smooth, 1.0, 0),
            Self::Stone => (STONE, 6, 0.5, Ridged, 1.0, 0),
            Self::Lava => (LAVA, 5, 0.5, Ridged, 2.2, 0),
            Self::Water => (WATER, 4, 0.4, Smooth, 1.0, 0),
            Self::Sand => (SAND, 4, 0.45, Smooth, 1.0, 0),
            Self::Wood => (WOOD, 4, 0.4, Smooth, 1.0, 4),
            Self::Metal => (METAL, 3, 0.35, Smooth, 0.9, 0),
            Self::Snow => (SNOW, 4, 0.45, Smooth, 0.8, 0),
            Self::Dirt => (DIRT, 6, 0.55, Smooth, 1.0, 0),
            Self::Brick => (BRICK, 5, 0.5, Smooth, 1.0, 0),
            Self::Marble => (MARBLE, 5, 0.5, Smooth, 1.0, 0),
            Self::Default => (NEUTRAL, 5, 0.5, Smooth, 1.0, 0),
        };
        Look {
            gradient,
            fbm: FbmStyle {
                octaves,
                gain,
                shape,
            },
            gamma,
            bands,
        }
    }
}

const MOSS: Gradient = &[
    (0.0, [28, 42, 18]),
    (0.35, [55, 85, 30]),
    (0.7, [92, 125, 45]),
    (1.0, [140, 165, 78]),
];
const GRASS: Gradient = &[
    (0.0, [32, 68, 22]),
    (0.4, [58, 108, 34]),
    (0.75, [92, 148, 48]),
    (1.0, [150, 190, 80]),
];
const STONE: Gradient = &[
    (0.0, [58, 58, 60]),
    (0.4, [96, 95, 92]),
    (0.8, [132, 130, 125]),
    (1.0, [172, 170, 163]),
];
const LAVA: Gradient = &[
    (0.0, [28, 6, 4]),
    (0.35, [120, 16, 6]),
    (0.65, [220, 72, 10]),
    (0.85, [255, 170, 35]),
    (1.0, [255, 238, 150]),
];
const WATER: Gradient = &[
    (0.0, [10, 36, 82]),
    (0.45, [22, 72, 132]),
    (0.8, [42, 112, 172]),
    (1.0, [120, 182, 222]),
];
const SAND: Gradient = &[
    (0.0, [168, 138, 94]),
    (0.4, [200, 170, 120]),
    (0.75, [224, 200, 150]),
    (1.0, [240, 222, 180]),
];
const WOOD: Gradient = &[
    (0.0, [68, 40, 20]),
    (0.4, [110, 70, 36]),
    (0.75, [150, 100, 56]),
    (1.0, [186, 136, 82]),
];
const METAL: Gradient = &[
    (0.0, [70, 75, 82]),
    (0.4, [110, 115, 122]),
    (0.75, [152, 157, 164]),
    (1.0, [196, 201, 206]),
];
const SNOW: Gradient = &[
    (0.0, [178, 194, 216]),
    (0.4, [214, 225, 238]),
    (0.75, [238, 244, 251]),
    (1.0, [255, 255, 255]),
];
const DIRT: Gradient = &[
    (0.0, [48, 34, 22]),
    (0.4, [84, 60, 38]),
    (0.75, [115, 86, 56]),
    (1.0, [142, 112, 76]),
];
const BRICK: Gradient = &[
    (0.0, [88, 34, 24]),
    (0.4, [140, 55, 38]),
    (0.75, [170, 76, 50]),
    (1.0, [196, 112, 82]),
];
const MARBLE: Gradient = &[
    (0.0, [92, 96, 104]),
    (0.3, [188, 190, 194]),
    (0.7, [232, 230, 226]),
    (1.0, [248, 247, 244]),
];
const NEUTRAL: Gradient = &[
    (0.0, [48, 48, 48]),
    (0.5, [128, 128, 128]),
    (1.0, [208, 208, 208]),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_recognised_word_wins_case_insensitively() {
        assert_eq!(
            material_for_prompt("Mossy COBBLESTONE wall"),
            Material::Moss
        );
        assert_eq!(
            material_for_prompt("cobblestone with moss"),
            Material::Stone
        );
        assert_eq!(material_for_prompt("a river of LAVA"), Material::Water);
        assert_eq!(material_for_prompt("glowing magma"), Material::Lava);
        assert_eq!(material_for_prompt("old-brick, wet"), Material::Brick);
    }

    #[test]
    fn plurals_are_recognised() {
        assert_eq!(material_for_prompt("rocks"), Material::Stone);
        assert_eq!(material_for_prompt("oak planks"), Material::Wood);
        assert_eq!(material_for_prompt("bricks"), Material::Brick);
        assert_eq!(material_for_prompt("dunes"), Material::Sand);
    }

    #[test]
    fn unknown_or_empty_prompts_are_default() {
        assert_eq!(material_for_prompt(""), Material::Default);
        assert_eq!(material_for_prompt("xyzzy plugh"), Material::Default);
        // Whole words only: "ironic" is not iron, "seashell" is not sea.
        assert_eq!(material_for_prompt("ironic seashell"), Material::Default);
    }

    #[test]
    fn every_gradient_is_well_formed() {
        for material in [
            Material::Moss,
            Material::Grass,
            Material::Stone,
            Material::Lava,
            Material::Water,
            Material::Sand,
            Material::Wood,
            Material::Metal,
            Material::Snow,
            Material::Dirt,
            Material::Brick,
            Material::Marble,
            Material::Default,
        ] {
            let look = material.look();
            let positions: Vec<f32> = look.gradient.iter().map(|&(at, _)| at).collect();
            assert!((3..=5).contains(&positions.len()), "{material:?}");
            assert_eq!(positions.first(), Some(&0.0), "{material:?}");
            assert_eq!(positions.last(), Some(&1.0), "{material:?}");
            assert!(
                positions.windows(2).all(|pair| pair[0] < pair[1]),
                "{material:?}"
            );
            assert!(look.fbm.octaves >= 1 && look.gamma > 0.0, "{material:?}");
        }
    }
}
