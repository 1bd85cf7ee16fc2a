//! ElevenLabs: sound effects (`/v1/sound-generation`) and text to speech
//! (`/v1/text-to-speech/{voice_id}`).
//!
//! How an [`AudioSpec`] maps to the API (key in `xi-api-key`; JSON bodies;
//! audio bytes streamed to staging):
//! - `mode: sfx` → sound generation with `eleven_text_to_sound_v2`: `prompt`
//!   is `text`, `duration_s` is `duration_seconds` (0.5–30 s; absent lets the
//!   model choose), `loop` is `loop`, `prompt_influence` is
//!   `prompt_influence` (0–1; absent keeps the API's 0.3);
//! - `mode: speech` → text to speech: `prompt` is the `text`, `voice` the
//!   voice id (default [`DEFAULT_VOICE`], ElevenLabs' premade "George"), the
//!   model is the route's (`eleven_multilingual_v2`, `eleven_v3`,
//!   `eleven_flash_v2_5`, `eleven_turbo_v2_5`), `seed` as is; `duration_s`
//!   is refused (speech lasts as long as its text);
//! - `format` mp3 (the default) is `output_format=mp3_44100_128`, sent in the
//!   query string (ElevenLabs ignores it in the body); other formats are
//!   refused (the API's pcm is headerless, its opus undecodable here);
//! - `count` is that many calls.
//!
//! Prices (providers.md §6.4, API list prices): speech $0.10 per 1,000
//! characters (multilingual v2, v3; 1 credit a character) or $0.05 (flash,
//! turbo; half a credit), so a credit is $0.0001; sound effects 20 credits
//! a second when the duration is set ($0.002/s), 100 credits when the model
//! chooses. The real cost is the `character-cost` header (credits charged)
//! at that rate, when the response has it.
//!
//! Errors: `quota_exceeded` is a `provider_error` that is not retried; a
//! moderation status is `provider_rejected`; the rest follow
//! [`crate::http`].

use async_trait::async_trait;
use gaia_core::{
    AssetKind, AudioFormat, AudioMode, AudioSpec, Call, EngineConfig, Error, GenerateContext,
    Generation, ModelInfo, Money, PriceRule, Progress, Provider, Result, Spec, StagedOutput,
};
use serde::Serialize;
use serde_json::Value;

use crate::http::{Auth, Env, ErrorResponse, HttpProvider, ProviderEnv, ProviderSettings};

/// The provider's name in routes and in the ledger.
pub const NAME: &str = "elevenlabs";

/// Where the key and base URL come from.
pub const ENV: ProviderEnv = ProviderEnv {
    name: NAME,
    key_var: Some("ELEVENLABS_API_KEY"),
    default_base_url: "https://api.elevenlabs.io",
};

/// The sound effect model.
pub const SFX_MODEL: &str = "eleven_text_to_sound_v2";

/// The voice used when a speech spec names none ("George", premade).
pub const DEFAULT_VOICE: &str = "JBFqnCBsd6RMkjVDRZzb";

/// The one output format: MP3, 44.1 kHz, 128 kbit/s.
const OUTPUT_FORMAT: &str = "mp3_44100_128";

/// Micro-dollars per credit at the API list price ($0.10 per 1,000).
const MICROS_PER_CREDIT: u64 = 100;

/// Sound effect credits per second of a set duration.
const SFX_CREDITS_PER_SECOND: u64 = 20;

/// Sound effect credits when the model chooses the duration.
const SFX_CREDITS_AUTO: u64 = 100;

/// Sound effect duration limits, in seconds.
const SFX_DURATION_S: std::ops::RangeInclusive<f64> = 0.5..=30.0;

/// A speech model and its credits per character, in halves.
#[derive(Debug, Clone, Copy)]
struct SpeechModel {
    id: &'static str,
    half_credits_per_char: u64,
    description: &'static str,
}

impl SpeechModel {
    fn micros_per_million_chars(&self) -> u64 {
        self.half_credits_per_char * MICROS_PER_CREDIT * 1_000_000 / 2
    }
}

const SPEECH_MODELS: [SpeechModel; 4] = [
    SpeechModel {
        id: "eleven_multilingual_v2",
        half_credits_per_char: 2,
        description: "speech, 29 languages, most natural",
    },
    SpeechModel {
        id: "eleven_v3",
        half_credits_per_char: 2,
        description: "speech, most expressive",
    },
    SpeechModel {
        id: "eleven_flash_v2_5",
        half_credits_per_char: 1,
        description: "speech, fastest, half price",
    },
    SpeechModel {
        id: "eleven_turbo_v2_5",
        half_credits_per_char: 1,
        description: "speech, fast, half price",
    },
];

fn speech_model(id: &str) -> Option<&'static SpeechModel> {
    SPEECH_MODELS.iter().find(|m| m.id == id)
}

/// Sound effects and speech.
pub struct ElevenLabsProvider {
    http: HttpProvider,
    models: Vec<ModelInfo>,
    max_in_flight: Option<u32>,
}

impl ElevenLabsProvider {
    /// The provider when a key is configured (`providers.elevenlabs.api_key`
    /// or `ELEVENLABS_API_KEY`) and it is not disabled.
    pub fn from_config(config: &EngineConfig, env: Env) -> Result<Option<Self>> {
        ProviderSettings::with_key(config, &ENV, env)
            .map(|settings| Self::new(&settings))
            .transpose()
    }

    /// The provider reaching `settings.base_url` with `settings.api_key`.
    pub fn new(settings: &ProviderSettings) -> Result<Self> {
        let key = settings.api_key.clone().ok_or_else(|| {
            Error::invalid(
                "providers.elevenlabs.api_key",
                "ElevenLabs needs an API key",
            )
        })?;
        let auth = Auth::Header {
            name: "xi-api-key",
            key,
        };
        Ok(Self {
            http: HttpProvider::new(settings, auth)?.with_classifier(classify),
            models: model_infos(),
            max_in_flight: settings.max_in_flight,
        })
    }

    /// Makes one output: posts `body` to `path`, streams the audio to
    /// staging, and returns it with the credits charged (`character-cost`).
    /// One call. What it was charged (`character-cost`, else `estimate`)
    /// is added to `billed_before` and reported as soon as its headers are
    /// in: the call is paid for even if its audio then fails to download.
    async fn one(
        &self,
        path: &str,
        body: &impl Serialize,
        billed_before: Money,
        estimate: Money,
        cx: &GenerateContext,
    ) -> Result<(StagedOutput, Money)> {
        let request = self
            .http
            .post(path)
            .query(&[("output_format", OUTPUT_FORMAT)])
            .header("accept", "audio/mpeg")
            .json(body);
        let response = self.http.send(request).await?;
        let charged = response
            .headers()
            .get("character-cost")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(estimate, credits_price);
        let billed = billed_before.saturating_add(charged);
        cx.report_cost(billed);
        let staged = self.http.stream_to_staging(response, cx).await?;
        Ok((staged, billed))
    }

    /// Runs `count` calls, reporting the cost so far with each.
    async fn generate_each<'a>(
        &self,
        path: &str,
        count: u8,
        estimate_each: Money,
        body_for: impl Fn(u8) -> RequestBody<'a>,
        cx: &GenerateContext,
    ) -> Result<Generation> {
        let mut outputs = Vec::with_capacity(usize::from(count));
        let mut cost = Money::ZERO;
        for index in 0..count {
            cx.check_canceled()?;
            let (staged, billed) = self
                .one(path, &body_for(index), cost, estimate_each, cx)
                .await?;
            cost = billed;
            outputs.push(staged);
            cx.progress(Progress::fraction(u64::from(index) + 1, u64::from(count)));
        }
        Ok(Generation {
            outputs,
            cost: Some(cost),
        })
    }
}

/// The price of `credits` at the API list price.
fn credits_price(credits: u64) -> Money {
    Money::per_million(credits * MICROS_PER_CREDIT, 1_000_000)
}

/// ElevenLabs' `detail.status`: quota and moderation.
fn classify(failure: &ErrorResponse) -> Option<Error> {
    let json = failure.json()?;
    let status = json
        .pointer("/detail/status")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match status {
        "quota_exceeded" | "payment_required" | "insufficient_credits" => Some(failure.no_credit()),
        s if s.contains("moderation") || s.contains("content_policy") || s.contains("safety") => {
            Some(failure.rejected(failure.message()))
        }
        _ => None,
    }
}

fn model_infos() -> Vec<ModelInfo> {
    let sfx = ModelInfo::new(
        SFX_MODEL,
        AssetKind::Audio,
        PriceRule::PerMillionUnits {
            unit: "second".into(),
            micros_per_million: SFX_CREDITS_PER_SECOND * MICROS_PER_CREDIT * 1_000_000,
        },
        format!(
            "sound effects, 0.5-30 s, MP3 (20 credits a second; {} when the model picks the length)",
            credits_price(SFX_CREDITS_AUTO)
        ),
    );
    let speech = SPEECH_MODELS.iter().map(|model| {
        ModelInfo::new(
            model.id,
            AssetKind::Audio,
            PriceRule::PerMillionUnits {
                unit: "character".into(),
                micros_per_million: model.micros_per_million_chars(),
            },
            format!("{}, MP3", model.description),
        )
    });
    std::iter::once(sfx).chain(speech).collect()
}

fn unknown_model(id: &str) -> Error {
    Error::invalid("route", format!("elevenlabs has no model {id:?}"))
}

fn audio_spec<'a>(model: &str, spec: &'a Spec) -> Result<&'a AudioSpec> {
    match spec {
        Spec::Audio(audio) => Ok(audio),
        other => Err(Error::invalid(
            "route",
            format!("elevenlabs model {model:?} cannot make {}", other.kind()),
        )),
    }
}

#[async_trait]
impl Provider for ElevenLabsProvider {
    fn name(&self) -> &str {
        NAME
    }

    fn models(&self) -> &[ModelInfo] {
        &self.models
    }

    fn max_in_flight(&self) -> Option<u32> {
        self.max_in_flight
    }

    fn validate(&self, model: &str, spec: &Spec) -> Result<()> {
        if model != SFX_MODEL && speech_model(model).is_none() {
            return Err(unknown_model(model));
        }
        let audio = audio_spec(model, spec)?;
        if let Some(format) = audio.format.filter(|f| *f != AudioFormat::Mp3) {
            return Err(Error::invalid(
                "spec.format",
                format!("elevenlabs writes mp3, not {}", format.as_str()),
            ));
        }
        match (model == SFX_MODEL, audio.mode) {
            (true, AudioMode::Sfx) => validate_sfx(audio),
            (false, AudioMode::Speech) => validate_speech(audio),
            (_, mode) => Err(Error::invalid(
                "spec.mode",
                format!("elevenlabs model {model:?} does not make {mode:?} audio"),
            )),
        }
    }

    fn estimate(&self, model: &str, spec: &Spec) -> Result<Money> {
        let audio = audio_spec(model, spec)?;
        let each = if model == SFX_MODEL {
            sfx_price(audio.duration_s)
        } else {
            let model = speech_model(model).ok_or_else(|| unknown_model(model))?;
            speech_price(model, &audio.prompt)
        };
        Ok(each.times(u32::from(audio.count)))
    }

    async fn generate(&self, call: &Call, cx: &GenerateContext) -> Result<Generation> {
        self.validate(&call.model, &call.spec)?;
        let audio = audio_spec(&call.model, &call.spec)?;
        let count = audio.count.max(1);
        if call.model == SFX_MODEL {
            let each = sfx_price(audio.duration_s);
            let body = |_| RequestBody::Sfx(SfxBody::of(audio));
            return self
                .generate_each("/v1/sound-generation", count, each, body, cx)
                .await;
        }
        let model = speech_model(&call.model).ok_or_else(|| unknown_model(&call.model))?;
        let voice = audio.voice.as_deref().unwrap_or(DEFAULT_VOICE);
        let path = format!("/v1/text-to-speech/{}", encode_path_segment(voice));
        let each = speech_price(model, &audio.prompt);
        let body = |index: u8| RequestBody::Speech(SpeechBody::of(model.id, audio, index));
        self.generate_each(&path, count, each, body, cx).await
    }
}

fn validate_sfx(audio: &AudioSpec) -> Result<()> {
    if audio.voice.is_some() {
        return Err(Error::invalid(
            "spec.voice",
            "a sound effect has no voice (voices are for speech)",
        ));
    }
    match audio.duration_s {
        Some(d) if !SFX_DURATION_S.contains(&d) => Err(Error::invalid(
            "spec.duration_s",
            format!("elevenlabs sound effects last 0.5-30 s, not {d}"),
        )),
        _ => Ok(()),
    }
}

fn validate_speech(audio: &AudioSpec) -> Result<()> {
    if audio.duration_s.is_some() {
        return Err(Error::invalid(
            "spec.duration_s",
            "speech lasts as long as its text; leave the duration out",
        ));
    }
    if audio.prompt.trim().is_empty() {
        return Err(Error::invalid("spec.prompt", "speech needs text to speak"));
    }
    match audio.voice.as_deref() {
        Some(voice) if voice.trim().is_empty() => Err(Error::invalid(
            "spec.voice",
            format!("{voice:?} is not an ElevenLabs voice id"),
        )),
        _ => Ok(()),
    }
}

/// One sound effect: 20 credits a second, or 100 when the model chooses.
fn sfx_price(duration_s: Option<f64>) -> Money {
    match duration_s {
        Some(seconds) => {
            // Billed per second; estimated by the tenth of a second, rounded up.
            let tenths = (seconds * 10.0).ceil().max(0.0) as u64;
            let micros = tenths * SFX_CREDITS_PER_SECOND * MICROS_PER_CREDIT / 10;
            Money::from_micros(i64::try_from(micros).unwrap_or(i64::MAX))
        }
        None => credits_price(SFX_CREDITS_AUTO),
    }
}

/// Speech: the model's price per character times the text's characters.
fn speech_price(model: &SpeechModel, text: &str) -> Money {
    Money::per_million(
        text.chars().count() as u64,
        model.micros_per_million_chars(),
    )
}

/// A voice id as one path segment (ids are alphanumeric; anything else is
/// percent-encoded rather than trusted).
fn encode_path_segment(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                char::from(b).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum RequestBody<'a> {
    Sfx(SfxBody<'a>),
    Speech(SpeechBody<'a>),
}

/// The body of `POST /v1/sound-generation`.
#[derive(Debug, Serialize)]
struct SfxBody<'a> {
    text: &'a str,
    model_id: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_seconds: Option<f64>,
    /// Sent only when asked for (the API's default is false).
    #[serde(rename = "loop", skip_serializing_if = "std::ops::Not::not")]
    looping: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_influence: Option<f64>,
}

impl<'a> SfxBody<'a> {
    fn of(audio: &'a AudioSpec) -> Self {
        Self {
            text: &audio.prompt,
            model_id: SFX_MODEL,
            duration_seconds: audio.duration_s,
            looping: audio.looping,
            prompt_influence: audio.prompt_influence,
        }
    }
}

/// The body of `POST /v1/text-to-speech/{voice_id}`.
#[derive(Debug, Serialize)]
struct SpeechBody<'a> {
    text: &'a str,
    model_id: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u32>,
}

impl<'a> SpeechBody<'a> {
    fn of(model_id: &'static str, audio: &'a AudioSpec, index: u8) -> Self {
        Self {
            text: &audio.prompt,
            model_id,
            seed: audio.seed.map(|s| s.wrapping_add(u32::from(index))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> ElevenLabsProvider {
        let settings = ProviderSettings::new(
            NAME,
            "http://127.0.0.1:9",
            Some(gaia_core::Secret::new("xi-test")),
        );
        ElevenLabsProvider::new(&settings).unwrap_or_else(|e| panic!("{e}"))
    }

    fn speech(text: &str) -> Spec {
        let mut audio = AudioSpec::new(text);
        audio.mode = AudioMode::Speech;
        Spec::Audio(audio)
    }

    fn sfx(duration_s: Option<f64>) -> Spec {
        let mut audio = AudioSpec::new("door creak");
        audio.duration_s = duration_s;
        Spec::Audio(audio)
    }

    /// Every model's price rule and estimates against the published figures.
    #[test]
    fn prices_match_the_published_rates() {
        let provider = provider();
        let thousand = "a".repeat(1_000);
        let cases = [
            ("eleven_multilingual_v2", speech(&thousand), "$0.100000"),
            ("eleven_v3", speech(&thousand), "$0.100000"),
            ("eleven_flash_v2_5", speech(&thousand), "$0.050000"),
            ("eleven_turbo_v2_5", speech(&thousand), "$0.050000"),
            ("eleven_flash_v2_5", speech("hi"), "$0.000100"),
            (SFX_MODEL, sfx(Some(5.0)), "$0.010000"),
            (SFX_MODEL, sfx(Some(0.5)), "$0.001000"),
            (SFX_MODEL, sfx(Some(2.25)), "$0.004600"),
            (SFX_MODEL, sfx(None), "$0.010000"),
        ];
        for (model, spec, dollars) in cases {
            let price = provider.estimate(model, &spec).map(|m| m.to_string());
            assert_eq!(price.ok().as_deref(), Some(dollars), "{model} {spec:?}");
        }
        let rules: Vec<(String, u64)> = provider
            .models()
            .iter()
            .filter_map(|m| match &m.price {
                PriceRule::PerMillionUnits {
                    micros_per_million, ..
                } => Some((m.id.clone(), *micros_per_million)),
                _ => None,
            })
            .collect();
        assert_eq!(
            rules,
            [
                (SFX_MODEL.to_owned(), 2_000_000_000),
                ("eleven_multilingual_v2".to_owned(), 100_000_000),
                ("eleven_v3".to_owned(), 100_000_000),
                ("eleven_flash_v2_5".to_owned(), 50_000_000),
                ("eleven_turbo_v2_5".to_owned(), 50_000_000),
            ]
        );
        assert_eq!(credits_price(1_000).micros(), 100_000);
    }

    #[test]
    fn specs_are_validated_by_field() {
        let provider = provider();
        let field = |model: &str, spec: Spec| match provider.validate(model, &spec) {
            Err(Error::InvalidRequest { field, .. }) => field,
            other => format!("{other:?}"),
        };
        assert!(provider.validate(SFX_MODEL, &sfx(Some(3.0))).is_ok());
        assert_eq!(field(SFX_MODEL, sfx(Some(31.0))), "spec.duration_s");
        assert_eq!(field(SFX_MODEL, speech("hello")), "spec.mode");
        assert_eq!(field("eleven_v3", sfx(None)), "spec.mode");
        let mut wav = AudioSpec::new("x");
        wav.format = Some(AudioFormat::Wav);
        assert_eq!(field(SFX_MODEL, Spec::Audio(wav)), "spec.format");
        let mut timed = AudioSpec::new("hello");
        timed.mode = AudioMode::Speech;
        timed.duration_s = Some(2.0);
        assert_eq!(field("eleven_v3", Spec::Audio(timed)), "spec.duration_s");
        assert_eq!(field("eleven_v9", speech("x")), "route");
    }

    #[test]
    fn voice_ids_stay_one_path_segment() {
        assert_eq!(
            encode_path_segment("JBFqnCBsd6RMkjVDRZzb"),
            "JBFqnCBsd6RMkjVDRZzb"
        );
        assert_eq!(encode_path_segment("a b/../c"), "a%20b%2F..%2Fc");
    }
}
