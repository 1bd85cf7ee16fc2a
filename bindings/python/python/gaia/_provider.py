"""Custom providers written in Python.

A provider is any object with ``name``, ``models`` and ``generate(call, cx)``
(a plain or an ``async def``), optionally ``remote`` (default ``True``) and
``estimate(model, spec)``. ``generate`` returns ``bytes``, a list of
``bytes``, or a :class:`Output` with a reported cost. The engine verifies the
bytes, stores them and runs the job like any other.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ._types import Asset


@dataclass(frozen=True)
class Model:
    """A model a Python provider offers: ``kind`` is image, audio, video, model or document;
    ``price_micros`` is the price of one output (0: free). A model with an ``operation``
    (``edit``, ``upscale``, ``retexture`` or ``image_to_3d``) performs that derivation of an
    existing asset instead of generating; its calls carry the asset in :attr:`Call.inputs`."""

    id: str
    kind: str
    price_micros: int = 0
    description: str = ""
    operation: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        """The form the engine reads."""
        model = {"id": self.id, "kind": self.kind, "price_micros": self.price_micros, "description": self.description}
        if self.operation is not None:
            model["operation"] = self.operation
        return model


@dataclass(frozen=True)
class Output:
    """What ``generate`` may return: the outputs' bytes and what the call cost."""

    outputs: Sequence[bytes]
    cost_micros: Optional[int] = None


@dataclass(frozen=True)
class CallInput:
    """An existing asset a call works from: ``role`` is ``parent`` (what a derivation works on),
    ``mask`` (an edit's mask) or ``reference``; ``path`` is a local file holding its bytes,
    readable while the call runs."""

    role: str
    asset: Asset
    path: str

    def read_bytes(self) -> bytes:
        """The asset's bytes."""
        with open(self.path, "rb") as file:
            return file.read()


@dataclass(frozen=True)
class Call:
    """One call to a Python provider: the job, the attempt, the model, the spec (a wire dict)
    and the assets it works from (a derivation's parent, an edit's mask)."""

    job_id: str
    attempt: int
    model: str
    spec: Dict[str, Any] = field(default_factory=dict)
    inputs: List[CallInput] = field(default_factory=list)

    @classmethod
    def from_wire(cls, data: Dict[str, Any]) -> "Call":
        """The call from the engine's JSON."""
        inputs = [
            CallInput(role=str(i["role"]), asset=Asset.from_dict(i["asset"]), path=str(i["path"]))
            for i in data.get("inputs", [])
        ]
        return cls(data["job_id"], int(data["attempt"]), data["model"], data.get("spec", {}), inputs)

    def input(self, role: str) -> Optional[CallInput]:
        """The input playing ``role``, if the call has one."""
        return next((i for i in self.inputs if i.role == role), None)

    @property
    def kind(self) -> str:
        """``image``, ``audio``, ``model`` or ``video``."""
        return str(self.spec["kind"])

    @property
    def prompt(self) -> str:
        """The prompt."""
        return str(self.spec["prompt"])

    @property
    def seed(self) -> Optional[int]:
        """The seed, if any."""
        return self.spec.get("seed")

    @property
    def count(self) -> int:
        """How many outputs to make."""
        return int(self.spec.get("count") or 1)


def _model_dict(model: Union[Model, Mapping[str, Any]]) -> Dict[str, Any]:
    return model.to_dict() if isinstance(model, Model) else dict(model)


def _output_bytes(value: Any) -> Union[bytes, bytearray]:
    """One output as ``bytes`` or ``bytearray`` (the engine copies either once); any
    other object with the buffer protocol is copied to ``bytes``. Anything else is a
    ``TypeError`` (``bytes(42)`` would be 42 zero bytes)."""
    if isinstance(value, (bytes, bytearray)):
        return value
    try:
        return memoryview(value).tobytes()
    except TypeError:
        raise TypeError(f"an output must be bytes, not {type(value).__name__}") from None


def _outputs(result: Any) -> Tuple[List[Union[bytes, bytearray]], Optional[int]]:
    if isinstance(result, Output):
        return [_output_bytes(b) for b in result.outputs], result.cost_micros
    if isinstance(result, (bytes, bytearray, memoryview)):
        return [_output_bytes(result)], None
    return [_output_bytes(b) for b in result], None


class ProviderAdapter:
    """What the native provider calls: converts between the engine's JSON and the user's object."""

    def __init__(self, provider: Any) -> None:
        self.provider = provider
        self.name = str(getattr(provider, "name", type(provider).__name__.lower()))
        self.remote = bool(getattr(provider, "remote", True))

    def models(self) -> List[Dict[str, Any]]:
        """The models as the engine reads them."""
        return [_model_dict(m) for m in self.provider.models]

    def models_json(self) -> str:
        """The models as JSON."""
        return json.dumps(self.models())

    def _gaia_estimate(self, model: str, spec_json: str) -> Optional[int]:
        """The provider's own estimate, or None to let the engine price the
        call from the model's declared price."""
        estimate = getattr(self.provider, "estimate", None)
        if estimate is None:
            return None
        return int(estimate(model, json.loads(spec_json)))

    def _gaia_generate(self, call_json: str, cx: Any) -> Tuple[List[Union[bytes, bytearray]], Optional[int]]:
        call = Call.from_wire(json.loads(call_json))
        result = self.provider.generate(call, cx)
        if inspect.isawaitable(result):
            result = asyncio.run(_awaited(result))
        return _outputs(result)


async def _awaited(awaitable: Any) -> Any:
    return await awaitable
