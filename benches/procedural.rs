//! Procedural generation times, printed as figures (run on demand):
//!
//! `cargo bench --bench procedural` (GAIA_BENCH_RUNS sets the runs, default 5).
//!
//! - a 1024×1024 texture of each pattern, rendered and PNG-encoded, and a
//!   whole PBR set (albedo, normal and roughness maps);
//! - a 2 s sound effect of each preset, synthesised and WAV-encoded;
//! - each mesh at high detail, built and GLB-encoded.
//!
//! Each figure is the median of the runs, single-threaded, as the provider
//! runs one output at a time on the blocking pool.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use gaia_core::Detail;
use gaia_providers::procedural::{self, mesh, sfx, texture};

fn runs() -> usize {
    std::env::var("GAIA_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1)
}

/// Median wall time of `runs` calls, and the size of the last output.
fn median(runs: usize, mut work: impl FnMut() -> usize) -> (Duration, usize) {
    let mut times = Vec::with_capacity(runs);
    let mut size = 0;
    for _ in 0..runs {
        let start = Instant::now();
        size = std::hint::black_box(work());
        times.push(start.elapsed());
    }
    times.sort();
    (times[times.len() / 2], size)
}

fn report(label: &str, (time, size): (Duration, usize)) {
    println!(
        "{label:<34} {:>9.1} ms  {:>9} bytes",
        time.as_secs_f64() * 1e3,
        size
    );
}

fn main() {
    let runs = runs();
    println!("procedural generation, median of {runs} runs");
    for pattern in texture::PATTERNS {
        let params = texture::TextureParams {
            prompt: pattern.name().to_owned(),
            seed: 7,
            width: 1024,
            height: 1024,
        };
        let timing = median(runs, || {
            texture::encode_png(&texture::render(&params))
                .unwrap()
                .len()
        });
        report(&format!("texture 1024² {}", pattern.name()), timing);
    }
    let params = texture::TextureParams {
        prompt: "stone bricks".to_owned(),
        seed: 7,
        width: 1024,
        height: 1024,
    };
    let timing = median(runs, || {
        procedural::render_texture_set(&params, true)
            .unwrap()
            .iter()
            .map(|(bytes, _)| bytes.len())
            .sum()
    });
    report("texture 1024² PBR set (3 maps)", timing);
    for preset in sfx::PRESETS {
        let params = sfx::SfxParams {
            preset,
            seed: 7,
            duration_s: 2.0,
            looping: false,
        };
        let timing = median(runs, || {
            sfx::encode_wav(&sfx::render(&params)).unwrap().len()
        });
        report(&format!("sfx 2 s {}", preset.name()), timing);
    }
    for shape in mesh::SHAPES {
        let params = mesh::MeshParams {
            shape,
            size_m: 1.0,
            detail: Detail::High,
            seed: 7,
        };
        let timing = median(runs, || {
            mesh::encode_glb(&mesh::build(&params), shape.name())
                .unwrap()
                .len()
        });
        report(&format!("mesh high {}", shape.name()), timing);
    }
}
