//! Seamless (tileable) procedural textures and their PBR maps.
//!
//! A texture is a seamless height field (a [`Pattern`] picked from the
//! prompt's words: noise, ridged noise, voronoi cells, bricks, wood grain,
//! marble) mapped through a colour gradient picked from the prompt's
//! material words. Noise lattices wrap with an integer period per axis and
//! the pixel grid covers exactly one period, so the last column is followed
//! seamlessly by the first (likewise for rows). The same height field gives
//! the PBR set's normal and roughness maps, which tile the same way.

use std::io::Cursor;

use image::{GrayImage, ImageError, ImageFormat, RgbImage};

use super::noise::{FbmStyle, Period};
use super::palette::{self, Gradient, Look, Rgb};
use super::pattern::PatternSampler;
pub use super::pattern::{PATTERNS, Pattern};

/// Lattice cells across the shorter side at the coarsest octave; the longer
/// side gets proportionally more so features stay roughly square.
const BASE_CELLS_ON_SHORT_SIDE: u32 = 4;

/// Octaves whose cells would be smaller than this (in pixels) only add
/// aliasing, so they are skipped.
const MIN_CELL_PIXELS: f64 = 2.0;

/// Entries in the precomputed value-to-colour table.
const RAMP_SIZE: usize = 1024;

/// How steep the normal map makes the height field: the height range (0–1)
/// spans this many pixels of depth per tile side of 256 pixels.
const NORMAL_STRENGTH: f32 = 6.0;

/// Parameters of one texture.
#[derive(Debug, Clone, PartialEq)]
pub struct TextureParams {
    /// Free text; its first recognised material word ("moss", "lava", ...)
    /// picks the palette and its first pattern word ("bricks", "marble")
    /// the pattern.
    pub prompt: String,
    /// Seed of the noise; equal parameters always give identical pixels.
    pub seed: u32,
    /// Width in pixels, 1..=4096 (validated by callers).
    pub width: u32,
    /// Height in pixels, 1..=4096 (validated by callers).
    pub height: u32,
}

/// Renders a tileable RGB texture whose palette follows words in the prompt.
///
/// Deterministic: the same parameters always produce the same pixels.
pub fn render(params: &TextureParams) -> RgbImage {
    colorize(params, &height_field(params))
}

/// The normalised (0–1) seamless height field behind a texture, row-major.
pub fn height_field(params: &TextureParams) -> Vec<f32> {
    let look = palette::material_for_prompt(&params.prompt).look();
    let pattern = Pattern::from_prompt(&params.prompt);
    pattern_field(pattern, params.seed, params.width, params.height, &look.fbm)
}

/// Colours a height field with the prompt's material gradient.
pub fn colorize(params: &TextureParams, field: &[f32]) -> RgbImage {
    let mut look = palette::material_for_prompt(&params.prompt).look();
    if matches!(
        Pattern::from_prompt(&params.prompt),
        Pattern::WoodGrain | Pattern::Marble
    ) {
        // These patterns draw their own bands; folding the tone again would
        // multiply them into stripes a pixel or two wide.
        look.bands = 0;
    }
    let ramp = ColorRamp::new(&look);
    let mut image = RgbImage::new(params.width, params.height);
    for (pixel, &value) in image.pixels_mut().zip(field) {
        *pixel = image::Rgb(ramp.color(value));
    }
    image
}

/// A tangent-space normal map (OpenGL convention, +Y up, as glTF expects)
/// from the height field's slopes; neighbours wrap around the edges so the
/// map tiles like the texture.
pub fn normal_map(field: &[f32], width: u32, height: u32) -> RgbImage {
    let (w, h) = (width as usize, height as usize);
    let at = |x: usize, y: usize| field.get(y * w + x).copied().unwrap_or(0.5);
    let scale = NORMAL_STRENGTH * width.min(height).max(1) as f32 / 256.0;
    RgbImage::from_fn(width, height, |x, y| {
        let (x, y) = (x as usize, y as usize);
        let (left, right) = ((x + w - 1) % w, (x + 1) % w);
        let (up, down) = ((y + h - 1) % h, (y + 1) % h);
        let dx = (at(right, y) - at(left, y)) * scale;
        // Image rows grow downwards; the normal map's +Y points up.
        let dy = (at(x, up) - at(x, down)) * scale;
        let length = (dx * dx + dy * dy + 1.0).sqrt();
        let encode = |c: f32| ((c / length * 0.5 + 0.5) * 255.0).round() as u8;
        image::Rgb([encode(-dx), encode(-dy), encode(1.0)])
    })
}

/// A roughness map: raised parts are worn smoother, hollows stay rough.
pub fn roughness_map(field: &[f32], width: u32, height: u32) -> GrayImage {
    let mut image = GrayImage::new(width, height);
    for (pixel, &value) in image.pixels_mut().zip(field) {
        let roughness = 0.95 - 0.55 * value.clamp(0.0, 1.0);
        *pixel = image::Luma([(roughness * 255.0).round() as u8]);
    }
    image
}

/// Encodes a grey image as PNG bytes.
pub fn encode_gray_png(img: &GrayImage) -> Result<Vec<u8>, ImageError> {
    let mut bytes = Vec::new();
    img.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)?;
    Ok(bytes)
}

/// Encodes as PNG bytes.
pub fn encode_png(img: &RgbImage) -> Result<Vec<u8>, ImageError> {
    let mut bytes = Vec::new();
    img.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)?;
    Ok(bytes)
}

/// Row-major pattern values for every pixel, normalised to `[0, 1]`.
fn pattern_field(
    pattern: Pattern,
    seed: u32,
    width: u32,
    height: u32,
    style: &FbmStyle,
) -> Vec<f32> {
    let base = base_period(width, height);
    let octaves = usable_octaves(style.octaves.max(6), base, width, height);
    let sampler = PatternSampler::new(pattern, seed, base, octaves, *style);
    let mut field = Vec::with_capacity(width as usize * height as usize);
    for y in 0..height {
        // `y / height` spans one tile: y == height would land on 1.0 ≡ 0.0.
        let fy = f64::from(y) / f64::from(height);
        for x in 0..width {
            let fx = f64::from(x) / f64::from(width);
            field.push(sampler.sample(fx, fy) as f32);
        }
    }
    stretch_to_unit_range(&mut field);
    field
}

/// Coarsest-octave period: a fixed cell count across the shorter side and
/// proportionally more across the longer one, keeping cells roughly square.
fn base_period(width: u32, height: u32) -> Period {
    let short = width.min(height).max(1);
    let cells_along = |side: u32| {
        let cells = f64::from(BASE_CELLS_ON_SHORT_SIDE) * f64::from(side) / f64::from(short);
        (cells.round() as u32).max(1)
    };
    Period {
        x: cells_along(width),
        y: cells_along(height),
    }
}

/// Caps the octave count so the finest cells stay at least
/// [`MIN_CELL_PIXELS`] wide; always at least one octave.
fn usable_octaves(wanted: u32, base: Period, width: u32, height: u32) -> u32 {
    let cell_x = f64::from(width) / f64::from(base.x);
    let cell_y = f64::from(height) / f64::from(base.y);
    let mut cell = cell_x.min(cell_y);
    let mut octaves = 1;
    while octaves < wanted && cell / 2.0 >= MIN_CELL_PIXELS {
        cell /= 2.0;
        octaves += 1;
    }
    octaves
}

/// Maps the field's minimum to 0 and maximum to 1 so every texture uses its
/// whole gradient; a flat field (e.g. 1x1) becomes mid-gradient.
fn stretch_to_unit_range(field: &mut [f32]) {
    let (min, max) = field
        .iter()
        .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let range = max - min;
    for value in field.iter_mut() {
        *value = if range > f32::EPSILON {
            (*value - min) / range
        } else {
            0.5
        };
    }
}

/// Precomputed colours for evenly spaced noise values, so each pixel costs
/// one table lookup instead of a tone curve and gradient search.
struct ColorRamp {
    colors: Vec<Rgb>,
}

impl ColorRamp {
    fn new(look: &Look) -> Self {
        let last = (RAMP_SIZE - 1) as f32;
        let colors = (0..RAMP_SIZE)
            .map(|i| {
                let toned = tone(i as f32 / last, look.bands, look.gamma);
                sample_gradient(look.gradient, toned)
            })
            .collect();
        Self { colors }
    }

    /// Colour of a normalised noise value in `[0, 1]`.
    fn color(&self, value: f32) -> Rgb {
        let last = self.colors.len() - 1;
        let index = ((value.clamp(0.0, 1.0) * last as f32).round() as usize).min(last);
        self.colors[index]
    }
}

/// Folds `t` into `bands` triangle waves (continuous, so no new seams) and
/// then applies the gamma contrast curve.
fn tone(t: f32, bands: u32, gamma: f32) -> f32 {
    let folded = if bands == 0 {
        t
    } else {
        let phase = (t * bands as f32).fract();
        1.0 - (2.0 * phase - 1.0).abs()
    };
    folded.clamp(0.0, 1.0).powf(gamma)
}

/// Linear interpolation between the two gradient stops around `t`.
fn sample_gradient(gradient: Gradient, t: f32) -> Rgb {
    let Some(&(_, first)) = gradient.first() else {
        return [0, 0, 0];
    };
    let mut color = first;
    for pair in gradient.windows(2) {
        let [(start, from), (end, to)] = [pair[0], pair[1]];
        if t >= start {
            let along = ((t - start) / (end - start)).clamp(0.0, 1.0);
            color = std::array::from_fn(|channel| {
                let (a, b) = (f32::from(from[channel]), f32::from(to[channel]));
                (a + (b - a) * along).round() as u8
            });
        }
    }
    color
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn params(prompt: &str, seed: u32, width: u32, height: u32) -> TextureParams {
        TextureParams {
            prompt: prompt.to_owned(),
            seed,
            width,
            height,
        }
    }

    /// Which lines a seam statistic compares.
    #[derive(Clone, Copy, Debug)]
    enum Lines {
        Columns,
        Rows,
    }

    impl Lines {
        /// How many lines of this kind the image has.
        fn count(self, img: &RgbImage) -> u32 {
            match self {
                Self::Columns => img.width(),
                Self::Rows => img.height(),
            }
        }

        /// Pixel `along` the given line.
        fn pixel(self, img: &RgbImage, line: u32, along: u32) -> image::Rgb<u8> {
            match self {
                Self::Columns => *img.get_pixel(line, along),
                Self::Rows => *img.get_pixel(along, line),
            }
        }
    }

    /// Mean absolute per-channel difference between two columns or rows.
    fn line_difference(img: &RgbImage, lines: Lines, a: u32, b: u32) -> f64 {
        let length = match lines {
            Lines::Columns => img.height(),
            Lines::Rows => img.width(),
        };
        let total: u32 = (0..length)
            .map(|i| {
                let (p, q) = (lines.pixel(img, a, i), lines.pixel(img, b, i));
                (0..3).map(|c| u32::from(p[c].abs_diff(q[c]))).sum::<u32>()
            })
            .sum();
        f64::from(total) / f64::from(3 * length)
    }

    struct SeamStats {
        /// Last line against the first: the tiling seam.
        seam: f64,
        /// Mean over all interior neighbouring line pairs.
        interior: f64,
        /// First line against the middle one: unrelated content.
        far: f64,
    }

    fn seam_stats(img: &RgbImage, lines: Lines) -> SeamStats {
        let count = lines.count(img);
        let interior = (0..count - 1)
            .map(|i| line_difference(img, lines, i, i + 1))
            .sum::<f64>()
            / f64::from(count - 1);
        SeamStats {
            seam: line_difference(img, lines, count - 1, 0),
            interior,
            far: line_difference(img, lines, 0, count / 2),
        }
    }

    /// A seam is invisible when its step is within this factor of the mean
    /// interior step...
    const SEAM_TOLERANCE: f64 = 1.5;
    /// ...plus this many colour levels, for smooth textures whose steps are
    /// below one quantisation level.
    const SEAM_SLACK: f64 = 0.5;
    /// A non-tiling control must exceed the interior step by this factor, so
    /// the statistic provably tells seams apart.
    const CONTROL_FACTOR: f64 = 2.5;

    fn assert_seamless(img: &RgbImage, label: &str) {
        for lines in [Lines::Columns, Lines::Rows] {
            let stats = seam_stats(img, lines);
            assert!(
                stats.seam <= SEAM_TOLERANCE * stats.interior + SEAM_SLACK,
                "{label} {lines:?}: seam {} vs interior {}",
                stats.seam,
                stats.interior
            );
            assert!(
                stats.far > CONTROL_FACTOR * stats.interior + SEAM_SLACK,
                "{label} {lines:?}: control {} should dwarf interior {}",
                stats.far,
                stats.interior
            );
        }
    }

    /// A crop of a tile does not tile: the same statistic must catch it.
    fn assert_crop_has_seam(img: &RgbImage, label: &str) {
        let (width, height) = (img.width() * 3 / 5, img.height() * 3 / 5);
        let crop = image::imageops::crop_imm(img, 0, 0, width, height).to_image();
        for lines in [Lines::Columns, Lines::Rows] {
            let stats = seam_stats(&crop, lines);
            assert!(
                stats.seam > CONTROL_FACTOR * stats.interior + SEAM_SLACK,
                "{label} {lines:?}: cropped seam {} vs interior {}",
                stats.seam,
                stats.interior
            );
        }
    }

    fn assert_tiles_for(prompts: &[&str], width: u32, height: u32) {
        for prompt in prompts {
            for seed in 1..=3 {
                let label = format!("{prompt:?} seed {seed} {width}x{height}");
                let img = render(&params(prompt, seed, width, height));
                assert_seamless(&img, &label);
                assert_crop_has_seam(&img, &label);
            }
        }
    }

    #[test]
    fn square_textures_tile_seamlessly_and_crops_do_not() {
        let prompts = [
            "",
            "mossy cobblestone",
            "stone",
            "lava",
            "water",
            "oak wood",
            "snow",
        ];
        assert_tiles_for(&prompts, 256, 256);
    }

    #[test]
    fn every_pattern_tiles_seamlessly() {
        let prompts = [
            "ridged rock",
            "voronoi cells",
            "dragon scales",
            "red bricks",
            "stone tiles",
            "oak wood grain",
            "white marble",
        ];
        for prompt in prompts {
            for seed in 1..=3 {
                let img = render(&params(prompt, seed, 256, 256));
                assert_seam_is_ordinary(&img, &format!("{prompt:?} seed {seed}"));
            }
        }
    }

    /// The tiling seam must look like any pair of neighbouring lines: no
    /// larger than the largest step inside the image. (Patterns with sharp
    /// directional features, like cell borders, vary too much from line to
    /// line for the mean-based test above.)
    fn assert_seam_is_ordinary(img: &RgbImage, label: &str) {
        for lines in [Lines::Columns, Lines::Rows] {
            let count = lines.count(img);
            let largest = (0..count - 1)
                .map(|i| line_difference(img, lines, i, i + 1))
                .fold(0.0, f64::max);
            let seam = line_difference(img, lines, count - 1, 0);
            assert!(
                seam <= largest,
                "{label} {lines:?}: seam {seam} vs largest step {largest}"
            );
        }
    }

    #[test]
    fn patterns_look_different_from_each_other() {
        let fields: Vec<Vec<f32>> = ["noise", "ridged", "voronoi", "bricks", "wood", "marble"]
            .iter()
            .map(|word| height_field(&params(word, 4, 64, 64)))
            .collect();
        for (i, a) in fields.iter().enumerate() {
            for b in &fields[i + 1..] {
                let mean_difference =
                    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32;
                assert!(mean_difference > 0.05, "{mean_difference}");
            }
        }
    }

    #[test]
    fn normal_and_roughness_maps_tile_and_follow_the_height() {
        // Smooth noise: the seam statistic needs features that do not line up.
        let field = height_field(&params("mossy", 2, 128, 128));
        assert_seam_is_ordinary(&normal_map(&field, 128, 128), "normal map");
        let field = height_field(&params("stone bricks", 2, 128, 128));
        let normals = normal_map(&field, 128, 128);
        // A flat field points straight up: (128, 128, 255).
        let flat = normal_map(&[0.5; 16], 4, 4);
        assert!(flat.pixels().all(|px| px.0 == [128, 128, 255]), "{flat:?}");
        // Every normal is unit length after decoding.
        for px in normals.pixels() {
            let n = px.0.map(|c| f32::from(c) / 255.0 * 2.0 - 1.0);
            let length = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
            assert!((length - 1.0).abs() < 0.02, "{n:?}");
        }
        let rough = roughness_map(&field, 128, 128);
        let (high, low) =
            field
                .iter()
                .zip(rough.pixels())
                .fold((0u8, 255u8), |(hi, lo), (&h, px)| {
                    if h > 0.9 {
                        (hi, lo.min(px[0]))
                    } else if h < 0.1 {
                        (hi.max(px[0]), lo)
                    } else {
                        (hi, lo)
                    }
                });
        assert!(high > low, "hollows {high} rougher than peaks {low}");
    }

    /// Only smoother materials here: 77 rows hold few features, so for the
    /// pixel-sharp ones (lava creases, wood bands) neighbouring lines already
    /// differ almost as much as unrelated lines and no control could
    /// discriminate. Their exact periodicity is covered by the noise tests.
    #[test]
    fn wide_textures_tile_seamlessly_and_crops_do_not() {
        assert_tiles_for(&["", "mossy cobblestone", "water", "steel"], 300, 77);
    }

    #[test]
    fn same_seed_gives_identical_bytes() {
        let a = render(&params("stone", 42, 128, 96));
        let b = render(&params("stone", 42, 128, 96));
        assert_eq!(a.as_raw(), b.as_raw());
    }

    #[test]
    fn different_seeds_give_different_pixels() {
        let a = render(&params("stone", 1, 128, 96));
        let b = render(&params("stone", 2, 128, 96));
        let differing = a.pixels().zip(b.pixels()).filter(|(p, q)| p != q).count();
        assert!(
            differing > a.len() / 3 / 2,
            "only {differing} pixels differ"
        );
    }

    fn mean_rgb(img: &RgbImage) -> [f64; 3] {
        let mut sums = [0u64; 3];
        for pixel in img.pixels() {
            for (sum, &channel) in sums.iter_mut().zip(&pixel.0) {
                *sum += u64::from(channel);
            }
        }
        let count = (u64::from(img.width()) * u64::from(img.height())) as f64;
        sums.map(|sum| sum as f64 / count)
    }

    fn mean_color_of(prompt: &str) -> [f64; 3] {
        mean_rgb(&render(&params(prompt, 5, 96, 96)))
    }

    #[test]
    fn palette_follows_prompt_words() {
        for prompt in ["moss", "mossy cobblestone", "Grassy meadow"] {
            let [r, g, b] = mean_color_of(prompt);
            assert!(g > r && g > b, "{prompt}: {r} {g} {b}");
        }
        let [r, g, b] = mean_color_of("lava");
        assert!(r > g && r > b, "lava: {r} {g} {b}");
        let [r, g, b] = mean_color_of("deep ocean WATER");
        assert!(b > r && b > g, "water: {r} {g} {b}");
        let [r, _, b] = mean_color_of("sand");
        assert!(r > b, "sand: {r} {b}");
    }

    #[test]
    fn unknown_words_give_the_neutral_default() {
        let unknown = render(&params("xyzzy plugh", 5, 64, 64));
        let empty = render(&params("", 5, 64, 64));
        assert_eq!(unknown.as_raw(), empty.as_raw());
        assert!(
            unknown.pixels().all(|p| p[0] == p[1] && p[1] == p[2]),
            "default is grey"
        );
        assert_ne!(
            unknown.as_raw(),
            render(&params("moss", 5, 64, 64)).as_raw()
        );
    }

    #[test]
    fn unusual_sizes_render_with_requested_dimensions() {
        for (width, height) in [(1, 1), (300, 77), (4096, 16), (16, 4096), (1, 4096), (2, 3)] {
            let img = render(&params("brick", 3, width, height));
            assert_eq!(img.dimensions(), (width, height));
        }
    }

    #[test]
    fn png_round_trips_with_same_dimensions_and_pixels() {
        let img = render(&params("snow", 9, 64, 40));
        let bytes = encode_png(&img).unwrap();
        let decoded = image::load_from_memory(&bytes).unwrap().to_rgb8();
        assert_eq!(decoded.dimensions(), (64, 40));
        assert_eq!(decoded.as_raw(), img.as_raw());
    }

    #[test]
    fn features_stay_roughly_square_on_wide_textures() {
        let base = base_period(300, 77);
        let cell_width = 300.0 / f64::from(base.x);
        let cell_height = 77.0 / f64::from(base.y);
        assert!(
            (cell_width / cell_height - 1.0).abs() < 0.1,
            "{cell_width} x {cell_height}"
        );
    }
}
