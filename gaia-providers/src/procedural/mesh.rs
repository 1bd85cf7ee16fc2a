//! Simple meshes as binary glTF (GLB): cube, sphere, cylinder, plane, a
//! noise-displaced rock and a terrain patch from a heightmap.
//!
//! Every mesh is one indexed triangle list with per-vertex normals and UVs,
//! centred on the origin with +Y up (the glTF convention), in metres.
//! **Size** is the first number in the prompt ("a 2.5 m crate"), clamped to
//! 0.01–1000, or 1 m: the edge of a cube, the diameter of a sphere, rock or
//! cylinder (whose height equals its diameter), the side of a plane or terrain.
//! **Detail** (`low`, `medium` default, `high`) sets the segment counts.

use gaia_core::Detail;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

/// Size when the prompt names none, in metres.
pub const DEFAULT_SIZE_M: f32 = 1.0;

/// The shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A box; each face subdivided.
    Cube,
    /// A UV sphere.
    Sphere,
    /// A capped cylinder.
    Cylinder,
    /// A flat square facing +Y.
    Plane,
    /// A sphere displaced by seeded 3D noise.
    Rock,
    /// A square grid raised by a seeded heightmap.
    Terrain,
}

/// Every shape, in a fixed order.
pub const SHAPES: [Shape; 6] = [
    Shape::Cube,
    Shape::Sphere,
    Shape::Cylinder,
    Shape::Plane,
    Shape::Rock,
    Shape::Terrain,
];

const VOCABULARY: &[(&str, Shape)] = &[
    ("cube", Shape::Cube),
    ("box", Shape::Cube),
    ("crate", Shape::Cube),
    ("block", Shape::Cube),
    ("sphere", Shape::Sphere),
    ("ball", Shape::Sphere),
    ("orb", Shape::Sphere),
    ("globe", Shape::Sphere),
    ("planet", Shape::Sphere),
    ("cylinder", Shape::Cylinder),
    ("pillar", Shape::Cylinder),
    ("column", Shape::Cylinder),
    ("barrel", Shape::Cylinder),
    ("pipe", Shape::Cylinder),
    ("plane", Shape::Plane),
    ("floor", Shape::Plane),
    ("quad", Shape::Plane),
    ("tile", Shape::Plane),
    ("rock", Shape::Rock),
    ("stone", Shape::Rock),
    ("boulder", Shape::Rock),
    ("pebble", Shape::Rock),
    ("asteroid", Shape::Rock),
    ("terrain", Shape::Terrain),
    ("landscape", Shape::Terrain),
    ("hill", Shape::Terrain),
    ("mountain", Shape::Terrain),
    ("heightmap", Shape::Terrain),
    ("ground", Shape::Terrain),
];

impl Shape {
    /// The shape named by the first recognised word of `prompt`, if any.
    pub fn from_prompt(prompt: &str) -> Option<Self> {
        let lookup = |word: &str| {
            VOCABULARY
                .iter()
                .find(|(known, _)| *known == word)
                .map(|&(_, shape)| shape)
        };
        prompt
            .split(|c: char| !c.is_alphanumeric())
            .filter(|word| !word.is_empty())
            .map(str::to_lowercase)
            .find_map(|word| lookup(&word).or_else(|| word.strip_suffix('s').and_then(lookup)))
    }

    /// Its name in asset metadata.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cube => "cube",
            Self::Sphere => "sphere",
            Self::Cylinder => "cylinder",
            Self::Plane => "plane",
            Self::Rock => "rock",
            Self::Terrain => "terrain",
        }
    }
}

/// The size in metres named by the first number in `prompt`, clamped to
/// 0.01–1000 (a number that is not finite is skipped).
pub fn size_from_prompt(prompt: &str) -> Option<f32> {
    prompt
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter_map(|token| token.trim_matches('.').parse::<f32>().ok())
        .find(|size| size.is_finite() && *size > 0.0)
        .map(|size| size.clamp(0.01, 1000.0))
}

/// Parameters of one mesh.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeshParams {
    /// Which shape.
    pub shape: Shape,
    /// Overall size in metres (see the module docs).
    pub size_m: f32,
    /// Polygon detail.
    pub detail: Detail,
    /// Seed of the rock and terrain noise (other shapes ignore it).
    pub seed: u32,
}

/// An indexed triangle list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mesh {
    /// Vertex positions.
    pub positions: Vec<[f32; 3]>,
    /// Unit normals, one per vertex.
    pub normals: Vec<[f32; 3]>,
    /// Texture coordinates, one per vertex.
    pub uvs: Vec<[f32; 2]>,
    /// Three vertex indices per triangle, counter-clockwise seen from outside.
    pub indices: Vec<u32>,
}

/// Builds the mesh.
pub fn build(params: &MeshParams) -> Mesh {
    let half = params.size_m / 2.0;
    let steps = segments(params.detail);
    match params.shape {
        Shape::Cube => cube(half, steps / 4),
        Shape::Sphere => sphere(half, steps / 2, steps),
        Shape::Cylinder => cylinder(half, steps),
        Shape::Plane => grid(params.size_m, steps / 4, |_, _| 0.0),
        Shape::Rock => rock(half, steps, params.seed),
        Shape::Terrain => terrain(params.size_m, steps * 2, params.seed),
    }
}

/// Segments around a circle at each detail; other counts derive from it.
fn segments(detail: Detail) -> u32 {
    match detail {
        Detail::Low => 12,
        Detail::Medium => 32,
        Detail::High => 64,
    }
}

impl Mesh {
    fn push(&mut self, position: [f32; 3], normal: [f32; 3], uv: [f32; 2]) -> u32 {
        self.positions.push(position);
        self.normals.push(normal);
        self.uvs.push(uv);
        (self.positions.len() - 1) as u32
    }

    /// Triangles over a `(columns+1) x (rows+1)` vertex grid starting at `first`.
    fn grid_triangles(&mut self, first: u32, columns: u32, rows: u32) {
        let stride = columns + 1;
        for row in 0..rows {
            for column in 0..columns {
                let a = first + row * stride + column;
                let (b, c, d) = (a + 1, a + stride, a + stride + 1);
                self.indices.extend_from_slice(&[a, c, b, b, c, d]);
            }
        }
    }

    /// Replaces the normals by the area-weighted mean of the faces around
    /// each vertex (for displaced surfaces, whose analytic normals are gone).
    fn smooth_normals(&mut self) {
        let mut sums = vec![[0.0f32; 3]; self.positions.len()];
        for triangle in self.indices.chunks_exact(3) {
            let [a, b, c] = [0, 1, 2].map(|i| self.positions[triangle[i] as usize]);
            let face = cross(sub(b, a), sub(c, a));
            for &index in triangle {
                let sum = &mut sums[index as usize];
                *sum = [sum[0] + face[0], sum[1] + face[1], sum[2] + face[2]];
            }
        }
        self.normals = sums
            .into_iter()
            .map(|n| normalize(n, [0.0, 1.0, 0.0]))
            .collect();
    }
}

fn cube(half: f32, subdivisions: u32) -> Mesh {
    let n = subdivisions.max(1);
    let mut mesh = Mesh::default();
    // Each face: its normal and two in-plane axes with cross(u, v) == normal.
    let faces: [([f32; 3], [f32; 3], [f32; 3]); 6] = [
        ([1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]),
        ([-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]),
        ([0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]),
        ([0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]),
        ([0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]),
        ([0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]),
    ];
    for (normal, u, v) in faces {
        let first = mesh.positions.len() as u32;
        for row in 0..=n {
            for column in 0..=n {
                let (s, t) = (column as f32 / n as f32, row as f32 / n as f32);
                let (a, b) = (2.0 * s - 1.0, 2.0 * t - 1.0);
                let p = std::array::from_fn(|i| half * (normal[i] + a * u[i] + b * v[i]));
                mesh.push(p, normal, [s, 1.0 - t]);
            }
        }
        // Rows run along +v, so with cross(u, v) = normal the winding of
        // `grid_triangles` (a, c, b) would face inwards: flip it.
        let start = mesh.indices.len();
        mesh.grid_triangles(first, n, n);
        for triangle in mesh.indices[start..].chunks_exact_mut(3) {
            triangle.swap(1, 2);
        }
    }
    mesh
}

fn sphere(radius: f32, rings: u32, sectors: u32) -> Mesh {
    let (rings, sectors) = (rings.max(2), sectors.max(3));
    let mut mesh = Mesh::default();
    for ring in 0..=rings {
        let t = ring as f32 / rings as f32;
        let polar = std::f32::consts::PI * t;
        for sector in 0..=sectors {
            let s = sector as f32 / sectors as f32;
            let azimuth = std::f32::consts::TAU * s;
            let normal = [
                polar.sin() * azimuth.cos(),
                polar.cos(),
                -polar.sin() * azimuth.sin(),
            ];
            mesh.push(normal.map(|c| c * radius), normal, [s, t]);
        }
    }
    mesh.grid_triangles(0, sectors, rings);
    drop_degenerate(&mut mesh);
    mesh
}

/// Removes triangles with two equal corners (at the sphere's poles).
fn drop_degenerate(mesh: &mut Mesh) {
    let positions = &mesh.positions;
    let kept: Vec<u32> = mesh
        .indices
        .chunks_exact(3)
        .filter(|t| {
            let [a, b, c] = [0, 1, 2].map(|i| positions[t[i] as usize]);
            let area = cross(sub(b, a), sub(c, a));
            area.iter().map(|x| x * x).sum::<f32>() > 1e-12
        })
        .flatten()
        .copied()
        .collect();
    mesh.indices = kept;
}

fn cylinder(half: f32, sectors: u32) -> Mesh {
    let sectors = sectors.max(3);
    let mut mesh = Mesh::default();
    let first = 0;
    for (row, y) in [(0.0, -half), (1.0, half)] {
        for sector in 0..=sectors {
            let s = sector as f32 / sectors as f32;
            let angle = std::f32::consts::TAU * s;
            let (x, z) = (angle.cos(), -angle.sin());
            mesh.push([x * half, y, z * half], [x, 0.0, z], [s, 1.0 - row]);
        }
    }
    mesh.grid_triangles(first, sectors, 1);
    // Rows run upwards while the angle turns counter-clockwise seen from
    // above, so the grid's winding faces inwards here: flip it.
    for triangle in mesh.indices.chunks_exact_mut(3) {
        triangle.swap(1, 2);
    }
    for (y, normal_y) in [(-half, -1.0f32), (half, 1.0)] {
        let centre = mesh.push([0.0, y, 0.0], [0.0, normal_y, 0.0], [0.5, 0.5]);
        let ring = mesh.positions.len() as u32;
        for sector in 0..=sectors {
            let angle = std::f32::consts::TAU * sector as f32 / sectors as f32;
            let (x, z) = (angle.cos(), -angle.sin());
            mesh.push(
                [x * half, y, z * half],
                [0.0, normal_y, 0.0],
                [0.5 + x / 2.0, 0.5 + z / 2.0],
            );
        }
        for sector in 0..sectors {
            let (a, b) = (ring + sector, ring + sector + 1);
            if normal_y > 0.0 {
                mesh.indices.extend_from_slice(&[centre, a, b]);
            } else {
                mesh.indices.extend_from_slice(&[centre, b, a]);
            }
        }
    }
    mesh
}

/// A square grid in XZ of `side` metres and `cells` cells a side, raised by
/// `height(s, t)` (with `s`, `t` in 0–1).
fn grid(side: f32, cells: u32, height: impl Fn(f32, f32) -> f32) -> Mesh {
    let cells = cells.max(1);
    let mut mesh = Mesh::default();
    for row in 0..=cells {
        for column in 0..=cells {
            let (s, t) = (column as f32 / cells as f32, row as f32 / cells as f32);
            let position = [(s - 0.5) * side, height(s, t), (t - 0.5) * side];
            mesh.push(position, [0.0, 1.0, 0.0], [s, t]);
        }
    }
    // Rows run along +Z: (a, c, b) is counter-clockwise seen from +Y.
    mesh.grid_triangles(0, cells, cells);
    mesh
}

fn rock(radius: f32, sectors: u32, seed: u32) -> Mesh {
    let mut mesh = sphere(radius, sectors / 2, sectors);
    let noise = ValueNoise3::new(seed);
    for position in &mut mesh.positions {
        let unit = position.map(|c| c / radius);
        // Lumps a third of the radius deep, with finer chips on top.
        let lumps = noise.sample(unit.map(|c| c * 1.6)) * 0.3
            + noise.sample(unit.map(|c| c * 4.0 + 17.0)) * 0.08;
        let scale = radius * (0.85 + lumps);
        *position = unit.map(|c| c * scale);
    }
    mesh.smooth_normals();
    mesh
}

fn terrain(side: f32, cells: u32, seed: u32) -> Mesh {
    let noise = ValueNoise3::new(seed);
    // Hills up to a fifth of the side, from a few octaves of noise.
    let height = |s: f32, t: f32| {
        let mut sum = 0.0;
        let mut amplitude = 0.5;
        let mut frequency = 3.0;
        for octave in 0..4 {
            sum += amplitude * noise.sample([s * frequency, t * frequency, octave as f32 * 7.3]);
            amplitude *= 0.5;
            frequency *= 2.0;
        }
        sum * side * 0.2
    };
    let mut mesh = grid(side, cells, height);
    mesh.smooth_normals();
    mesh
}

/// Seeded 3D value noise in `[-1, 1]`, smooth (quintic interpolation).
struct ValueNoise3 {
    key: u32,
}

impl ValueNoise3 {
    fn new(seed: u32) -> Self {
        let mut rng = StdRng::seed_from_u64(u64::from(seed));
        Self { key: rng.random() }
    }

    fn lattice(&self, x: i32, y: i32, z: i32) -> f32 {
        let mut h = self.key ^ (x as u32).wrapping_mul(0x8da6_b343);
        h ^= (y as u32).wrapping_mul(0xd816_3841);
        h ^= (z as u32).wrapping_mul(0xcb1a_b31f);
        h ^= h >> 16;
        h = h.wrapping_mul(0x7feb_352d);
        h ^= h >> 15;
        h = h.wrapping_mul(0x846c_a68b);
        h ^= h >> 16;
        (h as f32 / u32::MAX as f32) * 2.0 - 1.0
    }

    fn sample(&self, p: [f32; 3]) -> f32 {
        let cell = p.map(|c| c.floor());
        let [fx, fy, fz] = [0, 1, 2].map(|i| fade(p[i] - cell[i]));
        let [x, y, z] = cell.map(|c| c as i32);
        let corner = |dx: i32, dy: i32, dz: i32| self.lattice(x + dx, y + dy, z + dz);
        let lerp = |a: f32, b: f32, t: f32| a + (b - a) * t;
        let face = |dz: i32| {
            lerp(
                lerp(corner(0, 0, dz), corner(1, 0, dz), fx),
                lerp(corner(0, 1, dz), corner(1, 1, dz), fx),
                fy,
            )
        };
        lerp(face(0), face(1), fz)
    }
}

fn fade(t: f32) -> f32 {
    t * t * t * (t * (t * 6.0 - 15.0) + 10.0)
}

fn sub(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn cross(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn normalize(v: [f32; 3], fallback: [f32; 3]) -> [f32; 3] {
    let length = v.iter().map(|c| c * c).sum::<f32>().sqrt();
    if length > 1e-12 {
        v.map(|c| c / length)
    } else {
        fallback
    }
}

/// glTF component and target codes.
const FLOAT: u32 = 5126;
const UNSIGNED_INT: u32 = 5125;
const ARRAY_BUFFER: u32 = 34962;
const ELEMENT_ARRAY_BUFFER: u32 = 34963;

/// Encodes the mesh as GLB: one buffer holding positions, normals, UVs and
/// indices, one node, one scene, a plain grey PBR material.
pub fn encode_glb(mesh: &Mesh, name: &str) -> Result<Vec<u8>, serde_json::Error> {
    let mut bin = Vec::new();
    let positions = append_floats(&mut bin, mesh.positions.iter().flatten());
    let normals = append_floats(&mut bin, mesh.normals.iter().flatten());
    let uvs = append_floats(&mut bin, mesh.uvs.iter().flatten());
    let indices_at = bin.len();
    for index in &mesh.indices {
        bin.extend_from_slice(&index.to_le_bytes());
    }
    let indices = (indices_at, bin.len() - indices_at);
    let (min, max) = bounds(&mesh.positions);
    let vertices = mesh.positions.len();
    let view = |(offset, length): (usize, usize), target: u32| json!({"buffer": 0, "byteOffset": offset, "byteLength": length, "target": target});
    let document = json!({
        "asset": {"version": "2.0", "generator": "gaia procedural"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "name": name}],
        "materials": [{"name": "default", "pbrMetallicRoughness": {
            "baseColorFactor": [0.8, 0.8, 0.8, 1.0], "metallicFactor": 0.0, "roughnessFactor": 0.9}}],
        "meshes": [{"name": name, "primitives": [{
            "attributes": {"POSITION": 0, "NORMAL": 1, "TEXCOORD_0": 2},
            "indices": 3, "material": 0, "mode": 4}]}],
        "buffers": [{"byteLength": bin.len()}],
        "bufferViews": [
            view(positions, ARRAY_BUFFER),
            view(normals, ARRAY_BUFFER),
            view(uvs, ARRAY_BUFFER),
            view(indices, ELEMENT_ARRAY_BUFFER),
        ],
        "accessors": [
            {"bufferView": 0, "componentType": FLOAT, "count": vertices, "type": "VEC3", "min": min, "max": max},
            {"bufferView": 1, "componentType": FLOAT, "count": vertices, "type": "VEC3"},
            {"bufferView": 2, "componentType": FLOAT, "count": vertices, "type": "VEC2"},
            {"bufferView": 3, "componentType": UNSIGNED_INT, "count": mesh.indices.len(), "type": "SCALAR"},
        ],
    });
    Ok(glb_container(&serde_json::to_vec(&document)?, &bin))
}

/// Appends little-endian floats; returns their (offset, length) in bytes.
fn append_floats<'a>(bin: &mut Vec<u8>, values: impl Iterator<Item = &'a f32>) -> (usize, usize) {
    let start = bin.len();
    for value in values {
        bin.extend_from_slice(&value.to_le_bytes());
    }
    (start, bin.len() - start)
}

fn bounds(positions: &[[f32; 3]]) -> ([f32; 3], [f32; 3]) {
    let mut min = [f32::MAX; 3];
    let mut max = [f32::MIN; 3];
    for p in positions {
        for axis in 0..3 {
            min[axis] = min[axis].min(p[axis]);
            max[axis] = max[axis].max(p[axis]);
        }
    }
    if positions.is_empty() {
        ([0.0; 3], [0.0; 3])
    } else {
        (min, max)
    }
}

/// The GLB header and two chunks, each padded to 4 bytes (JSON with
/// spaces, binary with zeros, as the format requires).
fn glb_container(json: &[u8], bin: &[u8]) -> Vec<u8> {
    let padded = |bytes: &[u8], pad: u8| {
        let mut out = bytes.to_vec();
        out.resize(bytes.len().div_ceil(4) * 4, pad);
        out
    };
    let (json, bin) = (padded(json, b' '), padded(bin, 0));
    let total = 12 + 8 + json.len() + 8 + bin.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(b"glTF");
    out.extend_from_slice(&2u32.to_le_bytes());
    out.extend_from_slice(&(total as u32).to_le_bytes());
    for (chunk, kind) in [(&json, b"JSON"), (&bin, b"BIN\0")] {
        out.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
        out.extend_from_slice(kind);
        out.extend_from_slice(chunk);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn params(shape: Shape, detail: Detail) -> MeshParams {
        MeshParams {
            shape,
            size_m: 2.0,
            detail,
            seed: 5,
        }
    }

    #[test]
    fn every_shape_passes_gltf_validation_with_consistent_counts() {
        for shape in SHAPES {
            for detail in [Detail::Low, Detail::Medium, Detail::High] {
                let mesh = build(&params(shape, detail));
                let glb = encode_glb(&mesh, shape.name()).unwrap();
                let gltf =
                    gltf::Gltf::from_slice(&glb).unwrap_or_else(|e| panic!("{shape:?}: {e}"));
                let blob = gltf.blob.as_deref().unwrap();
                let primitive = gltf.meshes().next().unwrap().primitives().next().unwrap();
                let reader = primitive.reader(|_| Some(blob));
                let positions: Vec<[f32; 3]> = reader.read_positions().unwrap().collect();
                let normals: Vec<[f32; 3]> = reader.read_normals().unwrap().collect();
                let uvs = reader.read_tex_coords(0).unwrap().into_f32().count();
                let indices: Vec<u32> = reader.read_indices().unwrap().into_u32().collect();
                let label = format!("{shape:?} {detail:?}");
                assert_eq!(positions.len(), mesh.positions.len(), "{label}");
                assert_eq!(normals.len(), positions.len(), "{label}: normals");
                assert_eq!(uvs, positions.len(), "{label}: uvs");
                assert!(
                    !indices.is_empty() && indices.len().is_multiple_of(3),
                    "{label}"
                );
                assert!(
                    indices.iter().all(|&i| (i as usize) < positions.len()),
                    "{label}"
                );
                for n in &normals {
                    let length = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
                    assert!((length - 1.0).abs() < 1e-3, "{label}: normal {n:?}");
                }
            }
        }
    }

    #[test]
    fn closed_shapes_wind_outwards() {
        // Each triangle's face normal agrees with its corners' normals.
        for shape in [
            Shape::Cube,
            Shape::Sphere,
            Shape::Cylinder,
            Shape::Rock,
            Shape::Terrain,
        ] {
            let mesh = build(&params(shape, Detail::Medium));
            let agreeing = mesh
                .indices
                .chunks_exact(3)
                .filter(|t| {
                    let [a, b, c] = [0, 1, 2].map(|i| mesh.positions[t[i] as usize]);
                    let face = cross(sub(b, a), sub(c, a));
                    let n = mesh.normals[t[0] as usize];
                    face[0] * n[0] + face[1] * n[1] + face[2] * n[2] > 0.0
                })
                .count();
            let total = mesh.indices.len() / 3;
            assert!(
                agreeing * 100 >= total * 98,
                "{shape:?}: {agreeing} of {total}"
            );
        }
    }

    #[test]
    fn detail_raises_the_triangle_count() {
        for shape in SHAPES {
            let count = |detail| build(&params(shape, detail)).indices.len();
            assert!(count(Detail::Low) < count(Detail::Medium), "{shape:?}");
            assert!(count(Detail::Medium) < count(Detail::High), "{shape:?}");
        }
    }

    #[test]
    fn size_sets_the_bounds() {
        for shape in [Shape::Cube, Shape::Sphere, Shape::Cylinder, Shape::Plane] {
            let mesh = build(&MeshParams {
                size_m: 3.0,
                ..params(shape, Detail::Low)
            });
            let (min, max) = bounds(&mesh.positions);
            assert!(
                (max[0] - min[0] - 3.0).abs() < 1e-3,
                "{shape:?}: {min:?} {max:?}"
            );
        }
    }

    #[test]
    fn rock_and_terrain_follow_the_seed() {
        for shape in [Shape::Rock, Shape::Terrain] {
            let a = build(&params(shape, Detail::Low));
            assert_eq!(a, build(&params(shape, Detail::Low)));
            let other = build(&MeshParams {
                seed: 6,
                ..params(shape, Detail::Low)
            });
            assert_ne!(a.positions, other.positions, "{shape:?}");
        }
    }

    #[test]
    fn prompts_pick_shape_and_size() {
        assert_eq!(Shape::from_prompt("a mossy boulder"), Some(Shape::Rock));
        assert_eq!(Shape::from_prompt("wooden crates"), Some(Shape::Cube));
        assert_eq!(Shape::from_prompt("rolling hills"), Some(Shape::Terrain));
        assert_eq!(Shape::from_prompt("teapot"), None);
        assert_eq!(size_from_prompt("a 2.5 m crate"), Some(2.5));
        assert_eq!(size_from_prompt("pillar 3m tall"), Some(3.0));
        assert_eq!(size_from_prompt("a crate"), None);
        assert_eq!(size_from_prompt("huge 99999 rock"), Some(1000.0));
    }
}
