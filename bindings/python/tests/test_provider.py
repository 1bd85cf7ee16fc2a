"""Custom providers written in Python, sync and async, in full jobs."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, List

import pytest

import gaia
from conftest import ImageProvider, png, wav


def test_sync_provider_full_job(engine: gaia.Engine, image_provider: ImageProvider) -> None:
    engine.register_provider(image_provider)
    job = engine.submit("image", "mossy", size=(16, 16), count=3, client_id="demo", provider="pyimage", model="tile")
    done = engine.wait(job, timeout=60)
    assert done.status == "succeeded" and done.provider == "pyimage" and done.model == "tile"
    assert len(done.asset_ids) == 3 and done.cost_micros == 120_000 and done.progress == 100
    assets = done.assets()
    assert all(isinstance(a, gaia.ImageAsset) and a.width == 16 for a in assets)
    assert engine.read_bytes(assets[0]).startswith(b"\x89PNG")
    call = image_provider.calls[0]
    assert call.prompt == "mossy" and call.count == 3 and call.job_id == job.id and call.attempt == 1
    logs = engine.job_logs(job)
    assert any("painting mossy" in line.message for line in logs)
    assert engine.costs(client_id="demo").total_micros == 120_000


def test_auto_route_prefers_a_remote_python_provider(engine: gaia.Engine, image_provider: ImageProvider) -> None:
    engine.register_provider(image_provider)
    asset = engine.generate("image", "routed", size=(8, 8), client_id="demo")
    assert asset.source["provider"] == "pyimage"


class AsyncImages:
    """An ``async def generate`` provider with its own estimate and reported cost."""

    name = "asyncimg"
    models = [{"id": "a", "kind": "image", "price_micros": 1000}]

    def estimate(self, model: str, spec: Any) -> int:
        return 5000

    async def generate(self, call: gaia.Call, cx: gaia.ProviderContext) -> gaia.Output:
        await asyncio.sleep(0.01)
        cx.progress(30)
        cx.log("async done", level="warn")
        return gaia.Output([png(8, 8)], cost_micros=1234)


def test_async_provider(engine: gaia.Engine) -> None:
    engine.register_provider(AsyncImages())
    asset = engine.generate("image", "async", client_id="demo", provider="asyncimg", model="a")
    assert asset.cost_micros == 1234
    job = engine.job(asset.source["job_id"])
    assert job.estimated_cost_micros == 5000
    assert any(line.level == "warn" for line in engine.job_logs(job))


def test_provider_sees_cancellation(engine: gaia.Engine) -> None:
    started = threading.Event()
    saw = threading.Event()

    class Hanging:
        name = "hanging"
        models = [gaia.Model("h", "image")]

        def generate(self, call: gaia.Call, cx: gaia.ProviderContext) -> bytes:
            cx.progress(10)
            started.set()
            while not cx.cancelled:
                threading.Event().wait(0.01)
            saw.set()
            raise gaia.CanceledError("stopped")

    engine.register_provider(Hanging())
    job = engine.submit("image", "hang", client_id="demo", provider="hanging", model="h")
    # Canceled before the provider is called, the job would never reach it.
    assert started.wait(10)
    engine.cancel(job)
    assert saw.wait(10)
    assert engine.wait(job, timeout=10).status == "canceled"


def test_duplicate_provider_name_is_invalid(engine: gaia.Engine) -> None:
    engine.register_provider(ImageProvider())
    with pytest.raises(gaia.InvalidRequestError):
        engine.register_provider(ImageProvider())


class Sounds:
    """An audio provider returning a WAV made with the ``wave`` module."""

    name = "pysound"
    models = [gaia.Model("sfx", "audio")]

    def generate(self, call: gaia.Call, cx: gaia.ProviderContext) -> List[bytes]:
        return [wav(0.25)]


def test_audio_from_a_python_provider(engine: gaia.Engine) -> None:
    engine.register_provider(Sounds())
    asset = engine.generate("audio", "coin pickup", client_id="demo", provider="pysound", model="sfx")
    assert isinstance(asset, gaia.AudioAsset)
    assert asset.sample_rate == 22050 and asset.channels == 1 and asset.format == "wav"
    assert abs(asset.duration_s - 0.25) < 0.01
    html = asset._repr_html_()
    assert html is not None and html.startswith("<audio controls")


class Upscaler:
    """An ``upscale`` model: reads the parent asset from the call's inputs."""

    name = "pyupscale"
    models = [gaia.Model("x4", "image", price_micros=2_000, operation="upscale")]

    def __init__(self) -> None:
        self.calls: List[gaia.Call] = []
        self.parent_bytes: List[bytes] = []

    def generate(self, call: gaia.Call, cx: gaia.ProviderContext) -> bytes:
        self.calls.append(call)
        parent = call.input("parent")
        assert parent is not None
        self.parent_bytes.append(parent.read_bytes())
        return png(32, 32)


def test_a_python_model_performs_an_operation_on_its_input(engine: gaia.Engine) -> None:
    parent = engine.generate("image", "moss", size=(16, 16), seed=1, client_id="demo", provider="procedural")
    upscaler = Upscaler()
    engine.register_provider(upscaler)
    request = {"client_id": "demo", "spec": {"kind": "derive", "parent_id": parent.id, "operation": {"op": "upscale"}}}
    done = engine.wait(engine.submit_request(request), timeout=60)
    assert done.status == "succeeded" and done.provider == "pyupscale" and done.model == "x4"
    assert done.cost_micros == 2_000
    (call,) = upscaler.calls
    assert [(i.role, i.asset.id) for i in call.inputs] == [("parent", parent.id)]
    assert isinstance(call.inputs[0].asset, gaia.ImageAsset)
    assert upscaler.parent_bytes == [engine.read_bytes(parent.id)]
    (derived,) = done.assets()
    assert isinstance(derived, gaia.ImageAsset) and derived.width == 32
    assert derived.source["kind"] == "derived" and derived.source["parent_id"] == parent.id
    assert derived.source["operation"] == "upscale"


@pytest.mark.parametrize("operation", ["thumbnail", "nonsense"])
def test_a_model_may_declare_only_a_provider_operation(engine: gaia.Engine, operation: str) -> None:
    class Local:
        name = "pylocal"
        models = [gaia.Model("m", "image", operation=operation)]

        def generate(self, call: gaia.Call, cx: gaia.ProviderContext) -> bytes:
            raise AssertionError("never called")

    with pytest.raises(gaia.InvalidRequestError) as raised:
        engine.register_provider(Local())
    assert "models[0].operation" in str(raised.value)


class Buffers:
    """A provider whose outputs are a ``bytearray`` and a ``memoryview``."""

    name = "pybuffers"
    models = [gaia.Model("b", "image")]

    def generate(self, call: gaia.Call, cx: gaia.ProviderContext) -> List[Any]:
        return [bytearray(png(64, 64, shade=1)), memoryview(png(64, 64, shade=2))]


def test_provider_outputs_of_any_bytes_type(engine: gaia.Engine) -> None:
    engine.register_provider(Buffers())
    done = engine.wait(engine.submit("image", "buffers", count=2, client_id="demo", provider="pybuffers"), timeout=60)
    assert done.status == "succeeded"
    assert [engine.read_bytes(a) for a in done.asset_ids] == [png(64, 64, shade=1), png(64, 64, shade=2)]


def test_a_provider_output_that_is_not_bytes_is_a_provider_error(engine: gaia.Engine) -> None:
    class Words:
        name = "pywords"
        models = [gaia.Model("w", "image")]

        def generate(self, call: gaia.Call, cx: gaia.ProviderContext) -> Any:
            return [png(8, 8), 42]

    engine.register_provider(Words())
    done = engine.wait(engine.submit("image", "words", client_id="demo", provider="pywords"), timeout=60)
    assert done.status == "failed" and done.error is not None and done.error.code == "provider_error"
