"""Errors the Python package raises itself, shaped like the engine's."""

from __future__ import annotations

from ._gaia import InvalidRequestError


def invalid_request(field: str, message: str) -> InvalidRequestError:
    """An ``InvalidRequestError`` naming ``field`` (``.field``), as the engine raises one."""
    error = InvalidRequestError(f"invalid request: {field}: {message}")
    error.field = field
    error.retryable = False
    return error
