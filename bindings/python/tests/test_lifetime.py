"""An engine's lifetime: one dropped without ``close`` stops its workers."""

from __future__ import annotations

import gc
import time
import weakref
from pathlib import Path

import gaia
from conftest import ImageProvider, open_engine


def test_an_engine_dropped_without_close_stops_its_workers(tmp_path: Path) -> None:
    first_provider = ImageProvider()
    first = open_engine(tmp_path)
    first.register_provider(first_provider)
    provider_of_first = weakref.ref(first_provider)
    del first, first_provider  # a notebook cell run again: no close()
    gc.collect()
    second_provider = ImageProvider()
    with open_engine(tmp_path) as second:
        second.register_provider(second_provider)
        # The first engine's workers hold it (and its provider) while they run:
        # the provider is released only once they have stopped.
        deadline = time.monotonic() + 15
        while provider_of_first() is not None and time.monotonic() < deadline:
            time.sleep(0.02)
            second.job_stats()  # a native call: Python objects Rust let go of are released here
            gc.collect()
        assert provider_of_first() is None, "the dropped engine's workers still run"
        jobs = [
            second.submit("image", f"after the drop {i}", client_id="demo", provider="pyimage", model="tile")
            for i in range(3)
        ]
        for job in jobs:
            assert second.wait(job, timeout=60).status == "succeeded"
    assert sorted(call.job_id for call in second_provider.calls) == sorted(job.id for job in jobs)


def test_a_closed_engine_dropped_is_fine(tmp_path: Path) -> None:
    engine = open_engine(tmp_path)
    engine.close()
    del engine
    gc.collect()
    with open_engine(tmp_path) as again:
        assert again.generate("image", "again", size=(8, 8), client_id="demo").width == 8
