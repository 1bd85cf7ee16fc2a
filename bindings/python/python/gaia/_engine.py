"""``gaia.Engine``: the engine, with blocking and asyncio calls."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any, AsyncIterator, Dict, Iterator, List, Mapping, Optional, Tuple, Union

from . import _display
from ._errors import invalid_request
from ._gaia import NativeEngine, NativeEvents
from ._provider import ProviderAdapter
from ._types import (
    Asset,
    AssetList,
    Budget,
    CostReport,
    Event,
    Job,
    LogLine,
    Page,
    Request,
    page_of,
)

REQUEST_FIELDS = (
    "client_id",
    "campaign_id",
    "route",
    "max_cost_micros",
    "reuse",
    "idempotency_key",
    "tags",
    "metadata",
    "priority",
)

JobRef = Union[str, Job]
AssetRef = Union[str, Asset]


def _id(ref: Any) -> str:
    return ref if isinstance(ref, str) else str(ref.id)


def _dumps(value: Mapping[str, Any]) -> str:
    return json.dumps({k: v for k, v in value.items() if v is not None})


def build_request(kind: str, prompt: str, options: Dict[str, Any]) -> Dict[str, Any]:
    """The wire request of ``generate``/``submit`` keywords: request fields at the top,
    ``size=(w, h)`` as ``width``/``height``, ``provider``/``model`` as the route, the rest in ``spec``."""
    request: Dict[str, Any] = {}
    for name in REQUEST_FIELDS:
        if options.get(name) is not None:
            request[name] = options.pop(name)
        options.pop(name, None)
    provider, model = options.pop("provider", None), options.pop("model", None)
    if model is not None and provider is None:
        raise invalid_request("route", f"model={model!r} needs provider= (or pass route=)")
    if provider is not None and "route" in request:
        raise invalid_request("route", "pass either route= or provider=/model=, not both")
    if provider is not None:
        request["route"] = {"provider": provider, "model": model}
    size = options.pop("size", None)
    if size is not None:
        options["width"], options["height"] = size
    spec = {"kind": kind, "prompt": prompt}
    spec.update({k: v for k, v in options.items() if v is not None})
    request["spec"] = spec
    return request


class Events:
    """The engine's events from the moment of subscription: an iterator and an async iterator."""

    def __init__(self, native: NativeEvents) -> None:
        self._native: Optional[NativeEvents] = native

    def _stream(self) -> NativeEvents:
        if self._native is None:
            raise StopIteration
        return self._native

    def next(self, timeout: Optional[float] = None) -> Event:
        """The next event; ``TimeoutError`` after ``timeout`` seconds; ``StopIteration`` at the end."""
        text = self._stream().next(timeout)
        if text is None:
            self.close()
            raise StopIteration
        return Event.from_json(text)

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        return self.next()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        native = self._native
        if native is None:
            raise StopAsyncIteration
        future = native.next_future()
        try:
            text = await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            # Canceled (``asyncio.wait_for`` timing out): canceling the native future
            # makes it take no event; if the engine completed it just before, its
            # event goes back to be read next. Either way no event is lost.
            if not future.cancel() and future.exception() is None:
                unread = future.result()
                if unread is not None:
                    native.unread(unread)
            raise
        if text is None:
            self.close()
            raise StopAsyncIteration
        return Event.from_json(text)

    def close(self) -> None:
        """Unsubscribes."""
        self._native = None

    def __enter__(self) -> "Events":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Engine:
    """A Gaia engine: submit requests, run them as durable jobs, read the results.

    ``Engine(path=".gaia")`` keeps its SQLite database and blobs in a folder;
    ``Engine.open(database=..., blobs=..., workers=...)`` takes any
    configuration field. Use it as a context manager to close it.
    """

    def __init__(self, path: Union[str, "os.PathLike[str]", None] = None, **config: Any) -> None:
        if path is not None:
            config["path"] = os.fspath(path)
        self._native = NativeEngine.open(_dumps(config))

    @classmethod
    def open(cls, path: Union[str, "os.PathLike[str]", None] = None, **config: Any) -> "Engine":
        """Opens an engine from configuration fields (``path``, ``database``, ``blobs``,
        ``workers``, ``lease_s``, ``max_attempts``, ``retry``, ``shutdown_grace_s``, ``providers``,
        ``events``, ``embedder``, ``durability``)."""
        return cls(path, **config)

    # -- generation ---------------------------------------------------------

    def generate(self, kind: str, prompt: str, *, progress: Optional[bool] = None, **options: Any) -> Asset:
        """Submits a request and waits; returns its first asset (or raises the job's error)."""
        request = build_request(kind, prompt, options)
        if progress is None and not _display.in_notebook() or progress is False:
            return self._asset(self._native.generate(json.dumps(request)))
        job = self.submit_request(request)
        done = _display.wait_with_progress(self, job.id, progress)
        return self._asset(self._native.first_asset(done.to_json()))

    def submit(self, kind: str, prompt: str, **options: Any) -> Job:
        """Submits a request; returns the queued job."""
        return self.submit_request(build_request(kind, prompt, options))

    def submit_request(self, request: Union[Mapping[str, Any], Request]) -> Job:
        """Submits a whole wire request (a dict or a :class:`Request`)."""
        data = request.to_dict() if isinstance(request, Request) else dict(request)
        return self._job(self._native.submit(json.dumps(data)))

    def wait(self, job: JobRef, *, timeout: Optional[float] = None, progress: Optional[bool] = False) -> Job:
        """Waits until the job has ended and returns it (``TimeoutError`` after ``timeout``
        seconds; the job goes on). Ctrl-C interrupts the wait, not the job.
        ``progress=True`` shows a bar (tqdm when installed); ``None`` shows one in a notebook."""
        if progress is not False:
            return _display.wait_with_progress(self, _id(job), progress, timeout=timeout)
        return self._job(self._native.wait(_id(job), timeout))

    async def generate_async(self, kind: str, prompt: str, **options: Any) -> Asset:
        """``generate`` on the engine's runtime, awaitable from any asyncio loop."""
        request = json.dumps(build_request(kind, prompt, options))
        return self._asset(await asyncio.wrap_future(self._native.generate_future(request)))

    async def submit_async(self, kind: str, prompt: str, **options: Any) -> Job:
        """``submit`` on the engine's runtime."""
        request = json.dumps(build_request(kind, prompt, options))
        return self._job(await asyncio.wrap_future(self._native.submit_future(request)))

    async def wait_async(self, job: JobRef) -> Job:
        """``wait`` on the engine's runtime (canceling the await leaves the job running)."""
        return self._job(await asyncio.wrap_future(self._native.wait_future(_id(job))))

    async def asset_async(self, asset_id: AssetRef) -> Asset:
        """``asset`` on the engine's runtime."""
        return self._asset(await asyncio.wrap_future(self._native.asset_future(_id(asset_id))))

    async def read_bytes_async(self, asset_id: AssetRef) -> bytes:
        """``read_bytes`` on the engine's runtime."""
        return await asyncio.wrap_future(self._native.read_bytes_future(_id(asset_id)))

    async def asset_url_async(self, asset_id: AssetRef, ttl_s: float = 3600) -> str:
        """``asset_url`` on the engine's runtime."""
        return await asyncio.wrap_future(self._native.asset_url_future(_id(asset_id), ttl_s))

    async def prune_jobs_async(self, older_than_s: float) -> int:
        """``prune_jobs`` on the engine's runtime."""
        return await asyncio.wrap_future(self._native.prune_jobs_future(older_than_s))

    # -- jobs -----------------------------------------------------------------

    def job(self, job_id: JobRef) -> Job:
        """One job."""
        return self._job(self._native.job(_id(job_id)))

    def job_logs(self, job_id: JobRef) -> List[LogLine]:
        """A job's log lines, oldest first."""
        return [LogLine.from_dict(line) for line in json.loads(self._native.job_logs(_id(job_id)))]

    def jobs(
        self,
        *,
        client_id: Optional[str] = None,
        campaign_id: Optional[str] = None,
        status: Optional[str] = None,
        kind: Optional[str] = None,
        cursor: Optional[str] = None,
        limit: Optional[int] = None,
    ) -> "Page[Job]":
        """Jobs, newest first, filtered and paged (pass ``next_cursor`` as ``cursor``)."""
        filter = _dumps({"client_id": client_id, "campaign_id": campaign_id, "status": status, "kind": kind})
        return page_of(Job, self._native.jobs(filter, _dumps({"cursor": cursor, "limit": limit})), self)

    def job_stats(self, client_id: Optional[str] = None) -> Dict[str, Any]:
        """Counts by status and per-provider durations and failure rates."""
        return dict(json.loads(self._native.job_stats(client_id)))

    def cancel(self, job_id: JobRef) -> Job:
        """Cancels a queued or running job."""
        return self._job(self._native.cancel(_id(job_id)))

    def retry(self, job_id: JobRef) -> Job:
        """Queues a failed or canceled job again."""
        return self._job(self._native.retry(_id(job_id)))

    def delete_job(self, job_id: JobRef) -> None:
        """Deletes a finished job and its log (its assets and costs stay)."""
        self._native.delete_job(_id(job_id))

    def prune_jobs(self, older_than_s: float) -> int:
        """Deletes every job that ended more than ``older_than_s`` seconds ago, with its
        log (their assets and costs stay); returns how many went."""
        return self._native.prune_jobs(older_than_s)

    # -- assets ---------------------------------------------------------------

    def asset(self, asset_id: AssetRef) -> Asset:
        """One asset, typed by its ``type`` (ImageAsset, AudioAsset, …)."""
        return self._asset(self._native.asset(_id(asset_id)))

    def assets(
        self,
        *,
        client_id: Optional[str] = None,
        campaign_id: Optional[str] = None,
        type: Optional[str] = None,
        tag: Optional[str] = None,
        cursor: Optional[str] = None,
        limit: Optional[int] = None,
    ) -> "Page[Asset]":
        """Assets, newest first, filtered and paged; the page displays as a grid."""
        filter = _dumps({"client_id": client_id, "campaign_id": campaign_id, "type": type, "tag": tag})
        return page_of(Asset, self._native.assets(filter, _dumps({"cursor": cursor, "limit": limit})), self)

    def job_assets(self, job: JobRef) -> AssetList:
        """A job's assets in output order (a grid in a notebook)."""
        found = job if isinstance(job, Job) else self.job(job)
        return AssetList(self.asset(asset_id) for asset_id in found.asset_ids or [])

    def read_bytes(self, asset_id: AssetRef) -> bytes:
        """An asset's bytes."""
        return self._native.read_bytes(_id(asset_id))

    def asset_url(self, asset_id: AssetRef, ttl_s: float = 3600) -> str:
        """A URL that downloads the asset's bytes without credentials for ``ttl_s``
        seconds: a presigned URL of an S3 blob store. Other blob stores cannot sign
        one (``InvalidRequestError`` with ``field == "blobs"``): use ``read_bytes``."""
        return self._native.asset_url(_id(asset_id), ttl_s)

    def delete_asset(self, asset_id: AssetRef) -> None:
        """Deletes an asset (its bytes go when no other asset shares them)."""
        self._native.delete_asset(_id(asset_id))

    def import_(self, source: Any, *, client_id: str, **options: Any) -> Asset:
        """Imports a file (path) or ``bytes`` (``bytearray``, ``memoryview``) as an
        uploaded asset; the engine verifies it (``InvalidRequestError`` naming ``file``
        when it is not an asset) and returns the client's existing upload of the same
        bytes (unless ``dedup=False``)."""
        request = _dumps({"client_id": client_id, **options})
        if isinstance(source, (bytes, bytearray)):
            payload: Union[bytes, bytearray, str] = source
        elif isinstance(source, memoryview):
            payload = source.tobytes()
        else:
            payload = os.fsdecode(source)
        return self._asset(self._native.import_asset(payload, request))

    def search(
        self, query: str, *, client_id: str, campaign_id: Optional[str] = None, type: Optional[str] = None, k: int = 10
    ) -> AssetList:
        """The ``k`` assets of ``client_id`` most similar to ``query``, best first."""
        filter = _dumps({"client_id": client_id, "campaign_id": campaign_id, "type": type})
        scored = json.loads(self._native.search_assets(query, filter, k))
        return AssetList(Asset.from_dict(hit["asset"], self) for hit in scored)

    # -- money ----------------------------------------------------------------

    def costs(
        self,
        *,
        client_id: Optional[str] = None,
        campaign_id: Optional[str] = None,
        since: Optional[str] = None,
        until: Optional[str] = None,
        group_by: Optional[str] = None,
    ) -> CostReport:
        """Money spent, summed and grouped (``client``, ``campaign``, ``provider``, ``model``, ``day``)."""
        query = {"client_id": client_id, "campaign_id": campaign_id, "since": since, "until": until, "group_by": group_by}
        return CostReport.from_json(self._native.costs(_dumps(query)))

    def set_budget(
        self, client_id: str, limit_micros: int, *, period: str = "total", campaign_id: Optional[str] = None
    ) -> Budget:
        """Creates or replaces the budget of (client, campaign, period); returns it."""
        budget = {"client_id": client_id, "campaign_id": campaign_id, "period": period, "limit_micros": limit_micros}
        self._native.set_budget(json.dumps(budget))
        return Budget.from_dict(budget)

    def budgets(self, client_id: str) -> List[Budget]:
        """A client's budgets."""
        return [Budget.from_dict(b) for b in json.loads(self._native.budgets(client_id))]

    # -- providers and events ----------------------------------------------------

    def providers(self) -> List[Dict[str, Any]]:
        """The configured providers, their models and prices."""
        return list(json.loads(self._native.providers()))

    def register_provider(self, provider: Any) -> None:
        """Adds a Python provider (``name``, ``models``, ``generate(call, cx)``, sync or async)."""
        adapter = ProviderAdapter(provider)
        self._native.register_provider(adapter, adapter.name, adapter.remote, adapter.models_json())

    def events(self) -> Events:
        """Every event from now on: ``for event in engine.events()`` or ``async for``."""
        return Events(self._native.events())

    # -- lifetime ---------------------------------------------------------------

    def close(self) -> None:
        """Stops the engine gracefully; later calls fail; closing twice is fine."""
        self._native.close()

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called."""
        return bool(self._native.closed)

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<gaia.Engine{' (closed)' if self.closed else ''}>"

    # -- conversions ----------------------------------------------------------

    def _job(self, text: str) -> Job:
        return Job.from_json(text, self)

    def _asset(self, text: str) -> Asset:
        return Asset.from_dict(json.loads(text), self)
