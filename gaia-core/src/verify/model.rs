//! 3D models: binary glTF (GLB) and glTF JSON, validated by the `gltf` crate.

use gltf::buffer::Source as BufferSource;
use gltf::mesh::Mode;

use super::Source;
use crate::asset::{Media, ModelFormat};
use crate::error::{Error, Result};

/// Parses and validates the GLB, checks that every accessor of every mesh
/// lies inside the binary chunk and that indices name existing vertices,
/// and counts vertices and triangles.
pub fn inspect_glb(source: Source<'_>) -> Result<Media> {
    let reader = source.open("the model")?;
    without_panics(ModelFormat::Glb, || {
        let gltf = gltf::Gltf::from_reader(reader)
            .map_err(|e| Error::InvalidOutput(format!("glb model does not parse: {e}")))?;
        count(&gltf.document, gltf.blob.as_deref(), ModelFormat::Glb)
    })
}

/// Validates glTF JSON already known to parse, and counts its geometry.
/// Buffers of a `.gltf` live in other files or data URIs, so only the
/// accessors' declared counts are checked here.
pub fn inspect_gltf_json(source: Source<'_>) -> Result<Media> {
    let reader = source.open("the model")?;
    without_panics(ModelFormat::Gltf, || {
        let gltf = gltf::Gltf::from_reader(reader)
            .map_err(|e| Error::InvalidOutput(format!("gltf model does not validate: {e}")))?;
        count(&gltf.document, None, ModelFormat::Gltf)
    })
}

/// Runs a glTF check, turning a panic into `invalid_output`: the `gltf`
/// crate's validation indexes arrays with indices taken from the file and
/// panics on some dangling references instead of reporting them.
fn without_panics(format: ModelFormat, check: impl FnOnce() -> Result<Media>) -> Result<Media> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)).unwrap_or_else(|_| {
        Err(Error::InvalidOutput(format!(
            "{} model does not validate: it refers to an object that does not exist",
            format.as_str()
        )))
    })
}

/// Vertices and triangles over every primitive of every mesh. With `blob`
/// (the GLB binary chunk) the data behind the accessors is read too.
fn count(document: &gltf::Document, blob: Option<&[u8]>, format: ModelFormat) -> Result<Media> {
    let name = format.as_str();
    let (mut vertex_count, mut triangle_count) = (0u64, 0u64);
    for mesh in document.meshes() {
        for primitive in mesh.primitives() {
            let where_ = format!(
                "{name} mesh {} primitive {}",
                mesh.index(),
                primitive.index()
            );
            let positions = primitive.get(&gltf::Semantic::Positions).ok_or_else(|| {
                Error::InvalidOutput(format!("{where_} has no POSITION attribute"))
            })?;
            let vertices = positions.count() as u64;
            let corners = primitive.indices().map_or(vertices, |i| i.count() as u64);
            if let Some(blob) = blob.filter(|_| embedded_only(document)) {
                check_data(&primitive, blob, vertices, &where_)?;
            }
            vertex_count += vertices;
            triangle_count += triangles(primitive.mode(), corners);
        }
    }
    if vertex_count == 0 {
        return Err(Error::InvalidOutput(format!(
            "{name} model holds no geometry"
        )));
    }
    Ok(Media::Model {
        format,
        vertex_count,
        triangle_count,
    })
}

/// Whether every buffer is the GLB's own binary chunk (external files are
/// not fetched, so their data cannot be checked).
fn embedded_only(document: &gltf::Document) -> bool {
    document
        .buffers()
        .all(|buffer| matches!(buffer.source(), BufferSource::Bin))
}

/// Reads positions, normals and indices: each must hold as many items as its
/// accessor declares (a cut binary chunk yields fewer), and every index must
/// name a vertex that exists.
fn check_data(
    primitive: &gltf::Primitive<'_>,
    blob: &[u8],
    vertices: u64,
    where_: &str,
) -> Result<()> {
    let reader = primitive.reader(|_| Some(blob));
    let short = |what: &str| Error::InvalidOutput(format!("{where_}: {what} data is cut short"));
    let positions = reader.read_positions().map_or(0, |p| p.count()) as u64;
    if positions != vertices {
        return Err(short("POSITION"));
    }
    if let Some(normals) = primitive.get(&gltf::Semantic::Normals)
        && reader.read_normals().map_or(0, |n| n.count()) != normals.count()
    {
        return Err(short("NORMAL"));
    }
    if let Some(indices) = primitive.indices() {
        let mut read = 0usize;
        for index in reader.read_indices().into_iter().flat_map(|i| i.into_u32()) {
            if u64::from(index) >= vertices {
                return Err(Error::InvalidOutput(format!(
                    "{where_}: index {index} is past its {vertices} vertices"
                )));
            }
            read += 1;
        }
        if read != indices.count() {
            return Err(short("index"));
        }
    }
    Ok(())
}

/// Triangles drawn from `corners` vertices (indices, or vertices when not
/// indexed) in `mode`; points and lines draw none.
fn triangles(mode: Mode, corners: u64) -> u64 {
    match mode {
        Mode::Triangles => corners / 3,
        Mode::TriangleStrip | Mode::TriangleFan => corners.saturating_sub(2),
        Mode::Points | Mode::Lines | Mode::LineLoop | Mode::LineStrip => 0,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod tests {
    use super::super::test_files::*;
    use super::*;

    /// The glTF JSON of one indexed triangle, its buffer `byte_length` long
    /// and located by `uri` (none: the GLB binary chunk).
    fn triangle_json(uri: Option<&str>, index_of_last: u16) -> (String, Vec<u8>) {
        let mut bin = Vec::new();
        for v in [[0.0f32, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]] {
            for c in v {
                bin.extend_from_slice(&c.to_le_bytes());
            }
        }
        for i in [0u16, 1, index_of_last] {
            bin.extend_from_slice(&i.to_le_bytes());
        }
        bin.extend_from_slice(&[0, 0]);
        let uri = uri.map_or(String::new(), |u| format!(r#","uri":"{u}""#));
        let json = format!(
            r#"{{"asset":{{"version":"2.0"}},
            "buffers":[{{"byteLength":{len}{uri}}}],
            "bufferViews":[{{"buffer":0,"byteOffset":0,"byteLength":36}},{{"buffer":0,"byteOffset":36,"byteLength":6}}],
            "accessors":[{{"bufferView":0,"componentType":5126,"count":3,"type":"VEC3","min":[0,0,0],"max":[1,1,0]}},
                         {{"bufferView":1,"componentType":5123,"count":3,"type":"SCALAR"}}],
            "meshes":[{{"primitives":[{{"attributes":{{"POSITION":0}},"indices":1}}]}}]}}"#,
            len = bin.len()
        );
        (json, bin)
    }

    /// A GLB container around `json` and `bin` (both padded to 4 bytes).
    pub fn glb(json: &str, bin: &[u8]) -> Vec<u8> {
        let mut json = json.as_bytes().to_vec();
        while !json.len().is_multiple_of(4) {
            json.push(b' ');
        }
        let mut bin = bin.to_vec();
        while !bin.len().is_multiple_of(4) {
            bin.push(0);
        }
        let total = 12 + 8 + json.len() + 8 + bin.len();
        let mut out = Vec::new();
        out.extend_from_slice(b"glTF");
        out.extend_from_slice(&2u32.to_le_bytes());
        out.extend_from_slice(&(total as u32).to_le_bytes());
        out.extend_from_slice(&(json.len() as u32).to_le_bytes());
        out.extend_from_slice(b"JSON");
        out.extend_from_slice(&json);
        out.extend_from_slice(&(bin.len() as u32).to_le_bytes());
        out.extend_from_slice(b"BIN\0");
        out.extend_from_slice(&bin);
        out
    }

    #[test]
    fn counts_a_glb_triangle() {
        let (json, bin) = triangle_json(None, 2);
        let media = detect_bytes(&glb(&json, &bin)).unwrap();
        assert_eq!(
            media,
            Media::Model {
                format: ModelFormat::Glb,
                vertex_count: 3,
                triangle_count: 1
            }
        );
    }

    #[test]
    fn indices_past_the_vertices_fail() {
        let (json, bin) = triangle_json(None, 7);
        let message = failure(detect_bytes(&glb(&json, &bin)));
        assert!(message.contains("index 7"), "{message}");
    }

    #[test]
    fn truncated_glb_fails() {
        let (json, bin) = triangle_json(None, 2);
        let bytes = glb(&json, &bin);
        for fraction in [0.3, 0.9] {
            let message = failure(detect_bytes(&truncated(&bytes, fraction)));
            assert!(message.contains("glb"), "{message}");
        }
    }

    #[test]
    fn gltf_json_is_a_model_not_a_document() {
        let (json, _) = triangle_json(Some("mesh.bin"), 2);
        let media = detect_bytes_named(json.as_bytes(), "notes.txt").unwrap();
        assert_eq!(
            media,
            Media::Model {
                format: ModelFormat::Gltf,
                vertex_count: 3,
                triangle_count: 1
            }
        );
    }

    #[test]
    fn gltf_json_with_a_broken_reference_fails() {
        let (json, _) = triangle_json(Some("mesh.bin"), 2);
        let broken = json.replace(r#""POSITION":0"#, r#""POSITION":9"#);
        let message = failure(detect_bytes(broken.as_bytes()));
        assert!(message.contains("gltf"), "{message}");
    }
}
