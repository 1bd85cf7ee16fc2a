"""The binding's per-call overhead: ``engine.asset(id)`` from Python, in
microseconds per call, beside the same call from Rust
(``examples/asset_overhead.rs``). Prints figures; asserts nothing.

    python bindings/python/benches/overhead.py [calls]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time

import gaia


def per_call_us(call, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - started) * 1e6 / calls


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    folder = tempfile.mkdtemp(prefix="gaia-overhead-")
    try:
        with gaia.Engine(path=folder) as engine:
            asset = engine.generate("image", "bench", size=(64, 64), seed=1, client_id="bench")
            native = engine._native
            per_call_us(lambda: engine.asset(asset.id), 1_000)  # warm up
            typed = per_call_us(lambda: engine.asset(asset.id), calls)
            raw = per_call_us(lambda: native.asset(asset.id), calls)
            print(f"python engine.asset(id): {typed:.1f} us/call over {calls} calls (typed object)")
            print(f"python native.asset(id): {raw:.1f} us/call over {calls} calls (JSON string only)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
