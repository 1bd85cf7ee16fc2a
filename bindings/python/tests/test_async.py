"""asyncio and threads: awaitables on the engine's runtime, blocking calls from many threads."""

from __future__ import annotations

import asyncio
import threading
from typing import List

import pytest

import gaia


def test_generate_submit_wait_async(engine: gaia.Engine) -> None:
    async def main() -> None:
        asset = await engine.generate_async("image", "async moss", size=(32, 32), client_id="demo")
        assert isinstance(asset, gaia.ImageAsset) and asset.width == 32
        job = await engine.submit_async("image", "async coin", size=(16, 16), client_id="demo")
        done = await engine.wait_async(job.id)
        assert done.status == "succeeded"
        again = await engine.asset_async(done.asset_ids[0])
        data = await engine.read_bytes_async(again)
        assert data.startswith(b"\x89PNG")

    asyncio.run(main())


def test_asset_url_and_prune_jobs_async(engine: gaia.Engine) -> None:
    async def main() -> None:
        asset = await engine.generate_async("image", "async prune", size=(16, 16), client_id="demo")
        with pytest.raises(gaia.InvalidRequestError) as unsigned:
            await engine.asset_url_async(asset)
        assert unsigned.value.field == "blobs"
        await asyncio.sleep(0.01)  # finished_at counts milliseconds
        assert await engine.prune_jobs_async(0) == 1
        with pytest.raises(gaia.NotFoundError):
            engine.job(asset.source["job_id"])
        assert await engine.asset_async(asset.id) == asset

    asyncio.run(main())


def test_a_hundred_concurrent_generate_async(engine: gaia.Engine) -> None:
    async def main() -> List[gaia.Asset]:
        calls = [
            engine.generate_async("image", f"tile {i}", size=(16, 16), seed=i, client_id="crowd") for i in range(100)
        ]
        return list(await asyncio.gather(*calls))

    assets = asyncio.run(main())
    assert len({a.id for a in assets}) == 100
    assert len(engine.assets(client_id="crowd", limit=1000).items) == 100


def test_async_errors_are_typed(engine: gaia.Engine) -> None:
    async def main() -> None:
        with pytest.raises(gaia.InvalidRequestError):
            await engine.generate_async("image", "x", client_id="demo", width=0)
        with pytest.raises(gaia.NotFoundError):
            await engine.wait_async("019ab3c2-7f10-7a3e-9c41-5d2e8f6a1b20")

    asyncio.run(main())


def test_loop_stays_responsive_while_generating(engine: gaia.Engine) -> None:
    async def main() -> int:
        ticks = 0
        task = asyncio.ensure_future(engine.generate_async("image", "big", size=(512, 512), client_id="demo"))
        while not task.done():
            ticks += 1
            await asyncio.sleep(0.001)
        await task
        return ticks

    assert asyncio.run(main()) > 0


def test_blocking_calls_from_threads(engine: gaia.Engine) -> None:
    results: List[gaia.Asset] = []
    errors: List[BaseException] = []

    def work(i: int) -> None:
        try:
            results.append(engine.generate("image", f"thread {i}", size=(16, 16), seed=i, client_id="threads"))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors and len(results) == 8
