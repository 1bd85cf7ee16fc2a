//! Game sound effects in the spirit of sfxr: a preset picked from the
//! prompt's words sets an oscillator, a pitch sweep and a volume envelope;
//! the seed varies them. Output: 16-bit PCM mono WAV at 44,100 Hz.

use std::io::Cursor;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Samples per second of every sound effect.
pub const SAMPLE_RATE: u32 = 44_100;
/// Shortest sound effect; shorter requests are lengthened to it.
pub const MIN_DURATION_S: f64 = 0.05;
/// Longest sound effect; longer requests are refused.
pub const MAX_DURATION_S: f64 = 10.0;
/// Peak level after normalising, as a fraction of full scale: headroom so
/// that nothing clips, even after a lossy re-encode.
pub const PEAK: f32 = 0.9;

/// The kinds of sound effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Preset {
    /// A coin or item pickup: a bright two-note square chirp.
    Pickup,
    /// A laser or shot: a fast downward sawtooth sweep.
    Laser,
    /// An explosion: low rumbling noise that dies away.
    Explosion,
    /// A power-up: a rising, warbling square arpeggio.
    PowerUp,
    /// A hit or hurt: a short noisy thud falling in pitch.
    Hit,
    /// A jump: a square wave sweeping upward.
    Jump,
    /// A menu blip or select: a very short pure beep.
    Blip,
}

/// Every preset, in a fixed order.
pub const PRESETS: [Preset; 7] = [
    Preset::Pickup,
    Preset::Laser,
    Preset::Explosion,
    Preset::PowerUp,
    Preset::Hit,
    Preset::Jump,
    Preset::Blip,
];

/// Prompt words (lowercase, plural "s" stripped by the lookup) per preset.
const VOCABULARY: &[(&str, Preset)] = &[
    ("pickup", Preset::Pickup),
    ("coin", Preset::Pickup),
    ("collect", Preset::Pickup),
    ("gem", Preset::Pickup),
    ("item", Preset::Pickup),
    ("laser", Preset::Laser),
    ("shoot", Preset::Laser),
    ("shot", Preset::Laser),
    ("zap", Preset::Laser),
    ("blaster", Preset::Laser),
    ("gun", Preset::Laser),
    ("explosion", Preset::Explosion),
    ("explode", Preset::Explosion),
    ("boom", Preset::Explosion),
    ("blast", Preset::Explosion),
    ("bomb", Preset::Explosion),
    ("powerup", Preset::PowerUp),
    ("power", Preset::PowerUp),
    ("upgrade", Preset::PowerUp),
    ("levelup", Preset::PowerUp),
    ("hit", Preset::Hit),
    ("hurt", Preset::Hit),
    ("damage", Preset::Hit),
    ("punch", Preset::Hit),
    ("impact", Preset::Hit),
    ("jump", Preset::Jump),
    ("hop", Preset::Jump),
    ("bounce", Preset::Jump),
    ("blip", Preset::Blip),
    ("select", Preset::Blip),
    ("menu", Preset::Blip),
    ("click", Preset::Blip),
    ("beep", Preset::Blip),
    ("ui", Preset::Blip),
];

impl Preset {
    /// The preset named by the first recognised word of `prompt`, if any.
    pub fn from_prompt(prompt: &str) -> Option<Self> {
        prompt
            .split(|c: char| !c.is_alphanumeric())
            .filter(|word| !word.is_empty())
            .map(str::to_lowercase)
            .find_map(|word| lookup(&word).or_else(|| word.strip_suffix('s').and_then(lookup)))
    }

    /// Its name in asset metadata.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pickup => "pickup",
            Self::Laser => "laser",
            Self::Explosion => "explosion",
            Self::PowerUp => "power_up",
            Self::Hit => "hit",
            Self::Jump => "jump",
            Self::Blip => "blip",
        }
    }

    /// How long it lasts when the request gives no `duration_s`.
    pub fn default_duration_s(self) -> f64 {
        match self {
            Self::Pickup => 0.35,
            Self::Laser => 0.3,
            Self::Explosion => 1.0,
            Self::PowerUp => 0.7,
            Self::Hit => 0.25,
            Self::Jump => 0.4,
            Self::Blip => 0.12,
        }
    }
}

fn lookup(word: &str) -> Option<Preset> {
    VOCABULARY
        .iter()
        .find(|(known, _)| *known == word)
        .map(|&(_, preset)| preset)
}

/// What one sound effect is made of.
#[derive(Debug, Clone, Copy)]
enum Wave {
    Square {
        duty: f32,
    },
    Saw,
    Sine,
    /// Sample-and-hold noise: a new random level every period, so the
    /// frequency sets how rough it sounds.
    Noise,
}

/// The synthesis parameters of one sound, after seed variation.
#[derive(Debug, Clone, Copy)]
struct Voice {
    wave: Wave,
    /// Starting pitch in Hz.
    start_hz: f32,
    /// Pitch change in octaves per second (negative falls).
    slide_octaves_per_s: f32,
    /// At this fraction of the sound the pitch jumps by `arp_ratio` (0: never).
    arp_at: f32,
    arp_ratio: f32,
    /// Vibrato depth (fraction of pitch) and rate (Hz).
    vibrato: (f32, f32),
    /// Envelope: fractions of the duration for attack and sustain; the rest decays.
    attack: f32,
    sustain: f32,
    /// Extra loudness at the start of the sustain, fading through it.
    punch: f32,
    /// One-pole low-pass cutoff in Hz (`None`: unfiltered).
    low_pass_hz: Option<f32>,
}

/// Parameters of one sound effect.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SfxParams {
    /// Which sound.
    pub preset: Preset,
    /// Seed of the variation; equal parameters give identical samples.
    pub seed: u32,
    /// Length in seconds, within [`MIN_DURATION_S`]..=[`MAX_DURATION_S`].
    pub duration_s: f64,
    /// A seamless loop: held at full level throughout (no attack, no
    /// decay), its end running on into its start.
    pub looping: bool,
}

/// Synthesises the sound as samples in `[-PEAK, PEAK]`.
pub fn render(params: &SfxParams) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(u64::from(params.seed));
    let voice = vary(base_voice(params.preset), &mut rng);
    let frames = (params.duration_s.clamp(MIN_DURATION_S, MAX_DURATION_S) * f64::from(SAMPLE_RATE))
        .round() as usize;
    let mut samples = if params.looping {
        let held = Voice {
            attack: 0.0,
            sustain: 1.0,
            punch: 0.0,
            ..voice
        };
        let overlap = loop_overlap(frames);
        let mut samples = synthesize(&held, frames + overlap, &mut rng);
        fold_tail_into_head(&mut samples, frames);
        samples
    } else {
        synthesize(&voice, frames, &mut rng)
    };
    normalize(&mut samples);
    samples
}

/// The crossfade of a loop: a tenth of a second, or a quarter of a shorter sound.
fn loop_overlap(frames: usize) -> usize {
    (SAMPLE_RATE as usize / 10).min(frames / 4)
}

/// Mixes what was synthesised past `frames` into the start with an
/// equal-power crossfade and drops it. Played on repeat, the last sample
/// kept is then followed by (almost exactly) the sample that followed it in
/// the synthesis, so the seam neither clicks nor changes level.
fn fold_tail_into_head(samples: &mut Vec<f32>, frames: usize) {
    let overlap = samples.len().saturating_sub(frames);
    for i in 0..overlap {
        let angle = (i as f32 + 0.5) / overlap as f32 * std::f32::consts::FRAC_PI_2;
        samples[i] = samples[i] * angle.sin() + samples[frames + i] * angle.cos();
    }
    samples.truncate(frames);
}

/// Encodes samples as 16-bit PCM mono WAV at [`SAMPLE_RATE`].
pub fn encode_wav(samples: &[f32]) -> Result<Vec<u8>, hound::Error> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut cursor = Cursor::new(Vec::with_capacity(44 + samples.len() * 2));
    let mut writer = hound::WavWriter::new(&mut cursor, spec)?;
    for &sample in samples {
        // Samples are already within ±PEAK, so this never saturates.
        writer.write_sample((sample * f32::from(i16::MAX)).round() as i16)?;
    }
    writer.finalize()?;
    Ok(cursor.into_inner())
}

fn base_voice(preset: Preset) -> Voice {
    let plain = Voice {
        wave: Wave::Square { duty: 0.5 },
        start_hz: 440.0,
        slide_octaves_per_s: 0.0,
        arp_at: 0.0,
        arp_ratio: 1.0,
        vibrato: (0.0, 0.0),
        attack: 0.0,
        sustain: 0.3,
        punch: 0.0,
        low_pass_hz: None,
    };
    match preset {
        Preset::Pickup => Voice {
            start_hz: 1050.0,
            arp_at: 0.3,
            arp_ratio: 1.5,
            sustain: 0.35,
            punch: 0.4,
            ..plain
        },
        Preset::Laser => Voice {
            wave: Wave::Saw,
            start_hz: 1400.0,
            slide_octaves_per_s: -9.0,
            sustain: 0.2,
            low_pass_hz: Some(6000.0),
            ..plain
        },
        Preset::Explosion => Voice {
            wave: Wave::Noise,
            start_hz: 900.0,
            slide_octaves_per_s: -1.5,
            sustain: 0.15,
            punch: 0.8,
            low_pass_hz: Some(1800.0),
            ..plain
        },
        Preset::PowerUp => Voice {
            wave: Wave::Square { duty: 0.35 },
            start_hz: 300.0,
            slide_octaves_per_s: 2.2,
            arp_at: 0.5,
            arp_ratio: 1.33,
            vibrato: (0.04, 14.0),
            attack: 0.02,
            sustain: 0.55,
            ..plain
        },
        Preset::Hit => Voice {
            wave: Wave::Noise,
            start_hz: 2500.0,
            slide_octaves_per_s: -8.0,
            sustain: 0.1,
            punch: 0.6,
            low_pass_hz: Some(4000.0),
            ..plain
        },
        Preset::Jump => Voice {
            start_hz: 260.0,
            slide_octaves_per_s: 3.5,
            sustain: 0.3,
            ..plain
        },
        Preset::Blip => Voice {
            wave: Wave::Sine,
            start_hz: 1760.0,
            sustain: 0.6,
            attack: 0.03,
            ..plain
        },
    }
}

/// Varies a preset by the seed: different enough to tell apart, never so
/// much that a laser stops sounding like a laser.
fn vary(voice: Voice, rng: &mut StdRng) -> Voice {
    let mut jitter = |amount: f32| 1.0 + rng.random_range(-amount..=amount);
    let wave = match voice.wave {
        Wave::Square { duty } => Wave::Square {
            duty: (duty * jitter(0.3)).clamp(0.1, 0.9),
        },
        other => other,
    };
    Voice {
        wave,
        start_hz: voice.start_hz * jitter(0.2),
        slide_octaves_per_s: voice.slide_octaves_per_s * jitter(0.25),
        arp_ratio: voice.arp_ratio.powf(jitter(0.2)),
        vibrato: (voice.vibrato.0 * jitter(0.3), voice.vibrato.1 * jitter(0.3)),
        sustain: (voice.sustain * jitter(0.2)).min(0.9 - voice.attack),
        punch: voice.punch * jitter(0.3),
        ..voice
    }
}

/// Runs the oscillator through the pitch sweep, envelope and filter.
fn synthesize(voice: &Voice, frames: usize, rng: &mut StdRng) -> Vec<f32> {
    let rate = SAMPLE_RATE as f32;
    let mut phase = 0.0f32;
    let mut held_noise = rng.random_range(-1.0f32..=1.0);
    let mut filtered = 0.0f32;
    let filter_gain = voice
        .low_pass_hz
        .map(|hz| 1.0 - (-std::f32::consts::TAU * hz / rate).exp());
    let mut samples = Vec::with_capacity(frames);
    for frame in 0..frames {
        let t = frame as f32 / rate;
        let along = frame as f32 / frames.max(1) as f32;
        let hz = pitch_at(voice, t, along);
        phase += hz / rate;
        if phase >= 1.0 {
            phase -= phase.floor();
            held_noise = rng.random_range(-1.0f32..=1.0);
        }
        let raw = oscillate(voice.wave, phase, held_noise);
        let shaped = match filter_gain {
            Some(gain) => {
                filtered += gain * (raw - filtered);
                filtered
            }
            None => raw,
        };
        samples.push(shaped * envelope(voice, along));
    }
    samples
}

/// Pitch in Hz at `t` seconds (`along` the sound, 0–1), kept audible.
fn pitch_at(voice: &Voice, t: f32, along: f32) -> f32 {
    let mut hz = voice.start_hz * (voice.slide_octaves_per_s * t).exp2();
    if voice.arp_at > 0.0 && along >= voice.arp_at {
        hz *= voice.arp_ratio;
    }
    let (depth, vibrato_hz) = voice.vibrato;
    hz *= 1.0 + depth * (std::f32::consts::TAU * vibrato_hz * t).sin();
    hz.clamp(20.0, 18_000.0)
}

fn oscillate(wave: Wave, phase: f32, held_noise: f32) -> f32 {
    match wave {
        Wave::Square { duty } => {
            if phase < duty {
                1.0
            } else {
                -1.0
            }
        }
        Wave::Saw => 1.0 - 2.0 * phase,
        Wave::Sine => (std::f32::consts::TAU * phase).sin(),
        Wave::Noise => held_noise,
    }
}

/// Attack ramp, sustain with a fading punch, then a linear decay to silence
/// (ending at zero avoids a click at the end).
fn envelope(voice: &Voice, along: f32) -> f32 {
    let decay_start = voice.attack + voice.sustain;
    if along < voice.attack {
        along / voice.attack
    } else if along < decay_start {
        let into = (along - voice.attack) / voice.sustain.max(f32::EPSILON);
        1.0 + voice.punch * (1.0 - into)
    } else {
        (1.0 - (along - decay_start) / (1.0 - decay_start).max(f32::EPSILON)).max(0.0)
    }
}

/// Scales so the loudest sample is exactly [`PEAK`] (silence stays silent).
fn normalize(samples: &mut [f32]) {
    let peak = samples.iter().fold(0.0f32, |max, s| max.max(s.abs()));
    if peak > f32::EPSILON {
        let gain = PEAK / peak;
        for sample in samples.iter_mut() {
            *sample *= gain;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn params(preset: Preset, seed: u32) -> SfxParams {
        SfxParams {
            preset,
            seed,
            duration_s: preset.default_duration_s(),
            looping: false,
        }
    }

    fn rms(samples: &[f32]) -> f32 {
        (samples.iter().map(|s| s * s).sum::<f32>() / samples.len().max(1) as f32).sqrt()
    }

    /// How the level changes across the seam when the sound repeats: the
    /// RMS of its last 20 ms over that of its first 20 ms (1: no change).
    fn seam_level_ratio(samples: &[f32]) -> f32 {
        let window = SAMPLE_RATE as usize / 50;
        let end = rms(&samples[samples.len() - window..]);
        let start = rms(&samples[..window]);
        end.max(f32::EPSILON) / start.max(f32::EPSILON)
    }

    #[test]
    fn loops_keep_their_length_and_level_across_the_seam() {
        for preset in PRESETS {
            let looped = render(&SfxParams {
                looping: true,
                duration_s: 1.0,
                ..params(preset, 5)
            });
            assert_eq!(looped.len(), SAMPLE_RATE as usize, "{preset:?}");
            let ratio = seam_level_ratio(&looped);
            // A sweep ends in another register than it starts, so the level
            // may move across the seam, but not by much.
            assert!(
                (0.25..=4.0).contains(&ratio),
                "{preset:?}: seam level ratio {ratio}"
            );
            // No gap: the seam is as loud as the sound as a whole.
            let window = SAMPLE_RATE as usize / 50;
            assert!(
                rms(&looped[looped.len() - window..]) > 0.25 * rms(&looped),
                "{preset:?}: a quiet seam"
            );
            // The same sound, not looped, decays to silence: repeated, it
            // would jump from silence back to full level.
            let once = render(&SfxParams {
                duration_s: 1.0,
                ..params(preset, 5)
            });
            assert!(seam_level_ratio(&once) < 0.15, "{preset:?}: one-shot ratio");
        }
    }

    /// Zero crossings per second: a cheap stand-in for the spectral centroid
    /// (a brighter sound crosses zero more often).
    fn crossings_per_second(samples: &[f32]) -> f32 {
        let crossings = samples
            .windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count();
        crossings as f32 * SAMPLE_RATE as f32 / samples.len() as f32
    }

    /// Where the energy sits in time, 0 (start) to 1 (end).
    fn energy_centroid(samples: &[f32]) -> f32 {
        let total: f32 = samples.iter().map(|s| s * s).sum();
        let weighted: f32 = samples
            .iter()
            .enumerate()
            .map(|(i, s)| i as f32 * s * s)
            .sum();
        weighted / total / samples.len() as f32
    }

    /// How the pitch moves: brightness in the last third over the first.
    fn brightness_trend(samples: &[f32]) -> f32 {
        let third = samples.len() / 3;
        let first = crossings_per_second(&samples[..third]).max(1.0);
        let last = crossings_per_second(&samples[2 * third..]).max(1.0);
        (last / first).log2()
    }

    /// Features of a sound: log brightness, brightness trend, log length
    /// and energy centroid, each roughly on a unit scale.
    fn features(samples: &[f32]) -> [f32; 4] {
        [
            crossings_per_second(samples).log2(),
            brightness_trend(samples),
            (samples.len() as f32).log2(),
            energy_centroid(samples) * 4.0,
        ]
    }

    #[test]
    fn every_preset_sounds_distinct_from_every_other() {
        // Distinct by a margin, for several seeds (variation must not blur them).
        for seed in [1, 2, 3] {
            let measured: Vec<(Preset, [f32; 4])> = PRESETS
                .iter()
                .map(|&p| (p, features(&render(&params(p, seed)))))
                .collect();
            for (i, (a, fa)) in measured.iter().enumerate() {
                for (b, fb) in &measured[i + 1..] {
                    let distance: f32 = fa.iter().zip(fb).map(|(x, y)| (x - y).abs()).sum();
                    assert!(distance > 0.5, "seed {seed}: {a:?} {fa:?} vs {b:?} {fb:?}");
                }
            }
        }
    }

    #[test]
    fn nothing_clips_and_peaks_leave_headroom() {
        for preset in PRESETS {
            for seed in 0..4 {
                let samples = render(&params(preset, seed));
                let peak = samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
                assert!(peak <= 0.95 && peak > 0.5, "{preset:?}: peak {peak}");
                let wav = encode_wav(&samples).unwrap();
                let mut reader = hound::WavReader::new(Cursor::new(wav)).unwrap();
                let loudest = reader
                    .samples::<i16>()
                    .map(|s| s.unwrap().unsigned_abs())
                    .max()
                    .unwrap();
                assert!(
                    f32::from(loudest) <= 0.95 * 32767.0,
                    "{preset:?}: {loudest}"
                );
            }
        }
    }

    #[test]
    fn same_seed_same_samples_other_seed_other_samples() {
        for preset in PRESETS {
            let a = encode_wav(&render(&params(preset, 9))).unwrap();
            assert_eq!(a, encode_wav(&render(&params(preset, 9))).unwrap());
            assert_ne!(
                a,
                encode_wav(&render(&params(preset, 10))).unwrap(),
                "{preset:?}"
            );
        }
    }

    #[test]
    fn wav_is_16_bit_mono_44100_of_the_asked_length() {
        let samples = render(&SfxParams {
            preset: Preset::Laser,
            seed: 1,
            duration_s: 2.0,
            looping: false,
        });
        let reader = hound::WavReader::new(Cursor::new(encode_wav(&samples).unwrap())).unwrap();
        let spec = reader.spec();
        assert_eq!(
            (spec.channels, spec.sample_rate, spec.bits_per_sample),
            (1, 44_100, 16)
        );
        assert_eq!(reader.duration(), 88_200);
    }

    #[test]
    fn prompt_words_pick_presets() {
        assert_eq!(
            Preset::from_prompt("Coins collected!"),
            Some(Preset::Pickup)
        );
        assert_eq!(
            Preset::from_prompt("sci-fi LASER shot"),
            Some(Preset::Laser)
        );
        assert_eq!(
            Preset::from_prompt("big explosion"),
            Some(Preset::Explosion)
        );
        assert_eq!(Preset::from_prompt("power-up"), Some(Preset::PowerUp));
        assert_eq!(Preset::from_prompt("player hurt"), Some(Preset::Hit));
        assert_eq!(Preset::from_prompt("double jump"), Some(Preset::Jump));
        assert_eq!(Preset::from_prompt("menu select"), Some(Preset::Blip));
        assert_eq!(Preset::from_prompt("xyzzy"), None);
    }
}
