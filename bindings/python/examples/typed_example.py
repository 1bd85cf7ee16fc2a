"""A typed use of the package: mypy --strict checks it against the stubs."""

from __future__ import annotations

import asyncio
from typing import List

import gaia


class Tiles:
    name = "tiles"
    models = [gaia.Model("flat", "image", price_micros=0)]

    def generate(self, call: gaia.Call, cx: gaia.ProviderContext) -> List[bytes]:
        cx.progress(50)
        cx.log(f"{call.prompt} x{call.count}")
        if cx.cancelled:
            raise gaia.CanceledError("canceled")
        return []


def run(path: str) -> int:
    with gaia.Engine(path=path) as engine:
        engine.register_provider(Tiles())
        asset: gaia.Asset = engine.generate("image", "moss", size=(64, 64), seed=7, client_id="demo")
        if isinstance(asset, gaia.ImageAsset):
            width: int = asset.width
            png: bytes | None = asset._repr_png_()
        job: gaia.Job = engine.submit("image", "coin", client_id="demo")
        done: gaia.Job = engine.wait(job.id, timeout=30.0)
        ids: List[str] = done.asset_ids
        data: bytes = engine.read_bytes(asset.id)
        try:
            url: str = engine.asset_url(asset, ttl_s=600)
        except gaia.InvalidRequestError as unsigned:
            field: str | None = unsigned.field
        pruned: int = engine.prune_jobs(older_than_s=30 * 86400)
        page: gaia.Page[gaia.Asset] = engine.assets(client_id="demo", type="image", limit=10)
        report: gaia.CostReport = engine.costs(client_id="demo", group_by="provider")
        dollars: float = report.total_usd + asset.cost_usd
        budget: gaia.Budget = engine.set_budget("demo", 5_000_000, period="month")
        for event in engine.events():
            seq: int = event.seq
            break
        try:
            engine.asset("missing")
        except gaia.NotFoundError as error:
            code: str = error.code
        async def together() -> gaia.Asset:
            job = await engine.submit_async("image", "a", client_id="demo")
            await engine.wait_async(job)
            await engine.prune_jobs_async(3600.0)
            try:
                await engine.asset_url_async(job.asset_ids[0])
            except gaia.GaiaError:
                pass
            return await engine.generate_async("image", "b", client_id="demo")
        asyncio.run(together())
        return len(ids) + len(data) + len(page.items) + int(dollars) + budget.limit_micros + pruned
