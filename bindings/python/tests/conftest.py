"""Shared fixtures: engines on temporary folders, PNG and WAV makers, providers."""

from __future__ import annotations

import io
import struct
import time
import wave
import zlib
from pathlib import Path
from typing import Any, Iterator, List

import pytest

import gaia

WIRE = Path(__file__).resolve().parents[3] / "tests" / "wire"


def png(width: int = 8, height: int = 8, shade: int = 90) -> bytes:
    """A valid RGB PNG, made without Pillow."""
    row = b"\x00" + bytes([shade, 120, 60]) * width
    raw = row * height

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def wav(seconds: float = 0.25, rate: int = 22050) -> bytes:
    """A mono 16-bit WAV of a short tone, made with the ``wave`` module."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = int(seconds * rate)
        w.writeframes(b"".join(struct.pack("<h", (i * 800) % 16000 - 8000) for i in range(frames)))
    return out.getvalue()


def open_engine(root: Path, **config: Any) -> gaia.Engine:
    settings = {"workers": 2, "shutdown_grace_s": 0, "lease_s": 5}
    settings.update(config)
    return gaia.Engine(path=root / "gaia", **settings)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[gaia.Engine]:
    with open_engine(tmp_path) as opened:
        yield opened


class ImageProvider:
    """A Python provider of PNGs that reports progress and a log line."""

    name = "pyimage"
    models = [gaia.Model("tile", "image", price_micros=40_000, description="test tiles")]

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.calls: List[gaia.Call] = []

    def generate(self, call: gaia.Call, cx: gaia.ProviderContext) -> List[bytes]:
        self.calls.append(call)
        cx.log(f"painting {call.prompt}")
        cx.progress(50)
        deadline = time.monotonic() + self.delay_s
        while time.monotonic() < deadline:
            if cx.cancelled:
                raise gaia.CanceledError("canceled")
            time.sleep(0.01)
        side = int(call.spec.get("width") or 8)
        return [png(side, side, shade=i * 40) for i in range(call.count)]


@pytest.fixture
def image_provider() -> ImageProvider:
    return ImageProvider()
