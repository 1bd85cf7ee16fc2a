"""Notebook display: inline images, audio players, asset grids, saving,
Pillow conversion, and the progress bar of a long job."""

from __future__ import annotations

import base64
import html
import io
import math
import os
import sys
import time
from typing import Any, Iterable, Optional

from ._errors import invalid_request

MIME_EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "audio/wav": "wav",
    "audio/mpeg": "mp3",
    "audio/ogg": "ogg",
    "audio/flac": "flac",
    "video/mp4": "mp4",
    "video/webm": "webm",
    "model/gltf-binary": "glb",
    "model/gltf+json": "gltf",
    "model/obj": "obj",
    "application/pdf": "pdf",
    "text/plain": "txt",
    "application/json": "json",
}


def _bytes_or_none(asset: Any) -> Optional[bytes]:
    if asset._engine is None:
        return None
    return bytes(asset.read_bytes())


def image_png(asset: Any) -> Optional[bytes]:
    """The PNG bytes of an image asset for ``_repr_png_`` (``None`` for other formats)."""
    if asset.mime != "image/png":
        return None
    return _bytes_or_none(asset)


def _data_url(asset: Any) -> Optional[str]:
    data = _bytes_or_none(asset)
    if data is None:
        return None
    return f"data:{asset.mime};base64,{base64.b64encode(data).decode('ascii')}"


def _caption(asset: Any) -> str:
    label = asset.name or asset.id
    return html.escape(f"{asset.type} {label}")


def asset_html(asset: Any) -> Optional[str]:
    """HTML for one asset: an ``<audio>`` player, a ``<video>``, an ``<img>``, or ``None``."""
    url = _data_url(asset)
    if url is None:
        return None
    if asset.type == "audio":
        return f'<audio controls src="{url}" title="{_caption(asset)}"></audio>'
    if asset.type == "video":
        return f'<video controls src="{url}" title="{_caption(asset)}"></video>'
    if asset.type == "image":
        return f'<img src="{url}" title="{_caption(asset)}"/>'
    return None


def grid_html(assets: Iterable[Any], columns: int = 4) -> str:
    """HTML for several assets: a grid, each cell the asset's own display."""
    cells = []
    for asset in assets:
        inner = asset_html(asset) or f"<code>{_caption(asset)}</code>"
        inner = inner.replace("<img ", '<img style="max-width:100%" ', 1)
        cells.append(f"<div>{inner}<div><small>{_caption(asset)}</small></div></div>")
    style = f"display:grid;grid-template-columns:repeat({columns},1fr);gap:8px"
    return f'<div class="gaia-grid" style="{style}">{"".join(cells)}</div>'


def save(asset: Any, path: Any) -> Any:
    """Writes the asset's bytes to ``path`` (a folder gets ``<name or id>.<ext>``)."""
    target = os.fspath(path)
    if os.path.isdir(target):
        extension = MIME_EXTENSIONS.get(asset.mime or "", "bin")
        target = os.path.join(target, f"{asset.name or asset.id}.{extension}")
    with open(target, "wb") as out:
        out.write(asset.read_bytes())
    return target


def to_pil(asset: Any) -> Any:
    """The image as a ``PIL.Image.Image`` (needs Pillow)."""
    try:
        from PIL import Image
    except ImportError as missing:
        raise ImportError("to_pil() needs Pillow: pip install Pillow") from missing
    image = Image.open(io.BytesIO(asset.read_bytes()))
    image.load()
    return image


def in_notebook() -> bool:
    """Whether we run inside a Jupyter kernel."""
    return "ipykernel" in sys.modules


class Progress:
    """A progress bar for one job: tqdm when installed, plain text otherwise."""

    def __init__(self, job_id: str, out: Any = None) -> None:
        self.job_id = job_id
        self.out = out or sys.stderr
        self.shown = -1
        try:
            from tqdm.auto import tqdm

            self.bar: Any = tqdm(total=100, desc=f"job {job_id[:13]}", unit="%")
        except ImportError:
            self.bar = None

    def update(self, percent: int) -> None:
        """Shows ``percent`` (0–100)."""
        if percent <= self.shown:
            return
        if self.bar is not None:
            self.bar.update(percent - max(self.shown, 0))
        else:
            filled = percent // 5
            self.out.write(f"\rjob {self.job_id[:13]} [{'#' * filled}{'.' * (20 - filled)}] {percent:3d}%")
            self.out.flush()
        self.shown = percent

    def close(self, status: str) -> None:
        """Ends the bar with the job's final status."""
        if self.bar is not None:
            self.bar.set_postfix_str(status)
            self.bar.close()
        else:
            self.out.write(f" {status}\n")
            self.out.flush()


def _check_timeout(timeout: Optional[float]) -> None:
    """The engine's rule for a wait's timeout: NaN or negative is invalid."""
    if timeout is not None and (math.isnan(timeout) or timeout < 0):
        raise invalid_request("timeout", f"{timeout} is not a number of seconds from 0")


def wait_with_progress(
    engine: Any, job_id: str, show: Optional[bool], delay_s: float = 1.0, timeout: Optional[float] = None
) -> Any:
    """Waits for a job, showing a bar (``show=True``), or only after ``delay_s`` in a
    notebook (``show=None``), or never (``show=False``); returns the finished job.
    After ``timeout`` seconds it raises ``TimeoutError`` as ``wait`` does (the job goes on)."""
    if show is False or (show is None and not in_notebook()):
        return engine.wait(job_id, timeout=timeout, progress=False)
    _check_timeout(timeout)
    events = engine.events()
    started = time.monotonic()
    deadline = None if timeout is None else started + timeout
    bar: Optional[Progress] = None
    try:
        job = engine.job(job_id)
        while not job.done:
            if bar is None and (show or time.monotonic() - started >= delay_s):
                bar = Progress(job_id)
                bar.update(job.progress or 0)
            slice_s = 0.25
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    if bar is not None:
                        bar.close("waiting timed out")
                        bar = None
                    raise TimeoutError("the wait timed out (the job goes on)")
                slice_s = min(slice_s, left)
            try:
                event = events.next(timeout=slice_s)
            except TimeoutError:
                job = engine.job(job_id)
                continue
            if event.job_id != job_id:
                continue
            if event.type == "job_progress" and bar is not None:
                bar.update(int(event.progress))
            if event.type in ("job_succeeded", "job_failed", "job_canceled"):
                job = engine.job(job_id)
        if bar is not None:
            bar.update(100 if job.status == "succeeded" else bar.shown)
            bar.close(job.status)
        return job
    finally:
        events.close()
