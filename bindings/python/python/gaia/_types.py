"""Typed results built from the wire format (``tests/wire/*.json``).

Each object keeps the wire JSON it was built from, so ``to_dict()`` gives it
back unchanged, and exposes every field as an attribute.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Generic, Iterator, List, Optional, Type, TypeVar

from . import _display

MICROS_PER_USD = 1_000_000

T = TypeVar("T", bound="WireObject")


class _Field:
    """An attribute read from the wire dict (``None`` when absent)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        return obj._data.get(self.name)


class WireObject:
    """A wire-format object: its fields as attributes, ``to_dict()`` to go back."""

    __slots__ = ("_data", "_engine")

    def __init__(self, data: Dict[str, Any], engine: Any = None) -> None:
        self._data = data
        self._engine = engine

    @classmethod
    def from_dict(cls: Type[T], data: Dict[str, Any], engine: Any = None) -> T:
        """Builds the object from its wire dict."""
        return cls(dict(data), engine)

    @classmethod
    def from_json(cls: Type[T], text: str, engine: Any = None) -> T:
        """Builds the object from its wire JSON."""
        return cls.from_dict(json.loads(text), engine)

    def to_dict(self) -> Dict[str, Any]:
        """The wire dict (a deep copy)."""
        return json.loads(json.dumps(self._data))

    def to_json(self) -> str:
        """The wire JSON."""
        return json.dumps(self._data)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._data == self._data  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, json.dumps(self._data, sort_keys=True)))

    def __repr__(self) -> str:
        keys = ("id", "type", "status", "kind", "code", "seq")
        shown = ", ".join(f"{k}={self._data[k]!r}" for k in keys if k in self._data)
        return f"{type(self).__name__}({shown})"


class _Costed(WireObject):
    __slots__ = ()
    cost_micros = _Field()

    @property
    def cost_usd(self) -> float:
        """``cost_micros`` in US dollars (a convenience; money is an integer of micro-dollars)."""
        return (self._data.get("cost_micros") or 0) / MICROS_PER_USD


class JobError(WireObject):
    """Why a job failed: ``code``, ``message``, ``retryable``."""

    __slots__ = ()
    code = _Field()
    message = _Field()
    retryable = _Field()


class Request(WireObject):
    """A wire request: ``client_id``, ``spec`` (with ``kind``), ``route``, …"""

    __slots__ = ()
    client_id = _Field()
    campaign_id = _Field()
    spec = _Field()
    route = _Field()
    max_cost_micros = _Field()
    reuse = _Field()
    idempotency_key = _Field()
    tags = _Field()
    metadata = _Field()
    priority = _Field()

    @property
    def kind(self) -> str:
        """The spec's kind (``image``, ``audio``, ``model``, ``video``)."""
        return str(self._data["spec"]["kind"])

    @property
    def prompt(self) -> str:
        """The spec's prompt."""
        return str(self._data["spec"]["prompt"])


class Job(_Costed):
    """A job: ``status``, ``progress`` (0–100), ``asset_ids``, ``error``, costs, times."""

    __slots__ = ()
    id = _Field()
    status = _Field()
    progress = _Field()
    attempts = _Field()
    max_attempts = _Field()
    provider = _Field()
    model = _Field()
    asset_ids = _Field()
    estimated_cost_micros = _Field()
    reused = _Field()
    reused_from = _Field()
    created_at = _Field()
    started_at = _Field()
    finished_at = _Field()

    @property
    def request(self) -> Request:
        """What was asked."""
        return Request(self._data["request"], self._engine)

    @property
    def error(self) -> Optional[JobError]:
        """Why it failed or was canceled (``None`` otherwise)."""
        error = self._data.get("error")
        return None if error is None else JobError(error)

    @property
    def done(self) -> bool:
        """Whether the job has ended (succeeded, failed or canceled)."""
        return self._data.get("status") in ("succeeded", "failed", "canceled")

    def assets(self) -> "AssetList":
        """This job's assets (a grid in a notebook); needs the engine that returned the job."""
        if self._engine is None:
            raise ValueError("this job was not returned by an engine")
        return self._engine.job_assets(self)


class LogLine(WireObject):
    """One line of a job's log: ``at``, ``level``, ``message``."""

    __slots__ = ()
    at = _Field()
    level = _Field()
    message = _Field()


class Asset(_Costed):
    """An asset; the subclass follows ``type``."""

    __slots__ = ()
    id = _Field()
    type = _Field()
    client_id = _Field()
    campaign_id = _Field()
    name = _Field()
    mime = _Field()
    size_bytes = _Field()
    sha256 = _Field()
    source = _Field()
    tags = _Field()
    metadata = _Field()
    created_at = _Field()
    format = _Field()

    @classmethod
    def from_dict(cls, data: Dict[str, Any], engine: Any = None) -> "Asset":  # type: ignore[override]
        """Builds the asset class its ``type`` names."""
        kind = ASSET_CLASSES.get(str(data.get("type")), Asset)
        return kind(dict(data), engine)

    def read_bytes(self) -> bytes:
        """The asset's bytes (needs the engine that returned it)."""
        if self._engine is None:
            raise ValueError("this asset was not returned by an engine")
        return self._engine.read_bytes(self.id)

    def save(self, path: Any) -> Any:
        """Writes the bytes to ``path`` (a folder gets ``<name or id>.<ext>``); returns the path."""
        return _display.save(self, path)

    def _repr_html_(self) -> Optional[str]:
        return _display.asset_html(self)


class ImageAsset(Asset):
    """An image: ``width``, ``height``, ``format`` (png, jpeg, webp), ``tileable``."""

    __slots__ = ()
    width = _Field()
    height = _Field()
    tileable = _Field()

    @property
    def size(self) -> tuple:
        """``(width, height)``."""
        return (self.width, self.height)

    def to_pil(self) -> Any:
        """The image as a ``PIL.Image.Image`` (needs Pillow)."""
        return _display.to_pil(self)

    def _repr_png_(self) -> Optional[bytes]:
        return _display.image_png(self)

    def _repr_html_(self) -> Optional[str]:
        return None


class AudioAsset(Asset):
    """Sound: ``duration_s``, ``sample_rate``, ``channels``, ``format`` (wav, mp3, ogg, flac)."""

    __slots__ = ()
    duration_s = _Field()
    sample_rate = _Field()
    channels = _Field()


class VideoAsset(Asset):
    """Video: ``width``, ``height``, ``duration_s``, ``format`` (mp4, webm)."""

    __slots__ = ()
    width = _Field()
    height = _Field()
    duration_s = _Field()


class ModelAsset(Asset):
    """A 3D model: ``format`` (glb, gltf, fbx, obj, usdz), ``vertex_count``, ``triangle_count``."""

    __slots__ = ()
    vertex_count = _Field()
    triangle_count = _Field()


class DocumentAsset(Asset):
    """A document: ``format`` (pdf, txt, json), ``page_count``."""

    __slots__ = ()
    page_count = _Field()


ASSET_CLASSES: Dict[str, Type[Asset]] = {
    "image": ImageAsset,
    "audio": AudioAsset,
    "video": VideoAsset,
    "model": ModelAsset,
    "document": DocumentAsset,
}


class AssetList(List[Asset]):
    """A list of assets that displays as a grid in a notebook."""

    def _repr_html_(self) -> str:
        return _display.grid_html(self)


class Event(WireObject):
    """An engine event: ``type``, ``seq``, ``at``, ``job_id`` and its own fields."""

    __slots__ = ()
    type = _Field()
    seq = _Field()
    at = _Field()
    job_id = _Field()
    client_id = _Field()
    progress = _Field()
    asset_ids = _Field()
    asset_id = _Field()
    cost_micros = _Field()
    provider = _Field()
    model = _Field()
    attempt = _Field()
    level = _Field()
    message = _Field()
    count = _Field()

    @property
    def error(self) -> Optional[JobError]:
        """The error of a ``job_failed`` event."""
        error = self._data.get("error")
        return None if error is None else JobError(error)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]


class Budget(WireObject):
    """A budget: ``client_id``, ``campaign_id``, ``period`` (total, day, month), ``limit_micros``."""

    __slots__ = ()
    client_id = _Field()
    campaign_id = _Field()
    period = _Field()
    limit_micros = _Field()

    @property
    def limit_usd(self) -> float:
        """``limit_micros`` in US dollars."""
        return (self._data.get("limit_micros") or 0) / MICROS_PER_USD


class CostRow(_Costed):
    """One group of a cost report: ``key``, ``cost_micros``, ``entries``."""

    __slots__ = ()
    key = _Field()
    entries = _Field()


class CostReport(WireObject):
    """Money spent: ``total_micros``, ``entries``, ``saved_micros``, ``groups``."""

    __slots__ = ()
    total_micros = _Field()
    entries = _Field()
    saved_micros = _Field()

    @property
    def total_usd(self) -> float:
        """``total_micros`` in US dollars."""
        return (self._data.get("total_micros") or 0) / MICROS_PER_USD

    @property
    def groups(self) -> List[CostRow]:
        """Per group, largest first."""
        return [CostRow(row) for row in self._data.get("groups") or []]


class Page(Generic[T]):
    """One page of a listing: ``items`` and ``next_cursor`` (``None`` at the end)."""

    __slots__ = ("items", "next_cursor")

    def __init__(self, items: List[Any], next_cursor: Optional[str]) -> None:
        self.items = items
        self.next_cursor = next_cursor

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def to_dict(self) -> Dict[str, Any]:
        """The wire dict."""
        return {"items": [i.to_dict() for i in self.items], "next_cursor": self.next_cursor}

    def _repr_html_(self) -> Optional[str]:
        if self.items and isinstance(self.items[0], Asset):
            return _display.grid_html(self.items)
        return None

    def __repr__(self) -> str:
        return f"Page({len(self.items)} items, next_cursor={self.next_cursor!r})"


def page_of(cls: Any, text: str, engine: Any) -> "Page[Any]":
    """A page of wire JSON whose items are ``cls``."""
    data = json.loads(text)
    items = [cls.from_dict(item, engine) for item in data["items"]]
    if cls is Asset:
        items = AssetList(items)
    return Page(items, data.get("next_cursor"))
