"""Gaia: generate game assets (images, audio, models, video) as durable jobs.

    import gaia
    with gaia.Engine(path=".gaia") as engine:
        asset = engine.generate("image", "mossy stone wall", size=(512, 512),
                                tileable=True, seed=7, client_id="demo")

The engine is Rust (``gaia._gaia``); this package converts and displays.
"""

from ._gaia import (
    BudgetExceededError,
    CanceledError,
    ConflictError,
    GaiaError,
    InternalError,
    InvalidOutputError,
    InvalidRequestError,
    NoProviderError,
    NotFoundError,
    ProviderContext,
    ProviderError,
    ProviderRateLimitedError,
    ProviderRejectedError,
    ProviderTimeoutError,
    StorageError,
    __version__,
)
from ._engine import Engine, Events
from ._provider import Call, CallInput, Model, Output
from ._types import (
    Asset,
    AssetList,
    AudioAsset,
    Budget,
    CostReport,
    CostRow,
    DocumentAsset,
    Event,
    ImageAsset,
    Job,
    JobError,
    LogLine,
    ModelAsset,
    Page,
    Request,
    VideoAsset,
)

ERRORS = {
    cls.code: cls  # type: ignore[attr-defined]
    for cls in (
        InvalidRequestError,
        NotFoundError,
        ConflictError,
        BudgetExceededError,
        NoProviderError,
        ProviderError,
        ProviderRateLimitedError,
        ProviderTimeoutError,
        ProviderRejectedError,
        InvalidOutputError,
        CanceledError,
        StorageError,
        InternalError,
    )
}
"""Each stable error code's exception class."""

__all__ = [
    "Asset", "AssetList", "AudioAsset", "Budget", "BudgetExceededError", "Call", "CallInput", "CanceledError",
    "ConflictError", "CostReport", "CostRow", "DocumentAsset", "ERRORS", "Engine", "Event", "Events",
    "GaiaError", "ImageAsset", "InternalError", "InvalidOutputError", "InvalidRequestError", "Job",
    "JobError", "LogLine", "Model", "ModelAsset", "NoProviderError", "NotFoundError", "Output", "Page",
    "ProviderContext", "ProviderError", "ProviderRateLimitedError", "ProviderRejectedError",
    "ProviderTimeoutError", "Request", "StorageError", "VideoAsset", "__version__",
]
