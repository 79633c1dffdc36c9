"""Transient errors told apart from the rest, so that a workflow retries only what a retry
can fix: a step exits with ``TRANSIENT_EXIT_CODE`` (75, EX_TEMPFAIL) for an error that may
pass (a connection refused or reset, a timeout, an HTTP 429 or 5xx from MLflow or
Prometheus), and with 1 for any other error. The templates' ``retryStrategy`` retries on
that exit code only (``asInt(lastRetry.exitCode) == 75``): bad data, a failed gate or a
bug fail at once, never three times.

On the cluster Hera's runner lets the ``SystemExit`` end the pod's process with that
code; the local executor reads the same code from the exception.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from slipway.workflow.executor.retry import TRANSIENT_EXIT_CODE

_RETRIABLE_HTTP = {408, 425, 429, 500, 502, 503, 504}


class TransientStepError(SystemExit):
    """A step failed with an error that may pass: its process exits with 75."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(TRANSIENT_EXIT_CODE)
        self.cause = cause

    def __str__(self) -> str:
        return f"transient: {type(self.cause).__name__}: {self.cause}"


def is_transient(error: BaseException) -> bool:
    """A network error, a timeout, or an HTTP status that says "try again", anywhere in
    the chain of causes (MLflow wraps a refused connection in its own exception)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, TransientStepError):
            return True
        if isinstance(current, ConnectionError | TimeoutError):
            return True
        if _http_status(current) in _RETRIABLE_HTTP:
            return True
        if _is_transport_error(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _http_status(error: BaseException) -> int | None:
    # MLflow's RestException has get_http_status_code; requests' and httpx's errors a response.
    getter = getattr(error, "get_http_status_code", None)
    if callable(getter):
        try:
            return int(getter())
        except (TypeError, ValueError):
            return None
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _is_transport_error(error: BaseException) -> bool:
    for module, names in (
        ("requests.exceptions", ("ConnectionError", "Timeout")),
        ("httpx", ("TransportError",)),
        ("urllib3.exceptions", ("MaxRetryError", "ProtocolError", "NewConnectionError")),
    ):
        loaded = sys.modules.get(module)  # only what the step imported can have been raised
        for name in names:
            kind = getattr(loaded, name, None) if loaded is not None else None
            if isinstance(kind, type) and isinstance(error, kind):
                return True
    return False


@contextlib.contextmanager
def exit_code_on_transient() -> Iterator[None]:
    """Around a step's body: a transient error becomes ``TransientStepError`` (exit 75),
    printed first so that the pod's log says what happened; anything else passes as is."""
    try:
        yield
    except TransientStepError:
        raise
    except Exception as exc:
        if not is_transient(exc):
            raise
        print(f"transient error, the step may be retried: {type(exc).__name__}: {exc}",
              file=sys.stderr)  # fmt: skip
        raise TransientStepError(exc) from exc
