//! A generation request: what a host asks for, as the wire format defines it.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::asset::{AssetKind, AudioFormat, ImageFormat, ModelFormat, VideoFormat};
use crate::derive::DeriveSpec;
use crate::error::{Error, Result};
use crate::id::{AssetId, ClientId};

/// Longest accepted prompt, in characters.
pub const MAX_PROMPT_CHARS: usize = 4_000;
/// Largest accepted image or video side, in pixels.
pub const MAX_SIDE: u32 = 4_096;
/// Most outputs one request may ask for.
pub const MAX_COUNT: u8 = 8;
/// Longest accepted audio or video duration, in seconds.
pub const MAX_DURATION_S: f64 = 600.0;

/// What a host submits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The tenant that owns the job, its assets and its costs.
    pub client_id: ClientId,
    /// An optional campaign (a project or a set) inside the client.
    #[serde(default)]
    pub campaign_id: Option<String>,
    /// What to generate.
    pub spec: Spec,
    /// Which provider and model to use.
    #[serde(default)]
    pub route: Route,
    /// The most this job may cost; also what it reserves against budgets.
    #[serde(default)]
    pub max_cost_micros: Option<i64>,
    /// Whether an existing asset may answer instead of a new generation.
    #[serde(default)]
    pub reuse: Reuse,
    /// The same key for the same client returns the existing job.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// Tags copied to the assets.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Free JSON copied to the assets.
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Higher runs first; default 0.
    #[serde(default)]
    pub priority: i32,
}

impl Request {
    /// A request with defaults for everything but the client and the spec.
    pub fn new(client_id: ClientId, spec: impl Into<Spec>) -> Self {
        Self {
            client_id,
            campaign_id: None,
            spec: spec.into(),
            route: Route::Auto,
            max_cost_micros: None,
            reuse: Reuse::Never,
            idempotency_key: None,
            tags: Vec::new(),
            metadata: serde_json::Map::new(),
            priority: 0,
        }
    }

    /// Parses and validates request JSON; errors name the offending field.
    pub fn from_json(json: &str) -> Result<Self> {
        let request: Request = parse_json(json)?;
        request.validate()?;
        Ok(request)
    }

    /// Checks every field the types do not already constrain.
    pub fn validate(&self) -> Result<()> {
        if let Some(campaign) = &self.campaign_id {
            ClientId::new(campaign.clone()).map_err(|_| {
                Error::invalid("campaign_id", "must be 1-128 characters of [A-Za-z0-9._-]")
            })?;
        }
        if let Some(max) = self.max_cost_micros
            && max < 0
        {
            return Err(Error::invalid(
                "max_cost_micros",
                format!("{max} is negative"),
            ));
        }
        if let Some(key) = &self.idempotency_key
            && (key.is_empty() || key.len() > 256)
        {
            return Err(Error::invalid("idempotency_key", "must be 1-256 bytes"));
        }
        if let Reuse::Similar(score) = self.reuse
            && !(0.0..=1.0).contains(&score)
        {
            return Err(Error::invalid(
                "reuse.similar",
                format!("{score} is not within 0-1"),
            ));
        }
        for (i, tag) in self.tags.iter().enumerate() {
            if tag.trim().is_empty() || tag.len() > 128 {
                return Err(Error::invalid(
                    format!("tags[{i}]"),
                    "must be 1-128 bytes and not blank",
                ));
            }
        }
        self.route.validate()?;
        self.spec.validate()
    }

    /// A digest of everything that makes two requests the same generation
    /// (client, spec, route): the key of exact reuse.
    pub fn generation_digest(&self) -> String {
        let identity = serde_json::json!({
            "client_id": self.client_id,
            "spec": self.spec,
            "route": self.route,
        });
        sha256_hex(identity.to_string().as_bytes())
    }

    /// A digest of the whole request but its idempotency key: the same key with
    /// another digest is a `conflict`.
    pub fn digest(&self) -> String {
        let mut copy = self.clone();
        copy.idempotency_key = None;
        let value = serde_json::to_value(&copy).unwrap_or_default();
        sha256_hex(value.to_string().as_bytes())
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Separates a nested field path from its message inside a serde error, so
/// that errors inside tagged unions (which serde buffers, losing the path)
/// still name the field.
const NESTED_PATH: char = '\u{1f}';

/// Deserializes wire JSON into any wire type; an error is `invalid_request`
/// naming the path of the offending field (`spec.width`).
pub fn parse_json<T: serde::de::DeserializeOwned>(json: &str) -> Result<T> {
    let mut de = serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let message = err.into_inner().to_string();
        let (field, message) = match message.split_once(NESTED_PATH) {
            Some((inner, rest)) => {
                let rest = rest.split_once(NESTED_PATH).map_or(rest, |(m, _)| m);
                (format!("{path}.{inner}"), rest.to_owned())
            }
            None if path == "." || path.is_empty() => ("request".to_owned(), message),
            None => (path, message),
        };
        Error::invalid(field, message)
    })
}

/// Deserializes a union variant from buffered JSON, keeping the field path
/// of an error for [`parse_json`].
fn variant<T: serde::de::DeserializeOwned, E: serde::de::Error>(
    value: serde_json::Value,
) -> Result<T, E> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let message = err.into_inner().to_string();
        if path == "." || path.is_empty() {
            E::custom(message)
        } else {
            E::custom(format!("{path}{NESTED_PATH}{message}{NESTED_PATH}"))
        }
    })
}

/// What to generate, discriminated on `kind`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Spec {
    /// An image or texture.
    Image(ImageSpec),
    /// A sound effect, speech or music.
    Audio(AudioSpec),
    /// A 3D model.
    Model(ModelSpec),
    /// A video.
    Video(VideoSpec),
    /// A local operation on an existing asset (resize, thumbnail, …): run in
    /// the engine at no cost, its output recorded as `source: derived`.
    Derive(DeriveSpec),
}

/// Image quality tiers (providers map them to their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quality {
    /// Cheapest.
    Low,
    /// Balanced.
    Medium,
    /// Best.
    High,
}

/// Mesh detail tiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Detail {
    /// Few polygons.
    Low,
    /// Balanced.
    Medium,
    /// Many polygons.
    High,
}

/// Kinds of audio.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AudioMode {
    /// A sound effect.
    #[default]
    Sfx,
    /// Text to speech.
    Speech,
    /// Music.
    Music,
}

impl AudioMode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sfx => "sfx",
            Self::Speech => "speech",
            Self::Music => "music",
        }
    }
}

fn default_count() -> u8 {
    1
}

fn default_side() -> u32 {
    1024
}

/// An image request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSpec {
    /// What to draw.
    pub prompt: String,
    /// Seed for deterministic providers.
    #[serde(default)]
    pub seed: Option<u32>,
    /// Number of outputs, 1–8.
    #[serde(default = "default_count")]
    pub count: u8,
    /// Width in pixels, 1–4096 (default 1024).
    #[serde(default = "default_side")]
    pub width: u32,
    /// Height in pixels, 1–4096 (default 1024).
    #[serde(default = "default_side")]
    pub height: u32,
    /// Whether the image must tile seamlessly.
    #[serde(default)]
    pub tileable: bool,
    /// Output format (the provider's default when absent).
    #[serde(default)]
    pub format: Option<ImageFormat>,
    /// What to avoid.
    #[serde(default)]
    pub negative_prompt: Option<String>,
    /// Quality tier.
    #[serde(default)]
    pub quality: Option<Quality>,
    /// A style preset name.
    #[serde(default)]
    pub style: Option<String>,
    /// Also make a PBR set from the same request: a normal map and a
    /// roughness map, each its own asset linked to the albedo (output 0).
    #[serde(default)]
    pub pbr: bool,
}

impl ImageSpec {
    /// A square-less default image spec for a prompt (1024×1024, one output).
    pub fn new(prompt: impl Into<String>) -> Self {
        Self {
            prompt: prompt.into(),
            seed: None,
            count: 1,
            width: default_side(),
            height: default_side(),
            tileable: false,
            format: None,
            negative_prompt: None,
            quality: None,
            style: None,
            pbr: false,
        }
    }

    /// Sets the size.
    pub fn size(mut self, width: u32, height: u32) -> Self {
        self.width = width;
        self.height = height;
        self
    }

    /// Sets the seed.
    pub fn seed(mut self, seed: u32) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Asks for a seamless texture.
    pub fn tileable(mut self, tileable: bool) -> Self {
        self.tileable = tileable;
        self
    }

    /// Sets the number of outputs.
    pub fn count(mut self, count: u8) -> Self {
        self.count = count;
        self
    }

    /// Asks for a PBR set (albedo, normal and roughness maps) per output.
    pub fn pbr(mut self, pbr: bool) -> Self {
        self.pbr = pbr;
        self
    }
}

impl From<ImageSpec> for Spec {
    fn from(spec: ImageSpec) -> Self {
        Spec::Image(spec)
    }
}

/// An audio request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AudioSpec {
    /// What it sounds like (or the text to speak).
    pub prompt: String,
    /// Seed for deterministic providers.
    #[serde(default)]
    pub seed: Option<u32>,
    /// Number of outputs, 1–8.
    #[serde(default = "default_count")]
    pub count: u8,
    /// Sound effect, speech or music.
    #[serde(default)]
    pub mode: AudioMode,
    /// Length in seconds (the provider's choice when absent).
    #[serde(default)]
    pub duration_s: Option<f64>,
    /// Output format.
    #[serde(default)]
    pub format: Option<AudioFormat>,
    /// Voice for speech.
    #[serde(default)]
    pub voice: Option<String>,
    /// A sound effect whose end runs seamlessly into its start, for
    /// ambiences and engine hums played on repeat (wire name `loop`).
    /// Written only when set, so earlier requests keep their digests.
    #[serde(default, rename = "loop", skip_serializing_if = "is_false")]
    pub looping: bool,
    /// How closely a sound effect follows the prompt, 0 (free) to 1
    /// (literal); the provider's default when absent. Providers without such
    /// a control (the procedural one) follow the prompt's words as they do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_influence: Option<f64>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

impl AudioSpec {
    /// A sound effect request for a prompt.
    pub fn new(prompt: impl Into<String>) -> Self {
        Self {
            prompt: prompt.into(),
            seed: None,
            count: 1,
            mode: AudioMode::Sfx,
            duration_s: None,
            format: None,
            voice: None,
            looping: false,
            prompt_influence: None,
        }
    }

    /// The same request for a seamless loop.
    pub fn looping(mut self) -> Self {
        self.looping = true;
        self
    }

    /// The same request following the prompt this closely (0–1).
    pub fn prompt_influence(mut self, influence: f64) -> Self {
        self.prompt_influence = Some(influence);
        self
    }

    /// Loops and prompt influence shape sound effects only.
    fn validate(&self) -> Result<()> {
        validate_duration(self.duration_s)?;
        let sfx_only = |field: &str| {
            Error::invalid(
                field,
                format!(
                    "applies to sound effects (mode sfx), not {}",
                    self.mode.as_str()
                ),
            )
        };
        if self.looping && self.mode != AudioMode::Sfx {
            return Err(sfx_only("spec.loop"));
        }
        if let Some(influence) = self.prompt_influence {
            if self.mode != AudioMode::Sfx {
                return Err(sfx_only("spec.prompt_influence"));
            }
            if !(0.0..=1.0).contains(&influence) {
                return Err(Error::invalid(
                    "spec.prompt_influence",
                    format!("{influence} is not within 0-1"),
                ));
            }
        }
        Ok(())
    }
}

impl From<AudioSpec> for Spec {
    fn from(spec: AudioSpec) -> Self {
        Spec::Audio(spec)
    }
}

/// A 3D model request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// What to model.
    pub prompt: String,
    /// Seed for deterministic providers.
    #[serde(default)]
    pub seed: Option<u32>,
    /// Number of outputs, 1–8.
    #[serde(default = "default_count")]
    pub count: u8,
    /// Output format.
    #[serde(default)]
    pub format: Option<ModelFormat>,
    /// Polygon detail.
    #[serde(default)]
    pub detail: Option<Detail>,
}

impl From<ModelSpec> for Spec {
    fn from(spec: ModelSpec) -> Self {
        Spec::Model(spec)
    }
}

/// A video request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VideoSpec {
    /// What to film.
    pub prompt: String,
    /// Seed for deterministic providers.
    #[serde(default)]
    pub seed: Option<u32>,
    /// Number of outputs, 1–8.
    #[serde(default = "default_count")]
    pub count: u8,
    /// Width in pixels.
    #[serde(default)]
    pub width: Option<u32>,
    /// Height in pixels.
    #[serde(default)]
    pub height: Option<u32>,
    /// Length in seconds.
    #[serde(default)]
    pub duration_s: Option<f64>,
    /// Output format.
    #[serde(default)]
    pub format: Option<VideoFormat>,
    /// An image asset to start from.
    #[serde(default)]
    pub reference_asset_id: Option<AssetId>,
}

impl From<VideoSpec> for Spec {
    fn from(spec: VideoSpec) -> Self {
        Spec::Video(spec)
    }
}

impl<'de> Deserialize<'de> for Spec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut fields = serde_json::Map::deserialize(deserializer)?;
        let kind = match fields.remove("kind") {
            Some(serde_json::Value::String(kind)) => kind,
            Some(_) => return Err(D::Error::custom("kind: must be a string")),
            None => return Err(D::Error::missing_field("kind")),
        };
        let value = serde_json::Value::Object(fields);
        match kind.as_str() {
            "image" => variant(value).map(Spec::Image),
            "audio" => variant(value).map(Spec::Audio),
            "model" => variant(value).map(Spec::Model),
            "video" => variant(value).map(Spec::Video),
            "derive" => variant(value).map(Spec::Derive),
            other => Err(D::Error::unknown_variant(
                other,
                &["image", "audio", "model", "video", "derive"],
            )),
        }
    }
}

impl Spec {
    /// The kind of asset this spec makes.
    pub fn kind(&self) -> AssetKind {
        match self {
            Spec::Image(_) => AssetKind::Image,
            Spec::Audio(_) => AssetKind::Audio,
            Spec::Model(_) => AssetKind::Model,
            Spec::Video(_) => AssetKind::Video,
            Spec::Derive(s) => s.operation.output_kind(),
        }
    }

    /// The prompt (a derivation's operation prompt, or empty when it has none).
    pub fn prompt(&self) -> &str {
        match self {
            Spec::Image(s) => &s.prompt,
            Spec::Audio(s) => &s.prompt,
            Spec::Model(s) => &s.prompt,
            Spec::Video(s) => &s.prompt,
            Spec::Derive(s) => s.operation.prompt().unwrap_or(""),
        }
    }

    /// The seed, when one was given.
    pub fn seed(&self) -> Option<u32> {
        match self {
            Spec::Image(s) => s.seed,
            Spec::Audio(s) => s.seed,
            Spec::Model(s) => s.seed,
            Spec::Video(s) => s.seed,
            Spec::Derive(_) => None,
        }
    }

    /// The number of outputs asked for.
    pub fn count(&self) -> u8 {
        match self {
            Spec::Image(s) => s.count,
            Spec::Audio(s) => s.count,
            Spec::Model(s) => s.count,
            Spec::Video(s) => s.count,
            Spec::Derive(_) => 1,
        }
    }

    fn validate(&self) -> Result<()> {
        if let Spec::Derive(derive) = self {
            return derive.operation.validate();
        }
        validate_prompt(self.prompt())?;
        let count = self.count();
        if count == 0 || count > MAX_COUNT {
            return Err(Error::invalid(
                "spec.count",
                format!("{count} is not within 1-{MAX_COUNT}"),
            ));
        }
        match self {
            Spec::Image(s) => {
                validate_side("spec.width", Some(s.width))?;
                validate_side("spec.height", Some(s.height))
            }
            Spec::Audio(s) => s.validate(),
            Spec::Model(_) => Ok(()),
            Spec::Video(s) => {
                validate_side("spec.width", s.width)?;
                validate_side("spec.height", s.height)?;
                validate_duration(s.duration_s)
            }
            Spec::Derive(_) => Ok(()),
        }
    }
}

fn validate_prompt(prompt: &str) -> Result<()> {
    validate_prompt_at("spec.prompt", prompt)
}

/// Checks a prompt found at `field`: not blank, not over the length limit.
pub(crate) fn validate_prompt_at(field: &str, prompt: &str) -> Result<()> {
    if prompt.trim().is_empty() {
        return Err(Error::invalid(field, "is empty"));
    }
    let chars = prompt.chars().count();
    if chars > MAX_PROMPT_CHARS {
        return Err(Error::invalid(
            field,
            format!("has {chars} characters, over the limit of {MAX_PROMPT_CHARS}"),
        ));
    }
    Ok(())
}

fn validate_side(field: &str, side: Option<u32>) -> Result<()> {
    match side {
        Some(side) if side == 0 || side > MAX_SIDE => Err(Error::invalid(
            field,
            format!("{side} is not within 1-{MAX_SIDE}"),
        )),
        _ => Ok(()),
    }
}

fn validate_duration(duration: Option<f64>) -> Result<()> {
    match duration {
        Some(d) if !(d > 0.0 && d <= MAX_DURATION_S) => Err(Error::invalid(
            "spec.duration_s",
            format!("{d} is not within 0-{MAX_DURATION_S} seconds"),
        )),
        _ => Ok(()),
    }
}

/// One provider (and optionally one of its models) to try.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteTarget {
    /// The provider's name (`openai`, `procedural`, …).
    pub provider: String,
    /// The model; the provider's first model of the kind when absent.
    #[serde(default)]
    pub model: Option<String>,
}

impl RouteTarget {
    /// A provider and a model.
    pub fn new(provider: impl Into<String>, model: Option<String>) -> Self {
        Self {
            provider: provider.into(),
            model,
        }
    }
}

/// Which providers a job may use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum Route {
    /// The router chooses: the cheapest capable remote provider first.
    #[default]
    Auto,
    /// Exactly this provider (and model).
    Target(RouteTarget),
    /// These, tried in order.
    Chain(Vec<RouteTarget>),
}

impl Route {
    /// The named targets, in order (empty for `Auto`).
    pub fn targets(&self) -> &[RouteTarget] {
        match self {
            Route::Auto => &[],
            Route::Target(target) => std::slice::from_ref(target),
            Route::Chain(targets) => targets,
        }
    }

    fn validate(&self) -> Result<()> {
        if let Route::Chain(targets) = self
            && targets.is_empty()
        {
            return Err(Error::invalid("route", "an empty list names no provider"));
        }
        Ok(())
    }
}

impl Serialize for Route {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Route::Auto => serializer.serialize_str("auto"),
            Route::Target(target) => target.serialize(serializer),
            Route::Chain(targets) => targets.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Route {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Name(String),
            Target(RouteTarget),
            Chain(Vec<RouteTarget>),
        }
        match Wire::deserialize(deserializer).map_err(|_| {
            serde::de::Error::custom(
                "expected \"auto\", {\"provider\": …, \"model\": …} or a list of them",
            )
        })? {
            Wire::Name(name) if name == "auto" => Ok(Route::Auto),
            Wire::Name(name) => Err(serde::de::Error::custom(format!(
                "{name:?} is not a route: expected \"auto\" or {{\"provider\": …, \"model\": …}}"
            ))),
            Wire::Target(target) => Ok(Route::Target(target)),
            Wire::Chain(targets) => Ok(Route::Chain(targets)),
        }
    }
}

/// Whether an existing asset may answer a request.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Reuse {
    /// Always generate.
    #[default]
    Never,
    /// Return the asset of an identical earlier request, at no cost.
    Exact,
    /// Return an existing asset whose similarity is at least this score.
    Similar(f64),
}

impl Serialize for Reuse {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Reuse::Never => serializer.serialize_str("never"),
            Reuse::Exact => serializer.serialize_str("exact"),
            Reuse::Similar(score) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("similar", score)?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Reuse {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Similar {
            similar: f64,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Name(String),
            Similar(Similar),
        }
        let expected = "expected \"never\", \"exact\" or {\"similar\": score}";
        match Wire::deserialize(deserializer).map_err(|_| serde::de::Error::custom(expected))? {
            Wire::Name(name) if name == "never" => Ok(Reuse::Never),
            Wire::Name(name) if name == "exact" => Ok(Reuse::Exact),
            Wire::Name(name) => Err(serde::de::Error::custom(format!("{name:?}: {expected}"))),
            Wire::Similar(s) => Ok(Reuse::Similar(s.similar)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(json: &str) -> String {
        match Request::from_json(json) {
            Err(Error::InvalidRequest { field, .. }) => field,
            other => panic!("expected invalid_request, got {other:?}"),
        }
    }

    #[test]
    fn parses_the_design_example() {
        let json = r#"{"client_id":"demo","spec":{"kind":"image","prompt":"moss","width":256,"height":256,"tileable":true}}"#;
        let request = Request::from_json(json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(request.route, Route::Auto);
        let Spec::Image(image) = &request.spec else {
            panic!("not an image")
        };
        assert_eq!(
            (image.width, image.height, image.tileable, image.count),
            (256, 256, true, 1)
        );
    }

    #[test]
    fn loops_and_prompt_influence_shape_sound_effects_only() {
        let sfx = r#"{"client_id":"d","spec":{"kind":"audio","prompt":"engine hum","loop":true,"prompt_influence":0.8}}"#;
        let request = Request::from_json(sfx).unwrap_or_else(|e| panic!("{e}"));
        let Spec::Audio(audio) = &request.spec else {
            panic!("not audio")
        };
        assert!(audio.looping);
        assert_eq!(audio.prompt_influence, Some(0.8));
        assert_eq!(
            field_of(
                r#"{"client_id":"d","spec":{"kind":"audio","prompt":"hi","mode":"speech","loop":true}}"#
            ),
            "spec.loop"
        );
        assert_eq!(
            field_of(
                r#"{"client_id":"d","spec":{"kind":"audio","prompt":"x","mode":"music","prompt_influence":0.5}}"#
            ),
            "spec.prompt_influence"
        );
        for bad in ["-0.1", "1.5"] {
            let json = format!(
                r#"{{"client_id":"d","spec":{{"kind":"audio","prompt":"x","prompt_influence":{bad}}}}}"#
            );
            assert_eq!(field_of(&json), "spec.prompt_influence", "{bad}");
        }
        // Unset, neither is written: requests made before keep their digests.
        let plain = Request::new(
            ClientId::new("d").unwrap_or_else(|e| panic!("{e}")),
            AudioSpec::new("x"),
        );
        let written = serde_json::to_string(&plain).unwrap_or_default();
        assert!(
            !written.contains("loop") && !written.contains("prompt_influence"),
            "{written}"
        );
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            field_of(r#"{"client_id":"d","spec":{"kind":"image","prompt":" "}}"#),
            "spec.prompt"
        );
        assert_eq!(
            field_of(r#"{"client_id":"d","spec":{"kind":"image","prompt":"x","width":0}}"#),
            "spec.width"
        );
        assert_eq!(
            field_of(r#"{"client_id":"d","spec":{"kind":"image","prompt":"x","height":5000}}"#),
            "spec.height"
        );
        assert_eq!(
            field_of(r#"{"client_id":"d","spec":{"kind":"image","prompt":"x","count":9}}"#),
            "spec.count"
        );
        assert_eq!(
            field_of(r#"{"client_id":"d","spec":{"kind":"image","prompt":"x","width":"wide"}}"#),
            "spec.width"
        );
        assert_eq!(
            field_of(r#"{"client_id":"a b","spec":{"kind":"image","prompt":"x"}}"#),
            "client_id"
        );
        assert_eq!(
            field_of(
                r#"{"client_id":"d","spec":{"kind":"image","prompt":"x"},"max_cost_micros":-1}"#
            ),
            "max_cost_micros"
        );
        assert_eq!(
            field_of(
                r#"{"client_id":"d","spec":{"kind":"image","prompt":"x"},"route":"cheapest"}"#
            ),
            "route"
        );
        let long = "a".repeat(MAX_PROMPT_CHARS + 1);
        assert_eq!(
            field_of(&format!(
                r#"{{"client_id":"d","spec":{{"kind":"image","prompt":"{long}"}}}}"#
            )),
            "spec.prompt"
        );
    }

    #[test]
    fn unknown_fields_are_rejected_by_name() {
        let err = Request::from_json(
            r#"{"client_id":"d","colour":1,"spec":{"kind":"image","prompt":"x"}}"#,
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("colour"), "{err}");
        let err = Request::from_json(
            r#"{"client_id":"d","spec":{"kind":"image","prompt":"x","colour":1}}"#,
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("colour"), "{err}");
    }

    #[test]
    fn malformed_json_is_invalid_request() {
        assert!(matches!(
            Request::from_json("{\"client_id\":"),
            Err(Error::InvalidRequest { .. })
        ));
    }

    #[test]
    fn routes_and_reuse_round_trip() {
        for (json, route) in [
            (r#""auto""#, Route::Auto),
            (
                r#"{"provider":"openai","model":"gpt-image-1"}"#,
                Route::Target(RouteTarget::new("openai", Some("gpt-image-1".into()))),
            ),
            (
                r#"[{"provider":"a","model":null},{"provider":"b","model":"m"}]"#,
                Route::Chain(vec![
                    RouteTarget::new("a", None),
                    RouteTarget::new("b", Some("m".into())),
                ]),
            ),
        ] {
            let parsed: Route =
                serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"));
            assert_eq!(parsed, route);
            let back: Route =
                serde_json::from_str(&serde_json::to_string(&parsed).unwrap_or_default())
                    .unwrap_or_default();
            assert_eq!(back, route);
        }
        for (json, reuse) in [
            (r#""never""#, Reuse::Never),
            (r#""exact""#, Reuse::Exact),
            (r#"{"similar":0.9}"#, Reuse::Similar(0.9)),
        ] {
            let parsed: Reuse =
                serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"));
            assert_eq!(parsed, reuse);
            assert_eq!(serde_json::to_string(&parsed).unwrap_or_default(), json);
        }
    }

    #[test]
    fn digests_separate_generations() {
        let client = ClientId::new("c").unwrap_or_else(|e| panic!("{e}"));
        let a = Request::new(client.clone(), ImageSpec::new("moss").seed(1));
        let mut b = a.clone();
        b.idempotency_key = Some("k".into());
        assert_eq!(a.digest(), b.digest());
        assert_eq!(a.generation_digest(), b.generation_digest());
        let c = Request::new(client, ImageSpec::new("moss").seed(2));
        assert_ne!(a.generation_digest(), c.generation_digest());
    }
}
