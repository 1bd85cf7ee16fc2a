"""Every blocking call of the engine, with the procedural provider and SQLite."""

from __future__ import annotations

import math
import os
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

import gaia
from conftest import ImageProvider, open_engine


def test_generate_reads_like_the_issue(engine: gaia.Engine) -> None:
    asset = engine.generate("image", "mossy stone wall", size=(512, 512), tileable=True, seed=7, client_id="demo")
    assert isinstance(asset, gaia.ImageAsset)
    assert asset.type == "image" and asset.width == 512 and asset.height == 512
    assert asset.size == (512, 512) and asset.tileable is True and asset.format == "png"
    assert asset.client_id == "demo" and asset.source["kind"] == "generated"
    assert asset.cost_micros == 0 and asset.cost_usd == 0.0
    data = engine.read_bytes(asset.id)
    assert isinstance(data, bytes) and data.startswith(b"\x89PNG") and len(data) == asset.size_bytes


def test_a_looping_sound_effect(engine: gaia.Engine) -> None:
    asset = engine.generate("audio", "engine rumble", loop=True, duration_s=2.0, seed=4, client_id="demo")
    assert isinstance(asset, gaia.AudioAsset)
    assert asset.metadata["loop"] is True and abs(asset.duration_s - 2.0) < 1e-3
    with pytest.raises(gaia.GaiaError) as raised:
        engine.generate("audio", "x", prompt_influence=2.0, client_id="demo")
    assert raised.value.code == "invalid_request" and "spec.prompt_influence" in str(raised.value)


def test_submit_wait_job_and_assets(engine: gaia.Engine) -> None:
    job = engine.submit("image", "coin", size=(32, 32), count=2, client_id="demo", tags=["ui"])
    assert job.status == "queued" and job.progress == 0 and job.request.kind == "image"
    done = engine.wait(job.id)
    assert done.status == "succeeded" and done.done and len(done.asset_ids) == 2
    assert engine.job(job.id) == done
    assets = engine.job_assets(done)
    assert [a.id for a in assets] == done.asset_ids and all(a.tags == ["ui"] for a in assets)
    assert engine.asset(assets[0]) == assets[0]
    assert engine.job_logs(job.id) == engine.job_logs(done)


def test_wait_with_timeout_and_progress(engine: gaia.Engine, capsys: pytest.CaptureFixture[str]) -> None:
    job = engine.submit("image", "slate", size=(64, 64), client_id="demo")
    done = engine.wait(job, timeout=30, progress=True)
    assert done.status == "succeeded"


def test_listing_filters_and_pagination(engine: gaia.Engine) -> None:
    for i in range(5):
        engine.generate("image", f"tile {i}", size=(16, 16), seed=i, client_id="pager", campaign_id="c1")
    engine.generate("image", "other", size=(16, 16), client_id="someone-else")
    seen, cursor = [], None
    while True:
        page = engine.assets(client_id="pager", type="image", limit=2, cursor=cursor)
        assert len(page) <= 2
        seen.extend(a.id for a in page)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == 5 and len(set(seen)) == 5
    assert len(engine.assets(campaign_id="c1").items) == 5
    assert engine.assets(client_id="pager", type="audio").items == []
    jobs = engine.jobs(client_id="pager", status="succeeded", kind="image", limit=10)
    assert len(jobs.items) == 5 and jobs.next_cursor is None
    assert all(j.status == "succeeded" for j in jobs)
    stats = engine.job_stats("pager")
    assert {s["status"]: s["count"] for s in stats["by_status"]}["succeeded"] == 5


def test_cancel_retry_delete(engine: gaia.Engine, image_provider: object) -> None:
    slow = ImageProvider(delay_s=30)
    engine.register_provider(slow)
    job = engine.submit("image", "slow", client_id="demo", provider="pyimage", model="tile")
    canceled = engine.cancel(job.id)
    assert canceled.status == "canceled"
    with pytest.raises(gaia.ConflictError) as raised:
        engine.cancel(job.id)
    assert raised.value.code == "conflict"
    requeued = engine.retry(job)
    assert requeued.status == "queued"
    engine.cancel(job)
    engine.delete_job(job)
    with pytest.raises(gaia.NotFoundError):
        engine.job(job.id)


def test_prune_jobs_deletes_old_finished_jobs_and_keeps_their_assets(engine: gaia.Engine) -> None:
    done = engine.wait(engine.submit("image", "old news", size=(16, 16), client_id="demo"), timeout=60)
    time.sleep(0.01)  # finished_at counts milliseconds: let the clock move past it
    assert engine.prune_jobs(older_than_s=3600) == 0
    assert engine.prune_jobs(older_than_s=0) == 1
    with pytest.raises(gaia.NotFoundError):
        engine.job(done.id)
    asset = engine.asset(done.asset_ids[0])
    assert asset.source["job_id"] == done.id and engine.read_bytes(asset).startswith(b"\x89PNG")
    assert engine.prune_jobs(0) == 0
    with pytest.raises(gaia.InvalidRequestError) as negative:
        engine.prune_jobs(-1)
    assert negative.value.field == "older_than_s"


def test_asset_url_needs_a_blob_store_that_signs(engine: gaia.Engine) -> None:
    asset = engine.generate("image", "local bytes", size=(16, 16), client_id="demo")
    with pytest.raises(gaia.InvalidRequestError) as unsigned:
        engine.asset_url(asset)
    assert unsigned.value.code == "invalid_request" and unsigned.value.field == "blobs"
    with pytest.raises(gaia.NotFoundError):
        engine.asset_url("019ab3c2-7f10-7a3e-9c41-5d2e8f6a1b20", ttl_s=60)
    with pytest.raises(gaia.InvalidRequestError) as bad_ttl:
        engine.asset_url(asset, ttl_s=float("nan"))
    assert bad_ttl.value.field == "ttl_s"


def s3_blobs(test: str) -> str:
    """``GAIA_TEST_S3_URL`` (scripts/s3-server.sh) with a prefix of this test's own;
    the test is skipped without it, unless ``GAIA_REQUIRE_SERVICES=1``."""
    base = os.environ.get("GAIA_TEST_S3_URL")
    if not base:
        if os.environ.get("GAIA_REQUIRE_SERVICES") == "1":
            pytest.fail("GAIA_REQUIRE_SERVICES=1 but GAIA_TEST_S3_URL is not set")
        pytest.skip("GAIA_TEST_S3_URL is not set (bash scripts/s3-server.sh start)")
    location, _, query = base.partition("?")
    return f"{location.rstrip('/')}/{test}-{uuid.uuid4().hex}?{query}"


def test_asset_url_downloads_from_s3_without_credentials(tmp_path: Path) -> None:
    with open_engine(tmp_path, blobs=s3_blobs("python-url")) as engine:
        asset = engine.generate("image", "signed", size=(16, 16), client_id="demo")
        url = engine.asset_url(asset, ttl_s=300)
        assert url.startswith("http://127.0.0.1:") and "Signature" in url
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with direct.open(url, timeout=30) as response:
            assert response.read() == engine.read_bytes(asset)


def test_delete_asset(engine: gaia.Engine) -> None:
    asset = engine.generate("image", "gone", size=(16, 16), client_id="demo")
    engine.delete_asset(asset)
    with pytest.raises(gaia.NotFoundError):
        engine.asset(asset.id)


def test_costs_and_budgets(engine: gaia.Engine, image_provider: object) -> None:
    engine.register_provider(image_provider)
    asset = engine.generate("image", "paid", client_id="payer", provider="pyimage", model="tile", size=(8, 8))
    assert asset.cost_micros == 40_000 and asset.cost_usd == pytest.approx(0.04)
    report = engine.costs(client_id="payer", group_by="provider")
    assert report.total_micros == 40_000 and report.total_usd == pytest.approx(0.04)
    assert [(g.key, g.cost_micros) for g in report.groups] == [("pyimage", 40_000)]
    budget = engine.set_budget("payer", 50_000, period="month")
    assert engine.budgets("payer") == [budget] and budget.limit_usd == 0.05
    with pytest.raises(gaia.BudgetExceededError) as raised:
        engine.generate("image", "too much", client_id="payer", provider="pyimage", model="tile", size=(8, 8))
    assert raised.value.code == "budget_exceeded"


def test_open_with_database_and_blobs(tmp_path: Path) -> None:
    database = f"sqlite://{tmp_path / 'db.sqlite'}"
    blobs = f"file://{tmp_path / 'blobs'}"
    with gaia.Engine.open(database=database, blobs=blobs, workers=1, shutdown_grace_s=0) as engine:
        asset = engine.generate("image", "opened", size=(16, 16), client_id="demo")
        assert engine.read_bytes(asset.id)
    assert engine.closed
    with pytest.raises(gaia.InvalidRequestError):
        engine.submit("image", "after close", client_id="demo")


def test_submit_only_engine_and_a_second_engine_finish_the_job(tmp_path: Path) -> None:
    with open_engine(tmp_path, workers=0) as submitter:
        job = submitter.submit("image", "handed over", size=(16, 16), client_id="demo")
        with open_engine(tmp_path) as worker:
            assert worker.wait(job.id, timeout=30).status == "succeeded"


def test_providers_lists_procedural_and_python(engine: gaia.Engine, image_provider: object) -> None:
    engine.register_provider(image_provider)
    names = [p["name"] for p in engine.providers()]
    assert "procedural" in names and "pyimage" in names


def test_import_dedups_and_search_finds_assets(engine: gaia.Engine, tmp_path: Path) -> None:
    generated = engine.generate("image", "mossy stone wall", size=(32, 32), seed=3, client_id="demo")
    png = engine.read_bytes(generated)
    first = engine.import_(png, client_id="demo", name="imported moss", tags=["stone"])
    assert first.type == "image" and first.width == 32 and first.id != generated.id
    copy = tmp_path / "again.png"
    copy.write_bytes(png)
    assert engine.import_(copy, client_id="demo").id == first.id
    with pytest.raises(gaia.InvalidRequestError) as bad:
        engine.import_(b"\x00\xffbinary garbage\x00", client_id="demo")
    assert bad.value.field == "file"
    hits = engine.search("mossy stone wall", client_id="demo", k=5)
    assert hits and hits[0].id in {generated.id, first.id}
    assert not engine.search("mossy stone wall", client_id="someone-else", k=5)


@pytest.mark.parametrize("timeout", [math.inf, 1e30])
def test_an_infinite_or_huge_timeout_is_no_limit(engine: gaia.Engine, timeout: float) -> None:
    events = engine.events()
    job = engine.submit("image", "unbounded", size=(16, 16), client_id="demo")
    assert engine.wait(job, timeout=timeout).status == "succeeded"
    assert engine.wait(job, timeout=timeout, progress=True).status == "succeeded"
    assert events.next(timeout=timeout).type == "job_queued"


@pytest.mark.parametrize("timeout", [math.nan, -1.0, -math.inf])
def test_a_nan_or_negative_timeout_is_invalid(engine: gaia.Engine, timeout: float) -> None:
    job = engine.submit("image", "bounded", size=(16, 16), client_id="demo")
    waits = [
        lambda: engine.wait(job, timeout=timeout),
        lambda: engine.wait(job, timeout=timeout, progress=True),
        lambda: engine.events().next(timeout=timeout),
    ]
    for wait in waits:
        with pytest.raises(gaia.InvalidRequestError) as raised:
            wait()
        assert raised.value.field == "timeout" and raised.value.code == "invalid_request"


def test_wait_with_progress_honours_its_timeout(engine: gaia.Engine, capsys: pytest.CaptureFixture[str]) -> None:
    engine.register_provider(ImageProvider(delay_s=10))
    job = engine.submit("image", "slow", client_id="demo", provider="pyimage", model="tile")
    with pytest.raises(TimeoutError):
        engine.wait(job, timeout=0.3, progress=True)
    assert not engine.job(job).done  # the wait stopped; the job goes on
    engine.cancel(job)
    assert engine.wait(job, timeout=30).status == "canceled"


def test_model_without_provider_or_with_route_is_invalid(engine: gaia.Engine) -> None:
    conflicting = [
        {"model": "tile"},
        {"model": "tile", "route": "auto"},
        {"provider": "procedural", "route": "auto"},
        {"provider": "procedural", "model": "noise", "route": [{"provider": "procedural"}]},
    ]
    for options in conflicting:
        with pytest.raises(gaia.InvalidRequestError) as raised:
            engine.submit("image", "routed", client_id="demo", **options)
        assert raised.value.field == "route" and raised.value.code == "invalid_request", options
        assert "route" in str(raised.value)
    # Each alone is fine.
    assert engine.submit("image", "auto", client_id="demo", route="auto").status == "queued"
    named = engine.submit("image", "named", size=(8, 8), client_id="demo", provider="procedural")
    assert named.to_dict()["request"]["route"]["provider"] == "procedural"


def test_import_takes_bytes_bytearray_and_memoryview(engine: gaia.Engine) -> None:
    generated = engine.generate("image", "moss", size=(24, 24), seed=5, client_id="demo")
    data = engine.read_bytes(generated)
    first = engine.import_(data, client_id="demo")
    assert first.type == "image" and first.width == 24 and first.size_bytes == len(data)
    assert engine.import_(bytearray(data), client_id="demo").id == first.id
    assert engine.import_(memoryview(data), client_id="demo").id == first.id
    fresh = engine.import_(bytearray(data), client_id="demo", dedup=False)
    assert fresh.id != first.id and engine.read_bytes(fresh) == data
