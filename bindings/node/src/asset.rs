//! Assets: ids in, wire JSON or a Buffer out.

use napi::bindgen_prelude::Buffer;

/// Parses an asset id (`not_found` when it is not one).
pub(crate) fn parse_asset_id(id: &str) -> gaia::Result<gaia::AssetId> {
    gaia::AssetId::parse(id)
}

/// An asset's bytes as a Node `Buffer`.
pub(crate) fn to_buffer(bytes: &[u8]) -> Buffer {
    Buffer::from(bytes.to_vec())
}
