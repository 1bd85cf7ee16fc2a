"""Events: an iterator and an async iterator over the engine's events, in order."""

from __future__ import annotations

import asyncio
from typing import List

import pytest

import gaia


def test_iterator_sees_a_job_in_order(engine: gaia.Engine) -> None:
    with engine.events() as events:
        job = engine.submit("image", "evented", size=(16, 16), client_id="demo")
        seen: List[gaia.Event] = []
        for event in events:
            if event.job_id == job.id:
                seen.append(event)
            if event.type == "job_succeeded" and event.job_id == job.id:
                break
    types = [e.type for e in seen]
    assert types[0] == "job_queued" and types[-1] == "job_succeeded" and "job_started" in types
    seqs = [e.seq for e in seen]
    assert seqs == sorted(seqs)
    assert seen[-1].asset_ids == engine.job(job.id).asset_ids


def test_next_with_timeout(engine: gaia.Engine) -> None:
    events = engine.events()
    with pytest.raises(TimeoutError):
        events.next(timeout=0.05)
    events.close()
    with pytest.raises(StopIteration):
        next(events)


def test_async_iterator(engine: gaia.Engine) -> None:
    async def main() -> List[str]:
        events = engine.events()
        job = await engine.submit_async("image", "async evented", size=(16, 16), client_id="demo")
        types: List[str] = []
        async for event in events:
            if event.job_id == job.id:
                types.append(str(event.type))
                if event.type in ("job_succeeded", "job_failed"):
                    break
        return types

    types = asyncio.run(main())
    assert types[0] == "job_queued" and types[-1] == "job_succeeded"


def test_asset_created_and_cost_recorded(engine: gaia.Engine) -> None:
    from conftest import ImageProvider

    engine.register_provider(ImageProvider())
    events = engine.events()
    asset = engine.generate("image", "priced", client_id="demo", provider="pyimage", model="tile")
    got = {}
    while not {"asset_created", "cost_recorded", "job_progress", "job_log"} <= set(got):
        event = events.next(timeout=10)
        got.setdefault(str(event.type), event)
    assert got["asset_created"].asset_id == asset.id
    assert got["cost_recorded"].cost_micros == 40_000 and got["cost_recorded"].provider == "pyimage"
    assert got["job_progress"].progress == 50 and "painting" in str(got["job_log"].message)
