"""Ctrl-C during a blocking wait raises KeyboardInterrupt and leaves the job intact."""

from __future__ import annotations

import os
import signal
import threading
from typing import Iterator

import pytest

import gaia
from conftest import ImageProvider


@pytest.fixture(autouse=True)
def sigint_raises() -> Iterator[None]:
    """Python raises KeyboardInterrupt only if SIGINT had its default action
    at startup; a shell ignores it in background jobs (`cmd &`). Install
    Python's own handler for these tests, whatever launched them."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_keyboard_interrupt_during_wait_leaves_the_job(engine: gaia.Engine) -> None:
    engine.register_provider(ImageProvider(delay_s=1.0))
    job = engine.submit("image", "long", size=(8, 8), client_id="demo", provider="pyimage", model="tile")
    timer = threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        engine.wait(job.id)
    timer.join()
    assert engine.job(job.id).status in ("queued", "running")
    done = engine.wait(job.id, timeout=30)
    assert done.status == "succeeded" and len(done.asset_ids) == 1


def test_keyboard_interrupt_during_generate(engine: gaia.Engine) -> None:
    engine.register_provider(ImageProvider(delay_s=1.0))
    timer = threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        engine.generate("image", "long", size=(8, 8), client_id="demo", provider="pyimage", model="tile")
    timer.join()
    job = engine.jobs(client_id="demo").items[0]
    assert engine.wait(job, timeout=30).status == "succeeded"
