"""Memory: 10,000 asset reads do not grow the process."""

from __future__ import annotations

import gc
import os

import gaia


def rss_bytes() -> int:
    with open(f"/proc/{os.getpid()}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_ten_thousand_reads_without_growth(engine: gaia.Engine) -> None:
    asset = engine.generate("image", "read me", size=(64, 64), client_id="demo")
    for _ in range(500):  # warm up caches, pools and allocator arenas
        engine.read_bytes(asset.id)
    gc.collect()
    before = rss_bytes()
    for _ in range(10_000):
        assert len(engine.read_bytes(asset.id)) == asset.size_bytes
    gc.collect()
    growth = rss_bytes() - before
    assert growth < 8 * 1024 * 1024, f"grew by {growth / 1e6:.1f} MB over 10,000 reads"
