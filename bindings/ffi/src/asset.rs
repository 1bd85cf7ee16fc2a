//! Assets by id: read the record, list, read the bytes, a download URL,
//! delete.

use std::ffi::c_char;
use std::time::Duration;

use gaia::{AssetFilter, AssetId, PageRequest};

use crate::engine::{GaiaEngine, handle};
use crate::runtime::block_on;
use crate::{
    GaiaError, call, clear_out, null_argument, opt_str_arg, out_arg, parse_json, str_arg, to_json,
    write_string,
};

/// Parses an asset id argument.
///
/// # Safety
/// `asset_id` is NULL or a NUL-terminated string.
unsafe fn asset_id_arg(asset_id: *const c_char) -> gaia::Result<AssetId> {
    // SAFETY: forwarded contract.
    AssetId::parse(unsafe { str_arg(asset_id, "asset_id")? })
}

/// One asset's JSON.
///
/// # Safety
/// `engine` a live handle; `asset_id` a NUL-terminated string;
/// `out_asset_json` points to a writable `char *` (free with
/// `gaia_string_free`); `out_error` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gaia_asset(
    engine: *const GaiaEngine,
    asset_id: *const c_char,
    out_asset_json: *mut *mut c_char,
    out_error: *mut *mut GaiaError,
) -> i32 {
    call(out_error, || {
        // SAFETY: contracts documented above.
        unsafe { out_arg(out_asset_json, "out_asset_json")? };
        // SAFETY: as above.
        let engine = unsafe { handle(engine)? }.engine()?;
        // SAFETY: as above.
        let asset = block_on(engine.asset(unsafe { asset_id_arg(asset_id)? }))??;
        // SAFETY: checked by `out_arg`.
        unsafe { write_string(out_asset_json, to_json(&asset)?) }
    })
}

/// A page of assets, newest first: an `AssetFilter` and a `PageRequest` in
/// (JSON, each NULL for the default), `{"items":[…],"next_cursor":…}` out.
///
/// # Safety
/// As `gaia_asset`; `filter_json` and `page_json` may be NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gaia_assets(
    engine: *const GaiaEngine,
    filter_json: *const c_char,
    page_json: *const c_char,
    out_json: *mut *mut c_char,
    out_error: *mut *mut GaiaError,
) -> i32 {
    call(out_error, || {
        // SAFETY: contracts documented above.
        unsafe { out_arg(out_json, "out_json")? };
        // SAFETY: as above.
        let engine = unsafe { handle(engine)? }.engine()?;
        // SAFETY: as above.
        let filter: AssetFilter = match unsafe { opt_str_arg(filter_json, "filter_json")? } {
            Some(json) => parse_json(json, "filter_json")?,
            None => AssetFilter::default(),
        };
        // SAFETY: as above.
        let page: PageRequest = match unsafe { opt_str_arg(page_json, "page_json")? } {
            Some(json) => parse_json(json, "page_json")?,
            None => PageRequest::default(),
        };
        let assets = block_on(engine.assets(&filter, &page))??;
        // SAFETY: checked by `out_arg`.
        unsafe { write_string(out_json, to_json(&assets)?) }
    })
}

/// An asset's bytes: `*out_data` receives a buffer of `*out_len` bytes, freed
/// with `gaia_bytes_free(data, len)`. An empty asset gives NULL and 0.
///
/// # Safety
/// As `gaia_asset`; `out_data` and `out_len` point to writable locations.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gaia_read_bytes(
    engine: *const GaiaEngine,
    asset_id: *const c_char,
    out_data: *mut *mut u8,
    out_len: *mut usize,
    out_error: *mut *mut GaiaError,
) -> i32 {
    call(out_error, || {
        if out_len.is_null() {
            // SAFETY: contracts documented above.
            unsafe { clear_out(out_data) };
            return Err(null_argument("out_len"));
        }
        // SAFETY: non-NULL and writable by the caller's contract.
        unsafe { *out_len = 0 };
        // SAFETY: as above.
        unsafe { out_arg(out_data, "out_data")? };
        // SAFETY: as above.
        let engine = unsafe { handle(engine)? }.engine()?;
        // SAFETY: as above.
        let bytes = block_on(engine.read_bytes(unsafe { asset_id_arg(asset_id)? }))??;
        if bytes.is_empty() {
            return Ok(());
        }
        let buffer: Box<[u8]> = bytes.to_vec().into_boxed_slice();
        let len = buffer.len();
        // SAFETY: both checked above; the buffer is released by
        // `gaia_bytes_free` with this length.
        unsafe {
            *out_data = Box::into_raw(buffer).cast::<u8>();
            *out_len = len;
        }
        Ok(())
    })
}

/// Frees a buffer from `gaia_read_bytes`, with the length it returned.
/// NULL is ignored.
///
/// # Safety
/// `data` and `len` are what `gaia_read_bytes` returned, not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gaia_bytes_free(data: *mut u8, len: usize) {
    if data.is_null() {
        return;
    }
    // SAFETY: `data` came from `Box::<[u8]>::into_raw` with exactly `len`
    // bytes (caller's contract), and is freed once.
    drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(data, len)) });
}

/// A URL that downloads an asset's bytes without credentials until
/// `ttl_s` seconds have passed: a presigned URL of an S3 blob store (free it
/// with `gaia_string_free`). A blob store that cannot sign one (files, the
/// database) answers `GAIA_INVALID_REQUEST` naming `blobs`: read those
/// assets with `gaia_read_bytes`.
///
/// # Safety
/// As `gaia_asset`, with `out_url`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gaia_asset_url(
    engine: *const GaiaEngine,
    asset_id: *const c_char,
    ttl_s: u64,
    out_url: *mut *mut c_char,
    out_error: *mut *mut GaiaError,
) -> i32 {
    call(out_error, || {
        // SAFETY: contracts documented above.
        unsafe { out_arg(out_url, "out_url")? };
        // SAFETY: as above.
        let engine = unsafe { handle(engine)? }.engine()?;
        // SAFETY: as above.
        let asset_id = unsafe { asset_id_arg(asset_id)? };
        let url = block_on(engine.asset_url(asset_id, Duration::from_secs(ttl_s)))??;
        // SAFETY: checked by `out_arg`.
        unsafe { write_string(out_url, url) }
    })
}

/// Deletes an asset; its bytes are freed when no other asset shares them.
///
/// # Safety
/// As `gaia_asset`, without an output.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gaia_delete_asset(
    engine: *const GaiaEngine,
    asset_id: *const c_char,
    out_error: *mut *mut GaiaError,
) -> i32 {
    call(out_error, || {
        // SAFETY: contracts documented above.
        let engine = unsafe { handle(engine)? }.engine()?;
        // SAFETY: as above.
        block_on(engine.delete_asset(unsafe { asset_id_arg(asset_id)? }))?
    })
}
