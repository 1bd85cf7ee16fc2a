//! Periodic gradient (Perlin-style) noise and fractal sums of it.
//!
//! The lattice wraps with an integer period per axis, so a noise field sampled
//! over exactly one period tiles without a seam. Periods are integers (rather
//! than a 4D torus embedding) because wrapping lattice indices is nearly free.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Number of random gradient directions (a power of two, so `%` is a mask).
const GRADIENT_COUNT: usize = 256;

/// Perlin noise with unit gradients peaks at `sqrt(0.5)` in magnitude;
/// scaling by `sqrt(2)` brings the output to roughly `[-1, 1]`.
const AMPLITUDE_NORMALISER: f64 = std::f64::consts::SQRT_2;

/// Integer lattice period of each axis, in lattice cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Period {
    /// Cells before the lattice repeats horizontally (at least 1).
    pub x: u32,
    /// Cells before the lattice repeats vertically (at least 1).
    pub y: u32,
}

impl Period {
    /// The period of a finer octave: `2^octave` times as many cells per axis.
    fn octave(self, octave: u32) -> Self {
        let scale = 1_u32.checked_shl(octave).unwrap_or(u32::MAX);
        Self {
            x: self.x.saturating_mul(scale),
            y: self.y.saturating_mul(scale),
        }
    }
}

/// How each octave's raw noise is shaped before it is summed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OctaveShape {
    /// Plain signed noise: soft, cloudy blobs.
    Smooth,
    /// `(1 - |n|)^2`: sharp bright creases along the noise's zero lines,
    /// which read as cracks or veins.
    Ridged,
}

/// Character of a fractal Brownian motion (fBm) sum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct FbmStyle {
    /// Maximum number of octaves; callers may use fewer at small sizes.
    pub octaves: u32,
    /// Amplitude ratio between successive octaves (roughness).
    pub gain: f64,
    /// Shaping applied to every octave.
    pub shape: OctaveShape,
}

/// Seeded periodic gradient noise.
#[derive(Debug, Clone)]
pub(super) struct PeriodicNoise {
    gradients: [[f64; 2]; GRADIENT_COUNT],
    hash_key: u32,
}

impl PeriodicNoise {
    /// Builds the gradient table and lattice hash key from `seed`.
    pub(super) fn new(seed: u32) -> Self {
        let mut rng = StdRng::seed_from_u64(u64::from(seed));
        let gradients = std::array::from_fn(|_| {
            let angle = rng.random_range(0.0..std::f64::consts::TAU);
            [angle.cos(), angle.sin()]
        });
        Self {
            gradients,
            hash_key: rng.random(),
        }
    }

    /// Noise at lattice coordinates `(u, v)`, roughly in `[-1, 1]`.
    ///
    /// Exactly periodic: `sample(u + period.x, v, ..) == sample(u, v, ..)`,
    /// likewise for `v`. `salt` selects an independent lattice (one per octave).
    pub(super) fn sample(&self, u: f64, v: f64, period: Period, salt: u32) -> f64 {
        let (x0, dx) = wrap_to_cell(u, period.x);
        let (y0, dy) = wrap_to_cell(v, period.y);
        let x1 = next_cell(x0, period.x);
        let y1 = next_cell(y0, period.y);

        // Hash the lattice rows once, not once per corner.
        let lattice_key = mix(salt ^ self.hash_key);
        let (row0, row1) = (mix(y0 ^ lattice_key), mix(y1 ^ lattice_key));
        let corner = |x: u32, row: u32, offset_x: f64, offset_y: f64| {
            let [gx, gy] = self.gradients[mix(x ^ row) as usize % GRADIENT_COUNT];
            gx * offset_x + gy * offset_y
        };
        let n00 = corner(x0, row0, dx, dy);
        let n10 = corner(x1, row0, dx - 1.0, dy);
        let n01 = corner(x0, row1, dx, dy - 1.0);
        let n11 = corner(x1, row1, dx - 1.0, dy - 1.0);

        let (sx, sy) = (fade(dx), fade(dy));
        let top = lerp(n00, n10, sx);
        let bottom = lerp(n01, n11, sx);
        lerp(top, bottom, sy) * AMPLITUDE_NORMALISER
    }

    /// Fractal sum over `octaves` octaves at tile fractions `(fx, fy)`.
    ///
    /// One unit of `fx`/`fy` spans one whole `base` period, so the result
    /// repeats every 1.0 on both axes: each octave doubles the integer period
    /// and therefore stays periodic. Returns a weighted mean of the shaped
    /// octaves (not yet normalised to `[0, 1]`).
    pub(super) fn fbm(
        &self,
        fx: f64,
        fy: f64,
        base: Period,
        style: &FbmStyle,
        octaves: u32,
    ) -> f64 {
        let mut sum = 0.0;
        let mut weight = 0.0;
        let mut amplitude = 1.0;
        for octave in 0..octaves {
            let period = base.octave(octave);
            let [shift_x, shift_y] = lattice_shift(octave);
            let u = fx * f64::from(period.x) + shift_x;
            let v = fy * f64::from(period.y) + shift_y;
            let raw = self.sample(u, v, period, octave);
            sum += amplitude * shape_octave(raw, style.shape);
            weight += amplitude;
            amplitude *= style.gain;
        }
        if weight > 0.0 { sum / weight } else { 0.0 }
    }
}

/// A constant sub-cell shift of an octave's lattice.
///
/// Without it every octave has a lattice line at the tile edge, where Perlin
/// noise is weakest; summed (especially ridged) octaves then draw a visible
/// line along the first row and column. Shifting by a constant keeps the
/// period. The shifts are odd multiples of 1/32 (never 0, and exact in
/// binary, so periodicity holds bit for bit).
fn lattice_shift(octave: u32) -> [f64; 2] {
    let odd = 2 * (octave % 16) + 1;
    [
        f64::from(odd * 13 % 32) / 32.0,
        f64::from(odd * 7 % 32) / 32.0,
    ]
}

/// Splits a coordinate into its lattice cell (wrapped into `[0, period)`) and
/// the offset within that cell.
fn wrap_to_cell(coordinate: f64, period: u32) -> (u32, f64) {
    let floor = coordinate.floor();
    let offset = coordinate - floor;
    let cell = (floor as i64).rem_euclid(i64::from(period.max(1)));
    (cell as u32, offset)
}

/// The cell after `cell`, wrapping at the period: this is what makes it tile.
fn next_cell(cell: u32, period: u32) -> u32 {
    if cell + 1 >= period { 0 } else { cell + 1 }
}

fn shape_octave(raw: f64, shape: OctaveShape) -> f64 {
    match shape {
        OctaveShape::Smooth => raw,
        OctaveShape::Ridged => {
            let crease = (1.0 - raw.abs()).max(0.0);
            crease * crease
        }
    }
}

/// Perlin's quintic fade: continuous second derivative at cell borders.
fn fade(t: f64) -> f64 {
    t * t * t * (t * (t * 6.0 - 15.0) + 10.0)
}

fn lerp(a: f64, b: f64, t: f64) -> f64 {
    a + (b - a) * t
}

/// A 32-bit avalanche mixer (the `lowbias32` finaliser).
pub(super) fn mix(mut value: u32) -> u32 {
    value ^= value >> 16;
    value = value.wrapping_mul(0x7feb_352d);
    value ^= value >> 15;
    value = value.wrapping_mul(0x846c_a68b);
    value ^ (value >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERIODS: [Period; 3] = [
        Period { x: 1, y: 1 },
        Period { x: 5, y: 3 },
        Period { x: 24, y: 96 },
    ];

    /// Dyadic sample points: `k / 16` is exact in binary, so adding an
    /// integer period introduces no rounding and equality can be exact.
    fn dyadic_points(period: Period) -> impl Iterator<Item = (f64, f64)> {
        let span_x = 16 * period.x as i32;
        let span_y = 16 * period.y as i32;
        (-span_x..span_x)
            .step_by(3)
            .flat_map(move |i| (0..span_y).step_by(5).map(move |j| (i, j)))
            .map(|(i, j)| {
                (
                    f64::from(i) / 16.0 + 1.0 / 64.0,
                    f64::from(j) / 16.0 + 1.0 / 128.0,
                )
            })
    }

    #[test]
    fn sample_is_exactly_periodic_on_both_axes() {
        let noise = PeriodicNoise::new(7);
        for period in PERIODS {
            let (px, py) = (f64::from(period.x), f64::from(period.y));
            for (u, v) in dyadic_points(period) {
                let base = noise.sample(u, v, period, 0).to_bits();
                assert_eq!(
                    base,
                    noise.sample(u + px, v, period, 0).to_bits(),
                    "x at ({u}, {v})"
                );
                assert_eq!(
                    base,
                    noise.sample(u, v + py, period, 0).to_bits(),
                    "y at ({u}, {v})"
                );
                assert_eq!(
                    base,
                    noise
                        .sample(u - 3.0 * px, v + 2.0 * py, period, 0)
                        .to_bits()
                );
            }
        }
    }

    /// Periodicity alone would also hold for a lattice that repeats but
    /// jumps at the wrap; continuity across it is what makes tiles seamless.
    #[test]
    fn sample_is_continuous_across_the_wrap() {
        let noise = PeriodicNoise::new(7);
        let step = 1e-6;
        for period in PERIODS {
            let (px, py) = (f64::from(period.x), f64::from(period.y));
            for i in 0..50 {
                let along = f64::from(i) * 0.37 % px.min(py);
                let across_x = noise.sample(px - step, along, period, 0)
                    - noise.sample(px + step, along, period, 0);
                let across_y = noise.sample(along, py - step, period, 0)
                    - noise.sample(along, py + step, period, 0);
                assert!(across_x.abs() < 1e-4, "x jump {across_x} in {period:?}");
                assert!(across_y.abs() < 1e-4, "y jump {across_y} in {period:?}");
            }
        }
    }

    #[test]
    fn sample_is_not_periodic_at_other_offsets() {
        let noise = PeriodicNoise::new(7);
        let period = Period { x: 8, y: 8 };
        let points: Vec<_> = dyadic_points(period).collect();
        let differing = points
            .iter()
            .filter(|&&(u, v)| noise.sample(u, v, period, 0) != noise.sample(u + 4.0, v, period, 0))
            .count();
        assert!(
            differing * 10 > points.len() * 9,
            "{differing} of {}",
            points.len()
        );
    }

    #[test]
    fn fbm_repeats_every_unit_of_tile_fraction() {
        let noise = PeriodicNoise::new(99);
        let base = Period { x: 6, y: 23 };
        for shape in [OctaveShape::Smooth, OctaveShape::Ridged] {
            let style = FbmStyle {
                octaves: 6,
                gain: 0.5,
                shape,
            };
            for i in 0..64 {
                for j in 0..64 {
                    let (fx, fy) = (f64::from(i) / 64.0, f64::from(j) / 64.0);
                    let value = noise.fbm(fx, fy, base, &style, 6).to_bits();
                    assert_eq!(value, noise.fbm(fx + 1.0, fy, base, &style, 6).to_bits());
                    assert_eq!(value, noise.fbm(fx, fy - 1.0, base, &style, 6).to_bits());
                }
            }
        }
    }

    #[test]
    fn sample_is_bounded_and_not_constant() {
        let noise = PeriodicNoise::new(3);
        let period = Period { x: 16, y: 16 };
        let values: Vec<f64> = (0..4096)
            .map(|i| {
                noise.sample(
                    f64::from(i % 64) * 0.25 + 0.1,
                    f64::from(i / 64) * 0.25 + 0.3,
                    period,
                    0,
                )
            })
            .collect();
        assert!(values.iter().all(|v| v.abs() <= 1.0 + 1e-9));
        let max = values.iter().copied().fold(f64::MIN, f64::max);
        let min = values.iter().copied().fold(f64::MAX, f64::min);
        assert!(max - min > 0.8, "range {min}..{max}");
    }

    #[test]
    fn same_seed_same_noise_different_seed_different_noise() {
        let period = Period { x: 4, y: 4 };
        let sample_all = |seed| -> Vec<u64> {
            let noise = PeriodicNoise::new(seed);
            dyadic_points(period)
                .map(|(u, v)| noise.sample(u, v, period, 0).to_bits())
                .collect()
        };
        assert_eq!(sample_all(1), sample_all(1));
        assert_ne!(sample_all(1), sample_all(2));
    }

    #[test]
    fn octaves_use_independent_lattices() {
        let noise = PeriodicNoise::new(5);
        let period = Period { x: 4, y: 4 };
        let differing = dyadic_points(period)
            .filter(|&(u, v)| noise.sample(u, v, period, 0) != noise.sample(u, v, period, 1))
            .count();
        assert!(differing > 0);
    }
}
