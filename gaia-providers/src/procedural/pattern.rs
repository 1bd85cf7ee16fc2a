//! Seamless height fields: the shape of a texture before it is coloured.
//!
//! Every pattern is a function of the tile fractions `(fx, fy)` in `[0, 1)`
//! that repeats every 1.0 on both axes: noise lattices have integer periods,
//! cell and brick grids have whole cells per tile, and sine bands make a
//! whole number of turns per tile.

use super::noise::{FbmStyle, OctaveShape, Period, PeriodicNoise, mix};

/// The patterns a texture can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pattern {
    /// Fractal noise in the material's own character (the default).
    Noise,
    /// Ridged fractal noise: sharp creases, cracks and veins.
    Ridged,
    /// Voronoi cells with dark borders.
    Voronoi,
    /// Running-bond bricks or tiles with bevelled mortar joints.
    Bricks,
    /// Wood grain: warped growth rings running across the tile.
    WoodGrain,
    /// Marble: turbulent sine veins.
    Marble,
}

/// Every pattern, in a fixed order.
pub const PATTERNS: [Pattern; 6] = [
    Pattern::Noise,
    Pattern::Ridged,
    Pattern::Voronoi,
    Pattern::Bricks,
    Pattern::WoodGrain,
    Pattern::Marble,
];

const VOCABULARY: &[(&str, Pattern)] = &[
    ("noise", Pattern::Noise),
    ("ridged", Pattern::Ridged),
    ("ridge", Pattern::Ridged),
    ("cracked", Pattern::Ridged),
    ("crack", Pattern::Ridged),
    ("vein", Pattern::Ridged),
    ("voronoi", Pattern::Voronoi),
    ("cell", Pattern::Voronoi),
    ("cellular", Pattern::Voronoi),
    ("scale", Pattern::Voronoi),
    ("scaly", Pattern::Voronoi),
    ("flagstone", Pattern::Voronoi),
    ("brick", Pattern::Bricks),
    ("tile", Pattern::Bricks),
    ("tiled", Pattern::Bricks),
    ("wall", Pattern::Bricks),
    ("grain", Pattern::WoodGrain),
    ("wood", Pattern::WoodGrain),
    ("wooden", Pattern::WoodGrain),
    ("plank", Pattern::WoodGrain),
    ("oak", Pattern::WoodGrain),
    ("marble", Pattern::Marble),
    ("marbled", Pattern::Marble),
];

impl Pattern {
    /// The pattern named by the first recognised word of `prompt`, else
    /// [`Pattern::Noise`].
    pub fn from_prompt(prompt: &str) -> Self {
        let lookup = |word: &str| {
            VOCABULARY
                .iter()
                .find(|(known, _)| *known == word)
                .map(|&(_, pattern)| pattern)
        };
        prompt
            .split(|c: char| !c.is_alphanumeric())
            .filter(|word| !word.is_empty())
            .map(str::to_lowercase)
            .find_map(|word| lookup(&word).or_else(|| word.strip_suffix('s').and_then(lookup)))
            .unwrap_or(Pattern::Noise)
    }

    /// Its name in asset metadata.
    pub fn name(self) -> &'static str {
        match self {
            Self::Noise => "noise",
            Self::Ridged => "ridged",
            Self::Voronoi => "voronoi",
            Self::Bricks => "bricks",
            Self::WoodGrain => "wood_grain",
            Self::Marble => "marble",
        }
    }
}

/// Samples one pattern at tile fractions.
pub(super) struct PatternSampler {
    pattern: Pattern,
    noise: PeriodicNoise,
    seed: u32,
    /// Lattice period of the noise (roughly square cells).
    base: Period,
    /// Octaves usable at this size.
    octaves: u32,
    /// Noise character for [`Pattern::Noise`].
    style: FbmStyle,
}

impl PatternSampler {
    pub(super) fn new(
        pattern: Pattern,
        seed: u32,
        base: Period,
        octaves: u32,
        style: FbmStyle,
    ) -> Self {
        Self {
            pattern,
            noise: PeriodicNoise::new(seed),
            seed,
            base,
            octaves,
            style,
        }
    }

    /// The raw height at `(fx, fy)` (callers normalise the whole field).
    pub(super) fn sample(&self, fx: f64, fy: f64) -> f64 {
        match self.pattern {
            Pattern::Noise => self.fbm(fx, fy, self.style),
            Pattern::Ridged => self.fbm(fx, fy, style(6, 0.5, OctaveShape::Ridged)),
            Pattern::Voronoi => self.voronoi(fx, fy),
            Pattern::Bricks => self.bricks(fx, fy),
            Pattern::WoodGrain => self.wood_grain(fx, fy),
            Pattern::Marble => self.marble(fx, fy),
        }
    }

    fn fbm(&self, fx: f64, fy: f64, style: FbmStyle) -> f64 {
        let octaves = self.octaves.min(style.octaves);
        self.noise.fbm(fx, fy, self.base, &style, octaves)
    }

    /// Distance to the nearest cell border (second-nearest feature point
    /// minus nearest), one jittered point per cell of a wrapping grid.
    fn voronoi(&self, fx: f64, fy: f64) -> f64 {
        let cells = Period {
            x: self.base.x * 3,
            y: self.base.y * 3,
        };
        let (u, v) = (fx * f64::from(cells.x), fy * f64::from(cells.y));
        let (cx, cy) = (u.floor() as i64, v.floor() as i64);
        let (mut nearest, mut second) = (f64::MAX, f64::MAX);
        for dy in -1..=1 {
            for dx in -1..=1 {
                let (x, y) = (cx + dx, cy + dy);
                let [jx, jy] = self.jitter(x, y, cells);
                let distance = (x as f64 + jx - u).hypot(y as f64 + jy - v);
                if distance < nearest {
                    second = nearest;
                    nearest = distance;
                } else if distance < second {
                    second = distance;
                }
            }
        }
        let border = (second - nearest).min(0.5) * 2.0;
        smoothstep(0.0, 0.6, border) + 0.1 * self.fbm(fx, fy, style(4, 0.5, OctaveShape::Smooth))
    }

    /// The feature point of cell `(x, y)`, wrapped so the grid tiles.
    fn jitter(&self, x: i64, y: i64, cells: Period) -> [f64; 2] {
        let wx = x.rem_euclid(i64::from(cells.x)) as u32;
        let wy = y.rem_euclid(i64::from(cells.y)) as u32;
        let h = mix(mix(wx ^ self.seed.rotate_left(7)) ^ wy.wrapping_mul(0x9e37_79b9));
        let a = f64::from(h & 0xffff) / 65_535.0;
        let b = f64::from(h >> 16) / 65_535.0;
        [0.1 + 0.8 * a, 0.1 + 0.8 * b]
    }

    /// Bricks twice as wide as tall, every other row shifted by half a
    /// brick; an even row count keeps the shift periodic.
    fn bricks(&self, fx: f64, fy: f64) -> f64 {
        let rows = (self.base.y * 2).max(2) & !1;
        let columns = (self.base.x).max(1);
        // Shifted by constants so that no joint runs along the tile edge
        // (a groove on the edge looks like a seam once tiled).
        let v = fy * f64::from(rows) + 0.5;
        let row = v.floor();
        // Wrapped, so the pattern is the same one tile to the left or above.
        let row_index = (row as i64).rem_euclid(i64::from(rows)) as u32;
        let shift = if row_index % 2 == 1 { 0.5 } else { 0.0 };
        let u = fx * f64::from(columns) + shift + 0.25;
        let column = u.floor();
        // Distance to the nearest joint, in brick heights.
        let across = (v - row).min(1.0 - (v - row));
        let along =
            (u - column).min(1.0 - (u - column)) * 2.0 * f64::from(rows) / f64::from(columns) / 2.0;
        let edge = across.min(along);
        let bevel = smoothstep(0.04, 0.14, edge);
        let wrapped_column = (column as i64).rem_euclid(i64::from(columns)) as u32;
        let tone = f64::from(mix(mix(wrapped_column ^ self.seed) ^ row_index) & 0xff) / 255.0;
        let grit = self.fbm(fx, fy, style(5, 0.55, OctaveShape::Smooth));
        bevel * (0.65 + 0.25 * tone) + 0.08 * grit
    }

    /// Rings across the tile (a whole number of them), warped by noise.
    fn wood_grain(&self, fx: f64, fy: f64) -> f64 {
        let rings = f64::from(self.base.y * 2);
        let warp = self.fbm(fx, fy, style(3, 0.5, OctaveShape::Smooth));
        let phase = rings * fy + 0.8 * warp;
        let ring = 0.5 + 0.5 * (std::f64::consts::TAU * phase).sin();
        // Fibres run along the rings: long in x, fine in y.
        let fibres = Period {
            x: self.base.x,
            y: self.base.y * 16,
        };
        let fibre = self.noise.sample(
            fx * f64::from(fibres.x),
            fy * f64::from(fibres.y),
            fibres,
            97,
        );
        ring.powf(0.6) + 0.06 * fibre
    }

    /// Sine veins along a diagonal, twisted by turbulence.
    fn marble(&self, fx: f64, fy: f64) -> f64 {
        let turbulence = self.fbm(fx, fy, style(6, 0.55, OctaveShape::Smooth)).abs();
        // Whole turns on each axis: the diagonal wave repeats per tile.
        let phase = 2.0 * fx + 3.0 * fy + 3.0 * turbulence;
        let vein = (std::f64::consts::TAU * phase).sin().abs();
        vein.powf(0.35)
    }
}

fn style(octaves: u32, gain: f64, shape: OctaveShape) -> FbmStyle {
    FbmStyle {
        octaves,
        gain,
        shape,
    }
}

fn smoothstep(low: f64, high: f64, x: f64) -> f64 {
    let t = ((x - low) / (high - low)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_words_pick_patterns() {
        assert_eq!(Pattern::from_prompt("red bricks"), Pattern::Bricks);
        assert_eq!(Pattern::from_prompt("white marble floor"), Pattern::Marble);
        assert_eq!(Pattern::from_prompt("oak planks"), Pattern::WoodGrain);
        assert_eq!(Pattern::from_prompt("dragon scales"), Pattern::Voronoi);
        assert_eq!(Pattern::from_prompt("cracked lava"), Pattern::Ridged);
        assert_eq!(Pattern::from_prompt("mossy"), Pattern::Noise);
    }

    #[test]
    fn every_pattern_repeats_every_unit() {
        let base = Period { x: 4, y: 4 };
        let smooth = style(5, 0.5, OctaveShape::Smooth);
        for pattern in PATTERNS {
            let sampler = PatternSampler::new(pattern, 3, base, 5, smooth);
            for i in 0..32 {
                for j in 0..32 {
                    let (fx, fy) = (f64::from(i) / 32.0, f64::from(j) / 32.0);
                    let value = sampler.sample(fx, fy);
                    let moved = sampler.sample(fx + 1.0, fy - 1.0);
                    assert!((value - moved).abs() < 1e-9, "{pattern:?} at ({fx}, {fy})");
                }
            }
        }
    }
}
