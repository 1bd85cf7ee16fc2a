"""Events: an iterator and an async iterator over the engine's events, in order."""

from __future__ import annotations

import asyncio
import time
from typing import List

import pytest

import gaia
from conftest import png


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


def _consecutive(seqs: List[int]) -> bool:
    return seqs == list(range(seqs[0], seqs[0] + len(seqs)))


def test_canceled_anext_loses_no_event(engine: gaia.Engine) -> None:
    """``wait_for(__anext__(), short)`` timing out on a quiet engine takes no event:
    the job submitted afterwards is seen whole, ``job_queued`` first, no seq missing."""

    async def main() -> List[gaia.Event]:
        events = engine.events()
        for _ in range(5):
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(events.__anext__(), 0.05)
        job = await engine.submit_async("image", "after timeouts", size=(16, 16), client_id="demo")
        seen: List[gaia.Event] = []
        while not seen or seen[-1].type not in ("job_succeeded", "job_failed"):
            event = await asyncio.wait_for(events.__anext__(), 30)
            assert event.job_id == job.id
            seen.append(event)
        return seen

    seen = asyncio.run(main())
    assert seen[0].type == "job_queued" and "job_started" in [e.type for e in seen]
    assert seen[-1].type == "job_succeeded"
    assert _consecutive([e.seq for e in seen]), [e.seq for e in seen]


class Chatty:
    """A provider that writes many log lines while it works, slowly."""

    name = "chatty"
    models = [gaia.Model("c", "image")]

    def generate(self, call: gaia.Call, cx: gaia.ProviderContext) -> bytes:
        for i in range(60):
            cx.log(f"line {i}")
            time.sleep(0.003)
        return png(8, 8)


def test_anext_timing_out_while_events_flow_loses_none(engine: gaia.Engine) -> None:
    """Awaits that time out as events arrive (the race between a cancel and a
    delivery) lose nothing: every seq from the first event on is seen once, in order."""
    engine.register_provider(Chatty())

    async def main() -> List[gaia.Event]:
        events = engine.events()
        job = await engine.submit_async("image", "chatty", client_id="demo", provider="chatty", model="c")
        seen: List[gaia.Event] = []
        timeouts = 0
        while not seen or seen[-1].type not in ("job_succeeded", "job_failed"):
            try:
                seen.append(await asyncio.wait_for(events.__anext__(), 0.001))
            except asyncio.TimeoutError:
                timeouts += 1
                assert timeouts < 100_000
        assert all(e.job_id == job.id for e in seen)
        return seen

    seen = asyncio.run(main())
    assert seen[0].type == "job_queued" and seen[-1].type == "job_succeeded"
    assert sum(e.type == "job_log" for e in seen) >= 60
    assert _consecutive([e.seq for e in seen]), [e.seq for e in seen]


def test_a_blocking_next_after_canceled_awaits_sees_everything(engine: gaia.Engine) -> None:
    events = engine.events()

    async def give_up() -> None:
        for _ in range(3):
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(events.__anext__(), 0.02)

    asyncio.run(give_up())
    job = engine.submit("image", "then blocking", size=(16, 16), client_id="demo")
    first = events.next(timeout=30)
    assert first.type == "job_queued" and first.job_id == job.id
