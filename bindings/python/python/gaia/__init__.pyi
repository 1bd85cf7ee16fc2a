"""Type stubs of the ``gaia`` package (hand-written; checked by mypy in the tests)."""

import os
from typing import (
    Any, AsyncIterator, ClassVar, Dict, Generic, Iterator, List, Mapping, Optional, Protocol,
    Sequence, Tuple, Type, TypeVar, Union,
)

from ._gaia import (
    BudgetExceededError as BudgetExceededError,
    CanceledError as CanceledError,
    ConflictError as ConflictError,
    GaiaError as GaiaError,
    InternalError as InternalError,
    InvalidOutputError as InvalidOutputError,
    InvalidRequestError as InvalidRequestError,
    NoProviderError as NoProviderError,
    NotFoundError as NotFoundError,
    ProviderContext as ProviderContext,
    ProviderError as ProviderError,
    ProviderRateLimitedError as ProviderRateLimitedError,
    ProviderRejectedError as ProviderRejectedError,
    ProviderTimeoutError as ProviderTimeoutError,
    StorageError as StorageError,
    __version__ as __version__,
)

ERRORS: Dict[str, Type[GaiaError]]

_W = TypeVar("_W", bound="WireObject")
_T = TypeVar("_T")

class WireObject:
    @classmethod
    def from_dict(cls: Type[_W], data: Mapping[str, Any], engine: Optional[Engine] = ...) -> _W: ...
    @classmethod
    def from_json(cls: Type[_W], text: str, engine: Optional[Engine] = ...) -> _W: ...
    def to_dict(self) -> Dict[str, Any]: ...
    def to_json(self) -> str: ...

class JobError(WireObject):
    code: str
    message: str
    retryable: bool

class Request(WireObject):
    client_id: str
    campaign_id: Optional[str]
    spec: Dict[str, Any]
    route: Any
    max_cost_micros: Optional[int]
    reuse: Any
    idempotency_key: Optional[str]
    tags: List[str]
    metadata: Dict[str, Any]
    priority: int
    @property
    def kind(self) -> str: ...
    @property
    def prompt(self) -> str: ...

class Job(WireObject):
    id: str
    status: str
    progress: int
    attempts: int
    max_attempts: int
    provider: Optional[str]
    model: Optional[str]
    asset_ids: List[str]
    estimated_cost_micros: Optional[int]
    cost_micros: int
    reused: Optional[bool]
    reused_from: Optional[str]
    created_at: str
    started_at: Optional[str]
    finished_at: Optional[str]
    @property
    def cost_usd(self) -> float: ...
    @property
    def request(self) -> Request: ...
    @property
    def error(self) -> Optional[JobError]: ...
    @property
    def done(self) -> bool: ...
    def assets(self) -> AssetList: ...

class LogLine(WireObject):
    at: str
    level: str
    message: str

class Asset(WireObject):
    id: str
    type: str
    client_id: str
    campaign_id: Optional[str]
    name: Optional[str]
    mime: str
    size_bytes: int
    sha256: str
    source: Dict[str, Any]
    cost_micros: int
    tags: List[str]
    metadata: Dict[str, Any]
    created_at: str
    format: str
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], engine: Optional[Engine] = ...) -> Asset: ...  # type: ignore[override]
    @property
    def cost_usd(self) -> float: ...
    def read_bytes(self) -> bytes: ...
    def save(self, path: Union[str, os.PathLike[str]]) -> str: ...
    def _repr_html_(self) -> Optional[str]: ...

class ImageAsset(Asset):
    width: int
    height: int
    tileable: bool
    @property
    def size(self) -> Tuple[int, int]: ...
    def to_pil(self) -> Any: ...
    def _repr_png_(self) -> Optional[bytes]: ...

class AudioAsset(Asset):
    duration_s: float
    sample_rate: int
    channels: int

class VideoAsset(Asset):
    width: int
    height: int
    duration_s: float

class ModelAsset(Asset):
    vertex_count: int
    triangle_count: int

class DocumentAsset(Asset):
    page_count: Optional[int]

class AssetList(List[Asset]):
    def _repr_html_(self) -> str: ...

class Event(WireObject):
    type: str
    seq: int
    at: str
    job_id: Optional[str]
    client_id: Optional[str]
    progress: Optional[int]
    asset_ids: Optional[List[str]]
    asset_id: Optional[str]
    cost_micros: Optional[int]
    provider: Optional[str]
    model: Optional[str]
    attempt: Optional[int]
    level: Optional[str]
    message: Optional[str]
    count: Optional[int]
    @property
    def error(self) -> Optional[JobError]: ...
    def __getitem__(self, key: str) -> Any: ...

class Budget(WireObject):
    client_id: str
    campaign_id: Optional[str]
    period: str
    limit_micros: int
    @property
    def limit_usd(self) -> float: ...

class CostRow(WireObject):
    key: Optional[str]
    cost_micros: int
    entries: int
    @property
    def cost_usd(self) -> float: ...

class CostReport(WireObject):
    total_micros: int
    entries: int
    saved_micros: int
    @property
    def total_usd(self) -> float: ...
    @property
    def groups(self) -> List[CostRow]: ...

class Page(Generic[_T]):
    items: List[_T]
    next_cursor: Optional[str]
    def __init__(self, items: List[_T], next_cursor: Optional[str]) -> None: ...
    def __iter__(self) -> Iterator[_T]: ...
    def __len__(self) -> int: ...
    def to_dict(self) -> Dict[str, Any]: ...

class Model:
    id: str
    kind: str
    price_micros: int
    description: str
    operation: Optional[str]
    def __init__(
        self, id: str, kind: str, price_micros: int = ..., description: str = ..., operation: Optional[str] = ...
    ) -> None: ...
    def to_dict(self) -> Dict[str, Any]: ...

class Output:
    outputs: Sequence[bytes]
    cost_micros: Optional[int]
    def __init__(self, outputs: Sequence[bytes], cost_micros: Optional[int] = ...) -> None: ...

class CallInput:
    role: str
    asset: Asset
    path: str
    def __init__(self, role: str, asset: Asset, path: str) -> None: ...
    def read_bytes(self) -> bytes: ...

class Call:
    job_id: str
    attempt: int
    model: str
    spec: Dict[str, Any]
    inputs: List[CallInput]
    def __init__(
        self, job_id: str, attempt: int, model: str, spec: Dict[str, Any] = ..., inputs: List[CallInput] = ...
    ) -> None: ...
    @classmethod
    def from_wire(cls, data: Dict[str, Any]) -> Call: ...
    def input(self, role: str) -> Optional[CallInput]: ...
    @property
    def kind(self) -> str: ...
    @property
    def prompt(self) -> str: ...
    @property
    def seed(self) -> Optional[int]: ...
    @property
    def count(self) -> int: ...

class PythonProvider(Protocol):
    """What ``register_provider`` accepts (``remote`` and ``estimate`` are optional)."""

    name: str
    @property
    def models(self) -> Sequence[Union[Model, Mapping[str, Any]]]: ...
    def generate(self, call: Call, cx: ProviderContext) -> Any: ...

class Events:
    def next(self, timeout: Optional[float] = None) -> Event: ...
    def __iter__(self) -> Iterator[Event]: ...
    def __next__(self) -> Event: ...
    def __aiter__(self) -> AsyncIterator[Event]: ...
    async def __anext__(self) -> Event: ...
    def close(self) -> None: ...
    def __enter__(self) -> Events: ...
    def __exit__(self, *exc: object) -> None: ...

_JobRef = Union[str, Job]
_AssetRef = Union[str, Asset]
_Path = Union[str, os.PathLike[str]]

class Engine:
    def __init__(
        self,
        path: Optional[_Path] = None,
        *,
        database: Optional[str] = ...,
        blobs: Optional[str] = ...,
        workers: Optional[int] = ...,
        lease_s: Optional[int] = ...,
        max_attempts: Optional[int] = ...,
        retry: Optional[Mapping[str, int]] = ...,
        shutdown_grace_s: Optional[int] = ...,
        providers: Optional[Mapping[str, Mapping[str, Any]]] = ...,
        events: Optional[Mapping[str, Any]] = ...,
        embedder: Optional[str] = ...,
        durability: Optional[str] = ...,
    ) -> None: ...
    @classmethod
    def open(
        cls,
        path: Optional[_Path] = None,
        *,
        database: Optional[str] = ...,
        blobs: Optional[str] = ...,
        workers: Optional[int] = ...,
        lease_s: Optional[int] = ...,
        max_attempts: Optional[int] = ...,
        retry: Optional[Mapping[str, int]] = ...,
        shutdown_grace_s: Optional[int] = ...,
        providers: Optional[Mapping[str, Mapping[str, Any]]] = ...,
        events: Optional[Mapping[str, Any]] = ...,
        embedder: Optional[str] = ...,
        durability: Optional[str] = ...,
    ) -> Engine: ...
    def generate(
        self,
        kind: str,
        prompt: str,
        *,
        client_id: str = ...,
        campaign_id: Optional[str] = ...,
        size: Optional[Tuple[int, int]] = ...,
        count: Optional[int] = ...,
        seed: Optional[int] = ...,
        provider: Optional[str] = ...,
        model: Optional[str] = ...,
        route: Any = ...,
        max_cost_micros: Optional[int] = ...,
        reuse: Any = ...,
        idempotency_key: Optional[str] = ...,
        tags: Optional[List[str]] = ...,
        metadata: Optional[Mapping[str, Any]] = ...,
        priority: Optional[int] = ...,
        progress: Optional[bool] = ...,
        **spec: Any,
    ) -> Asset: ...
    def submit(
        self,
        kind: str,
        prompt: str,
        *,
        client_id: str = ...,
        campaign_id: Optional[str] = ...,
        size: Optional[Tuple[int, int]] = ...,
        count: Optional[int] = ...,
        seed: Optional[int] = ...,
        provider: Optional[str] = ...,
        model: Optional[str] = ...,
        route: Any = ...,
        max_cost_micros: Optional[int] = ...,
        reuse: Any = ...,
        idempotency_key: Optional[str] = ...,
        tags: Optional[List[str]] = ...,
        metadata: Optional[Mapping[str, Any]] = ...,
        priority: Optional[int] = ...,
        **spec: Any,
    ) -> Job: ...
    def submit_request(self, request: Union[Mapping[str, Any], Request]) -> Job: ...
    def wait(self, job: _JobRef, *, timeout: Optional[float] = None, progress: Optional[bool] = False) -> Job: ...
    async def generate_async(self, kind: str, prompt: str, **options: Any) -> Asset: ...
    async def submit_async(self, kind: str, prompt: str, **options: Any) -> Job: ...
    async def wait_async(self, job: _JobRef) -> Job: ...
    async def asset_async(self, asset_id: _AssetRef) -> Asset: ...
    async def read_bytes_async(self, asset_id: _AssetRef) -> bytes: ...
    async def asset_url_async(self, asset_id: _AssetRef, ttl_s: float = 3600) -> str: ...
    async def prune_jobs_async(self, older_than_s: float) -> int: ...
    def job(self, job_id: _JobRef) -> Job: ...
    def job_logs(self, job_id: _JobRef) -> List[LogLine]: ...
    def jobs(
        self,
        *,
        client_id: Optional[str] = None,
        campaign_id: Optional[str] = None,
        status: Optional[str] = None,
        kind: Optional[str] = None,
        cursor: Optional[str] = None,
        limit: Optional[int] = None,
    ) -> Page[Job]: ...
    def job_stats(self, client_id: Optional[str] = None) -> Dict[str, Any]: ...
    def cancel(self, job_id: _JobRef) -> Job: ...
    def retry(self, job_id: _JobRef) -> Job: ...
    def delete_job(self, job_id: _JobRef) -> None: ...
    def prune_jobs(self, older_than_s: float) -> int: ...
    def asset(self, asset_id: _AssetRef) -> Asset: ...
    def assets(
        self,
        *,
        client_id: Optional[str] = None,
        campaign_id: Optional[str] = None,
        type: Optional[str] = None,
        tag: Optional[str] = None,
        cursor: Optional[str] = None,
        limit: Optional[int] = None,
    ) -> Page[Asset]: ...
    def job_assets(self, job: _JobRef) -> AssetList: ...
    def read_bytes(self, asset_id: _AssetRef) -> bytes: ...
    def asset_url(self, asset_id: _AssetRef, ttl_s: float = 3600) -> str: ...
    def delete_asset(self, asset_id: _AssetRef) -> None: ...
    def import_(
        self,
        source: Union[bytes, bytearray, memoryview, _Path],
        *,
        client_id: str,
        campaign_id: Optional[str] = ...,
        name: Optional[str] = ...,
        tags: Optional[List[str]] = ...,
        metadata: Optional[Mapping[str, Any]] = ...,
        dedup: bool = ...,
    ) -> Asset: ...
    def search(
        self, query: str, *, client_id: str, campaign_id: Optional[str] = None, type: Optional[str] = None, k: int = 10
    ) -> AssetList: ...
    def costs(
        self,
        *,
        client_id: Optional[str] = None,
        campaign_id: Optional[str] = None,
        since: Optional[str] = None,
        until: Optional[str] = None,
        group_by: Optional[str] = None,
    ) -> CostReport: ...
    def set_budget(
        self, client_id: str, limit_micros: int, *, period: str = "total", campaign_id: Optional[str] = None
    ) -> Budget: ...
    def budgets(self, client_id: str) -> List[Budget]: ...
    def providers(self) -> List[Dict[str, Any]]: ...
    def register_provider(self, provider: PythonProvider) -> None: ...
    def events(self) -> Events: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...
    def __enter__(self) -> Engine: ...
    def __exit__(self, *exc: object) -> None: ...
