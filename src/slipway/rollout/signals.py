"""SIGTERM rolls the canary back before the process goes.

Kubernetes stops a pod (eviction, a node drained, the workflow stopped, a deadline) with
SIGTERM, then SIGKILL after the grace period. Python's default for SIGTERM ends the process
at once, skipping the controller's fail-safe; ``terminate_rolls_back`` turns the signal into
``Terminated``, a ``BaseException`` (no ``except Exception`` on the way swallows it), which
the controller's fail-safe catches: it rolls back, records why, and re-raises. A second
SIGTERM while the rollback runs is ignored, so the rollback is not cut short by its own
signal. (SIGKILL and the OOM killer cannot be caught: the durable state covers those.)
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Terminated(BaseException):
    """The process was asked to stop (SIGTERM)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"{signal.Signals(signum).name} received")
        self.signum = signum


@contextmanager
def terminate_rolls_back() -> Iterator[None]:
    """SIGTERM raises ``Terminated`` in the main thread while the block runs (elsewhere,
    where Python allows no handler, the block runs as it is)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the rollback must finish
        raise Terminated(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
