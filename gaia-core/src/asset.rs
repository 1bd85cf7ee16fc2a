//! Assets: what a job produces, a discriminated union on `type`.

use serde::{Deserialize, Serialize};

use crate::id::{AssetId, ClientId, JobId};
use crate::money::Money;
use crate::timestamp::Timestamp;

/// The kinds of asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetKind {
    /// An image or texture.
    Image,
    /// Sound.
    Audio,
    /// Moving pictures.
    Video,
    /// A 3D model.
    Model,
    /// A document.
    Document,
}

impl AssetKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Audio => "audio",
            Self::Video => "video",
            Self::Model => "model",
            Self::Document => "document",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Image,
            Self::Audio,
            Self::Video,
            Self::Model,
            Self::Document,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }
}

impl std::fmt::Display for AssetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! format_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $wire:literal, $mime:literal, $ext:literal;)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $(
                #[doc = concat!("`", $wire, "`")]
                $variant,
            )+
        }

        impl $name {
            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $wire,)+ }
            }
            /// The MIME type.
            pub fn mime(self) -> &'static str {
                match self { $(Self::$variant => $mime,)+ }
            }
            /// The usual file extension.
            pub fn extension(self) -> &'static str {
                match self { $(Self::$variant => $ext,)+ }
            }
        }
    };
}

format_enum!(
    /// Image encodings.
    ImageFormat {
        Png => "png", "image/png", "png";
        Jpeg => "jpeg", "image/jpeg", "jpg";
        Webp => "webp", "image/webp", "webp";
    }
);
format_enum!(
    /// Audio encodings.
    AudioFormat {
        Wav => "wav", "audio/wav", "wav";
        Mp3 => "mp3", "audio/mpeg", "mp3";
        Ogg => "ogg", "audio/ogg", "ogg";
        Flac => "flac", "audio/flac", "flac";
    }
);
format_enum!(
    /// Video encodings.
    VideoFormat {
        Mp4 => "mp4", "video/mp4", "mp4";
        Webm => "webm", "video/webm", "webm";
    }
);
format_enum!(
    /// 3D model encodings.
    ModelFormat {
        Glb => "glb", "model/gltf-binary", "glb";
        Gltf => "gltf", "model/gltf+json", "gltf";
        Fbx => "fbx", "application/octet-stream", "fbx";
        Obj => "obj", "model/obj", "obj";
        Usdz => "usdz", "model/vnd.usdz+zip", "usdz";
    }
);
format_enum!(
    /// Document encodings.
    DocumentFormat {
        Pdf => "pdf", "application/pdf", "pdf";
        Txt => "txt", "text/plain", "txt";
        Json => "json", "application/json", "json";
    }
);

/// The type-specific part of an asset, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Media {
    /// An image.
    Image {
        /// Decoded width in pixels.
        width: u32,
        /// Decoded height in pixels.
        height: u32,
        /// Encoding.
        format: ImageFormat,
        /// Whether it tiles seamlessly.
        tileable: bool,
    },
    /// Sound.
    Audio {
        /// Decoded duration in seconds.
        duration_s: f64,
        /// Samples per second.
        sample_rate: u32,
        /// Channel count.
        channels: u16,
        /// Encoding.
        format: AudioFormat,
    },
    /// Moving pictures.
    Video {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// Duration in seconds.
        duration_s: f64,
        /// Encoding.
        format: VideoFormat,
    },
    /// A 3D model.
    Model {
        /// Encoding.
        format: ModelFormat,
        /// Vertices over all primitives.
        vertex_count: u64,
        /// Triangles over all primitives.
        triangle_count: u64,
    },
    /// A document.
    Document {
        /// Encoding.
        format: DocumentFormat,
        /// Pages (1 for text and JSON).
        page_count: u32,
    },
}

impl Media {
    /// The kind of asset.
    pub fn kind(&self) -> AssetKind {
        match self {
            Media::Image { .. } => AssetKind::Image,
            Media::Audio { .. } => AssetKind::Audio,
            Media::Video { .. } => AssetKind::Video,
            Media::Model { .. } => AssetKind::Model,
            Media::Document { .. } => AssetKind::Document,
        }
    }

    /// The MIME type of the encoding.
    pub fn mime(&self) -> &'static str {
        match self {
            Media::Image { format, .. } => format.mime(),
            Media::Audio { format, .. } => format.mime(),
            Media::Video { format, .. } => format.mime(),
            Media::Model { format, .. } => format.mime(),
            Media::Document { format, .. } => format.mime(),
        }
    }

    /// The usual file extension of the encoding.
    pub fn extension(&self) -> &'static str {
        match self {
            Media::Image { format, .. } => format.extension(),
            Media::Audio { format, .. } => format.extension(),
            Media::Video { format, .. } => format.extension(),
            Media::Model { format, .. } => format.extension(),
            Media::Document { format, .. } => format.extension(),
        }
    }
}

/// Where an asset came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AssetSource {
    /// Made by a provider in a job.
    Generated {
        /// The provider.
        provider: String,
        /// The model.
        model: String,
        /// The job that made it.
        job_id: JobId,
        /// The prompt it was made from.
        prompt: String,
    },
    /// Brought in by a host.
    Uploaded,
    /// Made from another asset.
    Derived {
        /// The asset it was made from.
        parent_id: AssetId,
        /// The operation (`thumbnail`, `resize`, …).
        operation: String,
    },
}

/// A stored, verified asset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Asset {
    /// Its id.
    pub id: AssetId,
    /// The tenant that owns it.
    pub client_id: ClientId,
    /// The campaign it belongs to.
    pub campaign_id: Option<String>,
    /// A display name.
    pub name: Option<String>,
    /// The MIME type.
    pub mime: String,
    /// Size of the bytes.
    pub size_bytes: u64,
    /// Hex SHA-256 of the bytes (its blob key).
    pub sha256: String,
    /// Where it came from.
    pub source: AssetSource,
    /// What it cost to make.
    pub cost_micros: Money,
    /// Tags.
    pub tags: Vec<String>,
    /// Free JSON.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// When it was stored.
    pub created_at: Timestamp,
    /// The type and its verified, type-specific fields.
    #[serde(flatten)]
    pub media: Media,
}

impl Asset {
    /// The kind of asset.
    pub fn kind(&self) -> AssetKind {
        self.media.kind()
    }

    /// A file name for exporting it: its name or id, and the format's extension.
    pub fn file_name(&self) -> String {
        let stem: String = match &self.name {
            Some(name) => name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect(),
            None => self.id.to_string(),
        };
        format!("{stem}.{}", self.media.extension())
    }
}
