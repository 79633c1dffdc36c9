"""The load step: bounded requests against a rollout's URL while it is analysed.

As Flagger's load tester: without clients a canary gets no requests and every window is
inconclusive, so an environment without live traffic sends some. The load is bounded on
both axes: requests (over all clients) start at least ``1 / rate`` seconds apart, so the
rate is a ceiling over any stretch of time whatever the clients do (a stall is not made up
in a burst), and no request starts past ``duration`` (or after the rollout ends, which
stops it). Answers are counted:
sent, ok (2xx), errors (any other status, or no answer).

The rows come from one of two sources:

- ``contract``: generated from the dataset contract, seeded: numbers uniform within each
  column's min/max, integers as integers, categories drawn from the listed ones; so every
  row passes the predictor's request checks (slipway.serving.request_checks);
- ``payloads``: the rows a predictor recorded (slipway.serving.payload_log), replayed.

Clients draw rows at random (seeded per client), not in turn: the local router's round
robin is deterministic, and rows in turn could give the canary the same few rows only.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from slipway.config.rollout import LoadSettings
from slipway.data.contract import DatasetContract
from slipway.errors import ConfigError

Row = dict[str, Any]

# Contract columns without a bound get one: the generated values must stay plausible.
_OPEN_SPAN = 100.0


def contract_rows(contract: DatasetContract, count: int, seed: int) -> list[Row]:
    """``count`` seeded rows of the contract's input columns, each value valid."""
    if count < 1:
        raise ConfigError(f"the load needs at least one row, not {count}")
    rng = np.random.default_rng(seed)
    columns: dict[str, list[Any]] = {}
    for column in contract.columns:
        if column.name == contract.label:
            continue
        if column.dtype == "category":
            assert column.categories is not None  # the contract's own rule
            picks = rng.integers(0, len(column.categories), count)
            columns[column.name] = [column.categories[i] for i in picks]
            continue
        low = column.min if column.min is not None else 0.0
        high = column.max if column.max is not None else low + _OPEN_SPAN
        if column.min is None and column.max is not None:
            low = high - _OPEN_SPAN
        if column.dtype == "int":
            ints = rng.integers(int(np.ceil(low)), int(np.floor(high)) + 1, count)
            columns[column.name] = [int(v) for v in ints]
        else:
            columns[column.name] = [round(float(v), 4) for v in rng.uniform(low, high, count)]
    return [{name: values[i] for name, values in columns.items()} for i in range(count)]


def recorded_rows(root: Path, model: str, version: str) -> list[Row]:
    """The input rows the predictors recorded for ``model`` ``version`` under ``root``."""
    from slipway.monitoring.payloads import META, read_folder

    frame = read_folder(root, model, version)
    if frame.empty:
        raise ConfigError(
            f"rollout.load.source payloads: nothing recorded for {model} version {version} "
            f"under {root} (monitoring.payloads.sample_rate above 0 records served rows)"
        )
    inputs = frame.drop(columns=[c for c in META if c in frame.columns])
    return [
        {str(k): (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
        for row in inputs.to_dict("records")
    ]


@dataclass
class LoadCounts:
    """What the load sent and how it was answered."""

    sent: int = 0
    ok: int = 0
    errors: int = 0
    started_at: float = 0.0
    finished_at: float | None = None
    statuses: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class LoadGenerator:
    """``clients`` threads posting one-row v1 requests to ``url``, at most ``rate``
    requests per second all together, for at most ``duration`` seconds (none: until the
    context exits)."""

    def __init__(
        self,
        url: str,
        model: str,
        rows: Sequence[Row],
        rate: float,
        duration: float | None = None,
        clients: int = 1,
        seed: int = 0,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not rows:
            raise ConfigError("the load needs at least one row to send")
        if rate <= 0 or clients < 1 or (duration is not None and duration <= 0):
            raise ConfigError(
                f"load: rate ({rate}) and duration ({duration}) must be above 0, "
                f"clients ({clients}) at least 1"
            )
        self.endpoint = f"{url.rstrip('/')}/v1/models/{model}:predict"
        self.rows, self.rate, self.duration = list(rows), rate, duration
        self.clients, self.seed, self.timeout, self.clock = clients, seed, timeout, clock
        self.counts = LoadCounts()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._next = 0.0
        self._start = 0.0
        self._threads: list[threading.Thread] = []

    def _next_slot(self) -> float | None:
        """The start time of the next request, or none when the bound is reached. Slots
        are ``1 / rate`` apart and never in the past: after a stall (a busy machine, a slow
        answer) the load resumes at the rate, it does not catch up in a burst."""
        with self._lock:
            slot = max(self._next, self.clock())
            if self.duration is not None and slot - self._start >= self.duration:
                return None
            self._next = slot + 1.0 / self.rate
            return slot

    def _record(self, status: str, ok: bool) -> None:
        with self._lock:
            self.counts.sent += 1
            self.counts.ok += ok
            self.counts.errors += not ok
            self.counts.statuses[status] = self.counts.statuses.get(status, 0) + 1

    def _client(self, index: int) -> None:
        import httpx

        rng = random.Random(self.seed * 1000 + index)  # noqa: S311  (test traffic)
        with httpx.Client(timeout=self.timeout) as http:
            while not self._stop.is_set():
                slot = self._next_slot()
                if slot is None:
                    return
                wait = slot - self.clock()
                if wait > 0 and self._stop.wait(wait):
                    return
                if self.duration is not None and self.clock() - self._start >= self.duration:
                    return
                body = {"instances": [rng.choice(self.rows)]}
                try:
                    answer = http.post(self.endpoint, json=body)
                except httpx.HTTPError as exc:  # no answer: the target's failure, counted
                    self._record(type(exc).__name__, False)
                else:
                    self._record(str(answer.status_code), answer.is_success)

    def start(self) -> LoadGenerator:
        self._start = self._next = self.clock()
        self.counts.started_at = time.time()
        for index in range(self.clients):
            thread = threading.Thread(target=self._client, args=(index,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> LoadCounts:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 5)
        if self.counts.finished_at is None:
            self.counts.finished_at = time.time()
        return self.counts

    def wait(self) -> LoadCounts:
        """Block until a bounded load has sent all it may (duration set), then stop."""
        for thread in self._threads:
            thread.join()
        return self.stop()

    def __enter__(self) -> LoadGenerator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def load_for(
    settings: LoadSettings,
    url: str | None,
    model: str,
    contract: DatasetContract,
    payloads_root: Path,
    champion_version: str,
) -> LoadGenerator:
    """The load ``settings`` ask for against ``settings.url`` or else ``url`` (the router)."""
    target = settings.url or url
    if target is None:
        raise ConfigError(
            "rollout.load needs rollout.load.url on this backend (the InferenceService's URL): "
            "there is no local router to send to"
        )
    if settings.source == "payloads":
        version = settings.payloads_version or champion_version
        rows = recorded_rows(payloads_root, model, version)
    else:
        rows = contract_rows(contract, 500, settings.seed)
    return LoadGenerator(
        target,
        model,
        rows,
        settings.rate,
        settings.duration_seconds,
        settings.clients,
        settings.seed,
        settings.timeout_seconds,
    )
