//! The committed `include/gaia.h` and the Unity package's
//! `Runtime/Core/NativeMethods.g.cs` are what hosts build against without
//! Rust tooling: they must match what the generators (build.rs) make from the
//! current source.
//!
//! Regenerate with `GAIA_FFI_BLESS=1 cargo test -p gaia-ffi --test generated`.

use std::path::Path;

fn check(generated: &str, committed: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(committed);
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current == generated {
        return;
    }
    if std::env::var_os("GAIA_FFI_BLESS").is_some() {
        if let Err(e) = std::fs::write(&path, generated) {
            panic!("writing {}: {e}", path.display());
        }
        return;
    }
    panic!(
        "bindings/ffi/{committed} is stale. Regenerate it with\n    \
         GAIA_FFI_BLESS=1 cargo test -p gaia-ffi --test generated\nand commit the result."
    );
}

#[test]
fn c_header_is_up_to_date() {
    check(
        include_str!(concat!(env!("OUT_DIR"), "/gaia.h")),
        "include/gaia.h",
    );
}

#[test]
fn csharp_native_methods_are_up_to_date() {
    check(
        include_str!(concat!(env!("OUT_DIR"), "/NativeMethods.g.cs")),
        "unity/com.gaia.engine/Runtime/Core/NativeMethods.g.cs",
    );
}
